//! Slots and artifacts: every participant writes only its own slot; the coordinator merges.
//!
//! An artifact's content lives in the event that stored it (the log is its durable home); the arena's
//! state keeps an [`ArtifactEntry`] per artifact, so loading an arena never carries artifact content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{
    AgentId, Arena, ArenaError, Outcome, check_count, check_label, check_text, limits,
    truncate_chars,
};

/// Where a slot stands; set by its owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotStatus {
    /// Not started, or nothing to report.
    #[default]
    Idle,
    /// Its owner is working.
    Working,
    /// Its owner is done.
    Done,
    /// Its owner gave up.
    Failed,
}

impl SlotStatus {
    /// The status as the WIT and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Idle => "idle",
            SlotStatus::Working => "working",
            SlotStatus::Done => "done",
            SlotStatus::Failed => "failed",
        }
    }
}

/// An artifact as its author hands it in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactDraft {
    /// What kind of artifact it is (a short label).
    pub kind: String,
    /// The content.
    pub content: String,
    /// Key-value metadata; keys are distinct.
    pub metadata: Vec<(String, String)>,
}

/// Merged content and the artifacts it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergeRequest {
    /// The merged artifact.
    pub draft: ArtifactDraft,
    /// Ids of the artifacts it came from, in this arena.
    pub sources: Vec<String>,
}

/// What the arena's state keeps of an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEntry {
    /// Minted by the arena from the sequence number of the event that stored it.
    pub id: String,
    /// What kind of artifact it is.
    pub kind: String,
    /// The event holding the content.
    pub seq: u64,
    /// Bytes of content.
    pub bytes: u32,
    /// For a merge, its sources; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// The digest of its content and metadata (see [`artifact_digest`]), which a read of the
    /// content checks; `None` in states kept before artifacts carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The lowercase hex SHA-256 of an artifact's content and metadata, as the state holds it.
pub fn artifact_digest(content: &str, metadata: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update((content.len() as u64).to_be_bytes());
    hasher.update(content.as_bytes());
    for (key, value) in metadata {
        for field in [key, value] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

/// One participant's slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Set by the slot's owner.
    pub status: SlotStatus,
    /// In creation order.
    pub artifacts: Vec<ArtifactEntry>,
}

/// A whole artifact, content included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Minted by the arena from the sequence number of the event that stored it.
    pub id: String,
    /// The participant whose slot holds it.
    pub author: AgentId,
    /// What kind of artifact it is.
    pub kind: String,
    /// The content.
    pub content: String,
    /// Sorted by key.
    pub metadata: Vec<(String, String)>,
    /// For a merge, the artifacts it came from; empty otherwise.
    pub sources: Vec<String>,
    /// When it was stored (RFC 3339 UTC, from its event).
    pub created_at: String,
    /// The event that stored it.
    pub seq: u64,
}

/// A slot with its artifacts' content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotContents {
    /// The slot's owner.
    pub agent: AgentId,
    /// Set by the slot's owner.
    pub status: SlotStatus,
    /// In creation order.
    pub artifacts: Vec<Artifact>,
}

/// What one agent left in an arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Contribution {
    /// The participant.
    pub agent: AgentId,
    /// Steps it completed.
    pub steps: u32,
    /// Artifacts it stored, merges included.
    pub artifacts: u32,
    /// Facts it shared.
    pub facts: u32,
}

/// What an arena kept when it was archived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SettleReport {
    /// How the arena ended.
    pub outcome: Outcome,
    /// Distinct steps completed.
    pub completed_steps: u32,
    /// Steps in the goal.
    pub total_steps: u32,
    /// Facts kept.
    pub facts: u32,
    /// Artifacts archived, merges included.
    pub artifacts: u32,
    /// Of those artifacts, the merges.
    pub merges: u32,
    /// Events in the log, the archiving event included.
    pub events: u64,
    /// Per agent that ever participated, sorted by agent.
    pub contributions: Vec<Contribution>,
}

/// The settle report as `arena-info` serves it: the report the archiving event recorded, and what
/// that event could not record.
///
/// `result` and the head are derived from the state on read: the result from the merges the log
/// holds, the head from the chain the state was loaded from. An event cannot hold its own hash, and
/// logs written before the report named them read the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedReport {
    /// What the archiving event recorded.
    pub recorded: SettleReport,
    /// The arena's result (see [`Arena::result`]).
    pub result: Option<String>,
    /// The sequence number of the archiving event, the log's final head.
    pub head_seq: u64,
    /// The hash of the archiving event.
    pub head_hash: String,
}

