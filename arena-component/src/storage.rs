//! The storage the arena logic runs on: the guest side of the WIT `storage` imports.
//!
//! In the component the trait is implemented by the host's imports; natively by [`MemoryStorage`] here
//! (unit tests) or by the host's SQLite code (the native baseline).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::events::Event;
use crate::types::{AgentId, ArenaError, ArenaId, ArenaStatus, check_arena_id};

/// The end of an arena's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHead {
    /// The sequence number of the last event.
    pub seq: u64,
    /// The hash of the last event.
    pub hash: String,
}

/// An arena's state as of one of its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The event the state is as of.
    pub seq: u64,
    /// The state after event `seq`, as JSON.
    pub state: String,
}

/// What the storage indexes about an arena: written when an append changes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaRecord {
    /// The arena's status after the appended events.
    pub status: ArenaStatus,
    /// Current participants, sorted.
    pub participants: Vec<AgentId>,
    /// The distinct tags of the arena's facts, sorted.
    pub tags: Vec<String>,
}

/// The storage contract of DESIGN.md: reads, and one atomic append guarded by the expected sequence.
pub trait Storage {
    /// The head of the arena's log, or `None` if there is no such arena.
    fn head(&self, arena: &str) -> Result<Option<LogHead>, ArenaError>;
    /// The arena's latest snapshot at or before event `at_most`, or `None`.
    fn snapshot(&self, arena: &str, at_most: u64) -> Result<Option<Snapshot>, ArenaError>;
    /// Up to `limit` events with `seq > after`, in order.
    fn read_events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError>;
    /// Appends `events` with the record (when it changes) and a snapshot of the state after them
    /// (when one is kept), all or nothing; `Conflict` (writing nothing) when the arena's last
    /// sequence number is not `expected_seq`.
    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError>;
    /// Ids of non-archived arenas where `agent` currently participates, in any order.
    fn participating(&self, agent: &str) -> Result<Vec<ArenaId>, ArenaError>;
    /// Up to `limit` arena ids greater than `after`, ascending.
    fn list_arenas(&self, after: Option<&str>, limit: u32) -> Result<Vec<ArenaId>, ArenaError>;
    /// Up to `limit` ids of arenas whose record lists `tag`, greater than `after`, ascending.
    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError>;
}

/// A storage borrowed by several managers (several hosts on one database).
impl<T: Storage + ?Sized> Storage for &T {
    fn head(&self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        (**self).head(arena)
    }
    fn snapshot(&self, arena: &str, at_most: u64) -> Result<Option<Snapshot>, ArenaError> {
        (**self).snapshot(arena, at_most)
    }
    fn read_events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        (**self).read_events(arena, after, limit)
    }
    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        (**self).append(arena, expected_seq, events, record, snapshot)
    }
    fn participating(&self, agent: &str) -> Result<Vec<ArenaId>, ArenaError> {
        (**self).participating(agent)
    }
    fn list_arenas(&self, after: Option<&str>, limit: u32) -> Result<Vec<ArenaId>, ArenaError> {
        (**self).list_arenas(after, limit)
    }
    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        (**self).tagged(tag, after, limit)
    }
}

/// What a [`Layered`] storage does to the calls it passes to the storage behind it. Each call goes
/// through unchanged unless overridden: a layer names only what it changes.
pub trait Layer<S: Storage> {
    /// [`Storage::head`] on `inner`.
    fn head(&self, inner: &S, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        inner.head(arena)
    }
    /// [`Storage::snapshot`] on `inner`.
    fn snapshot(
        &self,
        inner: &S,
        arena: &str,
        at_most: u64,
    ) -> Result<Option<Snapshot>, ArenaError> {
        inner.snapshot(arena, at_most)
    }
    /// [`Storage::read_events`] on `inner`.
    fn read_events(
        &self,
        inner: &S,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        inner.read_events(arena, after, limit)
    }
    /// [`Storage::append`] on `inner`.
    fn append(
        &self,
        inner: &S,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        inner.append(arena, expected_seq, events, record, snapshot)
    }
    /// [`Storage::participating`] on `inner`.
    fn participating(&self, inner: &S, agent: &str) -> Result<Vec<ArenaId>, ArenaError> {
        inner.participating(agent)
    }
    /// [`Storage::list_arenas`] on `inner`.
    fn list_arenas(
        &self,
        inner: &S,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        inner.list_arenas(after, limit)
    }
    /// [`Storage::tagged`] on `inner`.
    fn tagged(
        &self,
        inner: &S,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        inner.tagged(tag, after, limit)
    }
}

