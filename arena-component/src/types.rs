//! Core types, the lifecycle state machine, the permission presets and the input bounds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;

/// An arena's id: a UUIDv7 in canonical lowercase text.
pub type ArenaId = String;
/// An agent's id.
pub type AgentId = String;

/// Bounds on every input, with the error each one raises.
pub mod limits {
    /// Bytes in an agent id.
    pub const AGENT_ID_BYTES: usize = 128;
    /// Bytes in a goal.
    pub const GOAL_BYTES: usize = 4096;
    /// Bytes in a progress note.
    pub const NOTE_BYTES: usize = 4096;
    /// Bytes in an abort reason.
    pub const REASON_BYTES: usize = 1024;
    /// Steps in an arena.
    pub const TOTAL_STEPS: u32 = 100_000;
    /// Participants an arena has ever had (leaving does not free a place: the log keeps them).
    pub const PARTICIPANTS: usize = 64;
    /// Events or arenas returned by one paged read.
    pub const PAGE: u32 = 1000;
    /// Bytes in an idempotency key.
    pub const KEY_BYTES: usize = 128;
    /// Idempotency keys an arena remembers (the oldest are forgotten first).
    pub const IDEMPOTENCY_KEYS: usize = 1024;
    /// Times an operation is retried after a `conflict` before it is returned to the caller.
    pub const CONFLICT_RETRIES: u32 = 32;
    /// Bytes in an artifact's content.
    pub const ARTIFACT_BYTES: usize = 64 << 10;
    /// Bytes in an artifact's kind.
    pub const KIND_BYTES: usize = 32;
    /// Metadata entries on one artifact.
    pub const METADATA_ENTRIES: usize = 16;
    /// Bytes in a metadata key.
    pub const METADATA_KEY_BYTES: usize = 64;
    /// Bytes in a metadata value.
    pub const METADATA_VALUE_BYTES: usize = 1024;
    /// Artifacts in one slot, merges included.
    pub const ARTIFACTS_PER_SLOT: usize = 64;
    /// Source artifacts named by one merge.
    pub const MERGE_SOURCES: usize = 64;
    /// Bytes in a fact's content.
    pub const FACT_BYTES: usize = 4096;
    /// Facts in one arena.
    pub const FACTS: usize = 256;
    /// Tags on one fact.
    pub const TAGS: usize = 8;
    /// Bytes in a tag.
    pub const TAG_BYTES: usize = 64;
    /// Bytes in a fact query's text.
    pub const QUERY_BYTES: usize = 256;
    /// Stages in a pipeline.
    pub const STAGES: usize = 64;
    /// Step ranges in one stage.
    pub const STAGE_RANGES: usize = 64;
}

/// Where an arena is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArenaStatus {
    Created,
    Active,
    Settling,
    Archived,
}

impl ArenaStatus {
    /// The state's name as the WIT and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ArenaStatus::Created => "created",
            ArenaStatus::Active => "active",
            ArenaStatus::Settling => "settling",
            ArenaStatus::Archived => "archived",
        }
    }

    /// The state a lifecycle move leads to from `self`, or `invalid-transition(self, target)`.
    ///
    /// `activate`, `settle` and `archive` each lead one step forward; `abort` leads from any state
    /// but `archived` to `archived`.
    pub fn transition(self, action: Lifecycle) -> Result<ArenaStatus, ArenaError> {
        use ArenaStatus::*;
        let (legal_from, to): (&[ArenaStatus], ArenaStatus) = match action {
            Lifecycle::Activate => (&[Created], Active),
            Lifecycle::Settle => (&[Active], Settling),
            Lifecycle::Archive => (&[Settling], Archived),
            Lifecycle::Abort => (&[Created, Active, Settling], Archived),
        };
        if legal_from.contains(&self) {
            Ok(to)
        } else {
            Err(ArenaError::InvalidTransition { from: self, to })
        }
    }
}

