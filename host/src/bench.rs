//! The benchmark suite behind `arena bench` and `cargo bench`: every hot path measured against a
//! baseline in the same run, so the table reads as ratios on a shared, noisy machine.
//!
//! The native baseline is the arena's domain logic (`arena-component`) compiled natively on this host's
//! own SQLite storage code ([`crate::native`]): same SQL, same pragmas, same commit pattern. Raw SQLite
//! figures use the same file system and pragmas. Cases interleave their measurements so that noise
//! hits both sides alike, and report medians.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use arena_component::events::{Change, apply, seal};
use arena_component::{self as domain, ArenaError as DomainError};

use crate::db::Durability;
use crate::db::Location;
use crate::db::Storage;
use crate::db::sqlite::SqliteStorage;
use crate::native::native_manager;
use crate::plugin::{PluginEngine, PluginSpec, TurnOutcome};
use crate::run::BUILTIN_PLUGINS;
use crate::types::{ArenaConfig, ArenaStatus, Event, ParticipantSpec, Role, Strategy};
use crate::{ArenaHost, GroupCommit, HostOptions, MAX_BATCH};

/// How much to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Durability of every case but the group-commit ones, which run at both settings.
    pub durability: Durability,
    /// Operations per timed sample.
    pub ops: usize,
    /// Timed samples per case (the median is reported).
    pub samples: usize,
    /// Concurrent writers in the group-commit cases, and operations each.
    pub writers: usize,
    pub ops_per_writer: usize,
    /// Live plugin instances at which resident memory is read (the slope between consecutive counts
    /// is reported).
    pub instance_counts: Vec<usize>,
    /// Events in the replay fixture.
    pub replay_events: u64,
    /// Where replay fixtures are cached between runs.
    pub fixtures: PathBuf,
    /// The `arena` program, for the cold-start case (skipped when `None`).
    pub arena_exe: Option<PathBuf>,
    /// Process starts per cold-start variant.
    pub starts: usize,
    /// A PostgreSQL database (`postgres://…`) for the shared-database cases; skipped when `None`.
    pub postgres: Option<String>,
}

impl BenchConfig {
    /// A run of a minute or two: `arena bench`.
    pub fn standard(fixtures: PathBuf, arena_exe: Option<PathBuf>) -> Self {
        BenchConfig {
            durability: Durability::Normal,
            ops: 200,
            samples: 5,
            writers: 32,
            ops_per_writer: 100,
            instance_counts: vec![1000, 2000],
            replay_events: 100_000,
            fixtures,
            arena_exe,
            starts: 3,
            postgres: std::env::var("ARENA_BENCH_POSTGRES").ok(),
        }
    }

    /// The full suite: `cargo bench`.
    pub fn full(fixtures: PathBuf, arena_exe: Option<PathBuf>) -> Self {
        BenchConfig {
            ops: 300,
            samples: 7,
            ops_per_writer: 300,
            instance_counts: vec![1000, 2000, 10_000],
            replay_events: 1_000_000,
            starts: 5,
            ..Self::standard(fixtures, arena_exe)
        }
    }

    /// A smoke run of a few seconds: every case, tiny sizes (figures meaningless).
    pub fn smoke(fixtures: PathBuf, arena_exe: Option<PathBuf>) -> Self {
        BenchConfig {
            ops: 20,
            samples: 1,
            writers: 4,
            ops_per_writer: 10,
            instance_counts: vec![10, 20],
            replay_events: 1000,
            starts: 1,
            ..Self::standard(fixtures, arena_exe)
        }
    }
}

/// One line of the table: a measurement, its baseline, and their ratio.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub case: String,
    /// The measured figure, as text with its unit.
    pub value: String,
    /// What it is compared with.
    pub baseline: String,
    /// The baseline's figure.
    pub baseline_value: String,
    /// measured ÷ baseline, as a rate ratio (higher is better) or a cost ratio, per `higher_is_better`.
    pub ratio: f64,
    /// Whether a higher ratio is better (rates) or worse (costs).
    pub higher_is_better: bool,
    /// The issue's target for the ratio, if any.
    pub target: Option<f64>,
}

