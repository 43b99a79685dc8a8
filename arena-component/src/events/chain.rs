//! The hash chain: each event's hash covers its canonical bytes and the hash before it (see the
//! formula in [`crate::events`]).

use sha2::{Digest, Sha256};

use super::change::{Change, Event, Keyed, ReplayError};
use crate::types::Arena;

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
/// operation's idempotency key (and the operation's digest) if it has one.
pub fn seal(
    prev_seq: u64,
    prev_hash: &str,
    at: &str,
    actor: &str,
    change: &Change,
    key: Option<Keyed<'_>>,
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

/// Checks that `event` follows `state`: the next sequence number, and a hash chained to its head.
pub(super) fn check_link(state: Option<&Arena>, event: &Event) -> Result<(), ReplayError> {
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
