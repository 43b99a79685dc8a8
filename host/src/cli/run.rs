//! `run` and `demo`: arenas of plugins, every turn printed, then the log and its verification.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use arena_host::plugin::{PluginEngine, TurnOutcome, TurnReport};
use arena_host::run::{self, Manifest, Observer, RunControl};
use arena_host::types::{ArenaStatus, Outcome};

use super::Session;
use super::render::{Output, info_text};

/// Events printed at the end of a run unless `--events` asks for all.
const TAIL_EVENTS: usize = 20;

/// How `run` prints and what it runs.
#[derive(Default)]
pub(crate) struct Options {
    /// `--resume ID`: the arena to carry on with.
    pub resume: Option<String>,
    /// `--quiet`: only failed or stopped turns, and the summary.
    pub quiet: bool,
    /// `--events`: every event at the end, not the last [`TAIL_EVENTS`].
    pub all_events: bool,
}

/// `run MANIFEST`: the arena the manifest describes, its plugins' paths relative to the manifest.
pub(crate) fn manifest(s: &Session, manifest: &Path, options: Options) -> Result<()> {
    let mut parsed = read(manifest)?;
    if let Some(id) = &options.resume {
        parsed.arena.id = Some(id.clone());
    }
    let base = manifest.parent().unwrap_or(Path::new("."));
    run_manifest(s, &parsed, base, &options, Some(manifest))
}

