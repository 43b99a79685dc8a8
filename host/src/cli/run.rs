//! `run` and `demo`: arenas of plugins, every turn printed, then the log and its verification.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use arena_host::plugin::{PluginEngine, TurnOutcome, TurnReport};
use arena_host::run::{self, Manifest};
use arena_host::types::ArenaStatus;

use super::Session;
use super::render::{Output, info_text};

/// `run MANIFEST`: the arena the manifest describes, its plugins' paths relative to the manifest.
pub(crate) fn manifest(s: &Session, manifest: &Path) -> Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading manifest {}", manifest.display()))?;
    let parsed = Manifest::parse(&text).with_context(|| format!("in {}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    run_manifest(s, &parsed, base)
}

/// `demo`: the sample plugins as a three-stage pipeline.
pub(crate) fn demo(s: &Session) -> Result<()> {
    if !s.out.json {
        println!(
            "running the sample plugins in {} as a three-stage pipeline: ada drafts, bob \
             reviews her drafts, cy signs off on both; lead merges and archives; eve watches\n",
            s.host.location()
        );
    }
    run_manifest(s, &Manifest::parse(run::DEMO_MANIFEST)?, Path::new("."))
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
}

/// One turn: a JSON line, or a line of text and the plugin's output beneath it.
fn print_turn(out: &Output, turn: &TurnReport) -> Result<()> {
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
        });
    }
    println!("turn {:<3} {:<8} {marker}{report}", turn.turn, turn.agent);
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
}

/// Runs a manifest and prints every turn, then the arena's events and its verification.
fn run_manifest(s: &Session, manifest: &Manifest, base: &Path) -> Result<()> {
    let (host, out) = (&s.host, &s.out);
    let engine = PluginEngine::new()?;
    // A turn that cannot be printed (a closed pipe) is reported once the run is over.
    let mut printed = Ok(());
    let summary = run::run(host, &engine, manifest, base, |turn| {
        if printed.is_ok() {
            printed = print_turn(out, turn);
        }
    })?;
    printed?;
    let id = &summary.arena;
    if !out.json {
        println!("\nevents of arena {id}:");
    }
    out.events(&host.all_events(id, 0)?)?;
    let report = host.verify(id)?;
    if let Some(problem) = report.problem {
        bail!("arena {id} failed verification: {problem}");
    }
    if out.json {
        out.json(&Summary {
            arena: id,
            rounds: summary.rounds,
            status: summary.status.name(),
            stopped: &summary.stopped,
            verified_events: report.events,
        })?;
    } else {
        println!(
            "\nverify: {} events, hash chain intact, replay matches the stored state\n\n{}",
            report.events,
            info_text(&host.get(id)?)
        );
        if !summary.stopped.is_empty() {
            println!("stopped plugins: {}", summary.stopped.join(", "));
        }
    }
    if summary.status != ArenaStatus::Archived {
        eprintln!(
            "note: the arena is still {} after {} rounds",
            summary.status, summary.rounds
        );
    }
    Ok(())
}
