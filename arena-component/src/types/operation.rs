//! A participant's mutation of an arena, as a value.

use super::participants::ParticipantSpec;
use crate::facts::FactDraft;
use crate::slots::{ArtifactDraft, MergeRequest, SlotStatus};

/// A participant's mutating operation as a value (see `Handle::perform`).
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    Leave,
    CompleteStep(u32),
    ReportProgress(String),
    UpdateGoal(String),
    Activate,
    Settle,
    Archive,
    Abort(String),
    Invite(ParticipantSpec),
    PutArtifact(ArtifactDraft),
    SetSlotStatus(SlotStatus),
    Merge(MergeRequest),
    AddFact(FactDraft),
}
