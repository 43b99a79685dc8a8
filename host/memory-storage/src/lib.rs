//! `arena:core/storage` in the component's own memory. Each append checks the expected sequence
//! number and then writes everything, so it is atomic; nothing survives the instance.

use std::cell::RefCell;
use std::collections::BTreeMap;

wit_bindgen::generate!({ world: "memory-storage", path: "../../wit" });

use arena::core::types::{ArenaError, ArenaStatus, Event};
use exports::arena::core::storage::{ArenaRecord, Guest, LogHead, StateSnapshot};

struct Stored {
    record: ArenaRecord,
    events: Vec<Event>,
    snapshots: BTreeMap<u64, String>,
}

thread_local! {
    static ARENAS: RefCell<BTreeMap<String, Stored>> = const { RefCell::new(BTreeMap::new()) };
}

struct Memory;

impl Guest for Memory {
    fn head(arena: String) -> Result<Option<LogHead>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            let head = arenas.get(&arena)?.events.last()?;
            Some(LogHead {
                seq: head.seq,
                hash: head.hash.clone(),
            })
        }))
    }

    fn snapshot(arena: String, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            let (seq, state) = arenas
                .get(&arena)?
                .snapshots
                .range(..=at_most)
                .next_back()?;
            Some(StateSnapshot {
                seq: *seq,
                state: state.clone(),
            })
        }))
    }

    fn read_events(arena: String, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            arenas.get(&arena).map_or_else(Vec::new, |a| {
                a.events
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
        }))
    }

    fn append(
        arena: String,
        expected_seq: u64,
        events: Vec<Event>,
        record: Option<ArenaRecord>,
        snapshot: Option<String>,
    ) -> Result<(), ArenaError> {
        ARENAS.with_borrow_mut(|arenas| {
            let Some(last) = events.last().map(|e| e.seq) else {
                return Err(ArenaError::InvalidInput(
                    "an append needs at least one event".into(),
                ));
            };
            if expected_seq == 0 && record.is_none() {
                return Err(ArenaError::InvalidInput(
                    "an append that creates an arena needs its record".into(),
                ));
            }
            for (offset, event) in events.iter().enumerate() {
                let previous = expected_seq.saturating_add(offset as u64);
                if previous.checked_add(1) != Some(event.seq) {
                    return Err(ArenaError::InvalidInput(format!(
                        "appended event {} does not follow sequence {previous}",
                        event.seq
                    )));
                }
            }
            let head = arenas
                .get(&arena)
                .and_then(|a| a.events.last())
                .map_or(0, |e| e.seq);
            if head != expected_seq {
                return Err(ArenaError::Conflict);
            }
            let stored = match (arenas.get_mut(&arena), record) {
                (Some(stored), Some(record)) => {
                    stored.record = record;
                    stored
                }
                (Some(stored), None) => stored,
                (None, record) => arenas.entry(arena).or_insert(Stored {
                    record: record.expect("checked: a creation carries its record"),
                    events: Vec::new(),
                    snapshots: BTreeMap::new(),
                }),
            };
            stored.events.extend(events);
            if let Some(state) = snapshot {
                stored.snapshots.insert(last, state);
            }
            Ok(())
        })
    }

    fn participating(agent: String) -> Result<Vec<String>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            arenas
                .iter()
                .filter(|(_, a)| {
                    a.record.status != ArenaStatus::Archived
                        && a.record.participants.contains(&agent)
                })
                .map(|(id, _)| id.clone())
                .collect()
        }))
    }

    fn list_arenas(after: Option<String>, limit: u32) -> Result<Vec<String>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            arenas
                .keys()
                .filter(|id| after.as_ref().is_none_or(|after| *id > after))
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }

    fn tagged(tag: String, after: Option<String>, limit: u32) -> Result<Vec<String>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            arenas
                .iter()
                .filter(|(id, a)| {
                    after.as_ref().is_none_or(|after| *id > after) && a.record.tags.contains(&tag)
                })
                .take(limit as usize)
                .map(|(id, _)| id.clone())
                .collect()
        }))
    }
}

export!(Memory);
