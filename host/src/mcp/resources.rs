//! The agent's resources and its `join` prompt.
//!
//! `arena://ID` (the arena: info and aggregate), `arena://ID/events` (a page; `?after=N` for the
//! next), `arena://ID/slots/AGENT`, `arena://ID/artifacts/ART` and `arena://ID/facts`, each read
//! through the agent's handle, so with the same permission as the tool that reads it. Only the
//! handle's own arena can be named.

use rmcp::model::Resource;
use serde_json::{Value, json};

use arena_host::AgentHandle;
use arena_host::types::{FactQuery, Permission};

use super::tools;
use crate::cli::views::{ArtifactView, EventView, FactView, InfoView, SlotView};

/// Events one read of `arena://ID/events` answers at most.
const EVENTS_PAGE: u32 = 100;

/// Why a resource could not be read.
pub(crate) enum ReadError {
    /// Not a resource of this arena.
    NotFound(String),
    /// The arena refused (`permission-denied`, `not-found`…).
    Arena(arena_host::HostError),
}

/// The URI of `arena`.
pub(crate) fn arena_uri(arena: &str) -> String {
    format!("arena://{arena}")
}

/// The resources `handle` may read now.
pub(crate) fn list(handle: &AgentHandle) -> Vec<Resource> {
    let base = arena_uri(handle.arena());
    let mut resources = Vec::new();
    if handle.grant().contains(&Permission::Observe) {
        resources.push(
            Resource::new(base.clone(), "arena")
                .with_description("The arena: goal, status, participants and aggregate progress"),
        );
        resources.push(
            Resource::new(format!("{base}/events"), "events").with_description(
                "The event log, a page at a time: add ?after=N for the events after N",
            ),
        );
        resources.push(
            Resource::new(format!("{base}/facts"), "facts")
                .with_description("Every fact shared in the arena"),
        );
    }
    if handle.grant().contains(&Permission::ReadSlots)
        && let Ok(slots) = handle.list_slots()
    {
        for slot in slots {
            resources.push(
                Resource::new(
                    format!("{base}/slots/{}", slot.agent),
                    format!("slot {}", slot.agent),
                )
                .with_description("A participant's slot with its artifacts"),
            );
        }
    }
    resources
}

/// Reads `uri` as `handle`'s agent: the resource as JSON.
pub(crate) fn read(handle: &AgentHandle, uri: &str) -> Result<Value, ReadError> {
    let not_found = || ReadError::NotFound(uri.to_string());
    let rest = uri
        .strip_prefix(&arena_uri(handle.arena()))
        .ok_or_else(not_found)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let arena = |e| ReadError::Arena(e);
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [""] => Ok(to_json(InfoView::from(&handle.info().map_err(arena)?))),
        ["", "events"] => {
            let after = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("after="))
                .map(|n| n.parse::<u64>().map_err(|_| not_found()))
                .transpose()?
                .unwrap_or(0);
            let events = handle.events(after, EVENTS_PAGE).map_err(arena)?;
            let list: Vec<_> = events.iter().map(EventView::from).collect();
            Ok(json!({ "events": list, "next": events.last().map_or(after, |e| e.seq) }))
        }
        ["", "facts"] => {
            let all = FactQuery {
                tag: None,
                text: None,
            };
            let facts = handle.facts(&all).map_err(arena)?;
            let list: Vec<_> = facts.iter().map(FactView::from).collect();
            Ok(json!({ "facts": list }))
        }
        ["", "slots", agent] => Ok(to_json(SlotView::from(
            &handle.read_slot(agent).map_err(arena)?,
        ))),
        ["", "artifacts", id] => Ok(to_json(ArtifactView::from(
            &handle.read_artifact(id).map_err(arena)?,
        ))),
        _ => Err(not_found()),
    }
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The `join` prompt: the goal, the agent's role and permissions, the steps, and its tools.
pub(crate) fn join(handle: &AgentHandle) -> Result<String, arena_host::HostError> {
    let info = handle.info()?;
    let me = info.participants.iter().find(|p| p.agent == handle.agent());
    let role = me.map_or("none".to_string(), |p| p.role.to_string());
    let permissions: Vec<&str> = handle.grant().iter().map(|p| p.name()).collect();
    let view = to_json(InfoView::from(&info));
    let tools: Vec<String> = tools::granted(handle)
        .iter()
        .map(|t| format!("- `{}`: {}", t.name, t.description))
        .collect();
    Ok(format!(
        "You are agent `{agent}` in SharedArena arena {id}, as its {role} (permissions: {perms}).\n\n\
         Goal: {goal}\n\
         Status: {status}; {done} of {total} steps completed.\n\
         Strategy: {strategy}\n\n\
         How to work: read the arena (`info`, `events`), then act only within your role. Workers \
         complete the steps that are theirs (in a pipeline, after the stages they depend on are \
         done), put their output in their own slot with `put_artifact`, and set their slot `done`. \
         The coordinator activates the arena, settles it when the steps are done, merges the \
         artifacts and archives it. Pass a `key` to any write you might retry. Every action is \
         recorded under your name.\n\n\
         Your tools:\n{tools}\n",
        agent = handle.agent(),
        id = info.id,
        perms = permissions.join(", "),
        goal = info.goal,
        status = info.status.name(),
        done = info.aggregate.completed_steps,
        total = info.aggregate.total_steps,
        strategy = view["strategy"],
        tools = tools.join("\n"),
    ))
}
