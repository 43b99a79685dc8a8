//! How results print: one [`Output`] that writes either text or JSON (`--json`), and the text forms
//! of the WIT types.

use anyhow::Result;
use serde::Serialize;

use arena_host::types::{
    ArenaInfo, Artifact, Event, Fact, Participant, SettleReport, Slot, SlotInfo, Strategy,
};

use super::views::{ArtifactView, EventView, FactView, InfoView, SlotInfoView, SlotView};

/// Where results go: standard output, as text or as JSON.
pub(crate) struct Output {
    /// JSON (one value per line) instead of text.
    pub(crate) json: bool,
}

impl Output {
    /// Prints `value` as one line of JSON. It goes through a `serde_json::Value`, whose objects keep
    /// their keys sorted: the order the program's JSON has always had, whatever the field order.
    pub(crate) fn json(&self, value: &impl Serialize) -> Result<()> {
        println!("{}", serde_json::to_value(value)?);
        Ok(())
    }

    /// Prints `json` with `--json`, `text` without.
    pub(crate) fn value(&self, json: &impl Serialize, text: &str) -> Result<()> {
        if self.json {
            self.json(json)
        } else {
            println!("{text}");
            Ok(())
        }
    }

    /// An arena in full.
    pub(crate) fn info(&self, info: &ArenaInfo) -> Result<()> {
        self.value(&InfoView::from(info), &info_text(info))
    }

    /// An artifact: its header as text.
    pub(crate) fn artifact(&self, artifact: &Artifact) -> Result<()> {
        self.value(&ArtifactView::from(artifact), &artifact_header(artifact))
    }

    /// A fact: its header as text.
    pub(crate) fn fact(&self, fact: &Fact) -> Result<()> {
        self.value(&FactView::from(fact), &fact_header(fact))
    }

    /// A slot with its artifacts, content included.
    pub(crate) fn slot(&self, slot: &Slot) -> Result<()> {
        if self.json {
            return self.json(&SlotView::from(slot));
        }
        println!(
            "{}  {}  {}",
            slot.agent,
            slot.status,
            plural(slot.artifacts.len() as u64, "artifact")
        );
        for artifact in &slot.artifacts {
            println!("{}", artifact_header(artifact));
            println!("{}", quoted(&artifact.content));
        }
        Ok(())
    }

    /// A slot without content: owner, status, artifact ids.
    pub(crate) fn slot_info(&self, slot: &SlotInfo) -> Result<()> {
        let artifacts = if slot.artifacts.is_empty() {
            "-".to_string()
        } else {
            slot.artifacts.join(",")
        };
        self.value(
            &SlotInfoView::from(slot),
            &format!("{}  {}  {artifacts}", slot.agent, slot.status),
        )
    }

    /// One event: a JSON line, or one line of text.
    pub(crate) fn event(&self, event: &Event) -> Result<()> {
        self.value(&EventView::from(event), &event_text(event))
    }

    /// Events, one per line.
    pub(crate) fn events(&self, events: &[Event]) -> Result<()> {
        events.iter().try_for_each(|event| self.event(event))
    }
}

/// `AGENT  ROLE  PERM,PERM`.
pub(crate) fn participant_text(p: &Participant) -> String {
    let permissions: Vec<&str> = p.permissions.iter().map(|p| p.name()).collect();
    format!("{}  {}  {}", p.agent, p.role, permissions.join(","))
}

fn strategy_text(strategy: &Strategy) -> String {
    match strategy {
        Strategy::Peer(coordinator) => format!("peer, coordinated by {coordinator}"),
        Strategy::Pipeline(p) => {
            let stages: Vec<String> = p
                .stages
                .iter()
                .map(|s| {
                    let steps: Vec<String> = s.steps.iter().map(ToString::to_string).collect();
                    let mut text = format!("{}:{}", s.agent, steps.join(","));
                    if !s.depends_on.is_empty() {
                        text.push_str(&format!(" after {}", s.depends_on.join(",")));
                    }
                    text
                })
                .collect();
            format!(
                "pipeline, coordinated by {}; stages {}",
                p.coordinator,
                stages.join("; ")
            )
        }
    }
}

/// `1 artifact`, `2 artifacts`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Content as an indented block, each line after `  | `.
pub(crate) fn quoted(content: &str) -> String {
    content
        .lines()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ID KIND by AUTHOR at CREATED-AT[ from SRC,...]`, then a `  meta KEY=VALUE` line per metadata entry.
fn artifact_header(a: &Artifact) -> String {
    let mut text = format!("{} {} by {} at {}", a.id, a.kind, a.author, a.created_at);
    if !a.sources.is_empty() {
        text.push_str(&format!(" from {}", a.sources.join(",")));
    }
    for (key, value) in &a.metadata {
        text.push_str(&format!("\n  meta {key}={value}"));
    }
    text
}

/// `ID by SOURCE at CREATED-AT, confidence X[, tags T,...]`.
pub(crate) fn fact_header(f: &Fact) -> String {
    let mut text = format!(
        "{} by {} at {}, confidence {}",
        f.id, f.source, f.created_at, f.confidence
    );
    if !f.tags.is_empty() {
        text.push_str(&format!(", tags {}", f.tags.join(",")));
    }
    text
}

/// The settle report as an indented block under `report`.
pub(crate) fn report_text(r: &SettleReport) -> String {
    let mut text = format!(
        "report\n  outcome    {}\n  result     {}\n  steps      {}/{} complete\n  facts      {}\n  artifacts  {} ({})\n  events     {}\n  head       {}:{}\n  contributions",
        r.outcome,
        r.result.as_deref().unwrap_or("none"),
        r.completed_steps,
        r.total_steps,
        r.facts,
        r.artifacts,
        plural(r.merges.into(), "merge"),
        r.events,
        r.head_seq,
        r.head_hash,
    );
    for c in &r.contributions {
        text.push_str(&format!(
            "\n    {}  {}, {}, {}",
            c.agent,
            plural(c.steps.into(), "step"),
            plural(c.artifacts.into(), "artifact"),
            plural(c.facts.into(), "fact")
        ));
    }
    text
}

/// The arena in full, one field a line.
pub(crate) fn info_text(info: &ArenaInfo) -> String {
    let mut text = format!(
        "arena     {}\ngoal      {}\nstatus    {}{}\nstrategy  {}\ncreated   {} by {}\nsteps     {}/{} complete\nevents    {}\nparticipants\n",
        info.id,
        info.goal,
        info.status,
        info.outcome
            .as_ref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default(),
        strategy_text(&info.strategy),
        info.created_at,
        info.created_by,
        info.aggregate.completed_steps,
        info.aggregate.total_steps,
        info.last_seq,
    );
    for p in &info.participants {
        text.push_str(&format!("  {}\n", participant_text(p)));
    }
    text.push_str("progress");
    for p in &info.aggregate.progress {
        text.push_str(&format!(
            "\n  {}  {} steps{}",
            p.agent,
            p.steps_completed,
            p.note
                .as_ref()
                .map(|n| format!("  \"{n}\""))
                .unwrap_or_default()
        ));
    }
    if let Some(report) = &info.report {
        text.push('\n');
        text.push_str(&report_text(report));
    }
    text
}

fn event_text(event: &Event) -> String {
    format!(
        "#{:<4} {}  {:<12} {:<18} {}",
        event.seq, event.at, event.actor, event.kind, event.payload
    )
}
