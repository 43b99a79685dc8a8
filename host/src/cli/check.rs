//! `arena check [ID]`: is the database whole, and does every arena's log rebuild its stored state?
//!
//! On SQLite it runs SQLite's full `PRAGMA integrity_check`, then `verify` over every arena (or the
//! one named); PostgreSQL has no such check, so there it verifies the arenas and says so. It opens the
//! database read-only, shows a progress bar on a terminal, prints a summary (or one JSON object with
//! `--json`), and fails (exit status 1) when it finds any problem.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use arena_host::db::{self, sqlite};
use arena_host::{ArenaHost, HostOptions, Location};

use super::render::{Output, plural};

/// SQLite findings shown; the rest are counted.
const FINDINGS_SHOWN: usize = 20;

/// What SQLite's integrity check said.
#[derive(Serialize)]
struct Integrity {
    /// Whether it ran (SQLite only).
    ran: bool,
    ok: bool,
    /// SQLite's findings, as it words them (at most [`FINDINGS_SHOWN`]).
    problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// One arena's verification, as `verify --json` prints it.
#[derive(Serialize)]
struct ArenaCheck {
    id: String,
    events: u64,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// The whole report: `--json` prints it as one object.
#[derive(Serialize)]
struct Report {
    ok: bool,
    integrity: Integrity,
    /// Arenas verified.
    checked: usize,
    /// Those with a problem.
    failed: usize,
    arenas: Vec<ArenaCheck>,
    /// A problem that kept arenas from being checked at all (the database cannot be opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable: Option<String>,
}

/// `check`: the integrity check and every arena's verification; any problem is an error.
pub(crate) fn command(
    location: Location,
    options: HostOptions,
    id: Option<String>,
    out: &Output,
) -> Result<()> {
    let integrity = integrity(&location);
    let mut report = Report {
        ok: false,
        integrity,
        checked: 0,
        failed: 0,
        arenas: Vec::new(),
        unreadable: None,
    };
    match arenas_of(&location, &options, id) {
        Ok((host, ids)) => report.arenas = verify_all(&host, &ids),
        Err(e) => report.unreadable = Some(format!("{e:#}")),
    }
    report.checked = report.arenas.len();
    report.failed = report.arenas.iter().filter(|a| !a.ok).count();
    report.ok = report.integrity.ok && report.failed == 0 && report.unreadable.is_none();
    if out.json {
        out.json(&report)?;
    } else {
        print_text(&report);
    }
    if !report.ok {
        bail!("{}", summary(&report));
    }
    Ok(())
}

/// SQLite's integrity check of the file at `location`, with a spinner while it runs.
fn integrity(location: &Location) -> Integrity {
    let Location::Sqlite(path) = location else {
        return Integrity {
            ran: false,
            ok: true,
            problems: Vec::new(),
            note: Some(
                "PostgreSQL has no integrity_check: only the arenas were verified \
                 (its own tools check the cluster: amcheck, pg_checksums)"
                    .into(),
            ),
        };
    };
    let spinner = progress(None);
    spinner.set_message("SQLite integrity_check");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let found = sqlite::integrity_check(path);
    spinner.finish_and_clear();
    let (problems, note) = match found {
        Ok(problems) => (problems, None),
        Err(e) => (vec![e.to_string()], Some("the check could not run".into())),
    };
    let shown = problems.len().min(FINDINGS_SHOWN);
    let hidden = problems.len() - shown;
    let mut shown: Vec<String> = problems.into_iter().take(shown).collect();
    if hidden > 0 {
        shown.push(format!("… and {}", plural(hidden as u64, "more finding")));
    }
    Integrity {
        ran: true,
        ok: shown.is_empty(),
        problems: shown,
        note,
    }
}

/// A read-only host on `location` and the ids of the arenas to verify: `id`, or every arena.
fn arenas_of(
    location: &Location,
    options: &HostOptions,
    id: Option<String>,
) -> Result<(ArenaHost, Vec<String>)> {
    let options = HostOptions {
        read_only: true,
        ..options.clone()
    };
    let host = ArenaHost::open_at(location.clone(), options.clone())?;
    if let Some(id) = id {
        return Ok((host, vec![id]));
    }
    // The ids from storage, not the arenas: an arena whose stored state cannot be read is one to
    // report, not a reason to stop listing.
    let mut storage = db::open_with(location, options.durability, db::Access::ReadOnly)?;
    let mut ids: Vec<String> = Vec::new();
    loop {
        let page = storage.list_arenas(ids.last().map(String::as_str), 1000)?;
        if page.is_empty() {
            return Ok((host, ids));
        }
        ids.extend(page);
    }
}

/// `verify` of every arena in `ids`, with a progress bar.
fn verify_all(host: &ArenaHost, ids: &[String]) -> Vec<ArenaCheck> {
    let bar = progress(Some(ids.len() as u64));
    let checked = ids
        .iter()
        .map(|id| {
            bar.inc(1);
            match host.verify(id) {
                Ok(report) => ArenaCheck {
                    id: id.clone(),
                    events: report.events,
                    ok: report.problem.is_none(),
                    problem: report.problem,
                },
                Err(e) => ArenaCheck {
                    id: id.clone(),
                    events: 0,
                    ok: false,
                    problem: Some(format!("{e:#}")),
                },
            }
        })
        .collect();
    bar.finish_and_clear();
    checked
}

/// A bar counting `len` arenas (a spinner without), drawn on stderr only when it is a terminal.
fn progress(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template("verifying {bar:40} {pos}/{len} arenas ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    }
}

fn print_text(report: &Report) {
    let integrity = &report.integrity;
    match (integrity.ran, integrity.ok) {
        (false, _) => println!(
            "integrity: not run: {}",
            integrity.note.as_deref().unwrap_or("")
        ),
        (true, true) => println!("integrity: ok (SQLite integrity_check)"),
        (true, false) => {
            println!("integrity: DAMAGED (SQLite integrity_check)");
            for problem in &integrity.problems {
                println!("  {problem}");
            }
        }
    }
    for arena in report.arenas.iter().filter(|a| !a.ok) {
        println!(
            "arena {}: {}",
            arena.id,
            arena.problem.as_deref().unwrap_or("failed")
        );
    }
    if let Some(why) = &report.unreadable {
        println!("arenas: not verified: {why}");
    }
    println!(
        "{}: {} verified, {} with problems",
        if report.ok { "ok" } else { "problems" },
        plural(report.checked as u64, "arena"),
        report.failed
    );
}

/// One line naming what was found.
fn summary(report: &Report) -> String {
    let mut found = Vec::new();
    if !report.integrity.ok {
        found.push(format!(
            "the database file is damaged ({})",
            report.integrity.problems.first().map_or("", String::as_str)
        ));
    }
    if let Some(bad) = report.arenas.iter().find(|a| !a.ok) {
        found.push(format!(
            "{} of {} failed verification (first: arena {}: {})",
            plural(report.failed as u64, "arena"),
            report.checked,
            bad.id,
            bad.problem.as_deref().unwrap_or("failed")
        ));
    }
    if let Some(why) = &report.unreadable {
        found.push(format!("the arenas could not be read: {why}"));
    }
    format!("check found problems: {}", found.join("; "))
}