impl fmt::Display for ArenaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four lifecycle moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    Activate,
    Settle,
    Archive,
    Abort,
}

/// How an archived arena ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Completed,
    Aborted(String),
}

/// One capability; each is a handle interface of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    Observe,
    ReadSlots,
    Contribute,
    ShareFacts,
    Steer,
    Coordinate,
}

impl Permission {
    /// All six, in declaration order.
    pub const ALL: [Permission; 6] = [
        Permission::Observe,
        Permission::ReadSlots,
        Permission::Contribute,
        Permission::ShareFacts,
        Permission::Steer,
        Permission::Coordinate,
    ];

    /// The permission's name, which is also its handle interface's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Observe => "observe",
            Permission::ReadSlots => "read-slots",
            Permission::Contribute => "contribute",
            Permission::ShareFacts => "share-facts",
            Permission::Steer => "steer",
            Permission::Coordinate => "coordinate",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A preset of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Coordinator,
    Worker,
    Observer,
}

impl Role {
    /// The permissions the role grants, per DESIGN.md's table.
    pub fn permissions(self) -> BTreeSet<Permission> {
        use Permission::*;
        let list: &[Permission] = match self {
            Role::Coordinator => &Permission::ALL,
            Role::Worker => &[Observe, ReadSlots, Contribute, ShareFacts],
            Role::Observer => &[Observe, ReadSlots],
        };
        list.iter().copied().collect()
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
            Role::Observer => "observer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant as declared at creation or by an invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantSpec {
    pub agent: AgentId,
    pub role: Role,
    /// Narrows the role's permissions when given.
    pub permissions: Option<Vec<Permission>>,
}

impl ParticipantSpec {
    /// Checks the spec and resolves it into a participant: a valid agent id, and permissions that
    /// narrow the role's preset without widening it.
    pub fn resolve(&self) -> Result<Participant, ArenaError> {
        check_agent_id(&self.agent)?;
        let preset = self.role.permissions();
        let permissions = match &self.permissions {
            None => preset,
            Some(list) => {
                let narrowed: BTreeSet<Permission> = list.iter().copied().collect();
                if narrowed.is_empty() {
                    return Err(ArenaError::InvalidInput(format!(
                        "participant {:?}: an empty permission list grants nothing",
                        self.agent
                    )));
                }
                if let Some(extra) = narrowed.difference(&preset).next() {
                    return Err(ArenaError::InvalidInput(format!(
                        "participant {:?}: permission {extra} is beyond the {} role",
                        self.agent, self.role
                    )));
                }
                narrowed
            }
        };
        Ok(Participant {
            agent: self.agent.clone(),
            role: self.role,
            permissions,
        })
    }
}

/// A current participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub agent: AgentId,
    pub role: Role,
    pub permissions: BTreeSet<Permission>,
}

/// How the participants work together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Peers under this coordinator.
    Peer(AgentId),
    /// Stages in dependency order under a coordinator.
    Pipeline(Pipeline),
}

impl Strategy {
    /// The coordinator the strategy names.
    pub fn coordinator(&self) -> &str {
        match self {
            Strategy::Peer(agent) => agent,
            Strategy::Pipeline(pipeline) => &pipeline.coordinator,
        }
    }

    /// The pipeline, if the strategy is one.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        match self {
            Strategy::Peer(_) => None,
            Strategy::Pipeline(pipeline) => Some(pipeline),
        }
    }
}

pub use crate::pipeline::{Pipeline, Stage, StepRange};

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

pub use crate::facts::{Fact, FactDraft, FactQuery};
pub use crate::slots::{
    Artifact, ArtifactDraft, ArtifactEntry, Contribution, MergeRequest, SettleReport, Slot,
    SlotContents, SlotStatus,
};

/// Everything needed to create an arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaConfig {
    pub goal: String,
    pub total_steps: u32,
    pub strategy: Strategy,
    pub participants: Vec<ParticipantSpec>,
    pub created_by: AgentId,
}

