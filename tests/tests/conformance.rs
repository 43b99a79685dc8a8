//! One conformance suite for the storage contract, run against every implementation: the host's SQLite
//! storage, its PostgreSQL storage, and the in-memory storage component that the `wasmtime` CLI and
//! the polyglot tests use (driven through wasmtime like any component).
//!
//! PostgreSQL runs where `ARENA_TEST_POSTGRES` names a database (`.ci/run` starts a throwaway cluster
//! with `tests/postgres/with-postgres.sh`); each test gets a schema of its own. Without it the
//! PostgreSQL cases say so on stderr and pass — `.ci/run` never runs them that way.

use std::sync::{Arc, Barrier};

use arena_bindings::memory_storage::MemoryStorage;
use arena_bindings::storage::{ArenaRecord, LogHead, StateSnapshot};
use arena_host::db::{self, Durability, Location, Storage};
use arena_host::types::{ArenaError, ArenaStatus, Event};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The in-memory storage component in a Store of its own.
struct MemoryComponent {
    store: Store<Wasi>,
    storage: MemoryStorage,
}

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Wasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl MemoryComponent {
    fn new() -> Self {
        let engine = Engine::default();
        let path = std::path::Path::new(env!("TEST_GUEST_DIR")).join("memory_storage.wasm");
        let component = Component::from_file(&engine, path).expect("memory_storage.wasm");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        let mut store = Store::new(
            &engine,
            Wasi {
                ctx: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        let storage = MemoryStorage::instantiate(&mut store, &component, &linker).unwrap();
        MemoryComponent { store, storage }
    }
}

impl Storage for MemoryComponent {
    fn head(&mut self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        let s = self.storage.arena_core_storage();
        let head = s.call_head(&mut self.store, &arena.to_string()).unwrap()?;
        Ok(head.map(|h| LogHead {
            seq: h.seq,
            hash: h.hash,
        }))
    }
    fn snapshot(&mut self, arena: &str, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError> {
        let s = self.storage.arena_core_storage();
        let kept = s
            .call_snapshot(&mut self.store, &arena.to_string(), at_most)
            .unwrap()?;
        Ok(kept.map(|k| StateSnapshot {
            seq: k.seq,
            state: k.state,
        }))
    }
    fn read_events(&mut self, a: &str, after: u64, limit: u32) -> Result<Vec<Event>, ArenaError> {
        let s = self.storage.arena_core_storage();
        s.call_read_events(&mut self.store, &a.to_string(), after, limit)
            .unwrap()
    }
    fn append(
        &mut self,
        a: &str,
        expected: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        let s = self.storage.arena_core_storage();
        let record = record.map(|record| {
            arena_bindings::memory_storage::exports::arena::core::storage::ArenaRecord {
                status: record.status,
                participants: record.participants.clone(),
                tags: record.tags.clone(),
            }
        });
        s.call_append(
            &mut self.store,
            &a.to_string(),
            expected,
            events,
            record.as_ref(),
            snapshot,
        )
        .unwrap()
    }
    fn participating(&mut self, agent: &str) -> Result<Vec<String>, ArenaError> {
        let s = self.storage.arena_core_storage();
        s.call_participating(&mut self.store, &agent.to_string())
            .unwrap()
    }
    fn list_arenas(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError> {
        let s = self.storage.arena_core_storage();
        s.call_list_arenas(&mut self.store, after.map(str::to_string).as_ref(), limit)
            .unwrap()
    }
    fn tagged(&mut self, t: &str, after: Option<&str>, l: u32) -> Result<Vec<String>, ArenaError> {
        let s = self.storage.arena_core_storage();
        s.call_tagged(&mut self.store, t, after.map(str::to_string).as_ref(), l)
            .unwrap()
    }
}

/// Where each implementation keeps a test's data.
enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres(String),
    Memory,
}

impl Kind {
    fn location(&self) -> Option<Location> {
        match self {
            Kind::Sqlite(dir) => Some(Location::Sqlite(dir.path().join("arena.db"))),
            Kind::Postgres(url) => Some(Location::Postgres(url.clone())),
            Kind::Memory => None,
        }
    }

    /// A connection to this implementation's store for the test.
    fn connect(&self) -> Box<dyn Storage> {
        match self.location() {
            Some(location) => db::open(&location, Durability::Normal).unwrap(),
            None => Box::new(MemoryComponent::new()),
        }
    }
}

/// A PostgreSQL schema of its own for `test`, as a URL, if a database was given.
fn postgres_for(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("ARENA_TEST_POSTGRES") else {
        // CI (tests/postgres/with-postgres.sh) requires PostgreSQL: a skip there is a failure.
        assert!(
            std::env::var_os("ARENA_REQUIRE_POSTGRES").is_none(),
            "{test}: ARENA_REQUIRE_POSTGRES is set but ARENA_TEST_POSTGRES is not"
        );
        eprintln!("{test}: PostgreSQL skipped: ARENA_TEST_POSTGRES is not set");
        return None;
    };
    let schema = format!(
        "t_{}_{}",
        test,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{separator}options=-csearch_path%3D{schema}"))
}

/// Every implementation, each with a fresh store for `test`.
fn kinds(test: &str) -> Vec<(&'static str, Kind)> {
    let mut kinds = vec![
        ("sqlite", Kind::Sqlite(tempfile::tempdir().unwrap())),
        ("memory component", Kind::Memory),
    ];
    if let Some(url) = postgres_for(test) {
        kinds.push(("postgresql", Kind::Postgres(url)));
    }
    kinds
}

const ARENA: &str = "01934b5e-0000-7000-8000-00000000000a";

fn event(seq: u64) -> Event {
    Event {
        seq,
        at: format!("2026-01-01T00:00:00.{seq:06}Z"),
        actor: "w".into(),
        kind: "step-completed".into(),
        payload: format!(r#"{{"step":{seq},"v":1}}"#),
        hash: format!("{seq:064x}"),
    }
}

fn record(status: ArenaStatus, participants: &[&str], tags: &[&str]) -> ArenaRecord {
    ArenaRecord {
        status,
        participants: participants.iter().map(|p| p.to_string()).collect(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn active() -> ArenaRecord {
    record(ArenaStatus::Active, &["lead", "w"], &[])
}

fn head(s: &mut Box<dyn Storage>) -> Option<(u64, String)> {
    s.head(ARENA).unwrap().map(|h| (h.seq, h.hash))
}

fn kept(s: &mut Box<dyn Storage>, at_most: u64) -> Option<(u64, String)> {
    s.snapshot(ARENA, at_most)
        .unwrap()
        .map(|k| (k.seq, k.state))
}

#[test]
fn an_append_stores_events_and_the_head_is_the_last_event() {
    for (name, kind) in kinds("append") {
        let mut s = kind.connect();
        assert_eq!(head(&mut s), None, "{name}");
        s.append(ARENA, 0, &[event(1), event(2)], Some(&active()), None)
            .unwrap();
        assert_eq!(head(&mut s), Some((2, event(2).hash)), "{name}");
        s.append(ARENA, 2, &[event(3)], None, None).unwrap();
        assert_eq!(head(&mut s), Some((3, event(3).hash)), "{name}");
        let all = s.read_events(ARENA, 0, 100).unwrap();
        assert_eq!(all, vec![event(1), event(2), event(3)], "{name}");
        assert_eq!(
            s.read_events(ARENA, 1, 1).unwrap(),
            vec![event(2)],
            "{name}"
        );
        assert!(s.read_events(ARENA, 3, 10).unwrap().is_empty(), "{name}");
        assert!(
            s.read_events("no-such-arena", 0, 10).unwrap().is_empty(),
            "{name}"
        );
    }
}

#[test]
fn the_snapshot_kept_latest_at_or_before_the_asked_event_is_returned() {
    for (name, kind) in kinds("snapshots") {
        let mut s = kind.connect();
        s.append(ARENA, 0, &[event(1)], Some(&active()), None)
            .unwrap();
        assert_eq!(kept(&mut s, u64::MAX), None, "{name}: none kept yet");
        s.append(ARENA, 1, &[event(2), event(3)], None, Some("three"))
            .unwrap();
        s.append(ARENA, 3, &[event(4)], None, None).unwrap();
        s.append(ARENA, 4, &[event(5)], None, Some("five")).unwrap();
        assert_eq!(kept(&mut s, 2), None, "{name}");
        assert_eq!(kept(&mut s, 3), Some((3, "three".into())), "{name}");
        assert_eq!(kept(&mut s, 4), Some((3, "three".into())), "{name}");
        assert_eq!(kept(&mut s, u64::MAX), Some((5, "five".into())), "{name}");
        assert_eq!(
            s.snapshot("no-such-arena", u64::MAX).unwrap(),
            None,
            "{name}"
        );
    }
}

#[test]
fn a_stale_expected_sequence_is_a_conflict_that_writes_nothing() {
    for (name, kind) in kinds("stale") {
        let mut s = kind.connect();
        s.append(
            ARENA,
            0,
            &[event(1), event(2)],
            Some(&active()),
            Some("two"),
        )
        .unwrap();
        let archived = record(ArenaStatus::Archived, &[], &["t"]);
        assert_eq!(
            s.append(ARENA, 1, &[event(2)], Some(&archived), Some("stale")),
            Err(ArenaError::Conflict),
            "{name}"
        );
        assert_eq!(
            s.append(ARENA, 0, &[event(1)], Some(&archived), Some("again")),
            Err(ArenaError::Conflict),
            "{name}: creating an existing arena"
        );
        assert_eq!(kept(&mut s, u64::MAX), Some((2, "two".into())), "{name}");
        assert_eq!(s.read_events(ARENA, 0, 100).unwrap().len(), 2, "{name}");
        assert_eq!(s.participating("w").unwrap(), [ARENA], "{name}");
        assert!(s.tagged("t", None, 10).unwrap().is_empty(), "{name}");
    }
}

#[test]
fn events_that_do_not_continue_the_log_are_refused_and_write_nothing() {
    for (name, kind) in kinds("gap") {
        let mut s = kind.connect();
        s.append(ARENA, 0, &[event(1)], Some(&active()), None)
            .unwrap();
        assert!(
            matches!(
                s.append(ARENA, 1, &[event(3)], None, Some("gap")),
                Err(ArenaError::InvalidInput(_))
            ),
            "{name}"
        );
        assert_eq!(
            s.append(ARENA, 1, &[], None, None),
            Err(ArenaError::InvalidInput(
                "an append needs at least one event".into()
            )),
            "{name}"
        );
        assert_eq!(head(&mut s), Some((1, event(1).hash)), "{name}");
        assert_eq!(kept(&mut s, u64::MAX), None, "{name}");
        assert_eq!(
            s.read_events(ARENA, 0, 100).unwrap(),
            vec![event(1)],
            "{name}"
        );
    }
}

#[test]
fn creating_an_arena_without_its_record_is_refused_and_writes_nothing() {
    for (name, kind) in kinds("norecord") {
        let mut s = kind.connect();
        assert_eq!(
            s.append(ARENA, 0, &[event(1)], None, Some("one")),
            Err(ArenaError::InvalidInput(
                "an append that creates an arena needs its record".into()
            )),
            "{name}"
        );
        assert_eq!(head(&mut s), None, "{name}");
        assert!(s.list_arenas(None, 10).unwrap().is_empty(), "{name}");
    }
}

#[test]
fn the_indexes_follow_every_append_that_carries_a_record_and_only_those() {
    for (name, kind) in kinds("indexes") {
        let mut s = kind.connect();
        let ids: Vec<String> = (0..5)
            .map(|i| format!("01934b5e-0000-7000-8000-00000000010{i}"))
            .collect();
        for id in &ids {
            s.append(id, 0, &[event(1)], Some(&active()), None).unwrap();
        }
        // Ids ascend; paging continues after the last one seen.
        assert_eq!(s.list_arenas(None, 3).unwrap(), ids[..3], "{name}");
        assert_eq!(
            s.list_arenas(Some(&ids[2]), 10).unwrap(),
            ids[3..],
            "{name}"
        );
        // Membership and status: archived arenas and departed agents drop out.
        s.append(
            &ids[1],
            1,
            &[event(2)],
            Some(&record(ArenaStatus::Archived, &["lead", "w"], &[])),
            None,
        )
        .unwrap();
        s.append(
            &ids[2],
            1,
            &[event(2)],
            Some(&record(ArenaStatus::Active, &["lead"], &["birds", "tides"])),
            None,
        )
        .unwrap();
        // An append without a record leaves the record as it was.
        s.append(&ids[3], 1, &[event(2)], None, None).unwrap();
        let mut participating = s.participating("w").unwrap();
        participating.sort();
        assert_eq!(
            participating,
            [ids[0].clone(), ids[3].clone(), ids[4].clone()],
            "{name}"
        );
        assert!(s.participating("nobody").unwrap().is_empty(), "{name}");
        // Tags: replaced with each record, archived arenas included.
        s.append(
            &ids[4],
            1,
            &[event(2)],
            Some(&record(ArenaStatus::Archived, &["lead"], &["birds"])),
            None,
        )
        .unwrap();
        assert_eq!(
            s.tagged("birds", None, 10).unwrap(),
            [ids[2].clone(), ids[4].clone()],
            "{name}"
        );
        assert_eq!(
            s.tagged("birds", Some(&ids[2]), 10).unwrap(),
            [ids[4].clone()],
            "{name}"
        );
        assert_eq!(
            s.tagged("tides", None, 10).unwrap(),
            [ids[2].clone()],
            "{name}"
        );
        s.append(&ids[2], 2, &[event(3)], None, None).unwrap();
        assert_eq!(
            s.tagged("tides", None, 10).unwrap(),
            [ids[2].clone()],
            "{name}: kept without a record"
        );
        s.append(
            &ids[2],
            3,
            &[event(4)],
            Some(&record(ArenaStatus::Active, &["lead"], &["tides"])),
            None,
        )
        .unwrap();
        assert_eq!(
            s.tagged("birds", None, 10).unwrap(),
            [ids[4].clone()],
            "{name}"
        );
    }
}

/// Writers on separate connections append to one arena from the same head at once: exactly one wins,
/// the others get `conflict` and write nothing. (The memory component is one instance, so it has no
/// second connection to race with.)
#[test]
fn racing_writers_on_separate_connections_produce_exactly_one_winner() {
    const RACERS: usize = 4;
    for (name, kind) in kinds("race") {
        if kind.location().is_none() {
            continue;
        }
        kind.connect()
            .append(ARENA, 0, &[event(1)], Some(&active()), None)
            .unwrap();
        for round in 1..=5u64 {
            let start = Arc::new(Barrier::new(RACERS));
            let outcomes: Vec<Result<(), ArenaError>> = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..RACERS)
                    .map(|r| {
                        let (start, location) = (start.clone(), kind.location().unwrap());
                        scope.spawn(move || {
                            let mut s = db::open(&location, Durability::Normal).unwrap();
                            start.wait();
                            let state = format!("racer {r}");
                            s.append(ARENA, round, &[event(round + 1)], None, Some(&state))
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let won = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(won, 1, "{name} round {round}: {outcomes:?}");
            assert!(
                outcomes
                    .iter()
                    .all(|o| o.is_ok() || *o == Err(ArenaError::Conflict)),
                "{name}: {outcomes:?}"
            );
        }
        let mut s = kind.connect();
        let seqs: Vec<u64> = s
            .read_events(ARENA, 0, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "{name}");
        assert_eq!(head(&mut s).map(|h| h.0), Some(6), "{name}");
        assert_eq!(
            kept(&mut s, u64::MAX).map(|k| k.0),
            Some(6),
            "{name}: one snapshot per round, the winner's"
        );
    }
}

/// The host's own part of the contract: subscriber cursors only move forward.
#[test]
fn cursors_only_move_forward() {
    for (name, kind) in kinds("cursors") {
        let Some(location) = kind.location() else {
            continue;
        };
        let mut s = db::open(&location, Durability::Normal).unwrap();
        assert_eq!(s.cursor(ARENA, "eve").unwrap(), 0, "{name}");
        s.advance_cursor(ARENA, "eve", 5).unwrap();
        s.advance_cursor(ARENA, "eve", 3).unwrap();
        assert_eq!(s.cursor(ARENA, "eve").unwrap(), 5, "{name}");
        assert_eq!(s.cursor(ARENA, "bob").unwrap(), 0, "{name}");
    }
}
