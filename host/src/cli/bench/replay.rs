//! The cases that read or start: replaying a large arena, and a cold start of the program.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use arena_component::events::{Change, apply, seal};
use arena_component::{self as domain};

use arena_host::Durability;
use arena_host::db::Storage;
use arena_host::db::sqlite::{SCHEMA_VERSION, SqliteStorage};
use arena_host::types::{ArenaStatus, Event};

use super::native::native_manager;
use super::{BenchConfig, Row, median, micros, open_host, per_second};

const REPLAY_ID: &str = "01934b5e-0000-7000-8000-000000000001";

/// The replay fixture of `events` events: built natively, written in one transaction, and cached.
fn replay_fixture(config: &BenchConfig) -> Result<PathBuf> {
    let events = config.replay_events;
    let path = config
        .fixtures
        .join(format!("replay-{events}-v{}-authorised.db", SCHEMA_VERSION));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&config.fixtures)?;
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
        // Written as the arena writes it: the creation by its creator at one time, the
        // activation and the goal updates by the coordinator, the work by the worker (verify
        // re-checks each event's authority).
        let actor = match change {
            _ if i < 3 => "bench",
            Change::ArenaActivated {} | Change::GoalUpdated { .. } => "lead",
            _ => "w",
        };
        let i = if i < 3 { 0 } else { i };
        let at = format!(
            "2026-01-01T{:02}:{:02}:{:02}.{:06}Z",
            (i / 3_600_000_000) % 24,
            (i / 60_000_000) % 60,
            (i / 1_000_000) % 60,
            i % 1_000_000
        );
        let event = seal(seq, &hash, &at, actor, change, None);
        state = Some(apply(state, &event)?);
        sealed.push(Event {
            seq: event.seq,
            at: event.at,
            actor: event.actor,
            kind: event.kind,
            payload: event.payload,
            hash: event.hash,
        });
    }
    let state = state.context("an empty fixture")?;
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    {
        let mut storage = SqliteStorage::open(&partial, Durability::Normal)?;
        let record = arena_bindings::storage::ArenaRecord {
            status: ArenaStatus::Active,
            participants: state.participants.keys().cloned().collect(),
            tags: state.fact_tags(),
        };
        let snapshot = serde_json::to_string(&state)?;
        storage
            .append(REPLAY_ID, 0, &sealed, Some(&record), Some(&snapshot))
            .map_err(|e| anyhow!(arena_host::describe(&e)))?;
    }
    // Fold the WAL in so the fixture is one self-contained file.
    rusqlite::Connection::open(&partial)
        .and_then(|c| c.pragma_update(None, "wal_checkpoint", "TRUNCATE"))?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// `verify` (hash chain, replay from event 1, comparison) through the component and natively.
pub(super) fn replay(config: &BenchConfig) -> Result<Vec<Row>> {
    let path = replay_fixture(config)?;
    let host = open_host(&path, Durability::Normal, true)?;
    let native = native_manager(&path, Durability::Normal)?;
    let (mut component, mut natively) = (Vec::new(), Vec::new());
    let events = config.replay_events;
    for _ in 0..config.samples.clamp(1, 3) {
        let start = Instant::now();
        let report = host.verify(REPLAY_ID)?;
        component.push(start.elapsed().as_secs_f64());
        if (report.events, report.problem.as_deref()) != (events, None) {
            bail!("the component's verify: {report:?}");
        }
        let start = Instant::now();
        let report = native.verify(REPLAY_ID)?;
        natively.push(start.elapsed().as_secs_f64());
        if (report.events, report.problem.as_deref()) != (events, None) {
            bail!("the native verify: {report:?}");
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

/// Process start to the first answered operation (`arena list`), with the compiled component in the
/// cache and without it.
pub(super) fn cold_start(config: &BenchConfig, exe: &Path, dir: &Path) -> Result<Vec<Row>> {
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
        let output = command.output()?;
        let elapsed = began.elapsed().as_secs_f64();
        if !output.status.success() {
            bail!(
                "`arena list` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(elapsed)
    };
    // `list` opens read-only and creates nothing: the database must exist.
    SqliteStorage::open(&db, Durability::Normal)?;
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

/// Pages of `events` a case reads: the most one read returns.
const EVENTS_PAGE: u32 = 1000;

/// `events` pages, each checked to chain to the head: a host's first page at the start of the
/// replay fixture's log (it hashes the rest of the log, up to the head's hash) against a page at the
/// head (nothing left to hash); and the whole log read page by page through the component against
/// the same pages read from SQLite, unchecked.
pub(super) fn events_pages(config: &BenchConfig) -> Result<Vec<Row>> {
    let path = replay_fixture(config)?;
    let events = config.replay_events;
    let mut raw_storage = SqliteStorage::open(&path, Durability::Normal)?;
    let (mut first, mut at_head, mut whole, mut raw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let expected = events.min(u64::from(EVENTS_PAGE)) as usize;
    for _ in 0..config.samples.clamp(1, 3) {
        // A host of its own, which has checked nothing of this log yet.
        let host = open_host(&path, Durability::Normal, true)?;
        let start = Instant::now();
        let page = host.events(REPLAY_ID, 0, EVENTS_PAGE)?;
        first.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let last = host.events(
            REPLAY_ID,
            events.saturating_sub(u64::from(EVENTS_PAGE)),
            EVENTS_PAGE,
        )?;
        at_head.push(start.elapsed().as_secs_f64());
        if page.len() != expected || last.len() != expected {
            bail!(
                "read {} and {} events, not {expected}",
                page.len(),
                last.len()
            );
        }

        let host = open_host(&path, Durability::Normal, true)?;
        let start = Instant::now();
        let read = read_all(|after| Ok(host.events(REPLAY_ID, after, EVENTS_PAGE)?))?;
        whole.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let read_raw = read_all(|after| {
            raw_storage
                .read_events(REPLAY_ID, after, EVENTS_PAGE)
                .map_err(|e| anyhow!(arena_host::describe(&e)))
        })?;
        raw.push(start.elapsed().as_secs_f64());
        if (read, read_raw) != (events, events) {
            bail!("read {read} and {read_raw} events of {events}");
        }
    }
    let (first, at_head) = (median(first), median(at_head));
    let (whole, raw) = (median(whole), median(raw));
    Ok(vec![
        Row {
            case: format!(
                "a host's first events page at the start of a {events}-event log (hashed to the head)"
            ),
            value: micros(first),
            baseline: "a page at the head".into(),
            baseline_value: micros(at_head),
            ratio: first / at_head,
            higher_is_better: false,
            target: None,
        },
        Row {
            case: format!(
                "read a {events}-event log in pages of {EVENTS_PAGE} through the component"
            ),
            value: per_second(events as f64 / whole),
            baseline: "the same pages from SQLite, unchecked".into(),
            baseline_value: per_second(events as f64 / raw),
            ratio: raw / whole,
            higher_is_better: true,
            target: None,
        },
    ])
}

/// Reads a log page by page with `page` (the events after a sequence number) to its end; the
/// number of events read.
fn read_all(mut page: impl FnMut(u64) -> Result<Vec<Event>>) -> Result<u64> {
    let mut after = 0;
    loop {
        let events = page(after)?;
        match events.last() {
            Some(last) => after = last.seq,
            None => return Ok(after),
        }
    }
}