/// The id the arena mints for the artifact stored by event `seq`.
pub fn artifact_id(seq: u64) -> String {
    format!("art-{seq}")
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl SettleReport {
    /// The report of `arena` as it is archived by event `seq` with `outcome`.
    pub fn of(arena: &Arena, outcome: Outcome, seq: u64) -> SettleReport {
        let artifacts = arena.slots.values().map(|s| s.artifacts.len()).sum();
        let merges = arena
            .slots
            .values()
            .flat_map(|s| &s.artifacts)
            .filter(|a| !a.sources.is_empty())
            .count();
        let contributions = arena
            .aggregate
            .progress
            .iter()
            .map(|(agent, progress)| Contribution {
                agent: agent.clone(),
                steps: progress.steps_completed,
                artifacts: count(arena.slots.get(agent).map_or(0, |s| s.artifacts.len())),
                facts: count(arena.facts.iter().filter(|f| &f.source == agent).count()),
            })
            .collect();
        SettleReport {
            outcome,
            completed_steps: arena.aggregate.completed_steps,
            total_steps: arena.aggregate.total_steps,
            facts: count(arena.facts.len()),
            artifacts: count(artifacts),
            merges: count(merges),
            events: seq,
            contributions,
        }
    }
}

/// Checks a draft and returns its metadata as a sorted map: a kind of `a-z0-9-`, content within
/// bounds (JSON for `structured`), and bounded metadata with distinct keys.
pub fn check_draft(draft: &ArtifactDraft) -> Result<BTreeMap<String, String>, ArenaError> {
    let kind = &draft.kind;
    if kind.len() > limits::KIND_BYTES {
        return Err(ArenaError::LimitExceeded {
            what: "artifact kind bytes".into(),
            limit: limits::KIND_BYTES as u64,
        });
    }
    if kind.is_empty()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ArenaError::InvalidInput(format!(
            "artifact kind {:?} must be 1 to {} bytes of a-z, 0-9 and -",
            truncate_chars(kind, 64),
            limits::KIND_BYTES
        )));
    }
    check_text("artifact content", &draft.content, limits::ARTIFACT_BYTES)?;
    if kind == "structured"
        && let Err(e) = serde_json::from_str::<serde_json::Value>(&draft.content)
    {
        return Err(ArenaError::InvalidInput(format!(
            "structured artifact content is not JSON: {e}"
        )));
    }
    check_count(
        "artifact metadata entries",
        draft.metadata.len(),
        limits::METADATA_ENTRIES,
    )?;
    let mut metadata = BTreeMap::new();
    for (key, value) in &draft.metadata {
        check_label("metadata key", key, limits::METADATA_KEY_BYTES)?;
        if value.len() > limits::METADATA_VALUE_BYTES {
            return Err(ArenaError::LimitExceeded {
                what: "metadata value bytes".into(),
                limit: limits::METADATA_VALUE_BYTES as u64,
            });
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(ArenaError::InvalidInput(format!(
                "metadata value of {key:?} contains a control character"
            )));
        }
        if metadata.insert(key.clone(), value.clone()).is_some() {
            return Err(ArenaError::InvalidInput(format!(
                "metadata key {key:?} is given twice"
            )));
        }
    }
    Ok(metadata)
}

/// Checks that `agent`'s slot has room for one more artifact.
pub fn check_room(arena: &Arena, agent: &str) -> Result<(), ArenaError> {
    let held = arena.slots.get(agent).map_or(0, |s| s.artifacts.len());
    check_count("artifacts per slot", held + 1, limits::ARTIFACTS_PER_SLOT)
}

/// Checks a merge's sources: 1 to 64 distinct artifacts stored in `arena`.
pub fn check_sources(arena: &Arena, sources: &[String]) -> Result<(), ArenaError> {
    if sources.is_empty() {
        return Err(ArenaError::InvalidInput(
            "a merge names at least one source artifact".into(),
        ));
    }
    check_count("merge sources", sources.len(), limits::MERGE_SOURCES)?;
    for (i, id) in sources.iter().enumerate() {
        if sources[..i].contains(id) {
            return Err(ArenaError::InvalidInput(format!(
                "source {:?} is named twice",
                truncate_chars(id, 64)
            )));
        }
        if arena.find_artifact(id).is_none() {
            return Err(ArenaError::InvalidInput(format!(
                "source {:?} is not an artifact of this arena",
                truncate_chars(id, 64)
            )));
        }
    }
    Ok(())
}

impl Arena {
    /// The arena's result: the artifact of its last merge, once it has completed. `None` while it
    /// is not archived, if it completed without a merge, and if it was aborted (an abort accepts no
    /// result; the merges stay readable as artifacts). Only a coordinator merges.
    pub fn result(&self) -> Option<String> {
        if self.outcome != Some(Outcome::Completed) {
            return None;
        }
        self.slots
            .values()
            .flat_map(|s| &s.artifacts)
            .filter(|a| !a.sources.is_empty())
            .max_by_key(|a| a.seq)
            .map(|a| a.id.clone())
    }

    /// The owner and entry of artifact `id`, if this arena stores it.
    pub fn find_artifact(&self, id: &str) -> Option<(&AgentId, &ArtifactEntry)> {
        let seq: u64 = id.strip_prefix("art-")?.parse().ok()?;
        if artifact_id(seq) != id {
            return None;
        }
        self.slots.iter().find_map(|(agent, slot)| {
            slot.artifacts
                .iter()
                .find(|a| a.seq == seq)
                .map(|entry| (agent, entry))
        })
    }
}
