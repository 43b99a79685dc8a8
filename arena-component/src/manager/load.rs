//! Loading an arena: the states this manager holds, keyed by their head, and rebuilding a state
//! from the latest snapshot plus the events after it — and deciding when to keep a new snapshot.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::ArenaManager;
use crate::clock::Clock;
use crate::events::{Event, Unbound, apply, check_bound_snapshot};
use crate::log_size;
use crate::storage::{LogHead, Storage, check_snapshot_seq};
use crate::types::{Arena, ArenaError, check_arena_id, limits};

/// When the manager keeps a snapshot of an arena's state with an append.
///
/// A snapshot is due when the events since the last one weigh at least `min_bytes`, and at least
/// `snapshot_percent` % of that snapshot. With the default (64 KiB, 100 %) a snapshot costs at most
/// what the events since the last one cost to write, so the bytes an operation writes stay
/// proportional to its events, and a cold load reads at most about twice the state's size (the
/// snapshot, then events of at most its weight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Event bytes after which a snapshot may be due, however small the state: below it, folding the
    /// events costs less than reading a snapshot would save.
    pub min_bytes: u64,
    /// The share of the last snapshot's size, in percent, that the events since must reach.
    pub snapshot_percent: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            min_bytes: 64 << 10,
            snapshot_percent: 100,
        }
    }
}

/// How far an arena's latest snapshot lags behind its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotDebt {
    /// Bytes of the events after the latest snapshot.
    pub(crate) since: u64,
    /// Bytes of the latest snapshot (0 for none).
    pub(crate) snapshot: u64,
}

impl SnapshotDebt {
    /// Counts `events`, just appended after the state this debt describes.
    pub(crate) fn add(&mut self, events: &[Event]) {
        for event in events {
            self.since = self.since.saturating_add(event_bytes(event));
        }
    }

    /// Whether, under `policy`, the state after the counted events should be kept as a snapshot.
    pub(crate) fn due(&self, policy: &SnapshotPolicy) -> bool {
        let relative = self.snapshot.saturating_mul(policy.snapshot_percent) / 100;
        self.since >= policy.min_bytes.max(relative)
    }

    /// A snapshot of `bytes` was just kept.
    pub(crate) fn kept(bytes: usize) -> Self {
        SnapshotDebt {
            since: 0,
            snapshot: bytes as u64,
        }
    }
}

/// What an event weighs in the log: its text fields and its sequence number.
fn event_bytes(event: &Event) -> u64 {
    (event.at.len() + event.actor.len() + event.kind.len() + event.payload.len() + event.hash.len())
        as u64
        + 8
}

/// A state this manager holds, with its snapshot debt.
#[derive(Clone)]
pub(crate) struct Loaded {
    pub(crate) state: Arena,
    pub(crate) debt: SnapshotDebt,
}

impl Loaded {
    /// Whether this state is the one at `head`.
    pub(crate) fn is_at(&self, head: &LogHead) -> bool {
        self.state.last_seq == head.seq && self.state.last_hash == head.hash
    }
}

/// Arenas this manager loaded or wrote recently. A read checks an entry against the stored head (the
/// hash chains every event before it, so a head names exactly one state: an entry can be stale but
/// never wrong — whichever host or process moved the head). A write trusts the entry without reading
/// anything and appends under its head: if another writer moved the head, the append is refused with
/// `conflict` and the manager loads the arena again.
#[derive(Default)]
// A `BTreeMap`, not a `HashMap`: a hasher seeded at random would add `wasi:random/insecure-seed` to
// the component's imports, which hosts that list their imports (jco) do not provide.
pub(crate) struct StateCache(Mutex<BTreeMap<String, Loaded>>);

/// Snapshots a load tries, newest first, before it folds the log from event 1.
const SNAPSHOT_TRIES: usize = 3;

/// Says on the component's standard error that a cache was found wrong and not used: the operator
/// learns of the damage, and the caller gets the right answer.
pub(crate) fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// Arenas the state cache keeps at most.
const CACHED_STATES: usize = 64;

