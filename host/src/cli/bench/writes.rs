//! The cases that write: one durable operation, one plugin turn, group commit, and hosts sharing a
//! database.

use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use arena_component::{self as domain, ArenaError as DomainError};

use arena_host::Durability;
use arena_host::Location;
use arena_host::plugin::{PluginEngine, PluginSpec, TurnOutcome};
use arena_host::run::BUILTIN_PLUGINS;
use arena_host::types::Event;
use arena_host::{ArenaHost, GroupCommit, HostOptions, MAX_BATCH};

use super::native::native_manager;
use super::{
    BenchConfig, Row, active_arena, insert_rows, median, micros, native_config, open_host,
    per_second, raw_sqlite, time_per_op,
};

/// complete-step through host → component → SQLite, natively, and SQLite's own one-row commit.
pub(super) fn durable_operation(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let steps = (config.ops * config.samples * 2) as u32 + 10;
    let host = open_host(&dir.join("op-component.db"), config.durability, true)?;
    let id = active_arena(&host, steps, 1)?;
    let worker = host.handle(&id, "w0")?;
    let native = native_manager(&dir.join("op-native.db"), config.durability)?;
    let native_id = native.create(&native_config(steps))?;
    native.handle(&native_id, "lead").activate()?;
    let raw = raw_sqlite(&dir.join("op-raw.db"), config.durability)?;
    let row = Event {
        seq: 0,
        at: "2026-01-01T00:00:00.000000Z".into(),
        actor: "w0".into(),
        kind: "step-completed".into(),
        payload: r#"{"step":1,"v":1}"#.into(),
        hash: "0".repeat(64),
    };
    let (mut step_c, mut step_n, mut seq) = (0u32, 0u32, 0u64);
    let (mut component, mut natively, mut sqlite) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.samples {
        component.push(time_per_op(config.ops, || {
            step_c += 1;
            worker.complete_step(step_c).map(|a| drop(black_box(a)))
        })?);
        natively.push(time_per_op(config.ops, || {
            step_n += 1;
            native
                .handle(&native_id, "w0")
                .complete_step(step_n)
                .map(|a| drop(black_box(a)))
        })?);
        sqlite.push(time_per_op(config.ops, || {
            seq += 1;
            let one = Event { seq, ..row.clone() };
            insert_rows(&raw, [("a", &one)])
        })?);
    }
    let (c, n, s) = (median(component), median(natively), median(sqlite));
    Ok(vec![
        Row {
            case: "durable complete-step: host → component → SQLite".into(),
            value: format!("{} ({})", micros(c), per_second(1.0 / c)),
            baseline: "native domain code, same storage".into(),
            baseline_value: micros(n),
            ratio: n / c,
            higher_is_better: true,
            target: Some(0.85),
        },
        Row {
            case: "durable complete-step: host → component → SQLite".into(),
            value: per_second(1.0 / c),
            baseline: "SQLite alone: one-row commit".into(),
            baseline_value: format!("{} ({})", micros(s), per_second(1.0 / s)),
            ratio: s / c,
            higher_is_better: true,
            target: Some(0.8),
        },
    ])
}

