//! The arena manager: creates arenas, reads them, and runs every mutation through one path —
//! load, validate, turn into changes, fold, and append atomically under the expected sequence,
//! retrying on `conflict`.

use crate::clock::{Clock, timestamp};
use crate::events::{self, Change, Event, Keyed, apply_sealed, bind_snapshot, seal};
use crate::facts::Matcher;
use crate::handle::Handle;
use crate::log_size;
use crate::slots::artifact_digest;
use crate::storage::{ArenaRecord, LogHead, Storage, check_ids, check_page};

use crate::types::{
    Arena, ArenaError, ArenaId, Artifact, ArtifactEntry, Fact, FactQuery, SlotContents,
    check_agent_id, check_arena_id, check_key, limits,
};

mod create;
mod fork;
mod load;
mod reach;
mod read;
mod verify;

pub use create::keyed_arena_id;
pub use load::SnapshotPolicy;
pub use verify::VerifyReport;

use load::{Loaded, SnapshotDebt, StateCache};
use reach::CheckedChains;

/// Pages of `tagged` a fact query across arenas reads at most (a million arenas).
const TAGGED_PAGES: usize = 1000;

/// Runs arena operations on a storage, taking time and randomness from a clock.
pub struct ArenaManager<S, C> {
    storage: S,
    clock: C,
    states: StateCache,
    chains: CheckedChains,
    snapshots: SnapshotPolicy,
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// A manager over `storage`.
    pub fn new(storage: S, clock: C) -> Self {
        ArenaManager {
            storage,
            clock,
            states: StateCache::default(),
            chains: CheckedChains::default(),
            snapshots: SnapshotPolicy::default(),
        }
    }

