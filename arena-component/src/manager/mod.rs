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

    /// The arena's current state; `not-found` for an unknown id.
    pub fn get(&self, arena: &str) -> Result<Arena, ArenaError> {
        self.current(arena)
    }

    /// Up to `limit` (at most one page) arenas with ids after `after`, oldest first.
    pub fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Arena>, ArenaError> {
        if let Some(after) = after {
            check_arena_id(after)?;
        }
        let limit = limit.min(limits::PAGE);
        let ids = self.storage.list_arenas(after, limit)?;
        check_ids("list-arenas", after, Some(limit), &ids)?;
        ids.iter()
            .map(|id| self.listed(id, "list-arenas"))
            .collect()
    }

    /// The state of arena `id`, which storage's `call` listed: one it listed without a log is
    /// storage's error.
    fn listed(&self, id: &str, call: &str) -> Result<Arena, ArenaError> {
        self.get(id).map_err(|e| match e {
            ArenaError::NotFound => ArenaError::Storage(format!(
                "storage broke its contract in {call}: it returned arena {id}, which has no log"
            )),
            other => other,
        })
    }

    /// Up to `limit` (at most one page) events with `seq > after`.
    ///
    /// The page is checked against the chain: each event's hash is recomputed from the event before
    /// (event `after` is read for the first), and the page's last event must chain to the head's
    /// hash: the page's own end when it reaches the head, else the events after the page, hashes
    /// only (see [`reach`]). Content altered in storage, re-hashed or not, is a `storage` error,
    /// never an answer.
    pub fn events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        let head = self.head(arena)?;
        let page =
            self.read_events_checked(arena, after, limit.min(limits::PAGE), Some(head.seq))?;
        self.check_chained(arena, after, &page, &head)?;
        if let Some(last) = page.last() {
            self.check_reaches_head(arena, last.seq, &last.hash, &head)?;
        }
        Ok(page)
    }

    /// Checks that `page`, read after event `after`, chains from that event, and ends with `head`'s
    /// hash if it reaches the head.
    fn check_chained(
        &self,
        arena: &str,
        after: u64,
        page: &[Event],
        head: &LogHead,
    ) -> Result<(), ArenaError> {
        if page.is_empty() {
            return Ok(());
        }
        let mut prev = if after == 0 {
            String::new()
        } else {
            self.read_events_checked(arena, after - 1, 1, None)?
                .pop()
                .filter(|event| event.seq == after)
                .map(|event| event.hash)
                .ok_or_else(|| {
                    ArenaError::Storage(format!("arena {arena}: event {after} is missing"))
                })?
        };
        for event in page {
            let computed = events::chain_hash(
                &prev,
                event.seq,
                &event.kind,
                &event.actor,
                &event.at,
                &event.payload,
            );
            if computed != event.hash {
                return Err(ArenaError::Storage(format!(
                    "arena {arena}: event {} does not chain to the event before: the log was \
                     altered (`arena verify {arena}` names the damage)",
                    event.seq
                )));
            }
            prev = computed;
        }
        match page.last() {
            Some(last) if last.seq == head.seq && last.hash != head.hash => {
                Err(ArenaError::Storage(format!(
                    "arena {arena}: the log's event {} does not have the head's hash",
                    head.seq
                )))
            }
            _ => Ok(()),
        }
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
        check_ids("participating", None, None, &ids)?;
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
        let (content, metadata): (String, std::collections::BTreeMap<String, String>) = match change
        {
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
        if let Some(digest) = &entry.digest
            && artifact_digest(&content, &metadata) != *digest
        {
            return Err(ArenaError::Storage(format!(
                "arena {arena}: event {} does not hold the content of artifact {}: its digest \
                 differs from the one the state holds",
                entry.seq, entry.id
            )));
        }
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
                if self.storage.head(id)?.is_some() {
                    take(&self.get(id)?, &mut found);
                }
                Some(id.to_string())
            }
            None => None,
        };
        // Each page starts after the last (checked), so the walk ends; and it reads at most
        // `TAGGED_PAGES` pages.
        let mut pages = 0;
        while found.len() < limit {
            if pages == TAGGED_PAGES {
                return Err(ArenaError::Storage(format!(
                    "storage returned more than {TAGGED_PAGES} pages of arenas tagged {tag:?}"
                )));
            }
            pages += 1;
            let page = self.storage.tagged(tag, cursor.as_deref(), limits::PAGE)?;
            check_ids("tagged", cursor.as_deref(), Some(limits::PAGE), &page)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            for id in &page {
                if found.len() == limit {
                    break;
                }
                take(&self.listed(id, "tagged")?, &mut found);
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
