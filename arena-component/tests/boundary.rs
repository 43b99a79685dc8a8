//! What the arena trusts and what it checks: idempotency keys remembered with the operation they
//! named, keyed creation, and a storage whose reads break the contract.

use std::cell::Cell;

use arena_component::events::Event;
use arena_component::storage::{Layer, Layered, Snapshot};
use arena_component::types::limits;
use arena_component::{
    ArenaConfig, ArenaError, ArenaId, ArenaManager, MemoryStorage, Operation, ParticipantSpec,
    Role, SlotStatus, SnapshotPolicy, SteppingClock, Storage, Strategy,
};

const START_MILLIS: i64 = 1_767_225_600_000;

fn config(goal: &str) -> ArenaConfig {
    ArenaConfig {
        goal: goal.into(),
        total_steps: 10,
        strategy: Strategy::Peer("lead".into()),
        participants: vec![
            ParticipantSpec {
                agent: "lead".into(),
                role: Role::Coordinator,
                permissions: None,
            },
            ParticipantSpec {
                agent: "w1".into(),
                role: Role::Worker,
                permissions: None,
            },
        ],
        created_by: "op".into(),
    }
}

fn manager<S: Storage>(storage: S) -> ArenaManager<S, SteppingClock> {
    ArenaManager::new(storage, SteppingClock::starting_at(START_MILLIS))
}

/// An active arena with `lead` and `w1`.
fn active<S: Storage>(m: &ArenaManager<S, SteppingClock>) -> ArenaId {
    let id = m.create(&config("survey the reef")).unwrap();
    m.handle(&id, "lead").activate().unwrap();
    id
}

fn head<S: Storage>(m: &ArenaManager<S, SteppingClock>, id: &str) -> u64 {
    m.storage().head(id).unwrap().unwrap().seq
}

// ---- idempotency -------------------------------------------------------------------------------

#[test]
fn a_retry_with_the_same_key_and_operation_returns_the_original_outcome() {
    let m = manager(MemoryStorage::new());
    let id = active(&m);
    let w1 = m.handle(&id, "w1").with_key("K1");
    let first = w1.perform(&Operation::CompleteStep(1)).unwrap();
    let before = head(&m, &id);
    let retried = w1.perform(&Operation::CompleteStep(1)).unwrap();
    assert_eq!(retried, first);
    assert_eq!(head(&m, &id), before, "a retry writes nothing");
}

#[test]
fn a_key_reused_for_another_step_is_refused_and_writes_nothing() {
    let m = manager(MemoryStorage::new());
    let id = active(&m);
    let w1 = m.handle(&id, "w1").with_key("K1");
    w1.perform(&Operation::CompleteStep(1)).unwrap();
    let before = head(&m, &id);
    let Err(ArenaError::InvalidInput(why)) = w1.perform(&Operation::CompleteStep(7)) else {
        panic!("a key reused for another operation must be refused");
    };
    assert!(why.contains("\"K1\""), "{why}");
    assert!(why.contains("different operation"), "{why}");
    assert_eq!(head(&m, &id), before);
    assert!(!m.get(&id).unwrap().aggregate.is_done(7));
}

#[test]
fn a_key_reused_for_another_slot_status_is_refused() {
    let m = manager(MemoryStorage::new());
    let id = active(&m);
    let w1 = m.handle(&id, "w1").with_key("K4");
    w1.perform(&Operation::SetSlotStatus(SlotStatus::Failed))
        .unwrap();
    assert!(matches!(
        w1.perform(&Operation::SetSlotStatus(SlotStatus::Done)),
        Err(ArenaError::InvalidInput(_))
    ));
    assert_eq!(
        m.get(&id).unwrap().slot("w1").unwrap().status,
        SlotStatus::Failed
    );
}

#[test]
fn keys_survive_replay_with_their_digests() {
    let m = manager(MemoryStorage::new());
    let id = active(&m);
    m.handle(&id, "w1")
        .with_key("K1")
        .perform(&Operation::CompleteStep(2))
        .unwrap();
    assert_eq!(m.verify(&id).unwrap().problem, None);
    let stored = m.get(&id).unwrap();
    let kept = stored.keyed("w1", "K1").unwrap();
    assert_eq!(
        kept.digest.as_deref(),
        Some(Operation::CompleteStep(2).digest("w1").as_str())
    );
}