impl Row {
    /// Whether the ratio meets its target (`None` without one).
    pub fn met(&self) -> Option<bool> {
        self.target.map(|t| {
            if self.higher_is_better {
                self.ratio >= t
            } else {
                self.ratio <= t
            }
        })
    }
}

/// What a run measured, and where.
#[derive(Clone, Debug)]
pub struct Report {
    pub machine: String,
    pub durability: Durability,
    pub rows: Vec<Row>,
}

type Result<T> = std::result::Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The mean time of one call of `op` over `ops` calls, in seconds.
fn time_per_op(ops: usize, mut op: impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..ops {
        op()?;
    }
    Ok(start.elapsed().as_secs_f64() / ops as f64)
}

fn micros(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}

fn per_second(rate: f64) -> String {
    format!("{rate:.0}/s")
}

/// The machine, in one line: CPU model and logical cores.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} logical cores, {}", std::env::consts::OS)
}

fn component_config(steps: u32, workers: usize) -> ArenaConfig {
    let spec = |agent: String, role| ParticipantSpec {
        agent,
        role,
        permissions: None,
    };
    let mut participants = vec![spec("lead".into(), Role::Coordinator)];
    participants.extend((0..workers).map(|w| spec(format!("w{w}"), Role::Worker)));
    ArenaConfig {
        goal: "measure".into(),
        total_steps: steps,
        strategy: Strategy::Peer("lead".into()),
        participants,
        created_by: "bench".into(),
    }
}

fn native_config(steps: u32) -> domain::ArenaConfig {
    let spec = |agent: &str, role| domain::ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    };
    domain::ArenaConfig {
        goal: "measure".into(),
        total_steps: steps,
        strategy: domain::Strategy::Peer("lead".into()),
        participants: vec![
            spec("lead", domain::Role::Coordinator),
            spec("w0", domain::Role::Worker),
        ],
        created_by: "bench".into(),
    }
}

fn open_host(path: &Path, durability: Durability, group_commit: bool) -> Result<ArenaHost> {
    ArenaHost::open(
        path,
        HostOptions {
            durability,
            group_commit: if group_commit {
                GroupCommit::On
            } else {
                GroupCommit::Off
            },
            ..HostOptions::default()
        },
    )
    .map_err(err)
}

/// An active arena of `steps` steps with workers `w0`…, and its id.
fn active_arena(host: &ArenaHost, steps: u32, workers: usize) -> Result<String> {
    let id = host
        .create(&component_config(steps, workers))
        .map_err(err)?;
    host.handle(&id, "lead")
        .and_then(|h| h.activate())
        .map_err(err)?;
    Ok(id)
}

fn raw_sqlite(path: &Path, durability: Durability) -> Result<rusqlite::Connection> {
    let raw = rusqlite::Connection::open(path).map_err(err)?;
    raw.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    raw.pragma_update(None, "synchronous", sync).map_err(err)?;
    raw.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (arena_id TEXT NOT NULL, seq INTEGER NOT NULL,
             at TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
             hash TEXT NOT NULL, PRIMARY KEY (arena_id, seq)) WITHOUT ROWID",
    )
    .map_err(err)?;
    Ok(raw)
}

