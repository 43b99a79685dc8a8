//! A participant's mutation of an arena, as a value.

use super::participants::ParticipantSpec;
use crate::facts::FactDraft;
use crate::slots::{ArtifactDraft, MergeRequest, SlotStatus};

/// A participant's mutating operation as a value (see `Handle::perform`).
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// Leave the arena (see `Handle::leave`).
    Leave,
    /// Complete a step (see `Handle::complete_step`).
    CompleteStep(u32),
    /// Report progress (see `Handle::report_progress`).
    ReportProgress(String),
    /// Replace the goal (see `Handle::update_goal`).
    UpdateGoal(String),
    /// `created → active` (see `Handle::activate`).
    Activate,
    /// `active → settling` (see `Handle::settle`).
    Settle,
    /// `settling → archived` (see `Handle::archive`).
    Archive,
    /// Archive early, with a reason (see `Handle::abort`).
    Abort(String),
    /// Add a participant (see `Handle::invite`).
    Invite(ParticipantSpec),
    /// Store an artifact in one's own slot (see `Handle::put_artifact`).
    PutArtifact(ArtifactDraft),
    /// Set one's own slot status (see `Handle::set_slot_status`).
    SetSlotStatus(SlotStatus),
    /// Store merged content (see `Handle::merge`).
    Merge(MergeRequest),
    /// Share a fact (see `Handle::add_fact`).
    AddFact(FactDraft),
}