/// An arena's whole state: what a snapshot holds and what replaying its events rebuilds.
///
/// Artifact content stays in the events that stored it; the state keeps each artifact's entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arena {
    pub id: ArenaId,
    pub goal: String,
    pub status: ArenaStatus,
    pub outcome: Option<Outcome>,
    pub strategy: Strategy,
    /// Current participants by agent.
    pub participants: BTreeMap<AgentId, Participant>,
    pub aggregate: Aggregate,
    pub created_by: AgentId,
    pub created_at: String,
    /// Idempotency keys of recent keyed operations (caller and key) → the operation's last event.
    #[serde(default)]
    pub keys: BTreeMap<String, u64>,
    /// The slots that were ever written; every other agent that ever participated has an empty,
    /// idle slot (see [`Arena::slot`]).
    #[serde(default)]
    pub slots: BTreeMap<AgentId, Slot>,
    /// Shared facts, in the order they were added.
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Sequence number of the last event applied.
    pub last_seq: u64,
    /// Hash of the last event applied.
    pub last_hash: String,
}

impl Arena {
    /// The participant `agent` if it holds `permission`, else `permission-denied(permission)`
    /// (also for agents that never joined or have left).
    pub fn require(&self, agent: &str, permission: Permission) -> Result<&Participant, ArenaError> {
        match self.participants.get(agent) {
            Some(p) if p.permissions.contains(&permission) => Ok(p),
            _ => Err(ArenaError::PermissionDenied(permission)),
        }
    }

    /// `invalid-state` unless the arena is in one of `allowed`; `what` names the operation.
    pub fn require_state(&self, what: &str, allowed: &[ArenaStatus]) -> Result<(), ArenaError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            Err(ArenaError::InvalidState(format!(
                "{what} needs the arena {}, and it is {}",
                allowed.join(" or "),
                self.status
            )))
        }
    }

    /// What the arena kept, once archived: derived from the final state, and recorded in the archiving
    /// event's payload.
    pub fn report(&self) -> Option<SettleReport> {
        let outcome = self.outcome.clone()?;
        Some(SettleReport::of(self, outcome, self.last_seq))
    }

    /// `agent`'s slot, if it ever participated.
    pub fn slot(&self, agent: &str) -> Option<Slot> {
        if !self.aggregate.progress.contains_key(agent) {
            return None;
        }
        Some(self.slots.get(agent).cloned().unwrap_or_default())
    }

    /// Every slot, sorted by agent: one per agent that ever participated.
    pub fn all_slots(&self) -> Vec<(AgentId, Slot)> {
        self.aggregate
            .progress
            .keys()
            .map(|agent| {
                (
                    agent.clone(),
                    self.slots.get(agent).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The stored tags of every fact, distinct and sorted (what the storage indexes).
    pub fn fact_tags(&self) -> Vec<String> {
        let tags: BTreeSet<&String> = self.facts.iter().flat_map(|f| &f.tags).collect();
        tags.into_iter().cloned().collect()
    }

    /// Where a keyed operation of `actor` ended in the log, if it is still remembered.
    pub fn keyed_seq(&self, actor: &str, key: &str) -> Option<u64> {
        self.keys.get(&key_slot(actor, key)).copied()
    }

    /// Remembers that `actor`'s operation with `key` ended at event `seq`, forgetting the oldest key
    /// beyond [`limits::IDEMPOTENCY_KEYS`].
    pub fn remember_key(&mut self, actor: &str, key: &str, seq: u64) {
        self.keys.insert(key_slot(actor, key), seq);
        while self.keys.len() > limits::IDEMPOTENCY_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by_key(|(_, seq)| **seq)
                .map(|(slot, _)| slot.clone());
            match oldest {
                Some(slot) => self.keys.remove(&slot),
                None => break,
            };
        }
    }

    /// Participants who hold `coordinate`.
    pub fn coordinators(&self) -> impl Iterator<Item = &Participant> {
        self.participants
            .values()
            .filter(|p| p.permissions.contains(&Permission::Coordinate))
    }
}

/// Keys are per caller; agent ids hold no control characters, so the separator is unambiguous.
fn key_slot(actor: &str, key: &str) -> String {
    format!("{actor}\u{1f}{key}")
}

/// Checks an idempotency key: 1 to 128 bytes, no control characters.
pub fn check_key(key: &str) -> Result<(), ArenaError> {
    if key.len() > limits::KEY_BYTES {
        return Err(limit("idempotency key bytes", limits::KEY_BYTES));
    }
    if key.is_empty() || key.chars().any(char::is_control) {
        return Err(ArenaError::InvalidInput(
            "an idempotency key is 1 to 128 bytes without control characters".into(),
        ));
    }
    Ok(())
}

/// Every error an arena operation returns; maps 1:1 onto the WIT `arena-error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArenaError {
    #[error("no such arena")]
    NotFound,
    #[error("invalid transition from {from} to {to}")]
    InvalidTransition { from: ArenaStatus, to: ArenaStatus },
    #[error("not allowed now: {0}")]
    InvalidState(String),
    #[error("permission denied: needs {0}")]
    PermissionDenied(Permission),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("limit exceeded: {what} (limit {limit})")]
    LimitExceeded { what: String, limit: u64 },
    #[error("already done")]
    AlreadyDone,
    #[error("conflict: a concurrent writer won")]
    Conflict,
    #[error("storage: {0}")]
    Storage(String),
}

