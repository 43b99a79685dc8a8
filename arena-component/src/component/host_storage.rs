//! The storage imports, seen through the domain's [`Storage`] trait.

use super::bindings::arena::core::storage as host;
use super::bindings::arena::core::types as wit;
use super::convert::{error_in, event_in, event_out, status_out};
use crate::events::Event;
use crate::storage::{ArenaRecord, Storage, StoredArena};
use crate::types::ArenaError;

/// The storage imports, seen through the domain's trait.
pub(super) struct HostStorage;

impl Storage for HostStorage {
    fn load(&self, arena: &str) -> Result<Option<StoredArena>, ArenaError> {
        Ok(host::load(arena).map_err(error_in)?.map(|s| StoredArena {
            snapshot: s.snapshot,
            head_seq: s.head_seq,
            head_hash: s.head_hash,
        }))
    }

    fn read_events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        Ok(host::read_events(arena, after, limit)
            .map_err(error_in)?
            .into_iter()
            .map(event_in)
            .collect())
    }

    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: &ArenaRecord,
    ) -> Result<(), ArenaError> {
        let events: Vec<wit::Event> = events.iter().cloned().map(event_out).collect();
        let record = host::ArenaRecord {
            snapshot: record.snapshot.clone(),
            status: status_out(record.status),
            participants: record.participants.clone(),
            tags: record.tags.clone(),
        };
        host::append(arena, expected_seq, &events, &record).map_err(error_in)
    }

    fn participating(&self, agent: &str) -> Result<Vec<String>, ArenaError> {
        host::participating(agent).map_err(error_in)
    }

    fn list_arenas(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError> {
        host::list_arenas(after, limit).map_err(error_in)
    }

    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        host::tagged(tag, after, limit).map_err(error_in)
    }
}
