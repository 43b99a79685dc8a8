//! Events: what changed, how it is encoded and chained, and how the state is rebuilt from them.
//!
//! Every change to an arena is a [`Change`]; the manager validates an operation, turns it into changes,
//! and folds them into the state with [`apply`] — the same function replay uses, so replaying a log
//! rebuilds exactly the state that was stored.
//!
//! # Canonical bytes and the hash chain
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ u64be(seq) ‖ field(kind) ‖ field(actor) ‖ field(at) ‖ field(payload))`
//! where `field(s) = u32be(byte length of s) ‖ UTF-8 bytes of s`, `hash(0)` is 32 zero bytes, and hashes
//! are written as lowercase hex.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::aggregate::Aggregate;
use crate::facts::fact_id;
use crate::slots::artifact_id;
use crate::types::{
    AgentId, Arena, ArenaId, ArenaStatus, ArtifactEntry, Fact, Outcome, Participant, Permission,
    Role, SettleReport, SlotStatus, Strategy,
};

/// The payload format version written into every event as `"v"`.
pub const PAYLOAD_VERSION: u64 = 1;

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its place in the arena's log: 1 for the first event, then one more per event.
    pub seq: u64,
    /// RFC 3339 UTC with microseconds.
    pub at: String,
    /// The participant (or, for the creation, the operator) who acted.
    pub actor: AgentId,
    /// What happened, as [`Change::kind`] names it.
    pub kind: String,
    /// JSON object with `"v"`.
    pub payload: String,
    /// Lowercase hex SHA-256 chaining this event to the one before (see the module docs).
    pub hash: String,
}

/// What an event says happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    // Adjacently tagged, so that decoding reads the kind first and then the payload straight into
    // its variant, without buffering. Neither name reaches a payload: the kind is the event's own
    // field, and the payload is the content.
    tag = "t",
    content = "c",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum Change {
    /// The arena came into being, in `created` state.
    ArenaCreated {
        /// The arena's id.
        id: ArenaId,
        /// The first goal.
        goal: String,
        /// Steps in the goal.
        total_steps: u32,
        /// How the participants work together.
        strategy: Strategy,
        /// Who created the arena.
        created_by: AgentId,
    },
    /// A participant joined: declared at creation, or invited.
    AgentJoined {
        /// The participant.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// The permissions it holds in this arena.
        permissions: Vec<Permission>,
    },
    /// A participant left, and with it every permission.
    AgentLeft {
        /// The participant who left.
        agent: AgentId,
    },
    /// `created → active`.
    ArenaActivated {},
    /// `active → settling`.
    ArenaSettling {},
    /// Archived after settling; `report` records what the arena kept (absent in logs written before
    /// reports existed).
    ArenaArchived {
        /// What the arena kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<SettleReport>,
    },
    /// Archived early with outcome `aborted(reason)`.
    ArenaAborted {
        /// Why the coordinator aborted.
        reason: String,
        /// What the arena kept (absent in logs written before reports existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<SettleReport>,
    },
    /// The actor completed a step.
    StepCompleted {
        /// The step, in `1..=total`.
        step: u32,
    },
    /// The actor reported its progress.
    ProgressReported {
        /// The actor's progress note.
        note: String,
    },
    /// The goal was replaced.
    GoalUpdated {
        /// The new goal.
        goal: String,
    },
    /// An artifact stored in the actor's own slot; its id is minted from the event's sequence number.
    ArtifactPut {
        /// The artifact's kind.
        kind: String,
        /// The artifact's content: the log is its durable home.
        content: String,
        /// Metadata, sorted by key.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        metadata: BTreeMap<String, String>,
    },
    /// Merged content stored in the actor's (a coordinator's) slot, with the artifacts it came from.
    ArtifactMerged {
        /// The merged artifact's kind.
        kind: String,
        /// The merged content.
        content: String,
        /// Metadata, sorted by key.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        metadata: BTreeMap<String, String>,
        /// Ids of the artifacts the merge came from.
        sources: Vec<String>,
    },
    /// The actor set its own slot's status.
    SlotUpdated {
        /// The slot's new status.
        status: SlotStatus,
    },
    /// The actor shared a fact; its id is minted from the event's sequence number.
    FactAdded {
        /// What the fact says.
        content: String,
        /// How sure its source is, in [0, 1].
        confidence: f64,
        /// Tags to find it by.
        tags: Vec<String>,
    },
}

/// Why a log cannot be decoded or folded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The event does not decode into a change.
    #[error("event {seq}: {message}")]
    Malformed {
        /// The event's sequence number.
        seq: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The event is not the one after the state: a gap, or one out of order.
    #[error("event {seq}: sequence gap, expected {expected}")]
    Gap {
        /// The event's sequence number.
        seq: u64,
        /// The sequence number that follows the state.
        expected: u64,
    },
    /// The event's hash is not the hash of its fields chained to the event before.
    #[error("event {seq}: hash does not chain (stored {stored}, computed {computed})")]
    BrokenChain {
        /// The event's sequence number.
        seq: u64,
        /// The hash stored with the event.
        stored: String,
        /// The hash its fields and the event before give.
        computed: String,
    },
    /// The change does not apply to the state it follows.
    #[error("event {seq}: {kind} cannot apply to this state")]
    Inapplicable {
        /// The event's sequence number.
        seq: u64,
        /// The event's kind.
        kind: String,
    },
}

impl Change {
    /// The event kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::ArenaCreated { .. } => "arena-created",
            Change::AgentJoined { .. } => "agent-joined",
            Change::AgentLeft { .. } => "agent-left",
            Change::ArenaActivated {} => "arena-activated",
            Change::ArenaSettling {} => "arena-settling",
            Change::ArenaArchived { .. } => "arena-archived",
            Change::ArenaAborted { .. } => "arena-aborted",
            Change::StepCompleted { .. } => "step-completed",
            Change::ProgressReported { .. } => "progress-reported",
            Change::GoalUpdated { .. } => "goal-updated",
            Change::ArtifactPut { .. } => "artifact-put",
            Change::ArtifactMerged { .. } => "artifact-merged",
            Change::SlotUpdated { .. } => "slot-updated",
            Change::FactAdded { .. } => "fact-added",
        }
    }

    /// The versioned JSON payload: the change's fields plus `"v"`, without the kind, and the caller's
    /// idempotency key as `"key"` when the operation carried one.
    pub fn payload(&self, key: Option<&str>) -> String {
        let mut object = match serde_json::to_value(self) {
            Ok(Value::Object(mut tagged)) => match tagged.remove("c") {
                Some(Value::Object(object)) => object,
                // Every variant has named fields, so its content is an object.
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        object.insert("v".into(), Value::from(PAYLOAD_VERSION));
        if let Some(key) = key {
            object.insert("key".into(), Value::from(key));
        }
        Value::Object(object).to_string()
    }

    /// Decodes an event's kind and payload back into the change.
    pub fn decode(event: &Event) -> Result<Change, ReplayError> {
        Self::decode_with_key(event).map(|(change, _)| change)
    }

    /// Decodes an event back into the change and the idempotency key its payload carries.
    pub fn decode_with_key(event: &Event) -> Result<(Change, Option<String>), ReplayError> {
        let malformed = |message: String| ReplayError::Malformed {
            seq: event.seq,
            message,
        };
        // The envelope first: the format version and the key (every other field is skipped).
        #[derive(Deserialize)]
        struct Envelope {
            v: Option<u64>,
            key: Option<String>,
        }
        let envelope: Envelope = serde_json::from_str(&event.payload)
            .map_err(|e| malformed(format!("payload is not a JSON object: {e}")))?;
        match envelope.v {
            Some(PAYLOAD_VERSION) => {}
            other => return Err(malformed(format!("unsupported payload version {other:?}"))),
        }
        let kind = serde_json::to_string(&event.kind).map_err(|e| malformed(e.to_string()))?;
        let tagged = format!(r#"{{"t":{kind},"c":{}}}"#, event.payload);
        let change = serde_json::from_str(&tagged)
            .map_err(|e| malformed(format!("{} payload: {e}", event.kind)))?;
        Ok((change, envelope.key))
    }
}

/// The hash of the event after `prev_hash` (empty for the first) with these fields.
pub fn chain_hash(
    prev_hash: &str,
    seq: u64,
    kind: &str,
    actor: &str,
    at: &str,
    payload: &str,
) -> String {
    let mut hasher = Sha256::new();
    let mut prev = [0u8; 32];
    if !prev_hash.is_empty() {
        // A stored hash that is not 32 bytes of hex breaks the chain at the next event, as it should.
        let _ = hex::decode_to_slice(prev_hash, &mut prev);
    }
    hasher.update(prev);
    hasher.update(seq.to_be_bytes());
    for field in [kind, actor, at, payload] {
        hasher.update((field.len() as u32).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    to_hex(&hasher.finalize())
}

/// Lowercase hex, without the iterator machinery of `hex::encode` (this runs once per event).
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// Seals `change` as the event after `prev` (seq and hash), at `at`, by `actor`, carrying the
/// operation's idempotency key if it has one.
pub fn seal(
    prev_seq: u64,
    prev_hash: &str,
    at: &str,
    actor: &str,
    change: &Change,
    key: Option<&str>,
) -> Event {
    let seq = prev_seq + 1;
    let kind = change.kind();
    let payload = change.payload(key);
    let hash = chain_hash(prev_hash, seq, kind, actor, at, &payload);
    Event {
        seq,
        at: at.to_string(),
        actor: actor.to_string(),
        kind: kind.to_string(),
        payload,
        hash,
    }
}

/// Folds one event into the state (`None` before the first event) and returns the new state.
///
/// Checks the sequence and the chain, then applies the change without re-checking permissions: the
/// manager validated it before it was appended.
pub fn apply(state: Option<Arena>, event: &Event) -> Result<Arena, ReplayError> {
    check_link(state.as_ref(), event)?;
    let (change, key) = Change::decode_with_key(event)?;
    fold(state, event, change, key.as_deref())
}

/// Folds an event the caller has just sealed from `change` with idempotency `key` (so its link and
/// its payload are known good): the same fold as [`apply`], without hashing and decoding again what
/// was just encoded.
pub fn apply_sealed(
    state: Option<Arena>,
    event: &Event,
    change: Change,
    key: Option<&str>,
) -> Result<Arena, ReplayError> {
    fold(state, event, change, key)
}

/// Checks that `event` follows `state`: the next sequence number, and a hash chained to its head.
fn check_link(state: Option<&Arena>, event: &Event) -> Result<(), ReplayError> {
    let (expected_seq, prev_hash) = match state {
        Some(arena) => (arena.last_seq + 1, arena.last_hash.as_str()),
        None => (1, ""),
    };
    if event.seq != expected_seq {
        return Err(ReplayError::Gap {
            seq: event.seq,
            expected: expected_seq,
        });
    }
    let computed = chain_hash(
        prev_hash,
        event.seq,
        &event.kind,
        &event.actor,
        &event.at,
        &event.payload,
    );
    if computed != event.hash {
        return Err(ReplayError::BrokenChain {
            seq: event.seq,
            stored: event.hash.clone(),
            computed,
        });
    }
    Ok(())
}

/// Folds `change`, carried by `event`, into the state: what every event does to an arena.
fn fold(
    state: Option<Arena>,
    event: &Event,
    change: Change,
    key: Option<&str>,
) -> Result<Arena, ReplayError> {
    let inapplicable = || ReplayError::Inapplicable {
        seq: event.seq,
        kind: event.kind.clone(),
    };
    let mut arena = match (state, change) {
        (
            None,
            Change::ArenaCreated {
                id,
                goal,
                total_steps,
                strategy,
                created_by,
            },
        ) => Arena {
            id,
            goal,
            status: ArenaStatus::Created,
            outcome: None,
            strategy,
            participants: Default::default(),
            aggregate: Aggregate::new(total_steps),
            created_by,
            created_at: event.at.clone(),
            keys: Default::default(),
            slots: Default::default(),
            facts: Default::default(),
            last_seq: 0,
            last_hash: String::new(),
        },
        (None, _) | (Some(_), Change::ArenaCreated { .. }) => return Err(inapplicable()),
        (Some(mut arena), change) => {
            match change {
                Change::ArenaCreated { .. } => return Err(inapplicable()),
                Change::AgentJoined {
                    agent,
                    role,
                    permissions,
                } => {
                    arena.aggregate.enrol(&agent);
                    arena.participants.insert(
                        agent.clone(),
                        Participant {
                            agent,
                            role,
                            permissions: permissions.into_iter().collect(),
                        },
                    );
                }
                Change::AgentLeft { agent } => {
                    if arena.participants.remove(&agent).is_none() {
                        return Err(inapplicable());
                    }
                }
                Change::ArenaActivated {} => arena.status = ArenaStatus::Active,
                Change::ArenaSettling {} => arena.status = ArenaStatus::Settling,
                Change::ArenaArchived { report } => {
                    archive(&mut arena, Outcome::Completed, report, event.seq)
                        .map_err(|()| inapplicable())?;
                }
                Change::ArenaAborted { reason, report } => {
                    archive(&mut arena, Outcome::Aborted(reason), report, event.seq)
                        .map_err(|()| inapplicable())?;
                }
                Change::StepCompleted { step } => {
                    if !arena.aggregate.complete(step, &event.actor) {
                        return Err(inapplicable());
                    }
                }
                Change::ProgressReported { note } => arena.aggregate.note(&event.actor, &note),
                Change::GoalUpdated { goal } => arena.goal = goal,
                Change::ArtifactPut {
                    kind,
                    content,
                    metadata: _,
                } => {
                    store_artifact(&mut arena, event, kind, content.len(), Vec::new())
                        .map_err(|()| inapplicable())?;
                }
                Change::ArtifactMerged {
                    kind,
                    content,
                    metadata: _,
                    sources,
                } => {
                    if sources.iter().any(|s| arena.find_artifact(s).is_none()) {
                        return Err(inapplicable());
                    }
                    store_artifact(&mut arena, event, kind, content.len(), sources)
                        .map_err(|()| inapplicable())?;
                }
                Change::SlotUpdated { status } => {
                    if !arena.aggregate.progress.contains_key(&event.actor) {
                        return Err(inapplicable());
                    }
                    arena.slots.entry(event.actor.clone()).or_default().status = status;
                }
                Change::FactAdded {
                    content,
                    confidence,
                    tags,
                } => arena.facts.push(Fact {
                    id: fact_id(event.seq),
                    content,
                    confidence,
                    tags,
                    source: event.actor.clone(),
                    created_at: event.at.clone(),
                    seq: event.seq,
                }),
            }
            arena
        }
    };
    if let Some(key) = key {
        arena.remember_key(&event.actor, key, event.seq);
    }
    arena.last_seq = event.seq;
    arena.last_hash = event.hash.clone();
    Ok(arena)
}

/// Archives `arena` with `outcome` by event `seq`. A report the event recorded must be the one the
/// state yields.
fn archive(
    arena: &mut Arena,
    outcome: Outcome,
    recorded: Option<SettleReport>,
    seq: u64,
) -> Result<(), ()> {
    if recorded.is_some_and(|r| r != SettleReport::of(arena, outcome.clone(), seq)) {
        return Err(());
    }
    arena.status = ArenaStatus::Archived;
    arena.outcome = Some(outcome);
    Ok(())
}

/// Adds the artifact stored by `event` to its actor's slot; the actor must have participated.
fn store_artifact(
    arena: &mut Arena,
    event: &Event,
    kind: String,
    bytes: usize,
    sources: Vec<String>,
) -> Result<(), ()> {
    if !arena.aggregate.progress.contains_key(&event.actor) {
        return Err(());
    }
    arena
        .slots
        .entry(event.actor.clone())
        .or_default()
        .artifacts
        .push(ArtifactEntry {
            id: artifact_id(event.seq),
            kind,
            seq: event.seq,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            sources,
        });
    Ok(())
}

/// Replays a whole log from event 1.
pub fn replay<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Option<Arena>, ReplayError> {
    let mut state = None;
    for event in events {
        state = Some(apply(state, event)?);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-01-01T00:00:00.000000Z";

    fn created() -> Change {
        Change::ArenaCreated {
            id: "0192f0c8-7c1a-7c3e-8a4b-1234567890ab".into(),
            goal: "g".into(),
            total_steps: 3,
            strategy: Strategy::Peer("c".into()),
            created_by: "op".into(),
        }
    }

    #[test]
    fn payload_carries_its_version_and_round_trips() {
        let change = Change::StepCompleted { step: 2 };
        let event = seal(4, "", AT, "w", &change, None);
        assert_eq!(event.payload, r#"{"step":2,"v":1}"#);
        assert_eq!(Change::decode(&event), Ok(change));
    }

    #[test]
    fn an_unknown_payload_version_is_refused() {
        let mut event = seal(0, "", AT, "w", &Change::ArenaActivated {}, None);
        event.payload = r#"{"v":99}"#.into();
        assert!(matches!(
            Change::decode(&event),
            Err(ReplayError::Malformed { seq: 1, .. })
        ));
    }

    #[test]
    fn the_chain_covers_every_field() {
        let base = chain_hash("", 1, "k", "a", AT, "{}");
        assert_ne!(base, chain_hash("", 2, "k", "a", AT, "{}"));
        assert_ne!(base, chain_hash("", 1, "k2", "a", AT, "{}"));
        assert_ne!(base, chain_hash("", 1, "k", "a2", AT, "{}"));
        assert_ne!(base, chain_hash("", 1, "k", "a", "x", "{}"));
        assert_ne!(base, chain_hash("", 1, "k", "a", AT, "{ }"));
        assert_ne!(base, chain_hash(&base, 1, "k", "a", AT, "{}"));
        // Length prefixes keep field boundaries apart.
        assert_ne!(
            chain_hash("", 1, "ab", "c", AT, "{}"),
            chain_hash("", 1, "a", "bc", AT, "{}")
        );
    }

    #[test]
    fn replay_rebuilds_and_detects_tampering() {
        let e1 = seal(0, "", AT, "op", &created(), None);
        let join = Change::AgentJoined {
            agent: "c".into(),
            role: Role::Coordinator,
            permissions: Permission::ALL.to_vec(),
        };
        let e2 = seal(1, &e1.hash, AT, "op", &join, None);
        let e3 = seal(
            2,
            &e2.hash,
            AT,
            "c",
            &Change::GoalUpdated { goal: "h".into() },
            None,
        );
        let arena = replay([&e1, &e2, &e3]).unwrap().unwrap();
        assert_eq!(arena.goal, "h");
        assert_eq!(arena.last_seq, 3);
        assert!(arena.participants.contains_key("c"));

        let mut forged = e2.clone();
        forged.payload = forged.payload.replace("coordinator", "worker");
        assert!(matches!(
            replay([&e1, &forged, &e3]),
            Err(ReplayError::BrokenChain { seq: 2, .. })
        ));
        assert!(matches!(
            replay([&e1, &e3]),
            Err(ReplayError::Gap {
                seq: 3,
                expected: 2
            })
        ));
    }
}