/// A storage whose every call goes through `layer` to `inner`: what tests of a storage the arena
/// cannot trust (tampered, hostile, conflicting, racing) are made of.
pub struct Layered<S, L> {
    /// The storage that keeps everything.
    pub inner: S,
    /// What happens to the calls on their way.
    pub layer: L,
}

impl<S: Storage, L: Layer<S>> Storage for Layered<S, L> {
    fn head(&self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        self.layer.head(&self.inner, arena)
    }
    fn snapshot(&self, arena: &str, at_most: u64) -> Result<Option<Snapshot>, ArenaError> {
        self.layer.snapshot(&self.inner, arena, at_most)
    }
    fn read_events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        self.layer.read_events(&self.inner, arena, after, limit)
    }
    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        self.layer
            .append(&self.inner, arena, expected_seq, events, record, snapshot)
    }
    fn participating(&self, agent: &str) -> Result<Vec<ArenaId>, ArenaError> {
        self.layer.participating(&self.inner, agent)
    }
    fn list_arenas(&self, after: Option<&str>, limit: u32) -> Result<Vec<ArenaId>, ArenaError> {
        self.layer.list_arenas(&self.inner, after, limit)
    }
    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        self.layer.tagged(&self.inner, tag, after, limit)
    }
}

/// Checks an append before anything is written: at least one event, continuing the log without
/// gaps, and a record when the append creates the arena. Every storage runs this inside its append.
///
/// # Failure
///
/// `invalid-input` naming what is wrong.
pub fn check_append(
    expected_seq: u64,
    seqs: impl IntoIterator<Item = u64>,
    has_record: bool,
) -> Result<(), ArenaError> {
    let mut seqs = seqs.into_iter().peekable();
    if seqs.peek().is_none() {
        return Err(ArenaError::InvalidInput(
            "an append needs at least one event".into(),
        ));
    }
    if expected_seq == 0 && !has_record {
        return Err(ArenaError::InvalidInput(
            "an append that creates an arena needs its record".into(),
        ));
    }
    check_sequence(expected_seq, seqs)
}

/// Checks that the sequence numbers `seqs` continue a log whose last sequence number is
/// `expected_seq` without gaps.
///
/// # Failure
///
/// `invalid-input` naming the first sequence number out of place.
pub fn check_sequence(
    expected_seq: u64,
    seqs: impl IntoIterator<Item = u64>,
) -> Result<(), ArenaError> {
    for (offset, seq) in (0u64..).zip(seqs) {
        let previous = expected_seq.saturating_add(offset);
        if previous.checked_add(1) != Some(seq) {
            return Err(ArenaError::InvalidInput(format!(
                "appended event {seq} does not follow sequence {previous}"
            )));
        }
    }
    Ok(())
}

/// Checks a page that `read-events` returned for a read of `arena` after event `after`, of at most
/// `limit` events, on a log whose head is event `head` (when known): the events are numbered
/// `after + 1` onwards without gaps or repeats, there are at most `limit` of them, and the page stops
/// short of `limit` only at the head. Events past `head` are not an error: another writer may append
/// between the read of the head and this read, so the caller drops them (see
/// `ArenaManager::events`) and the answer stays consistent with the head it read. The component
/// runs it on every read, so a storage that breaks its contract gets a `storage` error naming how,
/// never a wrong answer.
///
/// # Failure
///
/// `storage`, naming the arena and the first event out of place.
pub fn check_page(
    arena: &str,
    after: u64,
    limit: u32,
    head: Option<u64>,
    events: &[Event],
) -> Result<(), ArenaError> {
    let broken = |what: String| {
        Err(ArenaError::Storage(format!(
            "arena {arena}: storage broke its contract reading events after {after}: {what}"
        )))
    };
    if events.len() > limit as usize {
        return broken(format!(
            "{} events returned for a read of at most {limit}",
            events.len()
        ));
    }
    for (index, event) in events.iter().enumerate() {
        let expected = after.saturating_add(index as u64 + 1);
        if event.seq == expected {
            continue;
        }
        let later_is_lower = events[index + 1..].iter().any(|e| e.seq < event.seq);
        return broken(if event.seq <= after {
            format!("event {} is not after event {after}", event.seq)
        } else if event.seq < expected || later_is_lower {
            format!(
                "event {} is out of order or repeated where event {expected} belongs",
                event.seq
            )
        } else {
            format!(
                "event {} follows a gap: event {expected} is missing",
                event.seq
            )
        });
    }
    if let Some(head) = head {
        let last = after.saturating_add(events.len() as u64);
        if (events.len() as u64) < u64::from(limit) && last < head {
            return broken(format!(
                "the read ended at event {last}, but the log's head is event {head}"
            ));
        }
    }
    Ok(())
}

