//! A participant's restricted view of one arena.
//!
//! A [`Handle`] is bound to one arena and one agent. Each method says what it does and the permission
//! it needs; the arena checks that permission on every call, whatever the host already linked. The
//! checks run in one order: the caller's permission, then the arena's state, then the arguments — so
//! a caller without the permission learns nothing about what it sent.
//!
//! Every mutating method is one [`Operation`] run by [`Handle::perform`], the one path by which a
//! participant changes an arena; the method only picks its answer from the arena right after it.

mod decide;

use crate::clock::Clock;
use crate::events::{Event, Keyed};
use crate::facts::fact_id;
use crate::manager::ArenaManager;
use crate::slots::artifact_id;
use crate::storage::Storage;
use crate::types::{
    Arena, ArenaError, ArenaStatus, Artifact, ArtifactDraft, Fact, FactDraft, FactQuery,
    MergeRequest, Operation, Participant, ParticipantSpec, Permission, Slot, SlotContents,
    SlotStatus, check_agent_id, limits,
};

/// `agent`'s view of `arena`.
pub struct Handle<'a, S, C> {
    manager: &'a ArenaManager<S, C>,
    arena: &'a str,
    agent: &'a str,
    key: Option<&'a str>,
}

impl<'a, S: Storage, C: Clock> Handle<'a, S, C> {
    pub(crate) fn new(manager: &'a ArenaManager<S, C>, arena: &'a str, agent: &'a str) -> Self {
        Handle {
            manager,
            arena,
            agent,
            key: None,
        }
    }

    /// The same handle, whose next mutating operations carry idempotency `key`: the first one with
    /// this key is applied; a later one with it (by this agent, on this arena) writes nothing and
    /// returns the arena as it was right after the first if it is the same operation, and is refused
    /// with `invalid-input` naming the key if it is not.
    pub fn with_key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    /// Performs `op` and returns the arena right after it; with a key (see [`Handle::with_key`]) a
    /// retry returns the arena right after the first. Needs the permission of the operation.
    pub fn perform(&self, op: &Operation) -> Result<Arena, ArenaError> {
        self.perform_with(op, Arena::clone)
    }

    /// [`Handle::perform`], answered with what `answer` takes from the arena right after `op` (or,
    /// for a retried key, right after the first): the arena's state is not copied.
    pub fn perform_with<R>(
        &self,
        op: &Operation,
        answer: impl FnOnce(&Arena) -> R,
    ) -> Result<R, ArenaError> {
        let digest = self.key.map(|_| op.digest(self.agent));
        let keyed = self
            .key
            .zip(digest.as_deref())
            .map(|(key, digest)| Keyed { key, digest });
        self.manager.mutate(
            self.arena,
            self.agent,
            keyed,
            |arena| decide::changes(op, arena, self.agent),
            answer,
        )
    }

    fn read(&self, permission: Permission) -> Result<Arena, ArenaError> {
        check_agent_id(self.agent)?;
        let arena = self.manager.get(self.arena)?;
        arena.require(self.agent, permission)?;
        Ok(arena)
    }

    /// The arena: goal, status, outcome, participants, aggregate. Needs `observe`; any state.
    pub fn info(&self) -> Result<Arena, ArenaError> {
        self.read(Permission::Observe)
    }

    /// Up to `limit` events (at most one page) with `seq > after`. Needs `observe`; any state.
    pub fn events(&self, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        self.read(Permission::Observe)?;
        self.manager.events(self.arena, after, limit)
    }

    /// Leaves the arena; afterwards the agent holds no permission. Needs `observe`; created or active.
    /// The last participant holding `coordinate` cannot leave (`invalid-state`).
    pub fn leave(&self) -> Result<(), ArenaError> {
        self.perform_with(&Operation::Leave, |_| ())
    }

    /// Marks `step` (1..=total) complete and returns the arena after it; `already-done` if it is.
    /// Needs `contribute`; active only.
    pub fn complete_step(&self, step: u32) -> Result<Arena, ArenaError> {
        self.perform(&Operation::CompleteStep(step))
    }

    /// Records the agent's progress note (1 to 4096 bytes) and returns the arena after it.
    /// Needs `contribute`; active only.
    pub fn report_progress(&self, note: &str) -> Result<Arena, ArenaError> {
        self.perform(&Operation::ReportProgress(note.to_string()))
    }

    /// Replaces the goal (1 to 4096 bytes). Needs `steer`; created or active.
    pub fn update_goal(&self, goal: &str) -> Result<(), ArenaError> {
        self.perform_with(&Operation::UpdateGoal(goal.to_string()), |_| ())
    }

    /// `created → active`. Needs `coordinate`.
    pub fn activate(&self) -> Result<ArenaStatus, ArenaError> {
        self.perform_with(&Operation::Activate, |a| a.status)
    }

    /// `active → settling`. Needs `coordinate`.
    pub fn settle(&self) -> Result<ArenaStatus, ArenaError> {
        self.perform_with(&Operation::Settle, |a| a.status)
    }