impl StateCache {
    fn states(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Loaded>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes and returns whatever state of `arena` is held, current or not: for a write, which
    /// finds out from its append.
    pub(crate) fn take_any(&self, arena: &str) -> Option<Loaded> {
        self.states().remove(arena)
    }

    /// Removes and returns the state of `arena` at `head`, if held.
    fn take(&self, arena: &str, head: &LogHead) -> Option<Loaded> {
        let mut states = self.states();
        match states.get(arena) {
            Some(loaded) if loaded.is_at(head) => states.remove(arena),
            _ => None,
        }
    }

    /// A copy of the state of `arena` at `head`, if held.
    fn get(&self, arena: &str, head: &LogHead) -> Option<Arena> {
        let states = self.states();
        states
            .get(arena)
            .filter(|loaded| loaded.is_at(head))
            .map(|loaded| loaded.state.clone())
    }

    pub(crate) fn put(&self, loaded: Loaded) {
        let mut states = self.states();
        if states.len() >= CACHED_STATES && !states.contains_key(&loaded.state.id) {
            states.clear();
        }
        states.insert(loaded.state.id.clone(), loaded);
    }
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// The head of `arena`'s log; `not-found` for an unknown arena.
    pub(crate) fn head(&self, arena: &str) -> Result<LogHead, ArenaError> {
        check_arena_id(arena)?;
        self.storage.head(arena)?.ok_or(ArenaError::NotFound)
    }

    /// The arena's current state, for a read: the state held for its head, or rebuilt.
    pub(crate) fn current(&self, arena: &str) -> Result<Arena, ArenaError> {
        let head = self.head(arena)?;
        if let Some(state) = self.states.get(arena, &head) {
            return Ok(state);
        }
        let loaded = self.rebuild(arena, &head)?;
        let state = loaded.state.clone();
        self.states.put(loaded);
        Ok(state)
    }

    /// The arena's current state, checked against its head, removed from the cache for an
    /// operation that will put its result back.
    pub(crate) fn load_current(&self, arena: &str) -> Result<Loaded, ArenaError> {
        let head = self.head(arena)?;
        match self.states.take(arena, &head) {
            Some(loaded) => Ok(loaded),
            None => self.rebuild(arena, &head),
        }
    }

    /// Holds `state` as the arena's current state, as a write leaves it: for tests of what a write
    /// does with the state it holds.
    #[cfg(test)]
    pub(crate) fn hold(&self, state: Arena) {
        self.states.put(Loaded {
            state,
            debt: SnapshotDebt::default(),
        });
    }

    /// Whether `state` is still the arena's current state.
    pub(crate) fn is_current(&self, arena: &str, state: &Arena) -> Result<bool, ArenaError> {
        let head = self.head(arena)?;
        Ok(state.last_seq == head.seq && state.last_hash == head.hash)
    }

    /// Rebuilds the state at `head`: the latest snapshot at or before it, then the events after it.
    fn rebuild(&self, arena: &str, head: &LogHead) -> Result<Loaded, ArenaError> {
        let (state, debt) = self.fold_to(arena, head.seq, head.seq)?;
        if state.last_hash != head.hash {
            return Err(ArenaError::Storage(format!(
                "arena {arena}: the log's event {} does not have the head's hash",
                head.seq
            )));
        }
        Ok(Loaded { state, debt })
    }

    /// The arena as it was right after event `seq`, rebuilt from the latest snapshot at or before
    /// it, and checked to chain to the head: the events after `seq` are hashed up to the head's
    /// hash (see `reach`), so a past that was forged and re-hashed short of the head is refused.
    /// `invalid-input` unless `1 <= seq <= last`.
    pub fn get_at(&self, arena: &str, seq: u64) -> Result<Arena, ArenaError> {
        let head = self.head(arena)?;
        if seq == 0 || seq > head.seq {
            return Err(ArenaError::InvalidInput(format!(
                "event {seq} is outside the log's 1..={}",
                head.seq
            )));
        }
        let state = self.fold_to(arena, seq, head.seq)?.0;
        self.check_reaches_head(arena, seq, &state.last_hash, &head)?;
        Ok(state)
    }

    /// Folds the arena up to event `seq` (of a log whose head is event `head`) from its latest
    /// snapshot at or before `seq` (from event 1 when it has none), checking what storage returned.
    fn fold_to(
        &self,
        arena: &str,
        seq: u64,
        head: u64,
    ) -> Result<(Arena, SnapshotDebt), ArenaError> {
        let corrupt = |what: String| ArenaError::Storage(format!("arena {arena}: {what}"));
        let mut debt = SnapshotDebt::default();
        let mut state = match self.bound_snapshot(arena, seq, head)? {
            Some((mut state, bytes)) => {
                log_size::count_if_unknown(&self.storage, arena, &mut state)?;
                debt.snapshot = bytes;
                Some(state)
            }
            None => None,
        };
        while state.as_ref().map_or(0, |a: &Arena| a.last_seq) < seq {
            let after = state.as_ref().map_or(0, |a: &Arena| a.last_seq);
            let wanted = (seq - after).min(u64::from(limits::PAGE)) as u32;
            let page = self.read_events_checked(arena, after, wanted, None)?;
            if page.len() < wanted as usize {
                let end = after + page.len() as u64;
                return Err(corrupt(format!(
                    "the log ends at event {end} but the stored head is event {head}: the log was \
                     truncated or the head altered, so nothing was written (`arena verify {arena}` \
                     names the damage)"
                )));
            }
            debt.add(&page);
            for event in &page {
                state = Some(
                    apply(state, event)
                        .map_err(|e| corrupt(format!("the log does not replay: {e}")))?,
                );
            }
        }
        state.map(|state| (state, debt)).ok_or(ArenaError::NotFound)
    }

    /// Refuses a log whose head, event `head`, is below a kept snapshot at event `kept`: the log
    /// was cut back, and a write would reuse sequence numbers the snapshot already covers. A head
    /// that moved past the snapshot since it was read (another writer) is no damage.
    fn refuse_a_cut_log(&self, arena: &str, head: u64, kept: u64) -> Result<(), ArenaError> {
        if self.head(arena)?.seq >= kept {
            return Ok(());
        }
        Err(ArenaError::Storage(format!(
            "arena {arena}: a snapshot is kept at event {kept}, after the log's head at event \
             {head}: the log was cut back, so nothing was written (`arena verify {arena}` names \
             the damage)"
        )))
    }

    /// The latest snapshot at or before event `seq` (of a log whose head is event `head`) that its
    /// event binds to the chain, parsed, with its size; `None` to fold from event 1.
    ///
    /// A snapshot is never trusted on its own word: its event must record its digest and chain
    /// from the event before (the fold from it then checks the chain up to the head). One that
    /// fails is dropped with a warning naming it, and an earlier one is tried, a few times at most,
    /// before folding from event 1. One whose event records no digest (kept before snapshots were
    /// bound) is not used, and neither is any before it.
    fn bound_snapshot(
        &self,
        arena: &str,
        seq: u64,
        head: u64,
    ) -> Result<Option<(Arena, u64)>, ArenaError> {
        // At the head, the latest snapshot of all: one past the head means the log was cut.
        let mut at_most = if seq == head { u64::MAX } else { seq };
        for _ in 0..SNAPSHOT_TRIES {
            let Some(mut snapshot) = self.storage.snapshot(arena, at_most)? else {
                return Ok(None);
            };
            if at_most == u64::MAX && snapshot.seq > head {
                self.refuse_a_cut_log(arena, head, snapshot.seq)?;
                at_most = seq;
                match self.storage.snapshot(arena, at_most)? {
                    Some(earlier) => snapshot = earlier,
                    None => return Ok(None),
                }
            }
            at_most = at_most.min(seq);
            check_snapshot_seq(arena, at_most, head, &snapshot)?;
            let from = snapshot.seq.saturating_sub(2);
            let wanted = (snapshot.seq - from) as u32;
            let events = self.read_events_checked(arena, from, wanted, None)?;
            let (prev_hash, event) = match events.as_slice() {
                [event] if snapshot.seq == 1 => ("", event),
                [before, event] => (before.hash.as_str(), event),
                _ => {
                    return Err(ArenaError::Storage(format!(
                        "arena {arena}: the log ends before event {}, which has a snapshot",
                        snapshot.seq
                    )));
                }
            };
            match check_bound_snapshot(&snapshot.state, event, prev_hash) {
                Ok(state) => return Ok(Some((state, snapshot.state.len() as u64))),
                Err(Unbound::Unrecorded) => return Ok(None),
                Err(Unbound::Failed(why)) => {
                    let earlier = snapshot.seq.checked_sub(1);
                    warn(&format!(
                        "arena {arena}: the snapshot at event {} {why}; it is not used, and the \
                         state is rebuilt from {}",
                        snapshot.seq,
                        if earlier.unwrap_or(0) == 0 {
                            "the log".to_string()
                        } else {
                            "an earlier snapshot or the log".to_string()
                        }
                    ));
                    match earlier {
                        Some(earlier) if earlier > 0 => at_most = earlier,
                        _ => return Ok(None),
                    }
                }
            }
        }
        Ok(None)
    }
}
