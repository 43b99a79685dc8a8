//! What each operation needs, what it refuses and what it changes.
//!
//! Every rule checks in one order: the caller's permission, then the arena's state, then the
//! arguments — so a caller without the permission learns nothing about what it sent.

use crate::events::Change;
use crate::facts;
use crate::slots;
use crate::types::{
    Arena, ArenaError, ArenaStatus, ArtifactDraft, FactDraft, Lifecycle, MergeRequest, Operation,
    Outcome, ParticipantSpec, Permission, SettleReport, SlotStatus, check_count,
    check_participant_count, check_text, limits,
};

use ArenaStatus::{Active, Created, Settling};

/// The changes `op` by `actor` makes to `arena`, or why it is refused.
pub(super) fn changes(
    op: &Operation,
    arena: &Arena,
    actor: &str,
) -> Result<Vec<Change>, ArenaError> {
    let change = match op {
        Operation::Leave => leave(arena, actor)?,
        Operation::CompleteStep(step) => complete_step(arena, actor, *step)?,
        Operation::ReportProgress(note) => report_progress(arena, actor, note)?,
        Operation::UpdateGoal(goal) => update_goal(arena, actor, goal)?,
        Operation::Activate => lifecycle(arena, actor, Lifecycle::Activate, None)?,
        Operation::Settle => lifecycle(arena, actor, Lifecycle::Settle, None)?,
        Operation::Archive => lifecycle(arena, actor, Lifecycle::Archive, None)?,
        Operation::Abort(reason) => lifecycle(arena, actor, Lifecycle::Abort, Some(reason))?,
        Operation::Invite(spec) => invite(arena, actor, spec)?,
        Operation::PutArtifact(draft) => put_artifact(arena, actor, draft)?,
        Operation::SetSlotStatus(status) => set_slot_status(arena, actor, *status)?,
        Operation::Merge(request) => merge(arena, actor, request)?,
        Operation::AddFact(draft) => add_fact(arena, actor, draft)?,
    };
    Ok(vec![change])
}

fn leave(arena: &Arena, actor: &str) -> Result<Change, ArenaError> {
    let me = arena.require(actor, Permission::Observe)?;
    arena.require_state("leave", &[Created, Active])?;
    if me.permissions.contains(&Permission::Coordinate) && arena.coordinators().count() == 1 {
        return Err(ArenaError::InvalidState(
            "the last coordinator cannot leave before the arena is archived".into(),
        ));
    }
    Ok(Change::AgentLeft {
        agent: actor.to_string(),
    })
}

fn complete_step(arena: &Arena, actor: &str, step: u32) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Contribute)?;
    arena.require_state("complete-step", &[Active])?;
    let total = arena.aggregate.total_steps;
    if step == 0 || step > total {
        return Err(ArenaError::InvalidInput(format!(
            "step {step} is outside 1..={total}"
        )));
    }
    if let Some(pipeline) = arena.strategy.pipeline() {
        let stage = pipeline
            .owner(step)
            .ok_or_else(|| ArenaError::InvalidInput(format!("step {step} is owned by no stage")))?;
        if stage.agent != actor {
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
    Ok(Change::StepCompleted { step })
}

fn report_progress(arena: &Arena, actor: &str, note: &str) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Contribute)?;
    arena.require_state("report-progress", &[Active])?;
    check_text("progress note", note, limits::NOTE_BYTES)?;
    Ok(Change::ProgressReported {
        note: note.to_string(),
    })
}

fn update_goal(arena: &Arena, actor: &str, goal: &str) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Steer)?;
    arena.require_state("update-goal", &[Created, Active])?;
    check_text("goal", goal, limits::GOAL_BYTES)?;
    Ok(Change::GoalUpdated {
        goal: goal.to_string(),
    })
}

fn lifecycle(
    arena: &Arena,
    actor: &str,
    action: Lifecycle,
    reason: Option<&str>,
) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Coordinate)?;
    arena.status.transition(action)?;
    if let Some(reason) = reason {
        check_text("abort reason", reason, limits::REASON_BYTES)?;
    }
    // The archiving event records the report of the state it closes.
    let report = |outcome| Some(SettleReport::of(arena, outcome, arena.last_seq + 1));
    Ok(match action {
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
    })
}

fn invite(arena: &Arena, actor: &str, spec: &ParticipantSpec) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Coordinate)?;
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
    Ok(Change::AgentJoined {
        agent: participant.agent,
        role: participant.role,
        permissions: participant.permissions.into_iter().collect(),
    })
}

fn put_artifact(arena: &Arena, actor: &str, draft: &ArtifactDraft) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Contribute)?;
    arena.require_state("put-artifact", &[Active])?;
    let metadata = slots::check_draft(draft)?;
    slots::check_room(arena, actor)?;
    Ok(Change::ArtifactPut {
        kind: draft.kind.clone(),
        content: draft.content.clone(),
        metadata,
    })
}

fn set_slot_status(arena: &Arena, actor: &str, status: SlotStatus) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Contribute)?;
    arena.require_state("set-slot-status", &[Active])?;
    let current = arena.slot(actor).unwrap_or_default().status;
    if current == status {
        return Err(ArenaError::AlreadyDone);
    }
    if let Some(pipeline) = arena.strategy.pipeline()
        && let Some(stage) = pipeline.stage(actor)
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
    Ok(Change::SlotUpdated { status })
}

fn merge(arena: &Arena, actor: &str, request: &MergeRequest) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::Coordinate)?;
    arena.require_state("merge", &[Active, Settling])?;
    let metadata = slots::check_draft(&request.draft)?;
    slots::check_sources(arena, &request.sources)?;
    slots::check_room(arena, actor)?;
    Ok(Change::ArtifactMerged {
        kind: request.draft.kind.clone(),
        content: request.draft.content.clone(),
        metadata,
        sources: request.sources.clone(),
    })
}

fn add_fact(arena: &Arena, actor: &str, draft: &FactDraft) -> Result<Change, ArenaError> {
    arena.require(actor, Permission::ShareFacts)?;
    arena.require_state("add-fact", &[Active])?;
    facts::check_draft(draft)?;
    check_count("facts per arena", arena.facts.len() + 1, limits::FACTS)?;
    Ok(Change::FactAdded {
        content: draft.content.clone(),
        confidence: draft.confidence,
        tags: draft.tags.clone(),
    })
}
