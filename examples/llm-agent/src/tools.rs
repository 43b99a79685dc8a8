//! Runs a decoded tool call through the handle imports and renders the result (or the arena's error)
//! as JSON for the model. The calls, their names and arguments all come from `arena_catalogue`.

use arena_catalogue::{Call, Permission as CatalogPermission};
use serde_json::{Value, json};

use crate::arena::core::types::{
    Aggregate, ArenaError, ArenaInfo, Artifact, ArtifactDraft, Event, Fact, FactDraft, FactQuery,
    Outcome, Participant, Permission, Slot, SlotInfo, SlotStatus, Strategy,
};
use crate::arena::core::{contribute, observe, read_slots, share_facts};

/// Runs `call`; `Err` is the arena's error (or why the call cannot be made) as text.
pub fn run(call: Call) -> Result<Value, String> {
    let error = |e: ArenaError| error_text(&e);
    Ok(match call {
        Call::Info => info(&observe::info().map_err(error)?),
        Call::Goal => json!(observe::goal().map_err(error)?),
        Call::Status => json!(status_name(observe::status().map_err(error)?)),
        Call::Progress => aggregate(&observe::progress().map_err(error)?),
        Call::Participants => json!(
            observe::participants()
                .map_err(error)?
                .iter()
                .map(participant)
                .collect::<Vec<_>>()
        ),
        Call::Events { after, limit } => json!(
            observe::events(after, limit)
                .map_err(error)?
                .iter()
                .map(event)
                .collect::<Vec<_>>()
        ),
        Call::Leave => {
            observe::leave().map_err(error)?;
            json!("left")
        }
        Call::Facts { tag, text } => json!(
            observe::facts(&FactQuery { tag, text })
                .map_err(error)?
                .iter()
                .map(fact)
                .collect::<Vec<_>>()
        ),
        Call::ListSlots => json!(
            read_slots::list_slots()
                .map_err(error)?
                .iter()
                .map(slot_info)
                .collect::<Vec<_>>()
        ),
        Call::ReadSlot { agent } => slot(&read_slots::read_slot(&agent).map_err(error)?),
        Call::ReadArtifact { id } => artifact(&read_slots::read_artifact(&id).map_err(error)?),
        Call::CompleteStep { step } => aggregate(&contribute::complete_step(step).map_err(error)?),
        Call::ReportProgress { note } => {
            aggregate(&contribute::report_progress(&note).map_err(error)?)
        }
        Call::PutArtifact {
            kind,
            content,
            metadata,
        } => artifact(
            &contribute::put_artifact(&ArtifactDraft {
                kind,
                content,
                metadata,
            })
            .map_err(error)?,
        ),
        Call::SetSlotStatus { status } => {
            contribute::set_slot_status(match status {
                arena_catalogue::SlotStatus::Idle => SlotStatus::Idle,
                arena_catalogue::SlotStatus::Working => SlotStatus::Working,
                arena_catalogue::SlotStatus::Done => SlotStatus::Done,
                arena_catalogue::SlotStatus::Failed => SlotStatus::Failed,
            })
            .map_err(error)?;
            json!("ok")
        }
        Call::OwnSlot => slot(&contribute::own_slot().map_err(error)?),
        Call::AddFact {
            content,
            confidence,
            tags,
        } => fact(
            &share_facts::add_fact(&FactDraft {
                content,
                confidence,
                tags,
            })
            .map_err(error)?,
        ),
        other => return lead(other),
    })
}

/// The `steer` and `coordinate` calls: linked only in the coordinator's build.
#[cfg(feature = "coordinate")]
fn lead(call: Call) -> Result<Value, String> {
    use crate::arena::core::types::{MergeRequest, ParticipantSpec, Role};
    use crate::arena::core::{coordinate, steer};
    use arena_catalogue::Role as CatalogRole;
    let error = |e: ArenaError| error_text(&e);
    Ok(match call {
        Call::UpdateGoal { goal } => {
            steer::update_goal(&goal).map_err(error)?;
            json!("ok")
        }
        Call::Activate => json!(status_name(coordinate::activate().map_err(error)?)),
        Call::Settle => json!(status_name(coordinate::settle().map_err(error)?)),
        Call::Archive => json!(status_name(coordinate::archive().map_err(error)?)),
        Call::Abort { reason } => json!(status_name(coordinate::abort(&reason).map_err(error)?)),
        Call::Invite {
            agent,
            role,
            permissions,
        } => participant(
            &coordinate::invite(&ParticipantSpec {
                agent,
                role: match role {
                    CatalogRole::Coordinator => Role::Coordinator,
                    CatalogRole::Worker => Role::Worker,
                    CatalogRole::Observer => Role::Observer,
                },
                permissions: permissions.map(|ps| ps.into_iter().map(to_permission).collect()),
            })
            .map_err(error)?,
        ),
        Call::Merge {
            kind,
            content,
            sources,
            metadata,
        } => artifact(
            &coordinate::merge(&MergeRequest {
                kind,
                content,
                sources,
                metadata,
            })
            .map_err(error)?,
        ),
        other => return Err(format!("`{}` is not a handle function", other.tool().name)),
    })
}