/// `result ID`: the content of the arena's result, the artifact its settle report names, raw.
pub(crate) fn result(s: &Session, id: &str) -> Result<()> {
    let info = s.host.get(id)?;
    let Some(report) = &info.report else {
        bail!(
            "arena {id} has no result yet: it is {}, and its result is named when it is archived",
            info.status
        );
    };
    let Some(result) = &report.result else {
        match &report.outcome {
            Outcome::Aborted(reason) => bail!(
                "arena {id} has no result: it was aborted ({reason}), and an abort accepts none \
                 (its artifacts stay readable: arena artifacts {id})"
            ),
            Outcome::Completed => bail!("arena {id} has no result: it completed without a merge"),
        }
    };
    let artifact = s
        .host
        .slots(id)?
        .into_iter()
        .flat_map(|slot| slot.artifacts)
        .find(|a| &a.id == result)
        .with_context(|| format!("arena {id}: its result {result} is missing from its slots"))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(artifact.content.as_bytes())?;
    if !artifact.content.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads and checks the manifest at `path` as far as it can be without the database; `run` calls
/// it before the database is opened, so that a refused manifest creates no file.
pub(crate) fn check(path: &Path, resume: Option<&str>) -> Result<()> {
    let mut parsed = read(path)?;
    if let Some(id) = resume {
        parsed.arena.id = Some(id.to_string());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    run::check(&parsed, base).with_context(|| format!("in {}", path.display()))
}

fn read(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading manifest {}", path.display()))?;
    Manifest::parse(&text).with_context(|| format!("in {}", path.display()))
}

/// `demo`: the sample plugins as a three-stage pipeline.
pub(crate) fn demo(s: &Session, pace: Option<u64>) -> Result<()> {
    if !s.out.json {
        println!(
            "running the sample plugins in {} as a three-stage pipeline: ada drafts, bob \
             reviews her drafts, cy signs off on both; lead merges and archives; eve watches\n",
            s.host.location()
        );
    }
    let mut manifest = Manifest::parse(run::DEMO_MANIFEST)?;
    manifest.run.pace_ms = pace;
    // The demo shows its whole log: it is there to be read.
    let options = Options {
        all_events: true,
        ..Options::default()
    };
    run_manifest(s, &manifest, Path::new("."), &options, None)
}

#[derive(Serialize)]
struct Turn<'a> {
    turn: u32,
    agent: &'a str,
    plugin: &'a str,
    outcome: &'static str,
    report: String,
    output: &'a str,
    fuel: u64,
    ms: u64,
}

/// A turn's duration, short: `12ms`, `3.4s`, `2m05s`.
fn duration_text(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// One turn: a JSON line, or a line of text (with how long the turn took) and the plugin's output
/// beneath it.
fn print_turn(
    out: &Output,
    turn: &TurnReport,
    took: std::time::Duration,
    width: usize,
) -> Result<()> {
    let (outcome, report, marker) = match &turn.outcome {
        TurnOutcome::Done(report) => ("done", report.clone(), ""),
        TurnOutcome::Failed(error) => ("failed", error.clone(), "error: "),
        TurnOutcome::Stopped(error) => ("stopped", error.to_string(), "STOPPED: "),
    };
    if out.json {
        return out.json(&Turn {
            turn: turn.turn,
            agent: &turn.agent,
            plugin: &turn.plugin,
            outcome,
            report,
            output: &turn.output,
            fuel: turn.fuel,
            ms: took.as_millis() as u64,
        });
    }
    println!(
        "turn {:<3} {:<width$} {:>6} {marker}{report}",
        turn.turn,
        turn.agent,
        duration_text(took)
    );
    for line in turn.output.lines() {
        println!("           | {line}");
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Summary<'a> {
    arena: &'a str,
    rounds: u32,
    status: &'static str,
    stopped: &'a [String],
    verified_events: u64,
    /// The settle report's result, once archived.
    result: Option<&'a str>,
    /// The log's head as `SEQ:HASH`, the anchor `arena verify ID --expect` takes.
    head: String,
}

/// Prints every turn as it ends and, on a terminal, a status line on stderr: which agent is in
/// which turn, and the steps done of the total.
struct Progress<'a> {
    out: &'a Output,
    /// Whether stderr is a terminal (the status line is drawn only there).
    live: bool,
    in_turn: BTreeMap<String, u32>,
    /// When each agent's turn in flight started.
    started: BTreeMap<String, std::time::Instant>,
    steps: (u32, u32),
    /// A turn that could not be printed (a closed pipe), reported once the run is over.
    printed: Result<()>,
    /// Print only turns that failed or were stopped.
    quiet: bool,
    /// Each agent's last turn report.
    last: BTreeMap<String, String>,
    /// The agent column's width: the longest agent name.
    width: usize,
}

impl Progress<'_> {
    fn redraw(&self) {
        if !self.live {
            return;
        }
        let working: Vec<String> = self
            .in_turn
            .iter()
            .map(|(agent, turn)| format!("{agent} (turn {turn})"))
            .collect();
        let working = if working.is_empty() {
            "idle".to_string()
        } else {
            working.join(", ")
        };
        let mut line = format!("steps {}/{} · {working}", self.steps.0, self.steps.1);
        if line.len() > 160 {
            let mut end = 157;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
        let mut err = std::io::stderr().lock();
        // A status line that cannot be drawn is no reason to stop the run.
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.live {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

impl Observer for Progress<'_> {
    fn turn_started(&mut self, _plugin: &str, agent: &str, turn: u32) {
        self.in_turn.insert(agent.to_string(), turn);
        self.started
            .insert(agent.to_string(), std::time::Instant::now());
        self.redraw();
    }

    fn turn_ended(&mut self, report: &TurnReport) {
        self.in_turn.remove(&report.agent);
        let took = self
            .started
            .remove(&report.agent)
            .map(|t| t.elapsed())
            .unwrap_or_default();
        self.clear();
        let ok = matches!(report.outcome, TurnOutcome::Done(_));
        let text = match &report.outcome {
            TurnOutcome::Done(text) | TurnOutcome::Failed(text) => text.clone(),
            TurnOutcome::Stopped(error) => error.to_string(),
        };
        // A turn that went as the agent's last one did (an agent waiting on the same thing at
        // every wake-up) is printed once, not at every wake-up; JSON output keeps every turn.
        let repeat = ok
            && !self.out.json
            && report.output.is_empty()
            && self.last.get(&report.agent) == Some(&text);
        self.last.insert(report.agent.clone(), text);
        if self.printed.is_ok() && !(self.quiet && ok) && !repeat {
            self.printed = print_turn(self.out, report, took, self.width);
        }
        self.redraw();
    }

    fn progress(&mut self, completed: u32, total: u32) {
        self.steps = (completed, total);
        self.redraw();
    }

    fn persons(&mut self, arena: &str, persons: &[String]) {
        self.clear();
        for agent in persons {
            eprintln!("{}", run::person::how_to_join(arena, agent));
        }
        self.redraw();
    }
}

/// Runs a manifest and prints every turn, then the arena's events and its verification. Ctrl-C
/// stops the run cleanly: turns in flight are interrupted and the arena is verified as it stands.
fn run_manifest(
    s: &Session,
    manifest: &Manifest,
    base: &Path,
    options: &Options,
    path: Option<&Path>,
) -> Result<()> {
    let (host, out) = (&s.host, &s.out);
    let engine = PluginEngine::new()?;
    let control = RunControl::new();
    let stopper = control.clone();
    // Only the first handler can be installed (a demo inside a run would be the second).
    if let Err(e) = ctrlc::set_handler(move || stopper.stop()) {
        tracing::debug!("Ctrl-C handler not installed: {e}");
    }
    let mut progress = Progress {
        out,
        live: !out.json && std::io::stderr().is_terminal(),
        in_turn: BTreeMap::new(),
        started: BTreeMap::new(),
        steps: (0, 0),
        printed: Ok(()),
        quiet: options.quiet,
        last: BTreeMap::new(),
        width: manifest
            .plugins
            .iter()
            .map(|p| p.agent.chars().count())
            .max()
            .unwrap_or(0)
            .max(8),
    };
    let summary = run::run_with(host, &engine, manifest, base, &control, &mut progress);
    progress.clear();
    let summary = summary?;
    progress.printed?;
    if control.is_stopped() {
        eprintln!(
            "interrupted: the turns in flight were stopped; verifying the arena as it stands"
        );
    }
    let id = &summary.arena;
    let events = host.all_events(id, 0)?;
    let shown = if options.all_events || out.json {
        &events[..]
    } else {
        &events[events.len().saturating_sub(TAIL_EVENTS)..]
    };
    if !out.json && !options.quiet {
        if shown.len() < events.len() {
            println!(
                "\nthe last {} of {} events of arena {id} (all with --events, or `arena events {id}`):",
                shown.len(),
                events.len()
            );
        } else {
            println!("\nevents of arena {id}:");
        }
    }
    if !options.quiet {
        out.events(shown)?;
    }
    let report = host.verify(id)?;
    if let Some(problem) = report.problem {
        bail!("arena {id} failed verification: {problem}");
    }
    let info = host.get(id)?;
    let settled = info.report.as_ref();
    let result = settled.and_then(|r| r.result.as_deref());
    if out.json {
        let head = events
            .last()
            .map(|e| format!("{}:{}", e.seq, e.hash))
            .unwrap_or_default();
        out.json(&Summary {
            arena: id,
            rounds: summary.rounds,
            status: summary.status.name(),
            stopped: &summary.stopped,
            verified_events: report.events,
            result,
            head: settled.map_or(head, |r| format!("{}:{}", r.head_seq, r.head_hash)),
        })?;
    } else {
        println!(
            "\nverify: {} events, hash chain intact, replay matches the stored state\n\n{}",
            report.events,
            info_text(&info)
        );
        if !summary.stopped.is_empty() {
            println!("stopped plugins: {}", summary.stopped.join(", "));
        }
    }
    if summary.status != ArenaStatus::Archived {
        eprintln!(
            "note: the arena is still {} after {} turns",
            summary.status, summary.rounds
        );
        for slot in host.slots(id)? {
            if matches!(
                slot.status,
                arena_host::types::SlotStatus::Done | arena_host::types::SlotStatus::Failed
            ) {
                continue;
            }
            let last = progress
                .last
                .get(&slot.agent)
                .map_or("took no turn", String::as_str);
            eprintln!("  {} ({}): {last}", slot.agent, slot.status);
        }
        if let Some(path) = path {
            eprintln!("to carry on: arena run --resume {id} {}", path.display());
        }
    } else if result.is_some() && !out.json {
        println!("the result: arena result {id}");
    }
    Ok(())
}
