//! Core types, the lifecycle state machine, the permission presets and the input bounds.

mod arena;
mod checks;
mod error;
mod ids;
mod lifecycle;
pub mod limits;
mod operation;
mod participants;
mod permissions;
mod status;
mod strategy;

pub use arena::{Arena, ArenaConfig, KeyedOp};
pub use checks::{check_count, check_label, check_participant_count, check_text, truncate_chars};
pub use error::ArenaError;
pub use ids::{AgentId, ArenaId, check_agent_id, check_arena_id, check_key};
pub use lifecycle::Lifecycle;
pub use operation::Operation;
pub use participants::{Participant, ParticipantSpec};
pub use permissions::{Permission, Role};
pub use status::{ArenaStatus, Outcome};
pub use strategy::Strategy;

pub use crate::facts::{Fact, FactDraft, FactQuery};
pub use crate::pipeline::{Pipeline, Stage, StepRange};
pub use crate::slots::{
    Artifact, ArtifactDraft, ArtifactEntry, Contribution, MergeRequest, ServedReport, SettleReport,
    Slot, SlotContents, SlotStatus,
};