#[cfg(not(feature = "coordinate"))]
fn lead(call: Call) -> Result<Value, String> {
    Err(format!(
        "`{}` needs the {} permission, which this agent was not granted",
        call.tool().name,
        call.tool().permission.name()
    ))
}

/// The catalogue's permission as the WIT's.
#[cfg(feature = "coordinate")]
fn to_permission(p: CatalogPermission) -> Permission {
    match p {
        CatalogPermission::Observe => Permission::Observe,
        CatalogPermission::ReadSlots => Permission::ReadSlots,
        CatalogPermission::Contribute => Permission::Contribute,
        CatalogPermission::ShareFacts => Permission::ShareFacts,
        CatalogPermission::Steer => Permission::Steer,
        CatalogPermission::Coordinate => Permission::Coordinate,
    }
}

/// The WIT's permission as the catalogue's.
pub fn from_permission(p: Permission) -> CatalogPermission {
    match p {
        Permission::Observe => CatalogPermission::Observe,
        Permission::ReadSlots => CatalogPermission::ReadSlots,
        Permission::Contribute => CatalogPermission::Contribute,
        Permission::ShareFacts => CatalogPermission::ShareFacts,
        Permission::Steer => CatalogPermission::Steer,
        Permission::Coordinate => CatalogPermission::Coordinate,
    }
}

/// An arena error as the model reads it: the variant's WIT name and its detail.
pub fn error_text(e: &ArenaError) -> String {
    match e {
        ArenaError::NotFound => "not-found".into(),
        ArenaError::InvalidTransition(t) => format!(
            "invalid-transition: from {} to {}",
            status_name(t.from),
            status_name(t.to)
        ),
        ArenaError::InvalidState(s) => format!("invalid-state: {s}"),
        ArenaError::PermissionDenied(p) => {
            format!("permission-denied: needs {}", from_permission(*p).name())
        }
        ArenaError::InvalidInput(s) => format!("invalid-input: {s}"),
        ArenaError::LimitExceeded(l) => format!("limit-exceeded: {} (limit {})", l.what, l.limit),
        ArenaError::AlreadyDone => "already-done".into(),
        ArenaError::Conflict => "conflict".into(),
        ArenaError::Storage(s) => format!("storage: {s}"),
    }
}

example_llm_common::arena_names!(crate::arena::core::types);

fn metadata(m: &[(String, String)]) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

pub fn artifact(a: &Artifact) -> Value {
    json!({"id": a.id, "author": a.author, "kind": a.kind, "content": a.content,
           "metadata": metadata(&a.metadata), "sources": a.sources, "created_at": a.created_at,
           "seq": a.seq})
}

pub fn slot(s: &Slot) -> Value {
    json!({"agent": s.agent, "status": slot_status_name(s.status),
           "artifacts": s.artifacts.iter().map(artifact).collect::<Vec<_>>()})
}

fn slot_info(s: &SlotInfo) -> Value {
    json!({"agent": s.agent, "status": slot_status_name(s.status), "artifacts": s.artifacts})
}

pub fn fact(f: &Fact) -> Value {
    json!({"id": f.id, "content": f.content, "confidence": f.confidence, "tags": f.tags,
           "source": f.source, "seq": f.seq})
}

pub fn event(e: &Event) -> Value {
    json!({"seq": e.seq, "at": e.at, "actor": e.actor, "kind": e.kind, "payload": e.payload})
}

fn participant(p: &Participant) -> Value {
    json!({"agent": p.agent, "role": role_name(p.role),
           "permissions": p.permissions.iter().map(|p| from_permission(*p).name()).collect::<Vec<_>>()})
}

fn aggregate(a: &Aggregate) -> Value {
    json!({"completed_steps": a.completed_steps, "total_steps": a.total_steps,
           "participants": a.participants,
           "progress": a.progress.iter().map(|p| json!({"agent": p.agent,
               "steps_completed": p.steps_completed, "note": p.note})).collect::<Vec<_>>()})
}

fn strategy(s: &Strategy) -> Value {
    match s {
        Strategy::Peer(coordinator) => json!({"peer": {"coordinator": coordinator}}),
        Strategy::Pipeline(p) => json!({"pipeline": {"coordinator": p.coordinator,
            "stages": p.stages.iter().map(|st| json!({"agent": st.agent,
                "steps": st.steps.iter().map(|r| if r.first == r.last { r.first.to_string() }
                    else { format!("{}-{}", r.first, r.last) }).collect::<Vec<_>>(),
                "depends_on": st.depends_on})).collect::<Vec<_>>()}}),
    }
}

pub fn info(i: &ArenaInfo) -> Value {
    json!({"id": i.id, "goal": i.goal, "status": status_name(i.status),
           "outcome": i.outcome.as_ref().map(|o| match o {
               Outcome::Completed => "completed".to_string(),
               Outcome::Aborted(r) => format!("aborted: {r}"),
           }),
           "strategy": strategy(&i.strategy),
           "participants": i.participants.iter().map(participant).collect::<Vec<_>>(),
           "aggregate": aggregate(&i.aggregate), "last_seq": i.last_seq})
}
