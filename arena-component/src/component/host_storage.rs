//! The storage imports, seen through the domain's [`Storage`] trait.

use super::bindings::arena::core::storage as host;
use super::bindings::arena::core::types as wit;
use super::convert::{error_in, event_in, event_out, status_out};
use crate::events::Event;
use crate::storage::{ArenaRecord, LogHead, Snapshot, Storage};
use crate::types::ArenaError;

/// The storage imports, seen through the domain's trait.
pub(super) struct HostStorage;

impl Storage for HostStorage {
    fn head(&self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        Ok(host::head(arena).map_err(error_in)?.map(|h| LogHead {
            seq: h.seq,
            hash: h.hash,
        }))
    }

    fn snapshot(&self, arena: &str, at_most: u64) -> Result<Option<Snapshot>, ArenaError> {
        Ok(host::snapshot(arena, at_most)
            .map_err(error_in)?
            .map(|s| Snapshot {
                seq: s.seq,
                state: s.state,
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
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        let events: Vec<wit::Event> = events.iter().cloned().map(event_out).collect();
        let record = record.map(|record| host::ArenaRecord {
            status: status_out(record.status),
            participants: record.participants.clone(),
            tags: record.tags.clone(),
        });
        host::append(arena, expected_seq, &events, record.as_ref(), snapshot).map_err(error_in)
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
