//! A participant's restricted view of one arena.
//!
//! A [`Handle`] is bound to one arena and one agent. Each method says what it does and the permission
//! it needs; the arena checks that permission on every call, whatever the host already linked. The
//! checks run in one order: the caller's permission, then the arena's state, then the arguments — so
//! a caller without the permission learns nothing about what it sent.

use crate::clock::Clock;
use crate::events::{Change, Event};
use crate::facts::{self, fact_id};
use crate::manager::ArenaManager;
use crate::slots::{self, artifact_id};
use crate::storage::Storage;
use crate::types::{
    Arena, ArenaError, ArenaStatus, Artifact, ArtifactDraft, Fact, FactDraft, FactQuery, Lifecycle,
    MergeRequest, Operation, Outcome, Participant, ParticipantSpec, Permission, SettleReport, Slot,
    SlotContents, SlotStatus, check_count, check_participant_count, check_text, limits,
};

use ArenaStatus::{Active, Created, Settling};

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
    /// this key is applied; any later one with it (by this agent, on this arena) writes nothing and
    /// returns the arena as it was right after the first.
    pub fn with_key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    fn read(&self, permission: Permission) -> Result<Arena, ArenaError> {
        crate::types::check_agent_id(self.agent)?;
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
        self.leave_state().map(drop)
    }

    fn leave_state(&self) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                let me = arena.require(self.agent, Permission::Observe)?;
                arena.require_state("leave", &[Created, Active])?;
                if me.permissions.contains(&Permission::Coordinate)
                    && arena.coordinators().count() == 1
                {
                    return Err(ArenaError::InvalidState(
                        "the last coordinator cannot leave before the arena is archived".into(),
                    ));
                }
                Ok(vec![Change::AgentLeft {
                    agent: self.agent.to_string(),
                }])
            })
    }

    /// Marks `step` (1..=total) complete and returns the arena after it; `already-done` if it is.
    /// Needs `contribute`; active only.
    pub fn complete_step(&self, step: u32) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Contribute)?;
                arena.require_state("complete-step", &[Active])?;
                let total = arena.aggregate.total_steps;
                if step == 0 || step > total {
                    return Err(ArenaError::InvalidInput(format!(
                        "step {step} is outside 1..={total}"
                    )));
                }
                if let Some(pipeline) = arena.strategy.pipeline() {
                    let stage = pipeline.owner(step).ok_or_else(|| {
                        ArenaError::InvalidInput(format!("step {step} is owned by no stage"))
                    })?;
                    if stage.agent != self.agent {
                        return Err(ArenaError::InvalidInput(format!(
                            "step {step} belongs to stage {:?}",
                            stage.agent
                        )));
                    }
                    pipeline.require_ready(arena, stage, &format!("complete step {step}"))?;
                }
                if arena.aggregate.is_done(step) {
                    return Err(ArenaError::AlreadyDone);
                }
                Ok(vec![Change::StepCompleted { step }])
            })
    }

    /// Records the agent's progress note (1 to 4096 bytes) and returns the arena after it.
    /// Needs `contribute`; active only.
    pub fn report_progress(&self, note: &str) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Contribute)?;
                arena.require_state("report-progress", &[Active])?;
                check_text("progress note", note, limits::NOTE_BYTES)?;
                Ok(vec![Change::ProgressReported {
                    note: note.to_string(),
                }])
            })
    }

    /// Replaces the goal (1 to 4096 bytes). Needs `steer`; created or active.
    pub fn update_goal(&self, goal: &str) -> Result<(), ArenaError> {
        self.update_goal_state(goal).map(drop)
    }

    fn update_goal_state(&self, goal: &str) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Steer)?;
                arena.require_state("update-goal", &[Created, Active])?;
                check_text("goal", goal, limits::GOAL_BYTES)?;
                Ok(vec![Change::GoalUpdated {
                    goal: goal.to_string(),
                }])
            })
    }

    fn lifecycle(&self, action: Lifecycle, reason: Option<&str>) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Coordinate)?;
                arena.status.transition(action)?;
                if let Some(reason) = reason {
                    check_text("abort reason", reason, limits::REASON_BYTES)?;
                }
                // The archiving event records the report of the state it closes.
                let report = |outcome| Some(SettleReport::of(arena, outcome, arena.last_seq + 1));
                Ok(vec![match action {
                    Lifecycle::Activate => Change::ArenaActivated {},
                    Lifecycle::Settle => Change::ArenaSettling {},
                    Lifecycle::Archive => Change::ArenaArchived {
                        report: report(Outcome::Completed),
                    },
                    Lifecycle::Abort => {
                        let reason = reason.unwrap_or_default().to_string();
                        Change::ArenaAborted {
                            report: report(Outcome::Aborted(reason.clone())),
                            reason,
                        }
                    }
                }])
            })
    }

    /// `created → active`. Needs `coordinate`.
    pub fn activate(&self) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Activate, None).map(|a| a.status)
    }

    /// `active → settling`. Needs `coordinate`.
    pub fn settle(&self) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Settle, None).map(|a| a.status)
    }

    /// `settling → archived` with outcome `completed`. Needs `coordinate`.
    pub fn archive(&self) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Archive, None).map(|a| a.status)
    }

    /// Any state but archived `→ archived` with outcome `aborted(reason)` (1 to 1024 bytes).
    /// Needs `coordinate`.
    pub fn abort(&self, reason: &str) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Abort, Some(reason))
            .map(|a| a.status)
    }

    /// Adds a participant (or brings back one that left). Needs `coordinate`; created or active.
    pub fn invite(&self, spec: &ParticipantSpec) -> Result<Participant, ArenaError> {
        let mut arena = self.invite_state(spec)?;
        arena
            .participants
            .remove(&spec.agent)
            .ok_or(ArenaError::NotFound)
    }

    fn invite_state(&self, spec: &ParticipantSpec) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Coordinate)?;
                arena.require_state("invite", &[Created, Active])?;
                let participant = spec.resolve()?;
                if arena.participants.contains_key(&participant.agent) {
                    return Err(ArenaError::InvalidInput(format!(
                        "duplicate participant {:?}",
                        participant.agent
                    )));
                }
                if !arena.aggregate.progress.contains_key(&participant.agent) {
                    check_participant_count(arena.aggregate.progress.len() + 1)?;
                }
                Ok(vec![Change::AgentJoined {
                    agent: participant.agent.clone(),
                    role: participant.role,
                    permissions: participant.permissions.iter().copied().collect(),
                }])
            })
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
        self.stored(&self.put_artifact_state(draft)?)
    }

    fn put_artifact_state(&self, draft: &ArtifactDraft) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Contribute)?;
                arena.require_state("put-artifact", &[Active])?;
                let metadata = slots::check_draft(draft)?;
                slots::check_room(arena, self.agent)?;
                Ok(vec![Change::ArtifactPut {
                    kind: draft.kind.clone(),
                    content: draft.content.clone(),
                    metadata,
                }])
            })
    }

    /// The artifact stored by the last event of `arena`, read back from the log.
    fn stored(&self, arena: &Arena) -> Result<Artifact, ArenaError> {
        let (owner, entry) = arena
            .find_artifact(&artifact_id(arena.last_seq))
            .ok_or(ArenaError::NotFound)?;
        self.manager.artifact(self.arena, owner, entry)
    }

    /// Sets the agent's own slot status. Needs `contribute`; active only. In a pipeline a done stage
    /// stays done, and `done` is refused until every stage the agent's stage depends on is done.
    pub fn set_slot_status(&self, status: SlotStatus) -> Result<(), ArenaError> {
        self.set_slot_status_state(status).map(drop)
    }

    fn set_slot_status_state(&self, status: SlotStatus) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Contribute)?;
                arena.require_state("set-slot-status", &[Active])?;
                let current = arena.slot(self.agent).unwrap_or_default().status;
                if current == status {
                    return Err(ArenaError::AlreadyDone);
                }
                if let Some(pipeline) = arena.strategy.pipeline()
                    && let Some(stage) = pipeline.stage(self.agent)
                {
                    if current == SlotStatus::Done {
                        return Err(ArenaError::InvalidState(format!(
                            "stage {:?} is done and stays done",
                            stage.agent
                        )));
                    }
                    if status == SlotStatus::Done {
                        pipeline.require_ready(arena, stage, "be marked done")?;
                    }
                }
                Ok(vec![Change::SlotUpdated { status }])
            })
    }

    /// Shares a fact whose source is the agent and returns it. Needs `share-facts`; active only.
    pub fn add_fact(&self, draft: &FactDraft) -> Result<Fact, ArenaError> {
        let arena = self.add_fact_state(draft)?;
        arena
            .facts
            .last()
            .filter(|f| f.id == fact_id(arena.last_seq))
            .cloned()
            .ok_or(ArenaError::NotFound)
    }

    fn add_fact_state(&self, draft: &FactDraft) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::ShareFacts)?;
                arena.require_state("add-fact", &[Active])?;
                facts::check_draft(draft)?;
                check_count("facts per arena", arena.facts.len() + 1, limits::FACTS)?;
                Ok(vec![Change::FactAdded {
                    content: draft.content.clone(),
                    confidence: draft.confidence,
                    tags: draft.tags.clone(),
                }])
            })
    }

    /// Stores merged content in the agent's own slot, recording the source artifacts (which must exist
    /// in this arena). Needs `coordinate`; active or settling.
    pub fn merge(&self, request: &MergeRequest) -> Result<Artifact, ArenaError> {
        self.stored(&self.merge_state(request)?)
    }

    fn merge_state(&self, request: &MergeRequest) -> Result<Arena, ArenaError> {
        self.manager
            .mutate(self.arena, self.agent, self.key, |arena| {
                arena.require(self.agent, Permission::Coordinate)?;
                arena.require_state("merge", &[Active, Settling])?;
                let metadata = slots::check_draft(&request.draft)?;
                slots::check_sources(arena, &request.sources)?;
                slots::check_room(arena, self.agent)?;
                Ok(vec![Change::ArtifactMerged {
                    kind: request.draft.kind.clone(),
                    content: request.draft.content.clone(),
                    metadata,
                    sources: request.sources.clone(),
                }])
            })
    }

    /// Performs `op` and returns the arena right after it; with a key (see [`Handle::with_key`]) a
    /// retry returns the arena right after the first. Needs the permission of the operation.
    pub fn perform(&self, op: &Operation) -> Result<Arena, ArenaError> {
        match op {
            Operation::Leave => self.leave_state(),
            Operation::CompleteStep(step) => self.complete_step(*step),
            Operation::ReportProgress(note) => self.report_progress(note),
            Operation::UpdateGoal(goal) => self.update_goal_state(goal),
            Operation::Activate => self.lifecycle(Lifecycle::Activate, None),
            Operation::Settle => self.lifecycle(Lifecycle::Settle, None),
            Operation::Archive => self.lifecycle(Lifecycle::Archive, None),
            Operation::Abort(reason) => self.lifecycle(Lifecycle::Abort, Some(reason)),
            Operation::Invite(spec) => self.invite_state(spec),
            Operation::PutArtifact(draft) => self.put_artifact_state(draft),
            Operation::SetSlotStatus(status) => self.set_slot_status_state(*status),
            Operation::Merge(request) => self.merge_state(request),
            Operation::AddFact(draft) => self.add_fact_state(draft),
        }
    }
}