/// One worker turn: plugin → host → component → SQLite, against the same logic natively.
pub(super) fn plugin_turn(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let steps = (config.ops * config.samples * 2) as u32 + 10;
    let host = open_host(&dir.join("turn-component.db"), config.durability, true)?;
    let id = active_arena(&host, steps, 1)?;
    let engine = PluginEngine::new()?;
    let spec = worker_spec();
    let handle = host.handle(&id, "w0")?;
    let mut plugin = engine.load(&spec, handle)?;
    let native = native_manager(&dir.join("turn-native.db"), config.durability)?;
    let native_id = native.create(&native_config(steps))?;
    native.handle(&native_id, "lead").activate()?;
    let (mut turn, mut next_step) = (0u32, 1u32);
    let (mut component, mut natively) = (Vec::new(), Vec::new());
    for _ in 0..config.samples {
        component.push(time_per_op(config.ops, || {
            turn += 1;
            match plugin.turn(turn).outcome {
                TurnOutcome::Done(_) => Ok(()),
                other => bail!("worker turn {turn}: {other:?}"),
            }
        })?);
        natively.push(time_per_op(config.ops, || {
            // What the sample worker does, natively.
            let h = native.handle(&native_id, "w0");
            if h.info()?.status != domain::ArenaStatus::Active {
                bail!("the native arena is not active");
            }
            let total = h.info()?.aggregate.total_steps;
            while next_step <= total {
                match h.complete_step(next_step) {
                    Ok(_) => break,
                    Err(DomainError::AlreadyDone) => next_step += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            h.report_progress(&format!("finished step {next_step}"))?;
            next_step += 1;
            Ok(())
        })?);
    }
    let (c, n) = (median(component), median(natively));
    Ok(vec![Row {
        case: "worker turn: plugin → host → component → SQLite".into(),
        value: micros(c),
        baseline: "the same turn natively".into(),
        baseline_value: micros(n),
        ratio: n / c,
        higher_is_better: true,
        target: None,
    }])
}

pub(super) fn worker_spec() -> PluginSpec {
    PluginSpec::new("worker", "w0", Arc::from(BUILTIN_PLUGINS[1].1))
}

/// Concurrent writers, each completing steps of its own arena: with group commit, with one commit
/// per operation, and SQLite inserting the same rows in batches.
pub(super) fn group_commit(
    config: &BenchConfig,
    dir: &Path,
    durability: Durability,
) -> Result<Vec<Row>> {
    let name = durability.name();
    let mut rates = Vec::new();
    let mut written = Vec::new();
    for group in [true, false] {
        let path = dir.join(format!("group-{name}-{group}.db"));
        let host = open_host(&path, durability, group)?;
        let arenas: Vec<String> = (0..config.writers)
            .map(|_| active_arena(&host, config.ops_per_writer as u32, 1))
            .collect::<Result<_>>()?;
        let before = host.commit_stats();
        let start = Arc::new(Barrier::new(config.writers + 1));
        let writers: Vec<_> = arenas
            .iter()
            .map(|id| {
                let (handle, start, ops) = (
                    host.handle(id, "w0"),
                    start.clone(),
                    config.ops_per_writer as u32,
                );
                std::thread::spawn(move || -> Result<()> {
                    let handle = handle?;
                    start.wait();
                    for step in 1..=ops {
                        handle.complete_step(step)?;
                    }
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for writer in writers {
            writer.join().map_err(|_| anyhow!("a writer panicked"))??;
        }
        let elapsed = began.elapsed().as_secs_f64();
        let total = config.writers * config.ops_per_writer;
        rates.push((total as f64 / elapsed, host.commit_stats(), before));
        if group {
            for id in &arenas {
                let events = host.all_events(id, 0)?;
                written.extend(
                    events
                        .into_iter()
                        .filter(|e| e.kind == "step-completed")
                        .map(|e| (id.clone(), e)),
                );
            }
        }
    }
    // The same rows, inserted by SQLite alone in transactions of the batch size group commit allows.
    let raw = raw_sqlite(&dir.join(format!("group-{name}-raw.db")), durability)?;
    let began = Instant::now();
    for chunk in written.chunks(MAX_BATCH) {
        insert_rows(&raw, chunk.iter().map(|(arena, e)| (arena.as_str(), e)))?;
    }
    let raw_rate = written.len() as f64 / began.elapsed().as_secs_f64();
    let (grouped, stats, before) = rates[0];
    let (single, _, _) = rates[1];
    let batches = stats.batches - before.batches;
    let mean_batch = (stats.operations - before.operations) as f64 / batches.max(1) as f64;
    let case = format!(
        "group commit, {} writers ({name}; {mean_batch:.1} ops per commit)",
        config.writers
    );
    Ok(vec![
        Row {
            case: case.clone(),
            value: per_second(grouped),
            baseline: "one commit per operation".into(),
            baseline_value: per_second(single),
            ratio: grouped / single,
            higher_is_better: true,
            target: Some(10.0),
        },
        Row {
            case,
            value: per_second(grouped),
            baseline: format!("SQLite alone: the same rows, {MAX_BATCH} per commit"),
            baseline_value: per_second(raw_rate),
            ratio: grouped / raw_rate,
            higher_is_better: true,
            target: Some(0.5),
        },
    ])
}

/// Durable operations per second with `hosts` hosts (each its own runtime and connection) on the
/// database at `location`, each host completing the steps of an arena of its own.
fn hosts_rate(
    config: &BenchConfig,
    location: &Location,
    hosts: usize,
    durability: Durability,
) -> Result<f64> {
    let ops = config.ops_per_writer;
    let opened: Vec<(ArenaHost, String)> = (0..hosts)
        .map(|_| {
            let host = ArenaHost::open_at(
                location.clone(),
                HostOptions {
                    durability,
                    group_commit: GroupCommit::Off,
                    ..HostOptions::default()
                },
            )?;
            let id = active_arena(&host, ops as u32, 1)?;
            Ok((host, id))
        })
        .collect::<Result<_>>()?;
    let start = Arc::new(Barrier::new(hosts + 1));
    let writers: Vec<_> = opened
        .into_iter()
        .map(|(host, id)| {
            let start = start.clone();
            std::thread::spawn(move || -> Result<()> {
                let worker = host.handle(&id, "w0")?;
                start.wait();
                for step in 1..=ops as u32 {
                    worker.complete_step(step)?;
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for writer in writers {
        writer.join().map_err(|_| anyhow!("a host panicked"))??;
    }
    Ok((hosts * ops) as f64 / began.elapsed().as_secs_f64())
}

/// Durable operations on PostgreSQL with one and three hosts, against SQLite in the same run.
pub(super) fn shared_database(config: &BenchConfig, dir: &Path, url: &str) -> Result<Vec<Row>> {
    let postgres = Location::Postgres(url.to_string());
    let sqlite = Location::Sqlite(dir.join("hosts.db"));
    let mut rows = Vec::new();
    for hosts in [1, 3] {
        let pg = hosts_rate(config, &postgres, hosts, Durability::Normal)?;
        // PostgreSQL's default `synchronous_commit=on` waits for the disk like SQLite's `full`.
        for durability in [Durability::Normal, Durability::Full] {
            let lite = hosts_rate(config, &sqlite, hosts, durability)?;
            rows.push(Row {
                case: format!("durable complete-step on PostgreSQL, {hosts} host(s)"),
                value: per_second(pg),
                baseline: format!(
                    "SQLite ({}), {hosts} host(s) on one file",
                    durability.name()
                ),
                baseline_value: per_second(lite),
                ratio: pg / lite,
                higher_is_better: true,
                target: None,
            });
        }
    }
    Ok(rows)
}