    /// `settling → archived` with outcome `completed`. Needs `coordinate`.
    pub fn archive(&self) -> Result<ArenaStatus, ArenaError> {
        self.perform_with(&Operation::Archive, |a| a.status)
    }

    /// Any state but archived `→ archived` with outcome `aborted(reason)` (1 to 1024 bytes).
    /// Needs `coordinate`.
    pub fn abort(&self, reason: &str) -> Result<ArenaStatus, ArenaError> {
        self.perform_with(&Operation::Abort(reason.to_string()), |a| a.status)
    }

    /// Adds a participant (or brings back one that left). Needs `coordinate`; created or active.
    pub fn invite(&self, spec: &ParticipantSpec) -> Result<Participant, ArenaError> {
        self.perform_with(&Operation::Invite(spec.clone()), |after| {
            invited(after, &spec.agent)
        })?
    }

    /// This arena's facts matching `query`, in the order shared. Needs `observe`; any state.
    pub fn facts(&self, query: &FactQuery) -> Result<Vec<Fact>, ArenaError> {
        self.read(Permission::Observe)?;
        Ok(self
            .manager
            .query_facts(Some(self.arena), query, None, limits::PAGE)?
            .into_iter()
            .map(|(_, fact)| fact)
            .collect())
    }

    /// Every slot, sorted by agent, without content. Needs `read-slots`; any state.
    pub fn list_slots(&self) -> Result<Vec<(String, Slot)>, ArenaError> {
        Ok(self.read(Permission::ReadSlots)?.all_slots())
    }

    /// `agent`'s slot with its artifacts; `not-found` if it never participated. Needs `read-slots`.
    pub fn read_slot(&self, agent: &str) -> Result<SlotContents, ArenaError> {
        let arena = self.read(Permission::ReadSlots)?;
        self.manager.slot_contents(&arena, agent)
    }

    /// One artifact of the arena; `not-found` if there is none with `id`. Needs `read-slots`.
    pub fn read_artifact(&self, id: &str) -> Result<Artifact, ArenaError> {
        let arena = self.read(Permission::ReadSlots)?;
        let (owner, entry) = arena.find_artifact(id).ok_or(ArenaError::NotFound)?;
        self.manager.artifact(self.arena, owner, entry)
    }

    /// The agent's own slot. Needs `contribute`; any state.
    pub fn own_slot(&self) -> Result<SlotContents, ArenaError> {
        let arena = self.read(Permission::Contribute)?;
        self.manager.slot_contents(&arena, self.agent)
    }

    /// Stores an artifact in the agent's own slot and returns it. Needs `contribute`; active only.
    pub fn put_artifact(&self, draft: &ArtifactDraft) -> Result<Artifact, ArenaError> {
        self.perform_with(&Operation::PutArtifact(draft.clone()), |after| {
            self.stored_artifact(after)
        })?
    }

    /// Sets the agent's own slot status. Needs `contribute`; active only. In a pipeline a done stage
    /// stays done, and `done` is refused until every stage the agent's stage depends on is done.
    pub fn set_slot_status(&self, status: SlotStatus) -> Result<(), ArenaError> {
        self.perform_with(&Operation::SetSlotStatus(status), |_| ())
    }

    /// Shares a fact whose source is the agent and returns it. Needs `share-facts`; active only.
    pub fn add_fact(&self, draft: &FactDraft) -> Result<Fact, ArenaError> {
        self.perform_with(&Operation::AddFact(draft.clone()), shared_fact)?
    }

    /// Stores merged content in the agent's own slot, recording the source artifacts (which must exist
    /// in this arena). Needs `coordinate`; active or settling.
    pub fn merge(&self, request: &MergeRequest) -> Result<Artifact, ArenaError> {
        self.perform_with(&Operation::Merge(request.clone()), |after| {
            self.stored_artifact(after)
        })?
    }

    /// The artifact stored by the event `after` ends with (a put or a merge), its content read back
    /// from the log; `not-found` if that event stored none.
    pub fn stored_artifact(&self, after: &Arena) -> Result<Artifact, ArenaError> {
        let (owner, entry) = after
            .find_artifact(&artifact_id(after.last_seq))
            .ok_or(ArenaError::NotFound)?;
        self.manager.artifact(self.arena, owner, entry)
    }
}

/// The participant `agent` of the arena right after inviting it; `not-found` if it is not one.
pub fn invited(after: &Arena, agent: &str) -> Result<Participant, ArenaError> {
    after
        .participants
        .get(agent)
        .cloned()
        .ok_or(ArenaError::NotFound)
}

/// The fact shared by the event `after` ends with; `not-found` if that event shared none.
pub fn shared_fact(after: &Arena) -> Result<Fact, ArenaError> {
    after
        .facts
        .last()
        .filter(|fact| fact.id == fact_id(after.last_seq))
        .cloned()
        .ok_or(ArenaError::NotFound)
}
