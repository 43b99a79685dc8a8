//! The native baseline: the arena's domain logic compiled natively (`arena-component` as a Rust
//! library) on this host's own SQLite storage code — same SQL, same pragmas, same commit pattern — so
//! benchmarks can state what the component boundary costs.

use std::cell::RefCell;
use std::path::Path;

use arena_bindings::storage::ArenaRecord;
use arena_component as domain;
use arena_component::{ArenaManager, SystemClock};

use arena_host::Durability;
use arena_host::db::Storage;
use arena_host::db::sqlite::SqliteStorage;
use arena_host::types::{self, ArenaError};

/// [`SqliteStorage`] seen through the domain's `Storage` trait.
pub struct NativeStorage(RefCell<SqliteStorage>);

/// A native arena manager on the SQLite database at `path`.
pub fn native_manager(
    path: &Path,
    durability: Durability,
) -> Result<ArenaManager<NativeStorage, SystemClock>, arena_host::DbError> {
    let storage = SqliteStorage::open(path, durability)?;
    Ok(ArenaManager::new(
        NativeStorage(RefCell::new(storage)),
        SystemClock,
    ))
}

fn event_out(e: &domain::Event) -> types::Event {
    types::Event {
        seq: e.seq,
        at: e.at.clone(),
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        payload: e.payload.clone(),
        hash: e.hash.clone(),
    }
}

fn event_in(e: types::Event) -> domain::Event {
    domain::Event {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        payload: e.payload,
        hash: e.hash,
    }
}

fn status_out(status: domain::ArenaStatus) -> types::ArenaStatus {
    match status {
        domain::ArenaStatus::Created => types::ArenaStatus::Created,
        domain::ArenaStatus::Active => types::ArenaStatus::Active,
        domain::ArenaStatus::Settling => types::ArenaStatus::Settling,
        domain::ArenaStatus::Archived => types::ArenaStatus::Archived,
    }
}

/// Storage only ever answers `conflict`, `invalid-input` or `storage`.
fn error_in(e: ArenaError) -> domain::ArenaError {
    match e {
        ArenaError::Conflict => domain::ArenaError::Conflict,
        ArenaError::InvalidInput(m) => domain::ArenaError::InvalidInput(m),
        other => domain::ArenaError::Storage(arena_host::describe(&other)),
    }
}

impl domain::Storage for NativeStorage {
    fn head(&self, arena: &str) -> Result<Option<domain::LogHead>, domain::ArenaError> {
        Ok(self
            .0
            .borrow_mut()
            .head(arena)
            .map_err(error_in)?
            .map(|h| domain::LogHead {
                seq: h.seq,
                hash: h.hash,
            }))
    }

    fn snapshot(
        &self,
        arena: &str,
        at_most: u64,
    ) -> Result<Option<domain::Snapshot>, domain::ArenaError> {
        Ok(self
            .0
            .borrow_mut()
            .snapshot(arena, at_most)
            .map_err(error_in)?
            .map(|s| domain::Snapshot {
                seq: s.seq,
                state: s.state,
            }))
    }

    fn read_events(
        &self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<domain::Event>, domain::ArenaError> {
        let events = self
            .0
            .borrow_mut()
            .read_events(arena, after, limit)
            .map_err(error_in)?;
        Ok(events.into_iter().map(event_in).collect())
    }

    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[domain::Event],
        record: Option<&domain::ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), domain::ArenaError> {
        let events: Vec<types::Event> = events.iter().map(event_out).collect();
        let record = record.map(|record| ArenaRecord {
            status: status_out(record.status),
            participants: record.participants.clone(),
            tags: record.tags.clone(),
        });
        self.0
            .borrow_mut()
            .append(arena, expected_seq, &events, record.as_ref(), snapshot)
            .map_err(error_in)
    }

    fn participating(&self, agent: &str) -> Result<Vec<String>, domain::ArenaError> {
        self.0.borrow_mut().participating(agent).map_err(error_in)
    }

    fn list_arenas(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, domain::ArenaError> {
        self.0
            .borrow_mut()
            .list_arenas(after, limit)
            .map_err(error_in)
    }

    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, domain::ArenaError> {
        self.0
            .borrow_mut()
            .tagged(tag, after, limit)
            .map_err(error_in)
    }
}
