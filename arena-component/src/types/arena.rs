//! An arena's whole state, and what it takes to create one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::ArenaError;
use super::ids::{AgentId, ArenaId};
use super::limits;
use super::participants::{Participant, ParticipantSpec};
use super::permissions::Permission;
use super::status::{ArenaStatus, Outcome};
use super::strategy::Strategy;
use crate::aggregate::Aggregate;
use crate::facts::Fact;
use crate::slots::{ServedReport, SettleReport, Slot};

/// Everything needed to create an arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaConfig {
    /// The goal (1 to 4096 bytes).
    pub goal: String,
    /// Steps in the goal (1 to 100 000).
    pub total_steps: u32,
    /// How the participants work together; its coordinator must be a declared coordinator.
    pub strategy: Strategy,
    /// The participants, each joining in declaration order.
    pub participants: Vec<ParticipantSpec>,
    /// Who creates the arena (the operator, or an agent).
    pub created_by: AgentId,
}

/// An arena's whole state: what a snapshot holds and what replaying its events rebuilds.
///
/// Artifact content stays in the events that stored it; the state keeps each artifact's entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arena {
    /// The arena's id.
    pub id: ArenaId,
    /// The current goal.
    pub goal: String,
    /// Where the arena is in its lifecycle.
    pub status: ArenaStatus,
    /// How it ended, once archived.
    pub outcome: Option<Outcome>,
    /// How the participants work together.
    pub strategy: Strategy,
    /// Current participants by agent.
    pub participants: BTreeMap<AgentId, Participant>,
    /// Steps done and each participant's progress.
    pub aggregate: Aggregate,
    /// Who created the arena.
    pub created_by: AgentId,
    /// When it was created (RFC 3339 UTC, from its first event).
    pub created_at: String,
    /// Idempotency keys of recent keyed operations (caller and key) → the operation's last event and
    /// the digest of the operation.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyedOp>,
    /// The slots that were ever written; every other agent that ever participated has an empty,
    /// idle slot (see [`Arena::slot`]).
    #[serde(default)]
    pub slots: BTreeMap<AgentId, Slot>,
    /// Shared facts, in the order they were added.
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Bytes in the arena's log so far (each event's [`Event::log_bytes`](crate::events::Event::log_bytes)
    /// summed), bounded by [`LOG_BYTES`](super::limits::LOG_BYTES). `None` only in snapshots written
    /// before the log had a bound: loading such a snapshot counts the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<u64>,
    /// Sequence number of the last event applied.
    pub last_seq: u64,
    /// Hash of the last event applied.
    pub last_hash: String,
}

impl Arena {
    /// Names the first field in which this stored state differs from `replayed`.
    pub fn first_difference(&self, replayed: &Arena) -> String {
        let stored = self;
        let fields: [(&str, bool); 14] = [
            ("id", stored.id == replayed.id),
            ("goal", stored.goal == replayed.goal),
            ("status", stored.status == replayed.status),
            ("outcome", stored.outcome == replayed.outcome),
            ("strategy", stored.strategy == replayed.strategy),
            ("participants", stored.participants == replayed.participants),
            ("aggregate", stored.aggregate == replayed.aggregate),
            ("created_by", stored.created_by == replayed.created_by),
            ("created_at", stored.created_at == replayed.created_at),
            ("keys", stored.keys == replayed.keys),
            ("slots", stored.slots == replayed.slots),
            ("facts", stored.facts == replayed.facts),
            ("log_bytes", stored.log_bytes == replayed.log_bytes),
            ("last_seq", stored.last_seq == replayed.last_seq),
        ];
        fields
            .iter()
            .find(|(_, same)| !same)
            .map_or("last_hash".to_string(), |(name, _)| {
                format!("{name} differs")
            })
    }

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

    /// What the arena kept, once archived: derived from the final state. The archiving event's
    /// payload records its [`SettleReport`]; the result and the final head (the archiving event,
    /// which is the last event of an archived arena) come from the state as it was loaded.
    pub fn report(&self) -> Option<ServedReport> {
        let outcome = self.outcome.clone()?;
        Some(ServedReport {
            recorded: SettleReport::of(self, outcome, self.last_seq),
            result: self.result(),
            head_seq: self.last_seq,
            head_hash: self.last_hash.clone(),
        })
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

    /// What the arena remembers of `actor`'s keyed operation with `key`, if it still does.
    pub fn keyed(&self, actor: &str, key: &str) -> Option<&KeyedOp> {
        self.keys.get(&key_slot(actor, key))
    }

    /// Remembers that `actor`'s operation with `key` and `digest` ended at event `seq`, forgetting
    /// the oldest key beyond [`limits::IDEMPOTENCY_KEYS`].
    pub fn remember_key(&mut self, actor: &str, key: &str, seq: u64, digest: Option<&str>) {
        let kept = KeyedOp {
            seq,
            digest: digest.map(str::to_string),
        };
        self.keys.insert(key_slot(actor, key), kept);
        while self.keys.len() > limits::IDEMPOTENCY_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by_key(|(_, kept)| kept.seq)
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

/// What an arena remembers of a keyed operation: where it ended, and what it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyedOp {
    /// The sequence number of the operation's last event.
    pub seq: u64,
    /// The digest of the operation (see [`super::operation::Operation::digest`]); `None` for keys
    /// recorded before operations carried one, which cannot be checked against a retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl<'de> Deserialize<'de> for KeyedOp {
    /// Reads `{"seq": …, "digest": …}`, or a bare sequence number as snapshots written before
    /// digests hold it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Seq(u64),
            Op {
                seq: u64,
                #[serde(default)]
                digest: Option<String>,
            },
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Seq(seq) => KeyedOp { seq, digest: None },
            Stored::Op { seq, digest } => KeyedOp { seq, digest },
        })
    }
}

/// Keys are per caller; agent ids hold no control characters, so the separator is unambiguous.
fn key_slot(actor: &str, key: &str) -> String {
    format!("{actor}\u{1f}{key}")
}
