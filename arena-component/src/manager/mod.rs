//! The arena manager: creates arenas, reads them, and runs every mutation through one path —
//! load, validate, turn into changes, fold, and append atomically under the expected sequence,
//! retrying on `conflict`.

use crate::clock::{Clock, timestamp};
use crate::events::{self, Change, Event, Keyed, apply, apply_sealed, seal};
use crate::facts::Matcher;
use crate::handle::Handle;
use crate::log_size;
use crate::storage::{ArenaRecord, Storage, check_page};
use crate::types::{
    Arena, ArenaError, ArenaId, Artifact, ArtifactEntry, Fact, FactQuery, SlotContents,
    check_agent_id, check_arena_id, check_key, limits,
};

mod cache;
mod create;
mod verify;

pub use create::keyed_arena_id;
pub use verify::VerifyReport;

use cache::StateCache;

/// Runs arena operations on a storage, taking time and randomness from a clock.
pub struct ArenaManager<S, C> {
    storage: S,
    clock: C,
    states: StateCache,
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// A manager over `storage`.
    pub fn new(storage: S, clock: C) -> Self {
        ArenaManager {
            storage,
            clock,
            states: StateCache::default(),
        }
    }

    /// The storage underneath.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// A view of `arena` acting as `agent`, limited to what the agent's permissions allow.
    pub fn handle<'a>(&'a self, arena: &'a str, agent: &'a str) -> Handle<'a, S, C> {
        Handle::new(self, arena, agent)
    }

    /// The arena's current state; `not-found` for an unknown id.
    pub fn get(&self, arena: &str) -> Result<Arena, ArenaError> {
        self.load_state(arena, false)
    }

    /// The arena's current state: from the cache of parsed states when its head has not moved
    /// (`take`: removed from it, for an operation that puts its result back), else parsed from the
    /// stored snapshot.
    fn load_state(&self, arena: &str, take: bool) -> Result<Arena, ArenaError> {
        check_arena_id(arena)?;
        let stored = self.storage.load(arena)?.ok_or(ArenaError::NotFound)?;
        let cached = if take {
            self.states.take(arena, stored.head_seq, &stored.head_hash)
        } else {
            self.states.get(arena, stored.head_seq, &stored.head_hash)
        };
        if let Some(state) = cached {
            return Ok(state);
        }
        let mut state: Arena = serde_json::from_str(&stored.snapshot)
            .map_err(|e| ArenaError::Storage(format!("arena {arena}: unreadable snapshot: {e}")))?;
        if state.id != arena {
            return Err(ArenaError::Storage(format!(
                "arena {arena}: storage returned the snapshot of arena {} instead",
                state.id
            )));
        }
        if state.last_seq != stored.head_seq || state.last_hash != stored.head_hash {
            return Err(ArenaError::Storage(format!(
                "arena {arena}: snapshot at event {} but log head at event {}",
                state.last_seq, stored.head_seq
            )));
        }
        log_size::count_if_unknown(&self.storage, arena, &mut state)?;
        if !take {
            self.states.put(state.clone());
        }
        Ok(state)
    }

    /// The arena as it was right after event `seq`, rebuilt by replaying the log from event 1.
    /// `invalid-input` unless `1 <= seq <= last`.
    pub fn get_at(&self, arena: &str, seq: u64) -> Result<Arena, ArenaError> {
        check_arena_id(arena)?;
        let head = self
            .storage
            .load(arena)?
            .ok_or(ArenaError::NotFound)?
            .head_seq;
        if seq == 0 || seq > head {
            return Err(ArenaError::InvalidInput(format!(
                "event {seq} is outside the log's 1..={head}"
            )));
        }
        let mut state = None;
        while state.as_ref().map_or(0, |a: &Arena| a.last_seq) < seq {
            let after = state.as_ref().map_or(0, |a: &Arena| a.last_seq);
            let wanted = (seq - after).min(u64::from(limits::PAGE)) as u32;
            let page = self.read_events_checked(arena, after, wanted, Some(head))?;
            if page.is_empty() {
                return Err(ArenaError::Storage(format!(
                    "arena {arena}: the log ends before event {seq}"
                )));
            }
            for event in &page {
                state = Some(apply(state, event).map_err(|e| {
                    ArenaError::Storage(format!("arena {arena}: the log does not replay: {e}"))
                })?);
            }
        }
        state.ok_or(ArenaError::NotFound)
    }

    /// Up to `limit` (at most one page) arenas with ids after `after`, oldest first.
    pub fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Arena>, ArenaError> {
        if let Some(after) = after {
            check_arena_id(after)?;
        }
        self.storage
            .list_arenas(after, limit.min(limits::PAGE))?
            .iter()
            .map(|id| self.get(id))
            .collect()
    }

    /// Up to `limit` (at most one page) events with `seq > after`.
    pub fn events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        check_arena_id(arena)?;
        let head = self
            .storage
            .load(arena)?
            .ok_or(ArenaError::NotFound)?
            .head_seq;
        self.read_events_checked(arena, after, limit.min(limits::PAGE), Some(head))
    }

    /// `read-events`, checked with [`check_page`] against the log's `head` when it is known, and cut
    /// at that head: events appended since it was read belong to a later read.
    pub(crate) fn read_events_checked(
        &self,
        arena: &str,
        after: u64,
        limit: u32,
        head: Option<u64>,
    ) -> Result<Vec<Event>, ArenaError> {
        let mut page = self.storage.read_events(arena, after, limit)?;
        check_page(arena, after, limit, head, &page)?;
        if let Some(head) = head {
            page.retain(|event| event.seq <= head);
        }
        Ok(page)
    }

    /// Ids of the non-archived arenas where `agent` currently participates, sorted.
    pub fn active_arenas_for(&self, agent: &str) -> Result<Vec<ArenaId>, ArenaError> {
        check_agent_id(agent)?;
        let mut ids = self.storage.participating(agent)?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The artifact `entry` of `owner`'s slot, its content read from the event that stored it.
    pub(crate) fn artifact(
        &self,
        arena: &str,
        owner: &str,
        entry: &ArtifactEntry,
    ) -> Result<Artifact, ArenaError> {
        let event = self
            .read_events_checked(arena, entry.seq - 1, 1, None)?
            .pop()
            .filter(|e| e.seq == entry.seq)
            .ok_or_else(|| {
                ArenaError::Storage(format!("arena {arena}: event {} is missing", entry.seq))
            })?;
        let change = Change::decode(&event).map_err(|e| {
            ArenaError::Storage(format!("arena {arena}: the log does not decode: {e}"))
        })?;
        let (content, metadata) = match change {
            Change::ArtifactPut {
                content, metadata, ..
            }
            | Change::ArtifactMerged {
                content, metadata, ..
            } => (content, metadata),
            _ => {
                return Err(ArenaError::Storage(format!(
                    "arena {arena}: event {} does not store an artifact",
                    entry.seq
                )));
            }
        };
        Ok(Artifact {
            id: entry.id.clone(),
            author: owner.to_string(),
            kind: entry.kind.clone(),
            content,
            metadata: metadata.into_iter().collect(),
            sources: entry.sources.clone(),
            created_at: event.at,
            seq: entry.seq,
        })
    }

    /// `agent`'s slot in `state` with its artifacts' content; `not-found` if it never participated.
    pub(crate) fn slot_contents(
        &self,
        state: &Arena,
        agent: &str,
    ) -> Result<SlotContents, ArenaError> {
        let slot = state.slot(agent).ok_or(ArenaError::NotFound)?;
        let artifacts = slot
            .artifacts
            .iter()
            .map(|entry| self.artifact(&state.id, agent, entry))
            .collect::<Result<_, _>>()?;
        Ok(SlotContents {
            agent: agent.to_string(),
            status: slot.status,
            artifacts,
        })
    }

    /// Every slot of `arena` with its artifacts, sorted by agent: the operator's view.
    pub fn slots(&self, arena: &str) -> Result<Vec<SlotContents>, ArenaError> {
        let state = self.get(arena)?;
        state
            .all_slots()
            .iter()
            .map(|(agent, _)| self.slot_contents(&state, agent))
            .collect()
    }

    /// Up to `limit` (at most one page) facts matching `query`, ordered by arena id and sequence, after
    /// `after` (an arena id and a sequence number). With `arena` only that arena's facts; without, the
    /// facts of every arena carrying the query's tag, which is then required.
    pub fn query_facts(
        &self,
        arena: Option<&str>,
        query: &FactQuery,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<(ArenaId, Fact)>, ArenaError> {
        let matcher = Matcher::new(query)?;
        if let Some((id, _)) = after {
            check_arena_id(id)?;
        }
        let limit = limit.min(limits::PAGE) as usize;
        let mut found = Vec::new();
        let take = |state: &Arena, found: &mut Vec<(ArenaId, Fact)>| {
            let from = match after {
                Some((id, seq)) if id == state.id => seq,
                Some((id, _)) if id > state.id.as_str() => u64::MAX,
                _ => 0,
            };
            for fact in &state.facts {
                if found.len() == limit {
                    break;
                }
                if fact.seq > from && matcher.matches(fact) {
                    found.push((state.id.clone(), fact.clone()));
                }
            }
        };
        if let Some(arena) = arena {
            take(&self.get(arena)?, &mut found);
            return Ok(found);
        }
        let Some(tag) = query.tag.as_deref() else {
            return Err(ArenaError::InvalidInput(
                "a fact query across arenas needs a tag".into(),
            ));
        };
        let mut cursor = match after {
            Some((id, _)) => {
                if self.storage.load(id)?.is_some() {
                    take(&self.get(id)?, &mut found);
                }
                Some(id.to_string())
            }
            None => None,
        };
        while found.len() < limit {
            let page = self.storage.tagged(tag, cursor.as_deref(), limits::PAGE)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            for id in &page {
                if found.len() == limit {
                    break;
                }
                take(&self.get(id)?, &mut found);
            }
            cursor = Some(last);
        }
        Ok(found)
    }

    /// Runs one mutation of `arena` by `actor`: loads the state, lets `decide` validate it and name the
    /// changes, then appends them under the loaded sequence number, reloading and deciding again on
    /// `conflict` (a bounded number of times).
    ///
    /// With an idempotency `key` (and the digest of the operation) the caller already used on this
    /// arena, nothing is decided or written: the result is the arena as it was right after that first
    /// operation if it was the same operation, and `invalid-input` naming the key if it was not.
    pub(crate) fn mutate(
        &self,
        arena: &str,
        actor: &str,
        key: Option<Keyed<'_>>,
        decide: impl Fn(&Arena) -> Result<Vec<Change>, ArenaError>,
    ) -> Result<Arena, ArenaError> {
        check_agent_id(actor)?;
        if let Some(keyed) = key {
            check_key(keyed.key)?;
        }
        for _ in 0..=limits::CONFLICT_RETRIES {
            let state = self.load_state(arena, true)?;
            if let Some((keyed, kept)) =
                key.and_then(|k| Some((k, state.keyed(actor, k.key)?.clone())))
            {
                self.states.put(state);
                return match kept.digest {
                    Some(digest) if digest == keyed.digest => self.get_at(arena, kept.seq),
                    Some(_) => Err(ArenaError::InvalidInput(format!(
                        "idempotency key {:?} of {actor} was used for a different operation \
                         (event {}); nothing was written",
                        keyed.key, kept.seq
                    ))),
                    None => Err(ArenaError::InvalidInput(format!(
                        "idempotency key {:?} of {actor} was recorded (event {}) before operations \
                         were remembered with it, so a retry cannot be checked; use a new key",
                        keyed.key, kept.seq
                    ))),
                };
            }
            let changes = match decide(&state) {
                Ok(changes) => changes,
                Err(refused) => {
                    self.states.put(state);
                    return Err(refused);
                }
            };
            match self.commit(arena, Some(state), actor, &changes, key) {
                Err(ArenaError::Conflict) => continue,
                result => return result,
            }
        }
        Err(ArenaError::Conflict)
    }

    /// Seals `changes` as the events after `state`, folds them, and appends events and the new state
    /// in one atomic write guarded by the state's sequence number.
    fn commit(
        &self,
        arena: &str,
        state: Option<Arena>,
        actor: &str,
        changes: &[Change],
        key: Option<Keyed<'_>>,
    ) -> Result<Arena, ArenaError> {
        let at = timestamp(self.clock.now());
        let expected_seq = state.as_ref().map_or(0, |a| a.last_seq);
        let mut current = state;
        let mut sealed = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            let (seq, hash) = current
                .as_ref()
                .map_or((0, ""), |a| (a.last_seq, a.last_hash.as_str()));
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
        let Some(next) = current else {
            panic!("arena {arena}: an operation produced no state: no stored state and no change")
        };
        log_size::check(&next, changes)?;
        let snapshot = serde_json::to_string(&next).unwrap_or_else(|e| {
            panic!("arena {arena}: the state does not serialize into a snapshot: {e}")
        });
        let record = ArenaRecord {
            snapshot,
            status: next.status,
            participants: next.participants.keys().cloned().collect(),
            tags: next.fact_tags(),
        };
        self.storage.append(arena, expected_seq, &sealed, &record)?;
        self.states.put(next.clone());
        Ok(next)
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
