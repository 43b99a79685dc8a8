//! A participant's mutation of an arena, as a value.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::arena::ArenaConfig;
use super::participants::ParticipantSpec;
use crate::facts::FactDraft;
use crate::slots::{ArtifactDraft, MergeRequest, SlotStatus};

/// A participant's mutating operation as a value (see `Handle::perform`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", content = "args", rename_all = "kebab-case")]
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

impl Operation {
    /// The digest an idempotency key is remembered with: lowercase hex SHA-256 over the caller and
    /// the operation's canonical JSON. A retry under the same key must carry the same digest.
    pub fn digest(&self, caller: &str) -> String {
        digest("perform", caller, self)
    }
}

impl ArenaConfig {
    /// The digest a keyed creation is remembered with (see [`Operation::digest`]).
    pub fn digest(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            goal: &'a str,
            total_steps: u32,
            strategy: &'a crate::types::Strategy,
            participants: &'a [ParticipantSpec],
        }
        let canonical = Canonical {
            goal: &self.goal,
            total_steps: self.total_steps,
            strategy: &self.strategy,
            participants: &self.participants,
        };
        digest("create", &self.created_by, &canonical)
    }
}

/// SHA-256 over `what`, `caller` and `value`'s JSON, each length-prefixed.
fn digest(what: &str, caller: &str, value: &impl Serialize) -> String {
    // Every field of these types serializes (no maps with non-string keys, no non-finite floats
    // that reach the digest other than as `null`), so this never fails; an empty body would still
    // be deterministic.
    let body = serde_json::to_string(value).unwrap_or_default();
    let mut hasher = Sha256::new();
    for field in [what, caller, body.as_str()] {
        hasher.update((field.len() as u32).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_tells_operations_and_callers_apart() {
        let seven = Operation::CompleteStep(7).digest("w1");
        assert_eq!(seven, Operation::CompleteStep(7).digest("w1"));
        assert_ne!(seven, Operation::CompleteStep(1).digest("w1"));
        assert_ne!(seven, Operation::CompleteStep(7).digest("w2"));
        assert_ne!(
            Operation::SetSlotStatus(SlotStatus::Done).digest("w1"),
            Operation::SetSlotStatus(SlotStatus::Failed).digest("w1")
        );
        assert_eq!(seven.len(), 64);
    }
}
