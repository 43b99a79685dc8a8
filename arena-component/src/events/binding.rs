//! Binding a kept snapshot to the hash chain.
//!
//! The append that keeps a snapshot records the SHA-256 of the snapshot's text in its last event's
//! payload (`"snapshot"`), so the event's hash, and every hash after it up to the head, covers the
//! snapshot. The text holds the state with an empty `last_hash`: the state's own last hash is the
//! hash of the event that records its digest, so it cannot be inside what that hash covers. A load
//! takes the last hash from the event once the event's hash is recomputed from the event before.
//!
//! Events written before snapshots were bound carry no digest: their snapshots are never used,
//! and `verify` still compares them with the replayed state.

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::chain::chain_hash;
use super::change::Event;
use crate::types::Arena;

/// The payload field that records the digest of the snapshot kept after the event.
pub const SNAPSHOT_FIELD: &str = "snapshot";

/// The lowercase hex SHA-256 of a snapshot's text.
pub fn snapshot_digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `payload` (a JSON object) with `digest` recorded as the digest of the snapshot kept after its
/// event. A payload that is not an object is returned as it is (the component seals only objects).
fn with_snapshot_digest(payload: &str, digest: &str) -> String {
    match serde_json::from_str::<Map<String, Value>>(payload) {
        Ok(mut object) => {
            object.insert(SNAPSHOT_FIELD.into(), Value::from(digest));
            Value::Object(object).to_string()
        }
        Err(_) => payload.to_string(),
    }
}

/// The digest of the snapshot that `event` records, if it records one.
pub fn recorded_snapshot_digest(event: &Event) -> Option<String> {
    #[derive(Deserialize)]
    struct Recorded {
        snapshot: Option<String>,
    }
    serde_json::from_str::<Recorded>(&event.payload)
        .ok()
        .and_then(|recorded| recorded.snapshot)
}

/// Keeps `state`, the state after `last` (sealed after the hash `prev_hash`), as a snapshot bound
/// to the chain: records the digest of the snapshot's text in `last`'s payload, seals `last` again,
/// and counts the longer payload in the state's log size. Returns the snapshot's text.
///
/// The digest has a fixed length, so the state's log size is known before the digest is: the text
/// holds the size of the event that records it.
pub fn bind_snapshot(last: &mut Event, prev_hash: &str, state: &mut Arena) -> String {
    let placeholder = with_snapshot_digest(&last.payload, &"0".repeat(64));
    let grown = placeholder.len().saturating_sub(last.payload.len()) as u64;
    state.log_bytes = state.log_bytes.map(|bytes| bytes + grown);
    state.last_hash.clear();
    let text = serde_json::to_string(&*state)
        .unwrap_or_else(|e| panic!("the state does not serialize into a snapshot: {e}"));
    last.payload = with_snapshot_digest(&last.payload, &snapshot_digest(&text));
    last.hash = chain_hash(
        prev_hash,
        last.seq,
        &last.kind,
        &last.actor,
        &last.at,
        &last.payload,
    );
    state.last_hash = last.hash.clone();
    text
}

/// Why a snapshot cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unbound {
    /// Its event records no digest (a snapshot kept before snapshots were bound): it is not used,
    /// and nothing is wrong.
    Unrecorded,
    /// It fails its check; the message says how.
    Failed(String),
}

/// Checks the snapshot `text` said to be the state after `event`, where `prev_hash` is the stored
/// hash of the event before (empty for event 1): `event`'s hash must follow from `prev_hash` and its
/// fields, its payload must record the digest of `text`, and `text` must be the state after it with
/// an empty last hash. Returns the state with its last hash (`event`'s): the caller still checks
/// that the chain from `event` reaches the head.
pub fn check_bound_snapshot(text: &str, event: &Event, prev_hash: &str) -> Result<Arena, Unbound> {
    let failed = |why: &str| Err(Unbound::Failed(why.to_string()));
    let Some(recorded) = recorded_snapshot_digest(event) else {
        return Err(Unbound::Unrecorded);
    };
    let computed = chain_hash(
        prev_hash,
        event.seq,
        &event.kind,
        &event.actor,
        &event.at,
        &event.payload,
    );
    if computed != event.hash {
        return failed("is recorded by an event whose hash does not chain");
    }
    if snapshot_digest(text) != recorded {
        return failed("does not have the digest its event records");
    }
    let mut state: Arena = match serde_json::from_str(text) {
        Ok(state) => state,
        Err(_) => return failed("is unreadable"),
    };
    if state.last_seq != event.seq || !state.last_hash.is_empty() {
        return failed("is not the state after its event");
    }
    state.last_hash = event.hash.clone();
    Ok(state)
}
