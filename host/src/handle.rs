//! An agent's handle on one arena: the path every agent action takes, whether it comes from a plugin
//! or from `arena --as AGENT`.
//!
//! The handle is bound by the host to one arena and one agent, so no method takes an id. Each method
//! first checks the host's grant (a plugin without the grant is not even linked to the function), then
//! calls the arena, which checks the agent's permission again.

use std::borrow::Borrow;

use arena_bindings::manager::{Guest as Manager, Operation};
use wasmtime::Store;

use crate::runtime::ArenaState;
use crate::types::{
    Aggregate, ArenaError, ArenaInfo, ArenaStatus, Artifact, ArtifactDraft, Event, Fact,
    FactCursor, FactDraft, FactQuery, MergeRequest, Participant, ParticipantSpec, Permission, Role,
    Slot, SlotInfo, SlotStatus,
};
use crate::{ArenaHost, HostError};

/// The permission an operation needs.
pub fn operation_permission(op: &Operation) -> Permission {
    match op {
        Operation::Leave => Permission::Observe,
        Operation::CompleteStep(_)
        | Operation::ReportProgress(_)
        | Operation::PutArtifact(_)
        | Operation::SetSlotStatus(_) => Permission::Contribute,
        Operation::AddFact(_) => Permission::ShareFacts,
        Operation::UpdateGoal(_) => Permission::Steer,
        Operation::Activate
        | Operation::Settle
        | Operation::Archive
        | Operation::Abort(_)
        | Operation::Invite(_)
        | Operation::Merge(_) => Permission::Coordinate,
    }
}

/// The permissions a role grants (DESIGN.md's presets, as the arena defines them), in declaration
/// order.
pub fn role_permissions(role: Role) -> Vec<Permission> {
    let preset = arena_component::Role::permissions(match role {
        Role::Coordinator => arena_component::Role::Coordinator,
        Role::Worker => arena_component::Role::Worker,
        Role::Observer => arena_component::Role::Observer,
    });
    Permission::ALL
        .into_iter()
        .filter(|p| preset.iter().any(|d| d.name() == p.name()))
        .collect()
}

/// What an operation stored that it has an id for.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    /// The artifact a `put-artifact` or `merge` stored.
    Artifact(Artifact),
    /// The fact an `add-fact` shared.
    Fact(Fact),
}

/// The result of [`AgentHandle::perform_and_fetch`]: the arena right after the operation, and what it
/// created.
#[derive(Clone, Debug, PartialEq)]
pub struct Performed {
    /// The arena right after the operation (after the first one, for a retried key).
    pub info: ArenaInfo,
    /// The artifact or fact it created; `None` for operations that create neither.
    pub created: Option<Created>,
}

/// What a call of the manager export answers.
type WriteResult<R> = wasmtime::Result<Result<R, ArenaError>>;

/// `agent`'s view of `arena`, limited to `grant`.
#[derive(Clone)]
pub struct AgentHandle {
    host: ArenaHost,
    arena: String,
    agent: String,
    grant: Vec<Permission>,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle")
            .field("arena", &self.arena)
            .field("agent", &self.agent)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

impl AgentHandle {
    pub(crate) fn new(host: ArenaHost, arena: &str, agent: &str, grant: Vec<Permission>) -> Self {
        AgentHandle {
            host,
            arena: arena.to_string(),
            agent: agent.to_string(),
            grant,
        }
    }

    /// The arena this handle is bound to.
    pub fn arena(&self) -> &str {
        &self.arena
    }

    /// The agent this handle acts as.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The permissions the host granted.
    pub fn grant(&self) -> &[Permission] {
        &self.grant
    }

    fn granted(&self, permission: Permission) -> Result<(), HostError> {
        if self.grant.contains(&permission) {
            Ok(())
        } else {
            Err(HostError::Arena(ArenaError::PermissionDenied(permission)))
        }
    }

    /// Every write of this handle: checks the grant for `permission` before touching `args`, then
    /// queues `call` (as this agent, on this arena, with its own copy of `args`) for group commit.
    fn write<A, R, F>(&self, permission: Permission, args: &A, call: F) -> Result<R, HostError>
    where
        A: ToOwned + ?Sized,
        A::Owned: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&Manager, &mut Store<ArenaState>, &String, &String, &A) -> WriteResult<R>
            + Send
            + 'static,
    {
        self.granted(permission)?;
        let (arena, agent, args) = (self.arena.clone(), self.agent.clone(), args.to_owned());
        self.host
            .call_write(move |m, s| call(m, s, &arena, &agent, args.borrow()))
    }

