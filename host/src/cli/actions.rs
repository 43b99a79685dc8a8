//! An agent's actions through its handle (`--as AGENT`): the lifecycle moves, membership, steps,
//! progress and the goal.

use anyhow::{Result, anyhow};
use serde::Serialize;

use arena_host::Operation;
use arena_host::types::ArenaInfo;

use super::Session;
use super::args::parse_participant;
use super::render::{participant_text, report_text};
use super::views::{ParticipantView, ReportView};

#[derive(Serialize)]
struct Status<'a> {
    status: &'static str,
    report: Option<ReportView<'a>>,
}

#[derive(Serialize)]
struct StatusOnly {
    status: &'static str,
}

/// `activate`, `settle`, `archive`, `abort`: the new status; after archiving (or aborting), what the
/// arena kept as well.
pub(crate) fn lifecycle(s: &Session, id: &str, agent: &str, op: Operation) -> Result<()> {
    let archives = matches!(op, Operation::Archive | Operation::Abort(_));
    let info = s.act(id, agent, op)?;
    if archives {
        return archived(s, info);
    }
    let status = info.status.name();
    s.out.value(&StatusOnly { status }, status)
}

/// The status after archiving, then the settle report (read back if the answer lacks it).
fn archived(s: &Session, info: ArenaInfo) -> Result<()> {
    let report = match info.report {
        Some(report) => Some(report),
        None => s.host.get(&info.id)?.report,
    };
    let status = info.status.name();
    if s.out.json {
        return s.out.json(&Status {
            status,
            report: report.as_ref().map(Into::into),
        });
    }
    println!("{status}");
    if let Some(report) = &report {
        println!("{}", report_text(report));
    }
    Ok(())
}

/// `invite`: the participant as it joined.
pub(crate) fn invite(s: &Session, id: &str, participant: &str, agent: &str) -> Result<()> {
    let spec = parse_participant(participant)?;
    let info = s.act(id, agent, Operation::Invite(spec.clone()))?;
    let joined = info
        .participants
        .iter()
        .find(|p| p.agent == spec.agent)
        .ok_or_else(|| anyhow!("{} is not among the participants", spec.agent))?;
    s.out
        .value(&ParticipantView::from(joined), &participant_text(joined))
}

#[derive(Serialize)]
struct Left<'a> {
    left: &'a str,
}

/// `leave`.
pub(crate) fn leave(s: &Session, id: &str, agent: &str) -> Result<()> {
    s.act(id, agent, Operation::Leave)?;
    s.out
        .value(&Left { left: agent }, &format!("{agent} left {id}"))
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Steps {
    step: u64,
    completed_steps: u32,
    total_steps: u32,
}

/// `step`: the steps completed so far.
pub(crate) fn step(s: &Session, id: &str, step: u32, agent: &str) -> Result<()> {
    let (info, _, payload) = s.act_recorded(id, agent, Operation::CompleteStep(step))?;
    let aggregate = info.aggregate;
    let step = stored(&payload, "step")?;
    s.out.value(
        &Steps {
            step,
            completed_steps: aggregate.completed_steps,
            total_steps: aggregate.total_steps,
        },
        &format!(
            "step {step} done: {}/{}",
            aggregate.completed_steps, aggregate.total_steps
        ),
    )
}

#[derive(Serialize)]
struct Progress<'a> {
    agent: &'a str,
    note: &'a str,
}

/// `progress`.
pub(crate) fn progress(s: &Session, id: &str, note: String, agent: &str) -> Result<()> {
    let (_, event, payload) = s.act_recorded(id, agent, Operation::ReportProgress(note))?;
    let note = stored_text(&payload, "note")?;
    s.out.value(
        &Progress {
            agent: &event.actor,
            note,
        },
        "progress recorded",
    )
}

#[derive(Serialize)]
struct Goal<'a> {
    goal: &'a str,
}

/// `goal`.
pub(crate) fn goal(s: &Session, id: &str, goal: String, agent: &str) -> Result<()> {
    let (_, _, payload) = s.act_recorded(id, agent, Operation::UpdateGoal(goal))?;
    let goal = stored_text(&payload, "goal")?;
    s.out.value(&Goal { goal }, "goal updated")
}

/// The number `field` of an event's payload, as stored.
pub(crate) fn stored(payload: &serde_json::Value, field: &str) -> Result<u64> {
    payload[field]
        .as_u64()
        .ok_or_else(|| anyhow!("the stored event has no number {field:?}"))
}

/// The text `field` of an event's payload, as stored.
pub(crate) fn stored_text<'a>(payload: &'a serde_json::Value, field: &str) -> Result<&'a str> {
    payload[field]
        .as_str()
        .ok_or_else(|| anyhow!("the stored event has no text {field:?}"))
}