#[test]
fn a_snapshot_with_keys_from_before_digests_still_loads() {
    let legacy = r#"{"keys":{"w1\u001fK1":5}}"#;
    #[derive(serde::Deserialize)]
    struct Keys {
        keys: std::collections::BTreeMap<String, arena_component::types::KeyedOp>,
    }
    let keys: Keys = serde_json::from_str(legacy).unwrap();
    let kept = &keys.keys["w1\u{1f}K1"];
    assert_eq!((kept.seq, kept.digest.as_deref()), (5, None));
}

// ---- keyed creation ----------------------------------------------------------------------------

#[test]
fn a_keyed_create_retried_returns_the_same_arena() {
    let m = manager(MemoryStorage::new());
    let first = m.create_keyed(&config("g"), "C1").unwrap();
    let again = m.create_keyed(&config("g"), "C1").unwrap();
    assert_eq!(first, again);
    assert_eq!(m.list(None, 10).unwrap().len(), 1);
    assert_eq!(
        &first[14..15],
        "8",
        "a keyed arena's id is a UUIDv8: {first}"
    );
    assert_eq!(m.verify(&first).unwrap().problem, None);
}

#[test]
fn a_keyed_create_retried_after_the_arena_moved_on_returns_it() {
    let m = manager(MemoryStorage::new());
    let id = m.create_keyed(&config("g"), "C1").unwrap();
    m.handle(&id, "lead").activate().unwrap();
    assert_eq!(m.create_keyed(&config("g"), "C1").unwrap(), id);
}

#[test]
fn a_keyed_create_with_another_config_is_refused() {
    let m = manager(MemoryStorage::new());
    let id = m.create_keyed(&config("g"), "C1").unwrap();
    let Err(ArenaError::InvalidInput(why)) = m.create_keyed(&config("other goal"), "C1") else {
        panic!("another config under the same key must be refused");
    };
    assert!(why.contains("\"C1\"") && why.contains(&id), "{why}");
    assert_eq!(m.list(None, 10).unwrap().len(), 1);
}

#[test]
fn keyed_creates_of_different_creators_or_keys_are_different_arenas() {
    let m = manager(MemoryStorage::new());
    let a = m.create_keyed(&config("g"), "C1").unwrap();
    let b = m.create_keyed(&config("g"), "C2").unwrap();
    let mut other = config("g");
    other.created_by = "someone else".into();
    let c = m.create_keyed(&other, "C1").unwrap();
    assert!(a != b && a != c && b != c);
}

// ---- a storage that breaks the contract on reads ------------------------------------------------

/// How [`HostileStorage`] breaks what it returns.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Hostile {
    Honest,
    Reversed,
    Gap,
    Duplicate,
    NotAfter,
    PastHead,
    TooMany,
    Short,
    OtherSnapshot,
    LaterSnapshot,
}

/// Stores faithfully; reads back broken in the way its layer's `mode` says.
type HostileStorage = Layered<MemoryStorage, Hostility>;

/// How a [`HostileStorage`] breaks its reads: `mode`, and the other arena whose snapshot it hands
/// out under [`Hostile::OtherSnapshot`].
struct Hostility {
    mode: Cell<Hostile>,
    other: Cell<Option<&'static str>>,
}

impl Layer<MemoryStorage> for Hostility {
    fn snapshot(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        at_most: u64,
    ) -> Result<Option<Snapshot>, ArenaError> {
        match (self.mode.get(), self.other.get()) {
            // The other arena's snapshot, as if it were this arena's.
            (Hostile::OtherSnapshot, Some(other)) => inner.snapshot(other, at_most),
            // The latest snapshot, whatever event was asked for.
            (Hostile::LaterSnapshot, _) => inner.snapshot(arena, u64::MAX),
            _ => inner.snapshot(arena, at_most),
        }
    }