    /// Performs `op` and returns the arena right after it. With an idempotency `key`, a retry with the
    /// same key writes nothing and returns the arena as it was right after the first call. Needs the
    /// operation's permission.
    pub fn perform(&self, key: Option<&str>, op: &Operation) -> Result<ArenaInfo, HostError> {
        let key = key.map(str::to_string);
        self.write(operation_permission(op), op, move |m, s, a, g, op| {
            m.call_perform(s, a, g, key.as_deref(), op)
        })
    }

    /// [`AgentHandle::perform`], then what the operation created: the artifact of a `put-artifact` or
    /// `merge`, the fact of an `add-fact` (for a retried key, the one the first call created). The
    /// created item is read as the operator reads it, so it needs no permission beyond the
    /// operation's.
    pub fn perform_and_fetch(
        &self,
        key: Option<&str>,
        op: &Operation,
    ) -> Result<Performed, HostError> {
        let info = self.perform(key, op)?;
        let created = self.created_by(op, info.last_seq)?;
        Ok(Performed { info, created })
    }

    /// What `op`, stored as event `seq`, created. The arena mints artifact and fact ids from that
    /// sequence number (`art-SEQ`, `fact-SEQ`; see the WIT's `artifact-id` and `fact-id`).
    fn created_by(&self, op: &Operation, seq: u64) -> Result<Option<Created>, HostError> {
        let created = match op {
            Operation::PutArtifact(_) | Operation::Merge(_) => {
                let id = format!("art-{seq}");
                self.host
                    .slots(&self.arena)?
                    .into_iter()
                    .flat_map(|slot| slot.artifacts)
                    .find(|a| a.id == id)
                    .map(Created::Artifact)
            }
            Operation::AddFact(_) => {
                let id = format!("fact-{seq}");
                let all = FactQuery {
                    tag: None,
                    text: None,
                };
                let before = FactCursor {
                    arena: self.arena.clone(),
                    seq: seq.saturating_sub(1),
                };
                self.host
                    .query_facts(Some(&self.arena), &all, Some(&before), 1)?
                    .into_iter()
                    .find(|f| f.id == id)
                    .map(Created::Fact)
            }
            _ => return Ok(None),
        };
        created
            .map(Some)
            .ok_or(HostError::Arena(ArenaError::NotFound))
    }

    /// Leaves the arena. Needs `observe`; created or active; not the last coordinator.
    pub fn leave(&self) -> Result<(), HostError> {
        self.write(Permission::Observe, &(), |m, s, a, g, ()| {
            m.call_leave(s, a, g)
        })
    }

    /// Completes step `step`. Needs `contribute`; active only.
    pub fn complete_step(&self, step: u32) -> Result<Aggregate, HostError> {
        self.write(Permission::Contribute, &step, |m, s, a, g, step| {
            m.call_complete_step(s, a, g, *step)
        })
    }

    /// Records a progress note. Needs `contribute`; active only.
    pub fn report_progress(&self, note: &str) -> Result<Aggregate, HostError> {
        self.write(Permission::Contribute, note, |m, s, a, g, note| {
            m.call_report_progress(s, a, g, note)
        })
    }

    /// Replaces the goal. Needs `steer`; created or active.
    pub fn update_goal(&self, goal: &str) -> Result<(), HostError> {
        self.write(Permission::Steer, goal, |m, s, a, g, goal| {
            m.call_update_goal(s, a, g, goal)
        })
    }

    /// `created → active`. Needs `coordinate`.
    pub fn activate(&self) -> Result<ArenaStatus, HostError> {
        self.write(Permission::Coordinate, &(), |m, s, a, g, ()| {
            m.call_activate(s, a, g)
        })
    }

    /// `active → settling`. Needs `coordinate`.
    pub fn settle(&self) -> Result<ArenaStatus, HostError> {
        self.write(Permission::Coordinate, &(), |m, s, a, g, ()| {
            m.call_settle(s, a, g)
        })
    }

    /// `settling → archived`. Needs `coordinate`.
    pub fn archive(&self) -> Result<ArenaStatus, HostError> {
        self.write(Permission::Coordinate, &(), |m, s, a, g, ()| {
            m.call_archive(s, a, g)
        })
    }

    /// Any state but archived `→ archived` with outcome `aborted(reason)`. Needs `coordinate`.
    pub fn abort(&self, reason: &str) -> Result<ArenaStatus, HostError> {
        self.write(Permission::Coordinate, reason, |m, s, a, g, reason| {
            m.call_abort(s, a, g, reason)
        })
    }

    /// Adds a participant. Needs `coordinate`; created or active.
    pub fn invite(&self, participant: &ParticipantSpec) -> Result<Participant, HostError> {
        self.write(
            Permission::Coordinate,
            participant,
            |m, s, a, g, participant| m.call_invite(s, a, g, participant),
        )
    }