fn limit(what: &str, limit: usize) -> ArenaError {
    ArenaError::LimitExceeded {
        what: what.to_string(),
        limit: limit as u64,
    }
}

/// Checks an agent id: 1 to 128 bytes, no control characters, not only whitespace.
pub fn check_agent_id(agent: &str) -> Result<(), ArenaError> {
    if agent.len() > limits::AGENT_ID_BYTES {
        return Err(limit("agent id bytes", limits::AGENT_ID_BYTES));
    }
    if agent.trim().is_empty() {
        return Err(ArenaError::InvalidInput("agent id is empty".into()));
    }
    if agent.chars().any(char::is_control) {
        return Err(ArenaError::InvalidInput(format!(
            "agent id {agent:?} contains a control character"
        )));
    }
    Ok(())
}

/// Checks free text (`what` names it in errors): 1 to `max` bytes, not only whitespace, and no control
/// characters other than tab and line breaks.
pub fn check_text(what: &str, text: &str, max: usize) -> Result<(), ArenaError> {
    if text.len() > max {
        return Err(limit(&format!("{what} bytes"), max));
    }
    if text.trim().is_empty() {
        return Err(ArenaError::InvalidInput(format!("{what} is empty")));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ArenaError::InvalidInput(format!(
            "{what} contains a control character"
        )));
    }
    Ok(())
}

/// Checks an arena id: a UUID in canonical lowercase text form.
pub fn check_arena_id(id: &str) -> Result<(), ArenaError> {
    let canonical = id.len() == 36
        && uuid::Uuid::try_parse(id)
            .map(|u| u.hyphenated().to_string() == id)
            .unwrap_or(false);
    if canonical {
        Ok(())
    } else {
        Err(ArenaError::InvalidInput(format!(
            "arena id {:?} is not a canonical lowercase UUID",
            truncate_chars(id, 64)
        )))
    }
}

/// At most `max` characters of `text`, cut on a character boundary, for quoting input in errors.
pub fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Checks the participant count against the bound.
pub fn check_participant_count(count: usize) -> Result<(), ArenaError> {
    check_count("participants", count, limits::PARTICIPANTS)
}

/// `limit-exceeded(what, max)` when `count` passes `max`.
pub fn check_count(what: &str, count: usize, max: usize) -> Result<(), ArenaError> {
    if count > max {
        Err(limit(what, max))
    } else {
        Ok(())
    }
}