    fn read_events(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        let all = inner.read_events(arena, 0, limits::PAGE)?;
        let mut page = inner.read_events(arena, after, limit)?;
        match self.mode.get() {
            Hostile::Honest | Hostile::OtherSnapshot | Hostile::LaterSnapshot => {}
            Hostile::Reversed => page.reverse(),
            Hostile::Gap => {
                if page.len() > 1 {
                    page.remove(1);
                }
            }
            Hostile::Duplicate => {
                if let Some(first) = page.first().cloned() {
                    page.insert(1, first);
                }
            }
            Hostile::NotAfter => page = all.clone(),
            Hostile::PastHead => {
                if let Some(last) = page.last().cloned() {
                    let mut next = last;
                    next.seq += 1;
                    page.push(next);
                }
            }
            Hostile::TooMany => {
                page = all
                    .iter()
                    .cycle()
                    .take(limit as usize + 5)
                    .cloned()
                    .collect()
            }
            Hostile::Short => {
                page.pop();
            }
        }
        Ok(page)
    }
}

fn hostile() -> ArenaManager<HostileStorage, SteppingClock> {
    manager(hostile_storage())
}

/// The storage error every read path answers under `mode`, after `after`.
fn refused(mode: Hostile, after: u64, limit: u32) -> String {
    let m = hostile();
    let id = active(&m);
    for step in 1..=4 {
        m.handle(&id, "w1").complete_step(step).unwrap();
    }
    m.storage().layer.mode.set(mode);
    let events = m.events(&id, after, limit);
    let observed = m.handle(&id, "w1").events(after, limit);
    assert_eq!(events, observed, "both read paths check the same way");
    match events {
        Err(ArenaError::Storage(why)) => {
            assert!(why.contains(&id), "the error names the arena: {why}");
            why
        }
        other => panic!("{mode:?} must be refused, got {other:?}"),
    }
}

#[test]
fn events_out_of_order_are_refused() {
    let why = refused(Hostile::Reversed, 0, 100);
    assert!(
        why.contains("out of order") || why.contains("not after"),
        "{why}"
    );
}

#[test]
fn events_with_a_gap_are_refused() {
    let why = refused(Hostile::Gap, 0, 100);
    assert!(why.contains("gap: event 2 is missing"), "{why}");
}

#[test]
fn repeated_events_are_refused() {
    let why = refused(Hostile::Duplicate, 0, 100);
    assert!(why.contains("repeated"), "{why}");
}

#[test]
fn events_not_after_the_cursor_are_refused() {
    let why = refused(Hostile::NotAfter, 3, 100);
    assert!(why.contains("event 1 is not after event 3"), "{why}");
}

#[test]
fn events_past_the_head_are_left_out() {
    // Another writer may append between the read of the head and the read of the events: what lies
    // past the head belongs to a later read, so it is never answered.
    let m = hostile();
    let id = active(&m);
    m.handle(&id, "w1").complete_step(1).unwrap();
    let head = head(&m, &id);
    m.storage().layer.mode.set(Hostile::PastHead);
    let events = m.events(&id, 0, 100).unwrap();
    assert_eq!(events.last().map(|e| e.seq), Some(head));
    assert_eq!(m.handle(&id, "w1").events(0, 100).unwrap(), events);
}

#[test]
fn more_events_than_the_limit_are_refused() {
    let why = refused(Hostile::TooMany, 0, 2);
    assert!(why.contains("for a read of at most 2"), "{why}");
}

#[test]
fn a_read_that_stops_short_of_the_head_is_refused() {
    let why = refused(Hostile::Short, 0, 100);
    assert!(why.contains("but the log's head is event"), "{why}");
}

#[test]
fn replay_to_an_event_checks_its_reads_too() {
    let m = hostile();
    let id = active(&m);
    m.handle(&id, "w1").complete_step(1).unwrap();
    m.storage().layer.mode.set(Hostile::Gap);
    assert!(matches!(m.get_at(&id, 3), Err(ArenaError::Storage(_))));
}

#[test]
fn an_honest_storage_passes_every_check() {
    let m = hostile();
    let id = active(&m);
    m.handle(&id, "w1").complete_step(1).unwrap();
    assert_eq!(m.events(&id, 0, 2).unwrap().len(), 2);
    assert_eq!(
        m.events(&id, 2, 100).unwrap().len(),
        head(&m, &id) as usize - 2
    );
    assert_eq!(m.events(&id, 100, 100).unwrap().len(), 0);
    assert_eq!(m.verify(&id).unwrap().problem, None);
}

/// A hostile storage, honest until told otherwise.
fn hostile_storage() -> HostileStorage {
    Layered {
        inner: MemoryStorage::new(),
        layer: Hostility {
            mode: Cell::new(Hostile::Honest),
            other: Cell::new(None),
        },
    }
}

