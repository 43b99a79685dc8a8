//! An agent's handle on one arena: the path every agent action takes, whether it comes from a plugin
//! or from `arena --as AGENT`.
//!
//! The handle is bound by the host to one arena and one agent, so no method takes an id. Each method
//! first checks the host's grant (a plugin without the grant is not even linked to the function), then
//! calls the arena, which checks the agent's permission again.

use crate::types::{
    Aggregate, ArenaError, ArenaInfo, ArenaStatus, Artifact, ArtifactDraft, Event, Fact, FactDraft,
    FactQuery, MergeRequest, Participant, ParticipantSpec, Permission, Slot, SlotInfo, SlotStatus,
};
use crate::{ArenaHost, HostError};
use arena_bindings::manager::Operation;

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

    /// The arena and agent, owned: what a write queued for group commit carries.
    fn ids(&self) -> (String, String) {
        (self.arena.clone(), self.agent.clone())
    }

    fn granted(&self, permission: Permission) -> Result<(), HostError> {
        if self.grant.contains(&permission) {
            Ok(())
        } else {
            Err(HostError::Arena(ArenaError::PermissionDenied(permission)))
        }
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

    /// Leaves the arena. Needs `observe`; created or active; not the last coordinator.
    pub fn leave(&self) -> Result<(), HostError> {
        self.granted(Permission::Observe)?;
        let (arena, agent) = self.ids();
        self.host
            .call_write(move |m, s| m.call_leave(s, &arena, &agent))
    }

    /// Completes step `step`. Needs `contribute`; active only.
    pub fn complete_step(&self, step: u32) -> Result<Aggregate, HostError> {
        self.granted(Permission::Contribute)?;
        let (arena, agent) = self.ids();
        self.host
            .call_write(move |m, s| m.call_complete_step(s, &arena, &agent, step))
    }

    /// Records a progress note. Needs `contribute`; active only.
    pub fn report_progress(&self, note: &str) -> Result<Aggregate, HostError> {
        self.granted(Permission::Contribute)?;
        let (arena, agent) = self.ids();
        let note = note.to_owned();
        self.host
            .call_write(move |m, s| m.call_report_progress(s, &arena, &agent, &note))
    }

    /// Replaces the goal. Needs `steer`; created or active.
    pub fn update_goal(&self, goal: &str) -> Result<(), HostError> {
        self.granted(Permission::Steer)?;
        let (arena, agent) = self.ids();
        let goal = goal.to_owned();
        self.host
            .call_write(move |m, s| m.call_update_goal(s, &arena, &agent, &goal))
    }

    /// `created → active`. Needs `coordinate`.
    pub fn activate(&self) -> Result<ArenaStatus, HostError> {
        self.granted(Permission::Coordinate)?;
        let (arena, agent) = self.ids();
        self.host
            .call_write(move |m, s| m.call_activate(s, &arena, &agent))
    }

    /// `active → settling`. Needs `coordinate`.
    pub fn settle(&self) -> Result<ArenaStatus, HostError> {
        self.granted(Permission::Coordinate)?;
        let (arena, agent) = self.ids();
        self.host
            .call_write(move |m, s| m.call_settle(s, &arena, &agent))
    }

    /// `settling → archived`. Needs `coordinate`.
    pub fn archive(&self) -> Result<ArenaStatus, HostError> {
        self.granted(Permission::Coordinate)?;
        let (arena, agent) = self.ids();
        self.host
            .call_write(move |m, s| m.call_archive(s, &arena, &agent))
    }

    /// Any state but archived `→ archived` with outcome `aborted(reason)`. Needs `coordinate`.
    pub fn abort(&self, reason: &str) -> Result<ArenaStatus, HostError> {
        self.granted(Permission::Coordinate)?;
        let (arena, agent) = self.ids();
        let reason = reason.to_owned();
        self.host
            .call_write(move |m, s| m.call_abort(s, &arena, &agent, &reason))
    }

    /// Performs `op` and returns the arena right after it. With an idempotency `key`, a retry with the
    /// same key writes nothing and returns the arena as it was right after the first call. Needs the
    /// operation's permission.
    pub fn perform(&self, key: Option<&str>, op: &Operation) -> Result<ArenaInfo, HostError> {
        self.granted(operation_permission(op))?;
        let (arena, agent) = self.ids();
        let key = key.map(str::to_string);
        let op = op.to_owned();
        self.host
            .call_write(move |m, s| m.call_perform(s, &arena, &agent, key.as_deref(), &op))
    }

    /// Adds a participant. Needs `coordinate`; created or active.
    pub fn invite(&self, participant: &ParticipantSpec) -> Result<Participant, HostError> {
        self.granted(Permission::Coordinate)?;
        let (arena, agent) = self.ids();
        let participant = participant.to_owned();
        self.host
            .call_write(move |m, s| m.call_invite(s, &arena, &agent, &participant))
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

    /// Stores an artifact in the agent's own slot. Needs `contribute`; active only.
    pub fn put_artifact(&self, draft: &ArtifactDraft) -> Result<Artifact, HostError> {
        self.granted(Permission::Contribute)?;
        let (arena, agent) = self.ids();
        let draft = draft.to_owned();
        self.host
            .call_write(move |m, s| m.call_put_artifact(s, &arena, &agent, &draft))
    }

    /// Sets the agent's own slot status. Needs `contribute`; active only; pipeline order enforced.
    pub fn set_slot_status(&self, status: SlotStatus) -> Result<(), HostError> {
        self.granted(Permission::Contribute)?;
        let (arena, agent) = self.ids();
        self.host
            .call_write(move |m, s| m.call_set_slot_status(s, &arena, &agent, status))
    }

    /// Shares a fact whose source is the agent. Needs `share-facts`; active only.
    pub fn add_fact(&self, draft: &FactDraft) -> Result<Fact, HostError> {
        self.granted(Permission::ShareFacts)?;
        let (arena, agent) = self.ids();
        let draft = draft.to_owned();
        self.host
            .call_write(move |m, s| m.call_add_fact(s, &arena, &agent, &draft))
    }

    /// Stores merged content in the agent's own slot with its provenance. Needs `coordinate`; active or
    /// settling.
    pub fn merge(&self, request: &MergeRequest) -> Result<Artifact, HostError> {
        self.granted(Permission::Coordinate)?;
        let (arena, agent) = self.ids();
        let request = request.to_owned();
        self.host
            .call_write(move |m, s| m.call_merge(s, &arena, &agent, &request))
    }
}