/// Checks arena ids that storage's `call` returned for ids greater than `after`, at most `limit`
/// of them (`None`: any number, in any order): each is a canonical arena id, and with a limit they
/// ascend without repeats, after the cursor, within the limit. A bad id from storage is storage's
/// error, never the caller's `invalid-input`.
///
/// # Failure
///
/// `storage`, naming the call and the first id out of place.
pub fn check_ids(
    call: &str,
    after: Option<&str>,
    limit: Option<u32>,
    ids: &[ArenaId],
) -> Result<(), ArenaError> {
    let broken = |what: String| {
        Err(ArenaError::Storage(format!(
            "storage broke its contract in {call}: {what}"
        )))
    };
    if let Some(bad) = ids.iter().find(|id| check_arena_id(id).is_err()) {
        let shown: String = bad.chars().take(64).collect();
        return broken(format!("it returned {shown:?}, which is not an arena id"));
    }
    let Some(limit) = limit else {
        return Ok(());
    };
    if ids.len() > limit as usize {
        return broken(format!(
            "{} ids returned for a read of at most {limit}",
            ids.len()
        ));
    }
    if let Some(after) = after
        && let Some(first) = ids.first()
        && first.as_str() <= after
    {
        return broken(format!("arena {first} is not after {after}"));
    }
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] >= pair[1]) {
        return broken(format!(
            "arena {} follows {}: the ids are not ascending without repeats",
            pair[1], pair[0]
        ));
    }
    Ok(())
}

/// Checks that a snapshot `snapshot` returned for a read of `arena` at or before event `at_most`, on
/// a log whose head is event `head`, was taken at or before both. Its content is checked against the
/// chain (see `events::check_bound_snapshot`) before it is used.
///
/// # Failure
///
/// `storage`, naming the arena and the event the snapshot was taken at.
pub fn check_snapshot_seq(
    arena: &str,
    at_most: u64,
    head: u64,
    snapshot: &Snapshot,
) -> Result<(), ArenaError> {
    if snapshot.seq > at_most || snapshot.seq > head || snapshot.seq == 0 {
        return Err(ArenaError::Storage(format!(
            "arena {arena}: storage broke its contract reading a snapshot at or before event \
             {at_most}: it returned one at event {}, past event {}",
            snapshot.seq,
            at_most.min(head)
        )));
    }
    Ok(())
}

#[derive(Default)]
struct MemoryArena {
    events: Vec<Event>,
    record: Option<ArenaRecord>,
    snapshots: BTreeMap<u64, String>,
}