const EVERY_OPERATION: SnapshotPolicy = SnapshotPolicy {
    min_bytes: 0,
    snapshot_percent: 0,
};

#[test]
fn a_snapshot_of_another_arena_is_not_used_and_the_state_is_rebuilt_from_the_log() {
    let storage = hostile_storage();
    let writer = manager(&storage).with_snapshot_policy(EVERY_OPERATION);
    let mine = active(&writer);
    let theirs = writer.create(&config("another goal")).unwrap();
    writer.handle(&theirs, "lead").activate().unwrap();
    assert_eq!(
        head(&writer, &mine),
        head(&writer, &theirs),
        "the same head sequence"
    );
    let expected = writer.get(&mine).unwrap();
    let leaked: &'static str = Box::leak(theirs.clone().into_boxed_str());
    storage.layer.other.set(Some(leaked));
    storage.layer.mode.set(Hostile::OtherSnapshot);
    let cold = manager(&storage);
    assert_eq!(cold.get(&mine), Ok(expected));
    let problem = cold.verify(&mine).unwrap().problem.unwrap();
    assert!(
        problem.ends_with("does not have the digest its event records"),
        "{problem}"
    );
}

#[test]
fn a_snapshot_past_the_event_asked_for_is_refused() {
    let storage = hostile_storage();
    let writer = manager(&storage).with_snapshot_policy(EVERY_OPERATION);
    let id = active(&writer);
    writer.handle(&id, "w1").complete_step(1).unwrap();
    let last = head(&writer, &id);
    storage.layer.mode.set(Hostile::LaterSnapshot);
    let cold = manager(&storage);
    assert_eq!(
        cold.get_at(&id, 2),
        Err(ArenaError::Storage(format!(
            "arena {id}: storage broke its contract reading a snapshot at or before event 2: \
             it returned one at event {last}, past event 2"
        )))
    );
    storage.layer.mode.set(Hostile::Honest);
    assert_eq!(cold.get_at(&id, 2).map(|a| a.last_seq), Ok(2));
}

// ---- lists of arenas ---------------------------------------------------------------------------

/// How a [`MisListing`] storage breaks its lists of arena ids.
#[derive(Clone, Copy, Debug)]
enum Listing {
    Honest,
    /// `list-arenas` returns every id twice, past its limit.
    Doubled,
    /// `list-arenas` and `tagged` ignore their cursor.
    IgnoresAfter,
    /// `list-arenas` returns its ids in descending order.
    Descending,
    /// Every list carries an id that is not an arena id.
    Garbage,
    /// `list-arenas` carries a well-formed id of no arena.
    Unknown,
}

struct MisListing {
    mode: Cell<Listing>,
}

const NO_ARENA: &str = "0192f0c8-7c1a-7c3e-8a4b-000000000000";

impl Layer<MemoryStorage> for MisListing {
    fn list_arenas(
        &self,
        inner: &MemoryStorage,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        let mut ids = inner.list_arenas(after, limit)?;
        match self.mode.get() {
            Listing::Honest => {}
            Listing::Doubled => ids = ids.iter().flat_map(|id| [id.clone(), id.clone()]).collect(),
            Listing::IgnoresAfter => ids = inner.list_arenas(None, limit)?,
            Listing::Descending => ids.reverse(),
            Listing::Garbage => ids.push("../../etc/passwd".into()),
            Listing::Unknown => ids.insert(0, NO_ARENA.into()),
        }
        Ok(ids)
    }

    fn tagged(
        &self,
        inner: &MemoryStorage,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        match self.mode.get() {
            Listing::IgnoresAfter => inner.tagged(tag, None, limit),
            Listing::Garbage => Ok(vec!["not an id".into()]),
            _ => inner.tagged(tag, after, limit),
        }
    }

    fn participating(
        &self,
        inner: &MemoryStorage,
        agent: &str,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        let mut ids = inner.participating(agent)?;
        if let Listing::Garbage = self.mode.get() {
            ids.push("NOT-AN-ID".into());
        }
        Ok(ids)
    }
}

