//! The benchmark suite behind `arena bench` (and `cargo bench`, which runs `arena bench`): every hot
//! path measured against a baseline in the same run, so the table reads as ratios on a shared, noisy
//! machine.
//!
//! The native baseline is the arena's domain logic (`arena-component`) compiled natively on this host's
//! own SQLite storage code ([`native`]): same SQL, same pragmas, same commit pattern. Raw SQLite
//! figures use the same file system and pragmas. Cases interleave their measurements so that noise
//! hits both sides alike, and report medians.

mod agents;
mod console;
mod full;
mod instances;
mod mcp;
mod native;
mod replay;
mod writes;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use arena_component as domain;
use serde::Serialize;

use arena_host::Durability;
use arena_host::types::{ArenaConfig, Event, ParticipantSpec, Role, Strategy};
use arena_host::{ArenaHost, GroupCommit, HostOptions};

use super::render::Output;

pub use full::FullArena;

/// `arena bench`: runs the suite (at `--smoke`, standard or `--full` sizes) on temporary files and
/// prints the table, or with `--json` one line per row.
pub(crate) fn command(
    smoke: bool,
    full: bool,
    fixtures: PathBuf,
    only: Vec<String>,
    list: bool,
    out: &Output,
) -> Result<()> {
    let exe = std::env::current_exe().ok();
    let mut config = if smoke {
        BenchConfig::smoke(fixtures, exe)
    } else if full {
        BenchConfig::full(fixtures, exe)
    } else {
        BenchConfig::standard(fixtures, exe)
    };
    config.only = only;
    if list {
        for name in group_names(&config) {
            println!("{name}");
        }
        return Ok(());
    }
    let report = run(&config, |case| eprintln!("measuring: {case}")).context("benchmark")?;
    if !out.json {
        print!("{}", table(&report));
        return Ok(());
    }
    for row in &report.rows {
        out.json(&RowView {
            case: &row.case,
            measured: &row.value,
            baseline: &row.baseline,
            baseline_value: &row.baseline_value,
            ratio: row.ratio,
            higher_is_better: row.higher_is_better,
            target: row.target,
            met: row.met(),
            durability: report.durability.name(),
            machine: &report.machine,
        })?;
    }
    Ok(())
}

/// A row of the table as `--json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RowView<'a> {
    case: &'a str,
    measured: &'a str,
    baseline: &'a str,
    baseline_value: &'a str,
    ratio: f64,
    higher_is_better: bool,
    target: Option<f64>,
    met: Option<bool>,
    durability: &'static str,
    machine: &'a str,
}

/// How much to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Durability of every case but the group-commit ones, which run at both settings.
    pub durability: Durability,
    /// Operations per timed sample.
    pub ops: usize,
    /// Timed samples per case (the median is reported).
    pub samples: usize,
    /// Concurrent writers in the group-commit cases.
    pub writers: usize,
    /// Operations each of those writers performs.
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
    /// What the arena of the full-arena case holds.
    pub full_arena: FullArena,
    /// Model-calling workers in the concurrent-vs-rounds case.
    pub llm_workers: usize,
    /// The target of that case's ratio (none at smoke sizes).
    pub llm_target: Option<f64>,
    /// Plugins running at once in the resident-memory-of-a-run case.
    pub resident_plugins: usize,
    /// How long each run of that case lasts, in milliseconds.
    pub resident_ms: u64,
    /// Events in the large arena the console cases open (`ARENA_BENCH_CONSOLE_EVENTS` sets it).
    pub console_events: u64,
    /// Run only the groups whose short name contains one of these words (all when empty).
    pub only: Vec<String>,
}

impl BenchConfig {
    /// A run of a minute or two: `arena bench`.
    pub fn standard(fixtures: PathBuf, arena_exe: Option<PathBuf>) -> Self {
        BenchConfig {
            durability: Durability::Normal,
            // More operations per sample, for a profile of one case that the component's compile
            // does not swamp.
            ops: std::env::var("ARENA_BENCH_OPS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(200),
            samples: 5,
            writers: 32,
            ops_per_writer: 100,
            instance_counts: vec![1000, 2000],
            replay_events: 100_000,
            fixtures,
            arena_exe,
            starts: 3,
            postgres: std::env::var("ARENA_BENCH_POSTGRES").ok(),
            full_arena: FullArena::LIMITS,
            llm_workers: 16,
            llm_target: Some(8.0),
            resident_plugins: 64,
            resident_ms: 1500,
            console_events: console_events(100_000),
            only: Vec::new(),
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
            full_arena: FullArena::SMOKE,
            llm_workers: 4,
            llm_target: None,
            resident_plugins: 8,
            resident_ms: 500,
            console_events: console_events(2_000),
            ..Self::standard(fixtures, arena_exe)
        }
    }
}

/// `ARENA_BENCH_CONSOLE_EVENTS`, or `default`.
fn console_events(default: u64) -> u64 {
    std::env::var("ARENA_BENCH_CONSOLE_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 10)
        .unwrap_or(default)
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
    /// The target for the ratio, if any.
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
    /// The machine, in one line (see [`machine`]).
    pub machine: String,
    /// The durability of every case but the group-commit ones.
    pub durability: Durability,
    /// The table's lines, in the order measured.
    pub rows: Vec<Row>,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The mean time of one call of `op` over `ops` calls, in seconds.
fn time_per_op<E: Into<anyhow::Error>>(
    ops: usize,
    mut op: impl FnMut() -> std::result::Result<(), E>,
) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..ops {
        op().map_err(Into::into)?;
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
    let host = ArenaHost::open(
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
    )?;
    Ok(host)
}

/// An active arena of `steps` steps with workers `w0`…, and its id.
fn active_arena(host: &ArenaHost, steps: u32, workers: usize) -> Result<String> {
    let id = host.create(&component_config(steps, workers))?;
    host.handle(&id, "lead").and_then(|h| h.activate())?;
    Ok(id)
}

fn raw_sqlite(path: &Path, durability: Durability) -> Result<rusqlite::Connection> {
    let raw = rusqlite::Connection::open(path)?;
    raw.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    raw.pragma_update(None, "synchronous", sync)?;
    raw.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (arena_id TEXT NOT NULL, seq INTEGER NOT NULL,
             at TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
             hash TEXT NOT NULL, PRIMARY KEY (arena_id, seq)) WITHOUT ROWID",
    )?;
    Ok(raw)
}

/// Inserts `(arena, event)` rows into the raw events table in one transaction.
fn insert_rows<'a>(
    raw: &rusqlite::Connection,
    rows: impl IntoIterator<Item = (&'a str, &'a Event)>,
) -> Result<()> {
    let tx = raw.unchecked_transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        for (arena, e) in rows {
            insert.execute(rusqlite::params![
                arena, e.seq, e.at, e.actor, e.kind, e.payload, e.hash
            ])?;
        }
    }
    Ok(tx.commit()?)
}

