//! A participant's restricted view of one arena.
//!
//! A [`Handle`] is bound to one arena and one agent. Each method says what it does and the permission
//! it needs; the arena checks that permission on every call, whatever the host already linked.

use crate::clock::Clock;
use crate::events::{Change, Event};
use crate::manager::ArenaManager;
use crate::storage::Storage;
use crate::types::{
    Arena, ArenaError, ArenaStatus, Lifecycle, Participant, ParticipantSpec, Permission,
    check_participant_count, check_text, limits,
};

use ArenaStatus::{Active, Created};

/// `agent`'s view of `arena`.
pub struct Handle<'a, S, C> {
    manager: &'a ArenaManager<S, C>,
    arena: &'a str,
    agent: &'a str,
}

impl<'a, S: Storage, C: Clock> Handle<'a, S, C> {
    pub(crate) fn new(manager: &'a ArenaManager<S, C>, arena: &'a str, agent: &'a str) -> Self {
        Handle {
            manager,
            arena,
            agent,
        }
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
        self.manager.mutate(self.arena, self.agent, |arena| {
            let me = arena.require(self.agent, Permission::Observe)?;
            arena.require_state(&[Created, Active])?;
            if me.permissions.contains(&Permission::Coordinate) && arena.coordinators().count() == 1
            {
                return Err(ArenaError::InvalidState);
            }
            Ok(vec![Change::AgentLeft {
                agent: self.agent.to_string(),
            }])
        })?;
        Ok(())
    }

    /// Marks `step` (1..=total) complete and returns the arena after it; `already-done` if it is.
    /// Needs `contribute`; active only.
    pub fn complete_step(&self, step: u32) -> Result<Arena, ArenaError> {
        self.manager.mutate(self.arena, self.agent, |arena| {
            arena.require(self.agent, Permission::Contribute)?;
            arena.require_state(&[Active])?;
            let total = arena.aggregate.total_steps;
            if step == 0 || step > total {
                return Err(ArenaError::InvalidInput(format!(
                    "step {step} is outside 1..={total}"
                )));
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
        check_text("progress note", note, limits::NOTE_BYTES)?;
        self.manager.mutate(self.arena, self.agent, |arena| {
            arena.require(self.agent, Permission::Contribute)?;
            arena.require_state(&[Active])?;
            Ok(vec![Change::ProgressReported {
                note: note.to_string(),
            }])
        })
    }

    /// Replaces the goal (1 to 4096 bytes). Needs `steer`; created or active.
    pub fn update_goal(&self, goal: &str) -> Result<(), ArenaError> {
        check_text("goal", goal, limits::GOAL_BYTES)?;
        self.manager.mutate(self.arena, self.agent, |arena| {
            arena.require(self.agent, Permission::Steer)?;
            arena.require_state(&[Created, Active])?;
            Ok(vec![Change::GoalUpdated {
                goal: goal.to_string(),
            }])
        })?;
        Ok(())
    }

    fn lifecycle(
        &self,
        action: Lifecycle,
        reason: Option<&str>,
    ) -> Result<ArenaStatus, ArenaError> {
        let arena = self.manager.mutate(self.arena, self.agent, |arena| {
            arena.require(self.agent, Permission::Coordinate)?;
            arena.status.transition(action)?;
            Ok(vec![match action {
                Lifecycle::Activate => Change::ArenaActivated,
                Lifecycle::Settle => Change::ArenaSettling,
                Lifecycle::Archive => Change::ArenaArchived,
                Lifecycle::Abort => Change::ArenaAborted {
                    reason: reason.unwrap_or_default().to_string(),
                },
            }])
        })?;
        Ok(arena.status)
    }

    /// `created → active`. Needs `coordinate`.
    pub fn activate(&self) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Activate, None)
    }

    /// `active → settling`. Needs `coordinate`.
    pub fn settle(&self) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Settle, None)
    }

    /// `settling → archived` with outcome `completed`. Needs `coordinate`.
    pub fn archive(&self) -> Result<ArenaStatus, ArenaError> {
        self.lifecycle(Lifecycle::Archive, None)
    }

    /// Any state but archived `→ archived` with outcome `aborted(reason)` (1 to 1024 bytes).
    /// Needs `coordinate`.
    pub fn abort(&self, reason: &str) -> Result<ArenaStatus, ArenaError> {
        check_text("abort reason", reason, limits::REASON_BYTES)?;
        self.lifecycle(Lifecycle::Abort, Some(reason))
    }

    /// Adds a participant (or brings back one that left). Needs `coordinate`; created or active.
    pub fn invite(&self, spec: &ParticipantSpec) -> Result<Participant, ArenaError> {
        let participant = spec.resolve()?;
        self.manager.mutate(self.arena, self.agent, |arena| {
            arena.require(self.agent, Permission::Coordinate)?;
            arena.require_state(&[Created, Active])?;
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
        })?;
        Ok(participant)
    }
}
