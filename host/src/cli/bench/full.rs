//! An arena at the limits against a fresh one: the same durable operation's rate, and the bytes it
//! writes to the database, counted in WAL frames.

use std::hint::black_box;
use std::path::Path;

use anyhow::{Context, Result};

use arena_host::types::{ArtifactDraft, FactDraft};
use arena_host::{ArenaHost, Operation};

use super::{BenchConfig, Row, active_arena, median, micros, open_host, per_second, time_per_op};

/// How much an arena at the limits holds: participants, artifacts per participant, metadata
/// entries per artifact (of `metadata_bytes` each), facts (of `fact_bytes` each), remembered keys.
#[derive(Clone, Copy, Debug)]
pub struct FullArena {
    /// Participants, the coordinator included (each puts the artifacts).
    pub participants: usize,
    /// Artifacts each participant puts.
    pub artifacts: usize,
    /// Metadata entries on each artifact.
    pub metadata: usize,
    /// Bytes of each metadata value.
    pub metadata_bytes: usize,
    /// Facts the arena holds.
    pub facts: usize,
    /// Bytes of each fact's content.
    pub fact_bytes: usize,
    /// Idempotency keys the arena remembers.
    pub keys: usize,
}

impl FullArena {
    /// The limits of `types::limits`: 64 participants × 64 artifacts × 16 metadata entries of 1 KiB,
    /// 256 facts of 4 KiB, 1,024 remembered keys.
    pub const LIMITS: FullArena = FullArena {
        participants: 64,
        artifacts: 64,
        metadata: 16,
        metadata_bytes: 1024,
        facts: 256,
        fact_bytes: 4096,
        keys: 1024,
    };

    /// A small arena of the same shape, for smoke runs.
    pub const SMOKE: FullArena = FullArena {
        participants: 4,
        artifacts: 4,
        metadata: 4,
        metadata_bytes: 64,
        facts: 8,
        fact_bytes: 256,
        keys: 16,
    };
}

/// Builds an active arena filled as `full` says, with `steps` steps, and returns its id.
fn fill(host: &ArenaHost, full: &FullArena, steps: u32) -> Result<String> {
    let workers = full.participants - 1;
    let id = active_arena(host, steps, workers)?;
    let agents: Vec<String> = std::iter::once("lead".to_string())
        .chain((0..workers).map(|w| format!("w{w}")))
        .collect();
    let mut keys = 0;
    for round in 0..full.artifacts {
        for agent in &agents {
            let draft = ArtifactDraft {
                kind: "text".into(),
                content: format!("artifact {round} of {agent}"),
                metadata: (0..full.metadata)
                    .map(|m| (format!("key-{m:02}"), "m".repeat(full.metadata_bytes)))
                    .collect(),
            };
            let handle = host.handle(&id, agent)?;
            // The first puts carry idempotency keys, which the arena remembers.
            if keys < full.keys {
                keys += 1;
                handle.perform(Some(&format!("put-{keys}")), &Operation::PutArtifact(draft))?;
            } else {
                handle.put_artifact(&draft)?;
            }
        }
    }
    let lead = host.handle(&id, "lead")?;
    for fact in 0..full.facts {
        lead.add_fact(&FactDraft {
            content: format!("{fact:04} {}", "f".repeat(full.fact_bytes - 5)),
            confidence: 0.5,
            tags: vec![format!("tag-{}", fact % 8)],
        })?;
    }
    while keys < full.keys {
        keys += 1;
        lead.perform(
            Some(&format!("note-{keys}")),
            &Operation::ReportProgress(format!("note {keys}")),
        )?;
    }
    Ok(id)
}

/// Frames in the WAL of the database at `path` since it was last truncated, and the page size:
/// `PRAGMA wal_checkpoint(PASSIVE)` reports the frames the WAL holds.
fn wal_frames(raw: &rusqlite::Connection) -> Result<(u64, u64)> {
    let frames: i64 = raw.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    let page: i64 = raw.pragma_query_value(None, "page_size", |row| row.get(0))?;
    Ok((frames.max(0) as u64, page as u64))
}

/// The bytes one `complete-step` on `id` writes to the WAL, over `ops` operations: frames (each a
/// page and its 24-byte header) counted after emptying the WAL, and the events' own bytes.
fn bytes_per_op(
    host: &ArenaHost,
    raw: &rusqlite::Connection,
    id: &str,
    first_step: u32,
    ops: usize,
) -> Result<(f64, f64)> {
    raw.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    let worker = host.handle(id, "w0")?;
    for step in first_step..first_step + ops as u32 {
        worker.complete_step(step)?;
    }
    let (frames, page) = wal_frames(raw)?;
    let events = host.all_events(id, 0)?;
    let event_bytes: usize = events
        .iter()
        .rev()
        .take(ops)
        .map(|e| e.at.len() + e.actor.len() + e.kind.len() + e.payload.len() + e.hash.len() + 8)
        .sum();
    Ok((
        (frames * (page + 24)) as f64 / ops as f64,
        event_bytes as f64 / ops as f64,
    ))
}

/// `complete-step` on an arena at the limits against a fresh arena in the same database (rate), and
/// the bytes it writes per operation on the full arena against the budget (4 KiB plus the
/// event's own size).
pub(super) fn full_arena(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let steps = (config.ops * config.samples * 2) as u32 + 1000;
    let path = dir.join("full.db");
    let host = open_host(&path, config.durability, false)?;
    let full_id = fill(&host, &config.full_arena, steps).context("filling an arena")?;
    let fresh_id = active_arena(&host, steps, 1)?;
    let (full_w, fresh_w) = (host.handle(&full_id, "w0")?, host.handle(&fresh_id, "w0")?);
    let (mut step_full, mut step_fresh) = (0u32, 0u32);
    let (mut full, mut fresh) = (Vec::new(), Vec::new());
    for _ in 0..config.samples {
        full.push(time_per_op(config.ops, || {
            step_full += 1;
            full_w.complete_step(step_full).map(|a| drop(black_box(a)))
        })?);
        fresh.push(time_per_op(config.ops, || {
            step_fresh += 1;
            fresh_w
                .complete_step(step_fresh)
                .map(|a| drop(black_box(a)))
        })?);
    }
    let (f, n) = (median(full), median(fresh));
    let raw = rusqlite::Connection::open(&path)?;
    let counted = config.ops.min(100);
    let (full_bytes, event_bytes) = bytes_per_op(&host, &raw, &full_id, step_full + 1, counted)?;
    let (fresh_bytes, _) = bytes_per_op(&host, &raw, &fresh_id, step_fresh + 1, counted)?;
    let budget = 4096.0 + event_bytes;
    let shape = &config.full_arena;
    let holds = format!(
        "{}×{} artifacts, {} facts, {} keys",
        shape.participants, shape.artifacts, shape.facts, shape.keys
    );
    Ok(vec![
        Row {
            case: format!("durable complete-step on a full arena ({holds})"),
            value: format!("{} ({})", micros(f), per_second(1.0 / f)),
            baseline: "the same on a fresh arena, same database".into(),
            baseline_value: micros(n),
            ratio: n / f,
            higher_is_better: true,
            target: Some(0.9),
        },
        Row {
            case: "bytes written per complete-step on that full arena (WAL frames)".into(),
            value: format!("{full_bytes:.0} B"),
            baseline: format!(
                "4 KiB + the event's {event_bytes:.0} B (fresh arena: {fresh_bytes:.0} B)"
            ),
            baseline_value: format!("{budget:.0} B"),
            ratio: full_bytes / budget,
            higher_is_better: false,
            target: Some(1.0),
        },
    ])
}
