//! The agent's tools: exactly the catalogue's tools its grant links ([`arena_catalogue::granted`]),
//! each call decoded by the catalogue and made through the agent's [`AgentHandle`].
//!
//! Reads call the handle's read functions; writes go through [`AgentHandle::perform_and_fetch`], so
//! that the optional `key` argument makes them idempotent. An arena error is a tool result with
//! `isError` and `{"error": VARIANT, "message": TEXT}`, like the HTTP API's errors.

use arena_catalogue::{Call, Invocation, Tool};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use arena_host::types::{
    ArenaError, ArtifactDraft, FactDraft, FactQuery, MergeRequest, ParticipantSpec, Permission,
    Role, SlotStatus,
};
use arena_host::{AgentHandle, Created, HostError, Operation, describe};

use crate::cli::views::{
    AggregateView, ArtifactView, EventView, FactView, InfoView, ParticipantView, SlotInfoView,
    SlotView,
};

/// The catalogue's permission for one of the host's.
fn catalogue_permission(p: Permission) -> Option<arena_catalogue::Permission> {
    arena_catalogue::Permission::from_name(p.name())
}

fn host_permission(p: arena_catalogue::Permission) -> Option<Permission> {
    p.name().parse().ok()
}

/// The tools `handle`'s grant links, in the catalogue's (the WIT's) order.
pub(crate) fn granted(handle: &AgentHandle) -> Vec<&'static Tool> {
    let grant: Vec<_> = handle
        .grant()
        .iter()
        .filter_map(|p| catalogue_permission(*p))
        .collect();
    arena_catalogue::granted(&grant).collect()
}

/// The tool as MCP lists it.
pub(crate) fn listed(tool: &Tool) -> rmcp::model::Tool {
    let schema = match tool.input_schema() {
        Value::Object(schema) => schema,
        _ => serde_json::Map::new(),
    };
    rmcp::model::Tool::new(tool.name, tool.description, schema)
}

/// The `arena-error` variant's name.
pub(crate) fn variant(e: &ArenaError) -> &'static str {
    match e {
        ArenaError::NotFound => "not-found",
        ArenaError::InvalidInput(_) => "invalid-input",
        ArenaError::LimitExceeded(_) => "limit-exceeded",
        ArenaError::InvalidTransition(_) => "invalid-transition",
        ArenaError::InvalidState(_) => "invalid-state",
        ArenaError::PermissionDenied(_) => "permission-denied",
        ArenaError::AlreadyDone => "already-done",
        ArenaError::Conflict => "conflict",
        ArenaError::Storage(_) => "storage",
    }
}

/// A tool result with `isError`: `{"error": VARIANT, "message": TEXT}`.
pub(crate) fn refusal(error: &str, message: impl Into<String>) -> CallToolResult {
    CallToolResult::structured_error(json!({ "error": error, "message": message.into() }))
}

fn host_refusal(e: &HostError) -> CallToolResult {
    match e {
        HostError::Arena(arena) => {
            let mut body = json!({ "error": variant(arena), "message": describe(arena) });
            if let ArenaError::LimitExceeded(l) = arena {
                body["limit"] = json!(l.limit);
            }
            CallToolResult::structured_error(body)
        }
        other => refusal("host", other.to_string()),
    }
}

/// Why a tool call was refused before or by the arena.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No tool has this name.
    UnknownTool(String),
    /// The tool's permission is not in the agent's grant.
    NotGranted(String),
    /// The catalogue could not decode the arguments.
    BadArguments(String),
    /// The handle or the arena refused the call, or the host failed.
    Host(HostError),
}

/// Calls tool `name` with `arguments` as `handle`'s agent and answers its result as JSON (the
/// shapes `--json` prints). Blocking: run it off the async runtime. A tool outside the grant is
/// refused by name, before its arguments are decoded; an argument the catalogue cannot decode is
/// refused naming it; the handle and the arena check again. Every way in that speaks in tool calls
/// (MCP, the console's act API) calls this.
pub(crate) fn dispatch(
    handle: &AgentHandle,
    name: &str,
    arguments: &Value,
) -> Result<Value, Refused> {
    if !granted(handle).iter().any(|t| t.name == name) {
        return Err(match arena_catalogue::tool(name) {
            Some(tool) => Refused::NotGranted(format!(
                "permission denied: tool {name} needs {}, which agent {} does not hold in this arena",
                tool.permission.name(),
                handle.agent()
            )),
            None => Refused::UnknownTool(format!("no tool is called {name}")),
        });
    }
    let invocation = arena_catalogue::decode(name, arguments)
        .map_err(|e| Refused::BadArguments(format!("invalid input: {e}")))?;
    run(handle, invocation).map_err(Refused::Host)
}

