//! `arena:core/storage` in the component's own memory. Each append checks the expected sequence
//! number and then writes everything, so it is atomic; nothing survives the instance.

use std::cell::RefCell;
use std::collections::BTreeMap;

wit_bindgen::generate!({ world: "memory-storage", path: "../../wit" });

use arena::core::types::{ArenaError, ArenaStatus, Event};
use exports::arena::core::storage::{ArenaRecord, Guest, StoredArena};

struct Stored {
    record: ArenaRecord,
    events: Vec<Event>,
}

thread_local! {
    static ARENAS: RefCell<BTreeMap<String, Stored>> = const { RefCell::new(BTreeMap::new()) };
}

struct Memory;

impl Guest for Memory {
    fn load(arena: String) -> Result<Option<StoredArena>, ArenaError> {
        Ok(ARENAS.with_borrow(|arenas| {
            arenas.get(&arena).and_then(|a| {
                let head = a.events.last()?;
                Some(StoredArena {
                    snapshot: a.record.snapshot.clone(),
                    head_seq: head.seq,
                    head_hash: head.hash.clone(),
                })
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
        state: ArenaRecord,
    ) -> Result<(), ArenaError> {
        ARENAS.with_borrow_mut(|arenas| {
            let head = arenas
                .get(&arena)
                .and_then(|a| a.events.last())
                .map_or(0, |e| e.seq);
            if head != expected_seq {
                return Err(ArenaError::Conflict);
            }
            for (offset, event) in events.iter().enumerate() {
                if event.seq != expected_seq + 1 + offset as u64 {
                    return Err(ArenaError::InvalidInput(format!(
                        "event {} does not follow {}",
                        event.seq,
                        expected_seq + offset as u64
                    )));
                }
            }
            let stored = arenas.entry(arena).or_insert_with(|| Stored {
                record: state.clone(),
                events: Vec::new(),
            });
            stored.events.extend(events);
            stored.record = state;
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
