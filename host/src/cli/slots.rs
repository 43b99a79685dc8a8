//! Slots and artifacts: `put`, `merge`, `slot`, and the `artifacts` views.

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use arena_host::types::{ArtifactDraft, MergeRequest, SlotInfo, SlotStatus};
use arena_host::{Created, Operation};

use super::Session;
use super::args::ContentArgs;

/// Performs an operation that stores an artifact (`put-artifact`, `merge`) and prints the artifact.
fn store(s: &Session, id: &str, agent: &str, op: Operation) -> Result<()> {
    match s.act_and_fetch(id, agent, op)?.created {
        Some(Created::Artifact(artifact)) => s.out.artifact(&artifact),
        _ => Err(anyhow!("arena {id} stored no artifact for this operation")),
    }
}

/// `put`: stores an artifact in the agent's own slot and prints it.
pub(crate) fn put(
    s: &Session,
    id: &str,
    kind: String,
    content: ContentArgs,
    metadata: Vec<(String, String)>,
    agent: &str,
) -> Result<()> {
    let draft = ArtifactDraft {
        kind,
        content: content.read()?,
        metadata,
    };
    store(s, id, agent, Operation::PutArtifact(draft))
}

/// `merge`: stores merged content in the agent's own slot and prints the artifact.
pub(crate) fn merge(
    s: &Session,
    id: &str,
    sources: Vec<String>,
    content: ContentArgs,
    kind: String,
    metadata: Vec<(String, String)>,
    agent: &str,
) -> Result<()> {
    let request = MergeRequest {
        kind,
        content: content.read()?,
        sources,
        metadata,
    };
    store(s, id, agent, Operation::Merge(request))
}

#[derive(Serialize)]
struct SlotSet<'a> {
    agent: &'a str,
    status: &'a str,
}

/// `slot`: sets the agent's own slot status.
pub(crate) fn set_status(s: &Session, id: &str, status: SlotStatus, agent: &str) -> Result<()> {
    let (_, event, payload) = s.act_recorded(id, agent, Operation::SetSlotStatus(status))?;
    let status = super::actions::stored_text(&payload, "status")?;
    let agent = event.actor.as_str();
    s.out.value(
        &SlotSet { agent, status },
        &format!("slot of {agent}: {status}"),
    )
}

/// `artifacts`: one slot with its artifacts (`--agent`), or every slot without content; through
/// the reader's handle with `--as`, as the operator without.
pub(crate) fn artifacts(
    s: &Session,
    id: &str,
    agent: Option<String>,
    reader: Option<String>,
) -> Result<()> {
    match (agent, reader) {
        (Some(agent), Some(reader)) => {
            let slot = s
                .handle(id, &reader)?
                .read_slot(&agent)
                .with_context(|| format!("reading the slot of {agent}"))?;
            s.out.slot(&slot)
        }
        (Some(agent), None) => {
            let slot = s
                .host
                .slots(id)?
                .into_iter()
                .find(|slot| slot.agent == agent)
                .ok_or_else(|| anyhow!("not found: {agent} has no slot in arena {id}"))?;
            s.out.slot(&slot)
        }
        (None, Some(reader)) => s
            .handle(id, &reader)?
            .list_slots()?
            .iter()
            .try_for_each(|slot| s.out.slot_info(slot)),
        (None, None) => s.host.slots(id)?.into_iter().try_for_each(|slot| {
            s.out.slot_info(&SlotInfo {
                agent: slot.agent,
                status: slot.status,
                artifacts: slot.artifacts.into_iter().map(|a| a.id).collect(),
            })
        }),
    }
}