/// [`dispatch`] as an MCP tool result: an error is a result with `isError`.
pub(crate) fn call(handle: &AgentHandle, name: &str, arguments: &Value) -> CallToolResult {
    match dispatch(handle, name, arguments) {
        Ok(value) => CallToolResult::structured(value),
        Err(Refused::UnknownTool(message) | Refused::NotGranted(message)) => {
            refusal("permission-denied", message)
        }
        Err(Refused::BadArguments(message)) => refusal("invalid-input", message),
        Err(Refused::Host(e)) => host_refusal(&e),
    }
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The handle call an invocation names, and its result as JSON (the shapes `--json` prints).
fn run(handle: &AgentHandle, Invocation { call, key }: Invocation) -> Result<Value, HostError> {
    let op = match call {
        Call::Info => return Ok(to_json(InfoView::from(&handle.info()?))),
        Call::Goal => return Ok(json!({ "goal": handle.info()?.goal })),
        Call::Status => return Ok(json!({ "status": handle.info()?.status.name() })),
        Call::Progress => return Ok(to_json(AggregateView::from(&handle.info()?.aggregate))),
        Call::Participants => {
            let info = handle.info()?;
            let list: Vec<_> = info
                .participants
                .iter()
                .map(ParticipantView::from)
                .collect();
            return Ok(json!({ "participants": list }));
        }
        Call::Events { after, limit } => {
            let events = handle.events(after, limit)?;
            let list: Vec<_> = events.iter().map(EventView::from).collect();
            return Ok(json!({ "events": list }));
        }
        Call::Facts { tag, text } => {
            let facts = handle.facts(&FactQuery { tag, text })?;
            let list: Vec<_> = facts.iter().map(FactView::from).collect();
            return Ok(json!({ "facts": list }));
        }
        Call::ListSlots => {
            let slots = handle.list_slots()?;
            let list: Vec<_> = slots.iter().map(SlotInfoView::from).collect();
            return Ok(json!({ "slots": list }));
        }
        Call::ReadSlot { agent } => return Ok(to_json(SlotView::from(&handle.read_slot(&agent)?))),
        Call::ReadArtifact { id } => {
            return Ok(to_json(ArtifactView::from(&handle.read_artifact(&id)?)));
        }
        Call::OwnSlot => return Ok(to_json(SlotView::from(&handle.own_slot()?))),
        Call::Leave => Operation::Leave,
        Call::CompleteStep { step } => Operation::CompleteStep(step),
        Call::ReportProgress { note } => Operation::ReportProgress(note),
        Call::PutArtifact {
            kind,
            content,
            metadata,
        } => Operation::PutArtifact(ArtifactDraft {
            kind,
            content,
            metadata,
        }),
        Call::SetSlotStatus { status } => Operation::SetSlotStatus(match status {
            arena_catalogue::SlotStatus::Idle => SlotStatus::Idle,
            arena_catalogue::SlotStatus::Working => SlotStatus::Working,
            arena_catalogue::SlotStatus::Done => SlotStatus::Done,
            arena_catalogue::SlotStatus::Failed => SlotStatus::Failed,
        }),
        Call::AddFact {
            content,
            confidence,
            tags,
        } => Operation::AddFact(FactDraft {
            content,
            confidence,
            tags,
        }),
        Call::UpdateGoal { goal } => Operation::UpdateGoal(goal),
        Call::Activate => Operation::Activate,
        Call::Settle => Operation::Settle,
        Call::Archive => Operation::Archive,
        Call::Abort { reason } => Operation::Abort(reason),
        Call::Invite {
            agent,
            role,
            permissions,
        } => Operation::Invite(ParticipantSpec {
            agent,
            role: match role {
                arena_catalogue::Role::Coordinator => Role::Coordinator,
                arena_catalogue::Role::Worker => Role::Worker,
                arena_catalogue::Role::Observer => Role::Observer,
            },
            permissions: permissions
                .map(|list| list.into_iter().filter_map(host_permission).collect()),
        }),
        Call::Merge {
            kind,
            content,
            sources,
            metadata,
        } => Operation::Merge(MergeRequest {
            kind,
            content,
            sources,
            metadata,
        }),
    };
    let performed = handle.perform_and_fetch(key.as_deref(), &op)?;
    let info = &performed.info;
    let mut result = json!({
        "seq": info.last_seq,
        "status": info.status.name(),
        "aggregate": AggregateView::from(&info.aggregate),
    });
    match &performed.created {
        Some(Created::Artifact(artifact)) => {
            result["artifact"] = to_json(ArtifactView::from(artifact))
        }
        Some(Created::Fact(fact)) => result["fact"] = to_json(FactView::from(fact)),
        None => {}
    }
    Ok(result)
}