fn insert_rows(raw: &rusqlite::Connection, rows: &[Event], arena: &str) -> Result<()> {
    let tx = raw.unchecked_transaction().map_err(err)?;
    {
        let mut insert = tx
            .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .map_err(err)?;
        for e in rows {
            insert
                .execute(rusqlite::params![
                    arena, e.seq, e.at, e.actor, e.kind, e.payload, e.hash
                ])
                .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

/// Runs every case and returns the table; `progress` hears the name of each case as it starts.
pub fn run(config: &BenchConfig, mut progress: impl FnMut(&str)) -> Result<Report> {
    let dir = tempfile::tempdir().map_err(err)?;
    let mut rows = Vec::new();
    progress("one durable operation");
    rows.extend(durable_operation(config, dir.path())?);
    progress("a plugin turn");
    rows.extend(plugin_turn(config, dir.path())?);
    for durability in [Durability::Normal, Durability::Full] {
        progress(&format!("group commit ({})", durability.name()));
        rows.extend(group_commit(config, dir.path(), durability)?);
    }
    progress("plugin instantiation");
    rows.extend(instantiation(config, dir.path())?);
    progress("resident memory per plugin instance");
    rows.extend(memory_per_instance(config, dir.path())?);
    progress("replay");
    rows.extend(replay(config)?);
    if let Some(exe) = &config.arena_exe {
        progress("cold start");
        rows.extend(cold_start(config, exe, dir.path())?);
    }
    if let Some(url) = &config.postgres {
        progress("PostgreSQL, one and three hosts");
        rows.extend(shared_database(config, dir.path(), url)?);
    }
    Ok(Report {
        machine: machine(),
        durability: config.durability,
        rows,
    })
}

/// complete-step through host → component → SQLite, natively, and SQLite's own one-row commit.
fn durable_operation(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let steps = (config.ops * config.samples * 2) as u32 + 10;
    let host = open_host(&dir.join("op-component.db"), config.durability, true)?;
    let id = active_arena(&host, steps, 1)?;
    let worker = host.handle(&id, "w0").map_err(err)?;
    let native = native_manager(&dir.join("op-native.db"), config.durability).map_err(err)?;
    let native_id = native.create(&native_config(steps)).map_err(err)?;
    native.handle(&native_id, "lead").activate().map_err(err)?;
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
            worker
                .complete_step(step_c)
                .map(|a| drop(black_box(a)))
                .map_err(err)
        })?);
        natively.push(time_per_op(config.ops, || {
            step_n += 1;
            native
                .handle(&native_id, "w0")
                .complete_step(step_n)
                .map(|a| drop(black_box(a)))
                .map_err(err)
        })?);
        sqlite.push(time_per_op(config.ops, || {
            seq += 1;
            let one = Event { seq, ..row.clone() };
            insert_rows(&raw, std::slice::from_ref(&one), "a")
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
fn plugin_turn(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let steps = (config.ops * config.samples * 2) as u32 + 10;
    let host = open_host(&dir.join("turn-component.db"), config.durability, true)?;
    let id = active_arena(&host, steps, 1)?;
    let engine = PluginEngine::new().map_err(err)?;
    let spec = worker_spec();
    let handle = host.handle(&id, "w0").map_err(err)?;
    let mut plugin = engine.load(&spec, handle).map_err(err)?;
    let native = native_manager(&dir.join("turn-native.db"), config.durability).map_err(err)?;
    let native_id = native.create(&native_config(steps)).map_err(err)?;
    native.handle(&native_id, "lead").activate().map_err(err)?;
    let (mut turn, mut next_step) = (0u32, 1u32);
    let (mut component, mut natively) = (Vec::new(), Vec::new());
    for _ in 0..config.samples {
        component.push(time_per_op(config.ops, || {
            turn += 1;
            match plugin.turn(turn).outcome {
                TurnOutcome::Done(_) => Ok(()),
                other => Err(format!("worker turn {turn}: {other:?}")),
            }
        })?);
        natively.push(time_per_op(config.ops, || {
            // What the sample worker does, natively.
            let h = native.handle(&native_id, "w0");
            if h.info().map_err(err)?.status != domain::ArenaStatus::Active {
                return Err("the native arena is not active".into());
            }
            let total = h.info().map_err(err)?.aggregate.total_steps;
            while next_step <= total {
                match h.complete_step(next_step) {
                    Ok(_) => break,
                    Err(DomainError::AlreadyDone) => next_step += 1,
                    Err(e) => return Err(err(e)),
                }
            }
            h.report_progress(&format!("finished step {next_step}"))
                .map_err(err)?;
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

fn worker_spec() -> PluginSpec {
    PluginSpec::new("worker", "w0", Arc::from(BUILTIN_PLUGINS[1].1))
}

/// Concurrent writers, each completing steps of its own arena: with group commit, with one commit
/// per operation, and SQLite inserting the same rows in batches.
fn group_commit(config: &BenchConfig, dir: &Path, durability: Durability) -> Result<Vec<Row>> {
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
                    let handle = handle.map_err(err)?;
                    start.wait();
                    for step in 1..=ops {
                        handle.complete_step(step).map_err(err)?;
                    }
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for writer in writers {
            writer
                .join()
                .map_err(|_| "a writer panicked".to_string())??;
        }
        let elapsed = began.elapsed().as_secs_f64();
        let total = config.writers * config.ops_per_writer;
        rates.push((total as f64 / elapsed, host.commit_stats(), before));
        if group {
            for id in &arenas {
                let events = host.all_events(id, 0).map_err(err)?;
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
        let tx = raw.unchecked_transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(err)?;
            for (arena, e) in chunk {
                insert
                    .execute(rusqlite::params![
                        arena, e.seq, e.at, e.actor, e.kind, e.payload, e.hash
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
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

/// Instantiating the worker from its prepared `InstancePre`, with the default and the pooling
/// allocator, against instantiating the empty component in a Store set up the same way.
fn instantiation(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let host = open_host(&dir.join("instances.db"), config.durability, true)?;
    let id = active_arena(&host, 10, 1)?;
    let handle = host.handle(&id, "w0").map_err(err)?;
    let spec = worker_spec();
    let mut rows = Vec::new();
    let engines = [
        ("default allocator", PluginEngine::new()),
        (
            "pooling allocator",
            PluginEngine::pooling(64, spec.limits.memory_bytes),
        ),
    ];
    for (name, engine) in engines {
        let engine = engine.map_err(err)?;
        let prepared = engine.prepare(&spec, handle.grant()).map_err(err)?;
        let (mut plugin, mut empty) = (Vec::new(), Vec::new());
        for _ in 0..config.samples {
            plugin.push(time_per_op(config.ops, || {
                prepared
                    .instantiate(handle.clone())
                    .map(|p| drop(black_box(p)))
                    .map_err(err)
            })?);
            empty.push(time_per_op(config.ops, || {
                prepared.instantiate(handle.clone()).map(drop).map_err(err)
            })?);
        }
        let (p, e) = (median(plugin), median(empty));
        rows.push(Row {
            case: format!("instantiate a plugin from its InstancePre ({name})"),
            value: micros(p),
            baseline: "the empty component, same engine and Store setup".into(),
            baseline_value: micros(e),
            ratio: p / e,
            higher_is_better: false,
            target: Some(1.5),
        });
    }
    Ok(rows)
}

/// Resident memory of this process, in bytes.
fn resident_bytes() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(err)?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or("unreadable /proc/self/statm")?;
    Ok(pages * 4096)
}

/// The growth of resident memory per live worker instance between the configured counts.
fn memory_per_instance(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let host = open_host(&dir.join("memory.db"), config.durability, true)?;
    let id = active_arena(&host, 10, 1)?;
    let handle = host.handle(&id, "w0").map_err(err)?;
    let engine = PluginEngine::new().map_err(err)?;
    let prepared = engine
        .prepare(&worker_spec(), handle.grant())
        .map_err(err)?;
    let mut live = Vec::new();
    let mut readings = Vec::new();
    for &count in &config.instance_counts {
        while live.len() < count {
            live.push(prepared.instantiate(handle.clone()).map_err(err)?);
        }
        readings.push((count, resident_bytes()?));
    }
    let mut rows = Vec::new();
    for pair in readings.windows(2) {
        let ((from, before), (to, after)) = (pair[0], pair[1]);
        let slope = after.saturating_sub(before) as f64 / (to - from) as f64;
        rows.push(Row {
            case: format!("resident memory per live plugin instance ({from} → {to})"),
            value: format!("{:.1} KiB", slope / 1024.0),
            baseline: "the 64 KiB budget".into(),
            baseline_value: "64.0 KiB".into(),
            ratio: slope / 65536.0,
            higher_is_better: false,
            target: Some(1.0),
        });
    }
    Ok(rows)
}

const REPLAY_ID: &str = "01934b5e-0000-7000-8000-000000000001";

/// The replay fixture of `events` events: built natively, written in one transaction, and cached.
fn replay_fixture(config: &BenchConfig) -> Result<PathBuf> {
    let events = config.replay_events;
    let path = config.fixtures.join(format!(
        "replay-{events}-v{}.db",
        crate::db::sqlite::SCHEMA_VERSION
    ));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&config.fixtures).map_err(err)?;
    let mut changes = vec![
        Change::ArenaCreated {
            id: REPLAY_ID.into(),
            goal: "replay".into(),
            total_steps: domain::limits::TOTAL_STEPS,
            strategy: domain::Strategy::Peer("lead".into()),
            created_by: "bench".into(),
        },
        Change::AgentJoined {
            agent: "lead".into(),
            role: domain::Role::Coordinator,
            permissions: domain::Permission::ALL.to_vec(),
        },
        Change::AgentJoined {
            agent: "w".into(),
            role: domain::Role::Worker,
            permissions: domain::Role::Worker.permissions().into_iter().collect(),
        },
        Change::ArenaActivated {},
    ];
    // Steps, progress notes and artifacts, cycling through the arena's steps.
    let mut n = 0u64;
    while (changes.len() as u64) < events {
        n += 1;
        changes.push(match n % 4 {
            0 | 1 => Change::ProgressReported {
                note: format!("working on item {n}"),
            },
            2 if n / 4 < u64::from(domain::limits::TOTAL_STEPS) => Change::StepCompleted {
                step: (n / 4 + 1) as u32,
            },
            _ => Change::GoalUpdated {
                goal: format!("replay, revision {n}"),
            },
        });
    }
    changes.truncate(events as usize);
    let mut state: Option<domain::Arena> = None;
    let mut sealed = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let (seq, hash) = state
            .as_ref()
            .map_or((0, String::new()), |a| (a.last_seq, a.last_hash.clone()));
        let actor = if i < 4 { "lead" } else { "w" };
        let at = format!(
            "2026-01-01T{:02}:{:02}:{:02}.{:06}Z",
            (i / 3_600_000_000) % 24,
            (i / 60_000_000) % 60,
            (i / 1_000_000) % 60,
            i % 1_000_000
        );
        let event = seal(seq, &hash, &at, actor, change, None);
        state = Some(apply(state, &event).map_err(err)?);
        sealed.push(Event {
            seq: event.seq,
            at: event.at,
            actor: event.actor,
            kind: event.kind,
            payload: event.payload,
            hash: event.hash,
        });
    }
    let state = state.ok_or("an empty fixture")?;
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    {
        let mut storage = SqliteStorage::open(&partial, Durability::Normal).map_err(err)?;
        let record = arena_bindings::storage::ArenaRecord {
            snapshot: serde_json::to_string(&state).map_err(err)?,
            status: ArenaStatus::Active,
            participants: state.participants.keys().cloned().collect(),
            tags: state.fact_tags(),
        };
        storage
            .append(REPLAY_ID, 0, &sealed, &record)
            .map_err(|e| crate::describe(&e))?;
    }
    // Fold the WAL in so the fixture is one self-contained file.
    rusqlite::Connection::open(&partial)
        .and_then(|c| c.pragma_update(None, "wal_checkpoint", "TRUNCATE"))
        .map_err(err)?;
    std::fs::rename(&partial, &path).map_err(err)?;
    Ok(path)
}

/// `verify` (hash chain, replay from event 1, comparison) through the component and natively.
fn replay(config: &BenchConfig) -> Result<Vec<Row>> {
    let path = replay_fixture(config)?;
    let host = open_host(&path, Durability::Normal, true)?;
    let native = native_manager(&path, Durability::Normal).map_err(err)?;
    let (mut component, mut natively) = (Vec::new(), Vec::new());
    let events = config.replay_events;
    for _ in 0..config.samples.clamp(1, 3) {
        let start = Instant::now();
        let report = host.verify(REPLAY_ID).map_err(err)?;
        component.push(start.elapsed().as_secs_f64());
        if (report.events, report.problem.as_deref()) != (events, None) {
            return Err(format!("the component's verify: {report:?}"));
        }
        let start = Instant::now();
        let report = native.verify(REPLAY_ID).map_err(err)?;
        natively.push(start.elapsed().as_secs_f64());
        if (report.events, report.problem.as_deref()) != (events, None) {
            return Err(format!("the native verify: {report:?}"));
        }
    }
    let (c, n) = (median(component), median(natively));
    Ok(vec![Row {
        case: format!("replay + verify a {events}-event arena through the component"),
        value: per_second(events as f64 / c),
        baseline: "the native fold".into(),
        baseline_value: per_second(events as f64 / n),
        ratio: n / c,
        higher_is_better: true,
        target: Some(0.7),
    }])
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
            )
            .map_err(err)?;
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
                let worker = host.handle(&id, "w0").map_err(err)?;
                start.wait();
                for step in 1..=ops as u32 {
                    worker.complete_step(step).map_err(err)?;
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for writer in writers {
        writer.join().map_err(|_| "a host panicked".to_string())??;
    }
    Ok((hosts * ops) as f64 / began.elapsed().as_secs_f64())
}

/// Durable operations on PostgreSQL with one and three hosts, against SQLite in the same run.
fn shared_database(config: &BenchConfig, dir: &Path, url: &str) -> Result<Vec<Row>> {
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

/// Process start to the first answered operation (`arena list`), with the compiled component in the
/// cache and without it.
fn cold_start(config: &BenchConfig, exe: &Path, dir: &Path) -> Result<Vec<Row>> {
    let db = dir.join("cold.db");
    let cache = dir.join("component-cache");
    let start = |cached: bool| -> Result<f64> {
        let mut command = std::process::Command::new(exe);
        command.arg("--db").arg(&db);
        if cached {
            command.arg("--cache-dir").arg(&cache);
        } else {
            command.arg("--no-cache");
        }
        command.arg("list");
        let began = Instant::now();
        let output = command.output().map_err(err)?;
        let elapsed = began.elapsed().as_secs_f64();
        if !output.status.success() {
            return Err(format!(
                "`arena list` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(elapsed)
    };
    start(true)?; // fills the cache
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    for _ in 0..config.starts {
        warm.push(start(true)?);
        cold.push(start(false)?);
    }
    let (w, c) = (median(warm), median(cold));
    Ok(vec![Row {
        case: "cold start to the first answer, component cache filled".into(),
        value: format!("{:.1} ms", w * 1e3),
        baseline: "the same start compiling the component".into(),
        baseline_value: format!("{:.1} ms", c * 1e3),
        ratio: c / w,
        higher_is_better: true,
        target: Some(10.0),
    }])
}

/// The report as a table (plain text, aligned).
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "machine: {}\ndurability: {} unless a case says otherwise\n\
         ratio: component ÷ baseline as a rate (higher is better), or as a cost (marked ≤)\n\n",
        report.machine,
        report.durability.name()
    );
    let widths = [62, 22, 52, 22];
    out.push_str(&format!(
        "{:<w0$} {:>w1$}  {:<w2$} {:>w3$} {:>9} {:>8}\n",
        "case",
        "measured",
        "baseline (same run)",
        "baseline",
        "ratio",
        "target",
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2],
        w3 = widths[3]
    ));
    for row in &report.rows {
        let target = match (row.target, row.met()) {
            (Some(t), Some(met)) => format!(
                "{}{t} {}",
                if row.higher_is_better { "≥" } else { "≤" },
                if met { "✓" } else { "✗" }
            ),
            _ => "–".into(),
        };
        out.push_str(&format!(
            "{:<w0$} {:>w1$}  {:<w2$} {:>w3$} {:>8.2}× {:>8}\n",
            row.case,
            row.value,
            row.baseline,
            row.baseline_value,
            row.ratio,
            target,
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        ));
    }
    out
}

/// How long a run of `config` is expected to take, roughly (for the progress line).
pub fn rough_duration(config: &BenchConfig) -> Duration {
    Duration::from_secs((config.replay_events / 20_000 + config.ops as u64 / 4).max(5))
}