/// A group of cases: its short name (what `--only` matches), what it measures, and the cases.
type Group<'a> = (
    &'static str,
    &'static str,
    Box<dyn Fn() -> Result<Vec<Row>> + 'a>,
);

/// Every group of cases, in the order they run.
fn groups<'a>(config: &'a BenchConfig, dir: &'a Path) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = vec![
        (
            "durable",
            "one durable operation",
            Box::new(|| writes::durable_operation(config, dir)),
        ),
        (
            "full-arena",
            "one durable operation on an arena at the limits",
            Box::new(|| full::full_arena(config, dir)),
        ),
        (
            "turn",
            "a plugin turn",
            Box::new(|| writes::plugin_turn(config, dir)),
        ),
        (
            "group-commit",
            "group commit (normal)",
            Box::new(|| writes::group_commit(config, dir, Durability::Normal)),
        ),
        (
            "group-commit",
            "group commit (full)",
            Box::new(|| writes::group_commit(config, dir, Durability::Full)),
        ),
        (
            "instantiation",
            "plugin instantiation",
            Box::new(|| instances::instantiation(config, dir)),
        ),
        (
            "instance-memory",
            "resident memory per plugin instance",
            Box::new(|| instances::memory_per_instance(config, dir)),
        ),
        (
            "agents",
            "model-calling agents, concurrent and in rounds",
            Box::new(|| agents::concurrent_vs_rounds(config, dir)),
        ),
        (
            "tool-loop",
            "an llm-agent's tool loop against native handle calls",
            Box::new(|| agents::tool_loop(config, dir)),
        ),
        (
            "run-memory",
            "resident memory of plugins running at once",
            Box::new(|| agents::resident_memory(config, dir)),
        ),
        ("replay", "replay", Box::new(|| replay::replay(config))),
        (
            "events",
            "events pages checked to the head",
            Box::new(|| replay::events_pages(config)),
        ),
    ];
    if let Some(exe) = &config.arena_exe {
        groups.push((
            "cold-start",
            "cold start",
            Box::new(move || replay::cold_start(config, exe, dir)),
        ));
        groups.push((
            "console",
            "the console opening a large arena, on a warm server",
            Box::new(move || console::console(config, exe, dir)),
        ));
        groups.push((
            "mcp",
            "complete_step over MCP",
            Box::new(move || mcp::mcp_tools_call(config, exe, dir)),
        ));
    }
    if let Some(url) = &config.postgres {
        groups.push((
            "postgres",
            "PostgreSQL, one and three hosts",
            Box::new(move || writes::shared_database(config, dir, url)),
        ));
    }
    groups
}

/// The short names of the groups of cases, for `--only` (cold start and PostgreSQL run only when
/// the program and a database are at hand).
pub fn group_names(config: &BenchConfig) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = groups(config, Path::new(".")).iter().map(|g| g.0).collect();
    names.dedup();
    names
}

/// Runs every case (or those `config.only` selects) and returns the table; `progress` hears what
/// each group measures as it starts. An error if `only` selects nothing.
pub fn run(config: &BenchConfig, mut progress: impl FnMut(&str)) -> Result<Report> {
    let dir = tempfile::tempdir()?;
    let selected = |name: &str| {
        config.only.is_empty() || config.only.iter().any(|w| name.contains(w.as_str()))
    };
    let groups: Vec<Group<'_>> = groups(config, dir.path())
        .into_iter()
        .filter(|g| selected(g.0))
        .collect();
    if groups.is_empty() {
        anyhow::bail!(
            "--only {} selects no group of cases; the groups are: {}",
            config.only.join(" --only "),
            group_names(config).join(", ")
        );
    }
    let mut rows = Vec::new();
    for (_, what, cases) in &groups {
        progress(what);
        rows.extend(cases()?);
    }
    Ok(Report {
        machine: machine(),
        durability: config.durability,
        rows,
    })
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