/// Two active arenas, each with a fact tagged `reef`, on a storage that lists as `mode` says.
fn arenas_listed(
    mode: Listing,
) -> (
    ArenaManager<Layered<MemoryStorage, MisListing>, SteppingClock>,
    Vec<ArenaId>,
) {
    let m = manager(Layered {
        inner: MemoryStorage::new(),
        layer: MisListing {
            mode: Cell::new(Listing::Honest),
        },
    });
    let mut ids: Vec<_> = (0..2).map(|_| active(&m)).collect();
    for id in &ids {
        m.handle(id, "w1")
            .add_fact(&arena_component::FactDraft {
                content: "the reef is north".into(),
                confidence: 0.9,
                tags: vec!["reef".into()],
            })
            .unwrap();
    }
    ids.sort();
    m.storage().layer.mode.set(mode);
    (m, ids)
}

fn storage_error<T: std::fmt::Debug>(result: Result<T, ArenaError>) -> String {
    match result {
        Err(ArenaError::Storage(why)) => why,
        other => panic!("a storage error expected, got {other:?}"),
    }
}

#[test]
fn an_honest_listing_passes_every_check() {
    let (m, ids) = arenas_listed(Listing::Honest);
    let listed: Vec<_> = m
        .list(None, 10)
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, ids);
    let reef = arena_component::FactQuery {
        tag: Some("reef".into()),
        text: None,
    };
    assert_eq!(m.query_facts(None, &reef, None, 10).unwrap().len(), 2);
    assert_eq!(m.active_arenas_for("w1").unwrap(), ids);
}

#[test]
fn list_arenas_past_its_limit_with_duplicates_is_a_storage_error() {
    let (m, _) = arenas_listed(Listing::Doubled);
    let why = storage_error(m.list(None, 1));
    assert_eq!(
        why,
        "storage broke its contract in list-arenas: 2 ids returned for a read of at most 1"
    );
    let why = storage_error(m.list(None, 10));
    assert!(
        why.contains("the ids are not ascending without repeats"),
        "{why}"
    );
}

#[test]
fn list_arenas_out_of_order_or_before_the_cursor_is_a_storage_error() {
    let (m, _) = arenas_listed(Listing::Descending);
    let why = storage_error(m.list(None, 10));
    assert!(
        why.contains("the ids are not ascending without repeats"),
        "{why}"
    );
    let (m, ids_too) = arenas_listed(Listing::IgnoresAfter);
    let why = storage_error(m.list(Some(&ids_too[0]), 10));
    assert_eq!(
        why,
        format!(
            "storage broke its contract in list-arenas: arena {} is not after {}",
            ids_too[0], ids_too[0]
        )
    );
}

#[test]
fn a_query_across_arenas_ends_when_tagged_ignores_its_cursor() {
    let (m, ids) = arenas_listed(Listing::IgnoresAfter);
    let reef = arena_component::FactQuery {
        tag: Some("reef".into()),
        text: None,
    };
    // One fact per arena: the query needs a second page, which repeats the first.
    let why = storage_error(m.query_facts(None, &reef, None, 10));
    assert_eq!(
        why,
        format!(
            "storage broke its contract in tagged: arena {} is not after {}",
            ids[0], ids[1]
        )
    );
}

#[test]
fn bad_ids_from_storage_are_a_storage_error_not_the_callers_invalid_input() {
    let (m, _) = arenas_listed(Listing::Garbage);
    assert_eq!(
        m.active_arenas_for("w1"),
        Err(ArenaError::Storage(
            "storage broke its contract in participating: it returned \"NOT-AN-ID\", which is not \
             an arena id"
                .into()
        ))
    );
    let why = storage_error(m.list(None, 10));
    assert!(
        why.ends_with("it returned \"../../etc/passwd\", which is not an arena id"),
        "{why}"
    );
    let reef = arena_component::FactQuery {
        tag: Some("reef".into()),
        text: None,
    };
    let why = storage_error(m.query_facts(None, &reef, None, 10));
    assert!(
        why.ends_with("it returned \"not an id\", which is not an arena id"),
        "{why}"
    );
}

#[test]
fn an_arena_listed_without_a_log_is_a_storage_error_not_not_found() {
    let (m, _) = arenas_listed(Listing::Unknown);
    assert_eq!(
        m.list(None, 10),
        Err(ArenaError::Storage(format!(
            "storage broke its contract in list-arenas: it returned arena {NO_ARENA}, which has no \
             log"
        )))
    );
}