/// An in-memory storage honouring the contract; for unit tests. A clone shares its arenas: managers
/// on clones of one storage are hosts on one database.
#[derive(Clone, Default)]
pub struct MemoryStorage {
    arenas: Arc<Mutex<BTreeMap<ArenaId, MemoryArena>>>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn arenas(&self) -> std::sync::MutexGuard<'_, BTreeMap<ArenaId, MemoryArena>> {
        self.arenas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sequence numbers of the snapshots kept of `arena`, ascending (for tests).
    pub fn snapshot_seqs(&self, arena: &str) -> Vec<u64> {
        self.arenas()
            .get(arena)
            .map(|a| a.snapshots.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Replaces the state of `arena`'s snapshot at `seq` (for tests of what `verify` finds).
    pub fn tamper_snapshot(&self, arena: &str, seq: u64, state: String) {
        if let Some(a) = self.arenas().get_mut(arena) {
            a.snapshots.insert(seq, state);
        }
    }
}

impl Storage for MemoryStorage {
    fn head(&self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        Ok(self.arenas().get(arena).and_then(|a| {
            let head = a.events.last()?;
            Some(LogHead {
                seq: head.seq,
                hash: head.hash.clone(),
            })
        }))
    }

    fn snapshot(&self, arena: &str, at_most: u64) -> Result<Option<Snapshot>, ArenaError> {
        Ok(self.arenas().get(arena).and_then(|a| {
            let (seq, state) = a.snapshots.range(..=at_most).next_back()?;
            Some(Snapshot {
                seq: *seq,
                state: state.clone(),
            })
        }))
    }

    fn read_events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        Ok(self
            .arenas()
            .get(arena)
            .map(|a| {
                a.events
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        check_append(expected_seq, events.iter().map(|e| e.seq), record.is_some())?;
        let mut arenas = self.arenas();
        let head = arenas
            .get(arena)
            .and_then(|a| a.events.last())
            .map_or(0, |e| e.seq);
        if head != expected_seq {
            return Err(ArenaError::Conflict);
        }
        let entry = arenas.entry(arena.to_string()).or_default();
        entry.events.extend_from_slice(events);
        if let Some(record) = record {
            entry.record = Some(record.clone());
        }
        if let (Some(state), Some(last)) = (snapshot, events.last()) {
            entry.snapshots.insert(last.seq, state.to_string());
        }
        Ok(())
    }

    fn participating(&self, agent: &str) -> Result<Vec<ArenaId>, ArenaError> {
        Ok(self
            .arenas()
            .iter()
            .filter(|(_, a)| {
                a.record.as_ref().is_some_and(|r| {
                    r.status != ArenaStatus::Archived && r.participants.iter().any(|p| p == agent)
                })
            })
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn list_arenas(&self, after: Option<&str>, limit: u32) -> Result<Vec<ArenaId>, ArenaError> {
        Ok(self
            .arenas()
            .keys()
            .filter(|id| after.is_none_or(|after| id.as_str() > after))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        Ok(self
            .arenas()
            .iter()
            .filter(|(id, a)| {
                after.is_none_or(|after| id.as_str() > after)
                    && a.record
                        .as_ref()
                        .is_some_and(|r| r.tags.iter().any(|t| t == tag))
            })
            .take(limit as usize)
            .map(|(id, _)| id.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_append_is_refused() {
        assert_eq!(
            check_append(4, [], true),
            Err(ArenaError::InvalidInput(
                "an append needs at least one event".into()
            ))
        );
    }

    #[test]
    fn creating_an_arena_without_its_record_is_refused() {
        assert_eq!(
            check_append(0, [1], false),
            Err(ArenaError::InvalidInput(
                "an append that creates an arena needs its record".into()
            ))
        );
        assert_eq!(check_append(1, [2], false), Ok(()));
    }

    #[test]
    fn a_gapless_sequence_continues_the_log() {
        assert_eq!(check_sequence(4, [5, 6, 7]), Ok(()));
    }

    #[test]
    fn nothing_to_append_continues_any_log() {
        assert_eq!(check_sequence(4, []), Ok(()));
    }

    #[test]
    fn a_gap_is_refused_at_the_first_event_out_of_place() {
        assert_eq!(
            check_sequence(4, [5, 7]),
            Err(ArenaError::InvalidInput(
                "appended event 7 does not follow sequence 5".into()
            ))
        );
    }

    #[test]
    fn a_repeated_sequence_number_is_refused() {
        assert_eq!(
            check_sequence(4, [4]),
            Err(ArenaError::InvalidInput(
                "appended event 4 does not follow sequence 4".into()
            ))
        );
    }

    #[test]
    fn no_event_follows_the_last_sequence_number() {
        assert_eq!(
            check_sequence(u64::MAX, [0]),
            Err(ArenaError::InvalidInput(format!(
                "appended event 0 does not follow sequence {}",
                u64::MAX
            )))
        );
    }
}
