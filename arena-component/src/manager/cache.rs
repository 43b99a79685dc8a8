//! The states a manager parsed or wrote recently.

use crate::types::Arena;

/// Arenas this manager parsed or wrote recently, keyed by their head (sequence number and hash), so
/// that an operation on an arena whose head has not moved skips parsing its snapshot. The hash chains
/// every event before it, so a head names exactly one state: an entry can be stale (never used again)
/// but never wrong — whichever host or process moved the head.
#[derive(Default)]
// A `BTreeMap`, not a `HashMap`: a hasher seeded at random would add `wasi:random/insecure-seed` to
// the component's imports, which hosts that list their imports (jco) do not provide.
pub(super) struct StateCache(std::sync::Mutex<std::collections::BTreeMap<String, Arena>>);

/// Arenas the state cache keeps at most.
const CACHED_STATES: usize = 64;

impl StateCache {
    /// Removes and returns the state of `arena` at this head, if cached: for an operation that will
    /// put its own result back.
    pub(super) fn take(&self, arena: &str, head_seq: u64, head_hash: &str) -> Option<Arena> {
        let mut states = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match states.get(arena) {
            Some(s) if s.last_seq == head_seq && s.last_hash == head_hash => states.remove(arena),
            _ => None,
        }
    }

    pub(super) fn get(&self, arena: &str, head_seq: u64, head_hash: &str) -> Option<Arena> {
        let states = self.0.lock().unwrap_or_else(|e| e.into_inner());
        states
            .get(arena)
            .filter(|s| s.last_seq == head_seq && s.last_hash == head_hash)
            .cloned()
    }

    pub(super) fn put(&self, state: Arena) {
        let mut states = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if states.len() >= CACHED_STATES && !states.contains_key(&state.id) {
            states.clear();
        }
        states.insert(state.id.clone(), state);
    }
}