    /// The same manager, keeping snapshots by `policy` instead of the default.
    pub fn with_snapshot_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = policy;
        self
    }

    /// The storage underneath.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// A view of `arena` acting as `agent`, limited to what the agent's permissions allow.
    pub fn handle<'a>(&'a self, arena: &'a str, agent: &'a str) -> Handle<'a, S, C> {
        Handle::new(self, arena, agent)
    }

    /// Runs one mutation of `arena` by `actor`: loads the state, lets `decide` validate it and name the
    /// changes, then appends them under the loaded sequence number, reloading and deciding again on
    /// `conflict` (a bounded number of times).
    ///
    /// With an idempotency `key` (and the digest of the operation) the caller already used on this
    /// arena, nothing is decided or written: the result is the arena as it was right after that first
    /// operation if it was the same operation, and `invalid-input` naming the key if it was not.
    ///
    /// The answer is what `answer` takes from the arena right after the operation: the state itself
    /// is held for the next operation, never copied.
    pub(crate) fn mutate<R>(
        &self,
        arena: &str,
        actor: &str,
        key: Option<Keyed<'_>>,
        decide: impl Fn(&Arena) -> Result<Vec<Change>, ArenaError>,
        answer: impl FnOnce(&Arena) -> R,
    ) -> Result<R, ArenaError> {
        check_agent_id(actor)?;
        if let Some(keyed) = key {
            check_key(keyed.key)?;
        }
        // The state held for this arena is trusted for a write without reading anything: its append
        // is refused with `conflict` if another writer moved the head. An answer decided on it
        // without writing (a refusal, a retried key) is checked against the head first.
        let mut trust_held = true;
        for _ in 0..=limits::CONFLICT_RETRIES {
            let held = if trust_held {
                self.states.take_any(arena)
            } else {
                None
            };
            let (loaded, checked) = match held {
                Some(loaded) => (loaded, false),
                None => (self.load_current(arena)?, true),
            };
            let kept = key.and_then(|k| Some((k, loaded.state.keyed(actor, k.key)?.clone())));
            let outcome = match kept {
                Some(kept) => Err(Ok(kept)),
                None => decide(&loaded.state).map_err(Err),
            };
            let changes = match outcome {
                Ok(changes) => changes,
                Err(without_writing) => {
                    if !checked && !self.is_current(arena, &loaded.state)? {
                        trust_held = false;
                        continue;
                    }
                    self.states.put(loaded);
                    // A refusal is returned as it is; a retried key is answered below.
                    let (keyed, kept) = without_writing?;
                    return match kept.digest {
                        Some(digest) if digest == keyed.digest => {
                            self.get_at(arena, kept.seq).map(|after| answer(&after))
                        }
                        Some(_) => Err(ArenaError::InvalidInput(format!(
                            "idempotency key {:?} of {actor} was used for a different operation \
                             (event {}); nothing was written",
                            keyed.key, kept.seq
                        ))),
                        None => Err(ArenaError::InvalidInput(format!(
                            "idempotency key {:?} of {actor} was recorded (event {}) before \
                             operations were remembered with it, so a retry cannot be checked; \
                             use a new key",
                            keyed.key, kept.seq
                        ))),
                    };
                }
            };
            match self.commit(arena, Some(loaded), actor, &changes, key) {
                Err(ArenaError::Conflict) => trust_held = false,
                Err(e) => return Err(e),
                Ok(after) => {
                    let answered = answer(&after.state);
                    self.states.put(after);
                    return Ok(answered);
                }
            }
        }
        Err(ArenaError::Conflict)
    }

    /// Seals `changes` as the events after `loaded`, folds them, and appends the events in one
    /// atomic write guarded by the state's sequence number — with the indexed record when it
    /// changes, and a snapshot of the new state when one is due. Returns the new state, for the
    /// caller to hold.
    fn commit(
        &self,
        arena: &str,
        loaded: Option<Loaded>,
        actor: &str,
        changes: &[Change],
        key: Option<Keyed<'_>>,
    ) -> Result<Loaded, ArenaError> {
        let at = timestamp(self.clock.now());
        let (state, mut debt) = match loaded {
            Some(Loaded { state, debt }) => (Some(state), debt),
            None => (None, SnapshotDebt::default()),
        };
        let expected_seq = state.as_ref().map_or(0, |a| a.last_seq);
        // Most operations cannot change what storage indexes: for them the record is not compared.
        let may_reindex = expected_seq == 0 || changes.iter().any(Indexed::may_change);
        let before = state
            .as_ref()
            .filter(|_| may_reindex)
            .map(|a| Indexed::of(a, changes));
        let mut current = state;
        let mut sealed = Vec::with_capacity(changes.len());
        // The hash the last event follows: binding a snapshot seals it again.
        let mut last_prev_hash = String::new();
        for (index, change) in changes.iter().enumerate() {
            let (seq, hash) = current
                .as_ref()
                .map_or((0, ""), |a| (a.last_seq, a.last_hash.as_str()));
            if index + 1 == changes.len() {
                last_prev_hash = hash.to_string();
            }
            // The key rides on the operation's last event: a retry returns the state after it.
            let event_key = key.filter(|_| index + 1 == changes.len());
            let event = seal(seq, hash, &at, actor, change, event_key);
            let next = match apply_sealed(current, &event, change.clone(), event_key) {
                Ok(next) => next,
                // A new arena's changes are the component's own from first to last.
                Err(e) if expected_seq == 0 => {
                    panic!("arena {arena}: a new arena refuses its own changes: {e}")
                }
                // The changes were decided on this very state, so only a stored state that
                // contradicts itself (which no fold produces) refuses them.
                Err(e) => {
                    return Err(ArenaError::Storage(format!(
                        "arena {arena}: the stored state does not take its next event: {e}"
                    )));
                }
            };
            current = Some(next);
            sealed.push(event);
        }
        let Some(mut next) = current else {
            panic!("arena {arena}: an operation produced no state: no stored state and no change")
        };
        debt.add(&sealed);
        // A snapshot is bound to the chain: the last event records its digest.
        let snapshot = match sealed.last_mut() {
            Some(last) if debt.due(&self.snapshots) => {
                Some(bind_snapshot(last, &last_prev_hash, &mut next))
            }
            _ => None,
        };
        log_size::check(&next, changes)?;
        let record = if may_reindex {
            let after = Indexed::of(&next, changes);
            (before.as_ref() != Some(&after)).then(|| ArenaRecord {
                status: next.status,
                participants: after.participants.clone(),
                tags: after.tags.clone().unwrap_or_else(|| next.fact_tags()),
            })
        } else {
            None
        };
        match self.storage.append(
            arena,
            expected_seq,
            &sealed,
            record.as_ref(),
            snapshot.as_deref(),
        ) {
            // A storage may store the events and still answer `conflict` (an answer lost, a retry
            // of its own): the events' last hash identifies this attempt, so the caller's retry
            // does not write the operation twice.
            Err(ArenaError::Conflict) if self.stored_anyway(arena, &sealed)? => {}
            answer => answer?,
        }
        if let Some(snapshot) = &snapshot {
            debt = SnapshotDebt::kept(snapshot.len());
        }
        Ok(Loaded { state: next, debt })
    }
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Whether `sealed`, refused with `conflict`, is in `arena`'s log all the same: its last event
    /// is there with its hash (which chains every event before it, and covers its time and actor).
    fn stored_anyway(&self, arena: &str, sealed: &[Event]) -> Result<bool, ArenaError> {
        let Some(last) = sealed.last() else {
            return Ok(false);
        };
        let found = self.read_events_checked(arena, last.seq - 1, 1, None)?;
        Ok(found
            .first()
            .is_some_and(|event| event.seq == last.seq && event.hash == last.hash))
    }
}