    /// Stores an artifact in the agent's own slot. Needs `contribute`; active only.
    pub fn put_artifact(&self, draft: &ArtifactDraft) -> Result<Artifact, HostError> {
        self.write(Permission::Contribute, draft, |m, s, a, g, draft| {
            m.call_put_artifact(s, a, g, draft)
        })
    }

    /// Sets the agent's own slot status. Needs `contribute`; active only; pipeline order enforced.
    pub fn set_slot_status(&self, status: SlotStatus) -> Result<(), HostError> {
        self.write(Permission::Contribute, &status, |m, s, a, g, status| {
            m.call_set_slot_status(s, a, g, *status)
        })
    }

    /// Shares a fact whose source is the agent. Needs `share-facts`; active only.
    pub fn add_fact(&self, draft: &FactDraft) -> Result<Fact, HostError> {
        self.write(Permission::ShareFacts, draft, |m, s, a, g, draft| {
            m.call_add_fact(s, a, g, draft)
        })
    }

    /// Stores merged content in the agent's own slot with its provenance. Needs `coordinate`; active or
    /// settling.
    pub fn merge(&self, request: &MergeRequest) -> Result<Artifact, HostError> {
        self.write(Permission::Coordinate, request, |m, s, a, g, request| {
            m.call_merge(s, a, g, request)
        })
    }

    /// The arena: goal, status, outcome, participants, aggregate. Needs `observe`.
    pub fn info(&self) -> Result<ArenaInfo, HostError> {
        self.granted(Permission::Observe)?;
        self.host
            .call(|m, s| m.call_observe(s, &self.arena, &self.agent))
    }

    /// Up to `limit` events (at most 1000) with `seq > after`. Needs `observe`.
    pub fn events(&self, after: u64, limit: u32) -> Result<Vec<Event>, HostError> {
        self.granted(Permission::Observe)?;
        self.host
            .call(|m, s| m.call_observe_events(s, &self.arena, &self.agent, after, limit))
    }

    /// This arena's facts matching `query`, in the order shared. Needs `observe`.
    pub fn facts(&self, query: &FactQuery) -> Result<Vec<Fact>, HostError> {
        self.granted(Permission::Observe)?;
        self.host
            .call(|m, s| m.call_observe_facts(s, &self.arena, &self.agent, query))
    }

    /// Every slot without content, sorted by agent. Needs `read-slots`.
    pub fn list_slots(&self) -> Result<Vec<SlotInfo>, HostError> {
        self.granted(Permission::ReadSlots)?;
        self.host
            .call(|m, s| m.call_list_slots(s, &self.arena, &self.agent))
    }

    /// `agent`'s slot with its artifacts. Needs `read-slots`.
    pub fn read_slot(&self, agent: &str) -> Result<Slot, HostError> {
        self.granted(Permission::ReadSlots)?;
        self.host
            .call(|m, s| m.call_read_slot(s, &self.arena, &self.agent, &agent.to_string()))
    }

    /// One artifact of the arena. Needs `read-slots`.
    pub fn read_artifact(&self, id: &str) -> Result<Artifact, HostError> {
        self.granted(Permission::ReadSlots)?;
        self.host
            .call(|m, s| m.call_read_artifact(s, &self.arena, &self.agent, &id.to_string()))
    }

    /// The agent's own slot. Needs `contribute`.
    pub fn own_slot(&self) -> Result<Slot, HostError> {
        self.granted(Permission::Contribute)?;
        self.host
            .call(|m, s| m.call_own_slot(s, &self.arena, &self.agent))
    }
}

/// Handles are made by the host, which knows the grants; the runtime knows nothing of handles.
impl ArenaHost {
    /// `agent`'s handle on `arena`, granted exactly the permissions the agent holds there now (none if it
    /// is not a participant). The arena checks them again on every call.
    pub fn handle(&self, arena: &str, agent: &str) -> Result<AgentHandle, HostError> {
        let info = self.get(arena)?;
        let grant = info
            .participants
            .iter()
            .find(|p| p.agent == agent)
            .map(|p| p.permissions.clone())
            .unwrap_or_default();
        Ok(AgentHandle::new(self.clone(), arena, agent, grant))
    }

    /// `agent`'s handle on `arena` with an explicit grant, as an operator configures a plugin.
    pub fn handle_with_grant(
        &self,
        arena: &str,
        agent: &str,
        grant: Vec<Permission>,
    ) -> AgentHandle {
        AgentHandle::new(self.clone(), arena, agent, grant)
    }
}
