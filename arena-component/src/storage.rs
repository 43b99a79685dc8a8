//! The storage the arena logic runs on: the guest side of the WIT `storage` imports.
//!
//! In the component the trait is implemented by the host's imports; natively by [`MemoryStorage`] here
//! (unit tests) or by the host's SQLite code (the native baseline).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::events::Event;
use crate::types::{AgentId, ArenaError, ArenaId, ArenaStatus};

/// An arena as stored: the latest snapshot and the head of its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredArena {
    /// The arena's state as of its last snapshot, as JSON.
    pub snapshot: String,
    /// The sequence number of the log's last event.
    pub head_seq: u64,
    /// The hash of the log's last event.
    pub head_hash: String,
}

/// What the storage indexes about an arena, written with every append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaRecord {
    /// The arena's state after the appended events, as JSON.
    pub snapshot: String,
    /// The arena's status after the appended events.
    pub status: ArenaStatus,
    /// Current participants, sorted.
    pub participants: Vec<AgentId>,
    /// The distinct tags of the arena's facts, sorted.
    pub tags: Vec<String>,
}

/// The storage contract of DESIGN.md: reads, and one atomic append guarded by the expected sequence.
pub trait Storage {
    /// The arena's stored record, or `None`.
    fn load(&self, arena: &str) -> Result<Option<StoredArena>, ArenaError>;
    /// Up to `limit` events with `seq > after`, in order.
    fn read_events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError>;
    /// Appends `events` and replaces the record, all or nothing; `Conflict` (writing nothing) when the
    /// arena's last sequence number is not `expected_seq`.
    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: &ArenaRecord,
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

/// Checks that `events` continue a log whose last sequence number is `expected_seq` without gaps.
/// Every storage implementation runs this inside its append.
pub fn check_continuation(expected_seq: u64, events: &[Event]) -> Result<(), ArenaError> {
    check_sequence(expected_seq, events.iter().map(|event| event.seq))
}

/// Checks that the sequence numbers `seqs` continue a log whose last sequence number is
/// `expected_seq` without gaps: [`check_continuation`] for storages that keep events in a type of
/// their own.
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
/// `ArenaManager::events`) and the answer stays consistent with the head it read. The component runs it on every read,
/// so a storage that breaks its contract gets a `storage` error naming how, never a wrong answer.
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

#[derive(Default)]
struct MemoryArena {
    events: Vec<Event>,
    record: Option<ArenaRecord>,
}

/// An in-memory storage honouring the contract; for unit tests.
#[derive(Default)]
pub struct MemoryStorage {
    arenas: Mutex<BTreeMap<ArenaId, MemoryArena>>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn arenas(&self) -> std::sync::MutexGuard<'_, BTreeMap<ArenaId, MemoryArena>> {
        self.arenas.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemoryStorage {
    fn load(&self, arena: &str) -> Result<Option<StoredArena>, ArenaError> {
        Ok(self.arenas().get(arena).and_then(|a| {
            let record = a.record.as_ref()?;
            let head = a.events.last()?;
            Some(StoredArena {
                snapshot: record.snapshot.clone(),
                head_seq: head.seq,
                head_hash: head.hash.clone(),
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
        record: &ArenaRecord,
    ) -> Result<(), ArenaError> {
        let mut arenas = self.arenas();
        let head = arenas
            .get(arena)
            .and_then(|a| a.events.last())
            .map_or(0, |e| e.seq);
        if head != expected_seq {
            return Err(ArenaError::Conflict);
        }
        check_continuation(expected_seq, events)?;
        let entry = arenas.entry(arena.to_string()).or_default();
        entry.events.extend_from_slice(events);
        entry.record = Some(record.clone());
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
