//! What an event says happened, and how that is encoded into its versioned payload.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::{AgentId, ArenaId, Permission, Role, SettleReport, SlotStatus, Strategy};

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

impl Event {
    /// What the event adds to its arena's log size: the bytes of its fields, eight for the sequence
    /// number. Counted the same way by every storage, so the bound does not depend on where it is kept.
    pub fn log_bytes(&self) -> u64 {
        (8 + self.at.len()
            + self.actor.len()
            + self.kind.len()
            + self.payload.len()
            + self.hash.len()) as u64
    }
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
    /// The arena was forked: the events before this one are its parent's events `1..=seq`, copied
    /// byte for byte, and from here on the log is the fork's own. The state becomes the fork's:
    /// its id, its creator (the actor) and creation time (this event's), no outcome, no idempotency
    /// keys, and `created` if the parent was still `created` at `seq`, else `active`.
    ArenaForked {
        /// The fork's id.
        id: ArenaId,
        /// The arena it was forked from.
        parent: ArenaId,
        /// The parent's event the fork was taken after.
        seq: u64,
        /// The hash of the parent's event `seq`, which chains every event before it.
        parent_hash: String,
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

/// An idempotency key as an event carries it, with the digest of its operation (`None` in events
/// written before digests).
pub type StoredKey = (String, Option<String>);

/// An operation's idempotency key and the digest of the operation, as its last event carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyed<'a> {
    /// The caller's key.
    pub key: &'a str,
    /// The digest of the operation (see `Operation::digest`).
    pub digest: &'a str,
}

impl Change {
    /// The event kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::ArenaCreated { .. } => "arena-created",
            Change::ArenaForked { .. } => "arena-forked",
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
    /// idempotency key as `"key"` with the operation's digest as `"op"` when it carried one.
    pub fn payload(&self, key: Option<Keyed<'_>>) -> String {
        let mut object = match serde_json::to_value(self) {
            Ok(Value::Object(mut tagged)) => match tagged.remove("c") {
                Some(Value::Object(object)) => object,
                // Every variant has named fields, so its content is an object.
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        object.insert("v".into(), Value::from(PAYLOAD_VERSION));
        if let Some(keyed) = key {
            object.insert("key".into(), Value::from(keyed.key));
            object.insert("op".into(), Value::from(keyed.digest));
        }
        Value::Object(object).to_string()
    }

    /// Decodes an event's kind and payload back into the change.
    pub fn decode(event: &Event) -> Result<Change, ReplayError> {
        Self::decode_with_key(event).map(|(change, _)| change)
    }

    /// Decodes an event back into the change, the idempotency key its payload carries, and the
    /// digest of the keyed operation (`None` for events written before digests).
    pub fn decode_with_key(event: &Event) -> Result<(Change, Option<StoredKey>), ReplayError> {
        let malformed = |message: String| ReplayError::Malformed {
            seq: event.seq,
            message,
        };
        // The envelope first: the format version and the key (every other field is skipped).
        #[derive(Deserialize)]
        struct Envelope {
            v: Option<u64>,
            key: Option<String>,
            op: Option<String>,
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
        Ok((change, envelope.key.map(|key| (key, envelope.op))))
    }
}