/// Checks a short label (`what` names it): 1 to `max` bytes, no control characters, no surrounding
/// whitespace.
pub fn check_label(what: &str, text: &str, max: usize) -> Result<(), ArenaError> {
    if text.len() > max {
        return Err(limit(&format!("{what} bytes"), max));
    }
    if text.is_empty() || text.trim() != text || text.chars().any(char::is_control) {
        return Err(ArenaError::InvalidInput(format!(
            "{what} {:?} must be 1 to {max} bytes without control characters or surrounding spaces",
            truncate_chars(text, 64)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArenaStatus::*;
    use Lifecycle::*;

    #[test]
    fn lifecycle_moves_forward_one_step_at_a_time() {
        assert_eq!(Created.transition(Activate), Ok(Active));
        assert_eq!(Active.transition(Settle), Ok(Settling));
        assert_eq!(Settling.transition(Archive), Ok(Archived));
    }

    #[test]
    fn abort_leads_to_archived_from_every_live_state() {
        for from in [Created, Active, Settling] {
            assert_eq!(from.transition(Abort), Ok(Archived));
        }
        assert_eq!(
            Archived.transition(Abort),
            Err(ArenaError::InvalidTransition {
                from: Archived,
                to: Archived
            })
        );
    }

    #[test]
    fn skipping_a_state_is_an_invalid_transition() {
        assert_eq!(
            Created.transition(Settle),
            Err(ArenaError::InvalidTransition {
                from: Created,
                to: Settling
            })
        );
        assert_eq!(
            Active.transition(Archive),
            Err(ArenaError::InvalidTransition {
                from: Active,
                to: Archived
            })
        );
        assert_eq!(
            Archived.transition(Activate),
            Err(ArenaError::InvalidTransition {
                from: Archived,
                to: Active
            })
        );
    }

    #[test]
    fn narrowing_keeps_a_subset_of_the_role() {
        let spec = ParticipantSpec {
            agent: "w".into(),
            role: Role::Worker,
            permissions: Some(vec![Permission::Observe]),
        };
        let p = spec.resolve().unwrap();
        assert_eq!(p.permissions, BTreeSet::from([Permission::Observe]));
    }

    #[test]
    fn narrowing_cannot_widen_a_role() {
        let spec = ParticipantSpec {
            agent: "w".into(),
            role: Role::Observer,
            permissions: Some(vec![Permission::Observe, Permission::Steer]),
        };
        assert!(matches!(spec.resolve(), Err(ArenaError::InvalidInput(m)) if m.contains("steer")));
    }

    #[test]
    fn text_bounds_count_bytes_not_characters() {
        let four_byte_chars = "😀".repeat(1025); // 4100 bytes, 1025 characters
        assert_eq!(
            check_text("goal", &four_byte_chars, limits::GOAL_BYTES),
            Err(ArenaError::LimitExceeded {
                what: "goal bytes".into(),
                limit: 4096
            })
        );
        assert!(check_text("goal", &"😀".repeat(1024), limits::GOAL_BYTES).is_ok());
    }

    #[test]
    fn agent_ids_refuse_empty_and_control_characters() {
        assert!(matches!(
            check_agent_id(""),
            Err(ArenaError::InvalidInput(_))
        ));
        assert!(matches!(
            check_agent_id("a\u{0}b"),
            Err(ArenaError::InvalidInput(_))
        ));
        assert!(check_agent_id("agent-ü").is_ok());
    }

    #[test]
    fn arena_ids_must_be_canonical_uuids() {
        assert!(check_arena_id("0192f0c8-7c1a-7c3e-8a4b-1234567890ab").is_ok());
        assert!(check_arena_id("0192F0C8-7C1A-7C3E-8A4B-1234567890AB").is_err());
        assert!(check_arena_id("nope").is_err());
        assert!(check_arena_id(&"é".repeat(100)).is_err());
    }
}