/// What the storage indexes about a state, as far as an operation of `changes` can change it: the
/// fact tags only when it adds facts (they change no other way).
#[derive(PartialEq)]
struct Indexed {
    status: crate::types::ArenaStatus,
    participants: Vec<String>,
    tags: Option<Vec<String>>,
}

impl Indexed {
    /// Whether `change` may change what storage indexes: the status, the participants, the tags.
    fn may_change(change: &Change) -> bool {
        matches!(
            change,
            Change::ArenaCreated { .. }
                | Change::ArenaForked { .. }
                | Change::AgentJoined { .. }
                | Change::AgentLeft { .. }
                | Change::ArenaActivated {}
                | Change::ArenaSettling {}
                | Change::ArenaArchived { .. }
                | Change::ArenaAborted { .. }
                | Change::FactAdded { .. }
        )
    }

    fn of(state: &Arena, changes: &[Change]) -> Self {
        let adds_facts = changes
            .iter()
            .any(|c| matches!(c, Change::FactAdded { .. }));
        Indexed {
            status: state.status,
            participants: state.participants.keys().cloned().collect(),
            tags: adds_facts.then(|| state.fact_tags()),
        }
    }
}

/// Re-exported for hosts that fold logs themselves.
pub use events::replay;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SteppingClock;
    use crate::storage::MemoryStorage;

    const ARENA: &str = "0192f0c8-7c1a-7c3e-8a4b-1234567890ab";

    #[test]
    #[should_panic(expected = "an operation produced no state")]
    fn committing_no_change_to_an_arena_without_state_is_a_broken_invariant() {
        let manager = ArenaManager::new(MemoryStorage::new(), SteppingClock::starting_at(0));
        let _ = manager.commit(ARENA, None, "op", &[], None);
    }

    #[test]
    #[should_panic(expected = "a new arena refuses its own changes")]
    fn a_new_arena_that_refuses_its_own_changes_is_a_broken_invariant() {
        let manager = ArenaManager::new(MemoryStorage::new(), SteppingClock::starting_at(0));
        let step_before_creation = [Change::StepCompleted { step: 1 }];
        let _ = manager.commit(ARENA, None, "op", &step_before_creation, None);
    }
}
