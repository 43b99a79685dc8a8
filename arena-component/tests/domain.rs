//! Specifications of the arena domain, run natively: `ArenaManager` and `Handle` over
//! `MemoryStorage` (or small wrappers around it), with a deterministic clock.
//!
//! Each test states one behaviour of DESIGN.md. Refusals are checked by their exact error value and
//! by the log: a refused operation writes no event.

use std::cell::{Cell, RefCell};
use std::fmt::Debug;

use arena_component::events::{Change, Event, chain_hash, replay};
use arena_component::types::limits;
use arena_component::{
    ArenaConfig, ArenaError, ArenaId, ArenaManager, ArenaRecord, ArenaStatus, ArtifactDraft, Clock,
    Handle, Layer, Layered, Lifecycle, LogHead, MemoryStorage, Operation, Outcome, ParticipantSpec,
    Permission, Role, Snapshot, SnapshotPolicy, Storage, Strategy,
};
use chrono::{DateTime, Utc};

use ArenaStatus::{Active, Archived, Created, Settling};

// ------------------------------------------------------------------------------------------------
// A deterministic clock
// ------------------------------------------------------------------------------------------------

/// 2026-01-01T00:00:00Z in milliseconds since the epoch.
const START_MILLIS: i64 = 1_767_225_600_000;

/// A clock that starts at a fixed time and advances by 1 ms each time it is read; its random bytes
/// are a counter.
struct TestClock {
    next_millis: Cell<i64>,
    counter: Cell<u64>,
}

impl TestClock {
    fn new() -> Self {
        Self::starting_at(START_MILLIS)
    }

    fn starting_at(millis: i64) -> Self {
        TestClock {
            next_millis: Cell::new(millis),
            counter: Cell::new(0),
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let millis = self.next_millis.get();
        self.next_millis.set(millis + 1);
        DateTime::from_timestamp_millis(millis).expect("the test clock stays in range")
    }

    fn random(&self) -> [u8; 10] {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        let mut bytes = [0u8; 10];
        bytes[2..].copy_from_slice(&n.to_be_bytes());
        bytes
    }
}

// ------------------------------------------------------------------------------------------------
// Wrapper storages
// ------------------------------------------------------------------------------------------------

/// How [`TamperingStorage`] falsifies what it reads back.
#[derive(Clone, Copy, Debug)]
enum Tamper {
    Nothing,
    /// Replaces `from` with `to` in the payload of event `seq`.
    AlterPayload {
        seq: u64,
        from: &'static str,
        to: &'static str,
    },
    /// Replaces `from` with `to` in the payload of event `seq` and re-hashes the events from it
    /// through event `through`, which is short of the head: the forged stretch chains from the
    /// event before it, and the event after it no longer chains.
    ForgeRehashed {
        seq: u64,
        from: &'static str,
        to: &'static str,
        through: u64,
    },
    /// Leaves out the log's last event.
    DropLastEvent,
    /// Cuts the log and its head back to event `seq`, consistently, keeping every snapshot.
    CutTo(u64),
    /// Replaces `from` with `to` in the stored snapshot.
    AlterSnapshot {
        from: &'static str,
        to: &'static str,
    },
}

/// Stores faithfully, but can falsify the events it reads back (as a tampered database would).
type TamperingStorage = Layered<MemoryStorage, Tampering>;

/// What a [`TamperingStorage`] is set to falsify.
struct Tampering {
    tamper: Cell<Tamper>,
}

/// A tampering storage that does not tamper yet.
fn tampering_storage() -> TamperingStorage {
    Layered {
        inner: MemoryStorage::new(),
        layer: Tampering {
            tamper: Cell::new(Tamper::Nothing),
        },
    }
}

impl Layer<MemoryStorage> for Tampering {
    fn head(&self, inner: &MemoryStorage, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        match self.tamper.get() {
            Tamper::CutTo(seq) => {
                Ok(inner
                    .read_events(arena, seq - 1, 1)?
                    .pop()
                    .map(|event| LogHead {
                        seq: event.seq,
                        hash: event.hash,
                    }))
            }
            _ => inner.head(arena),
        }
    }

    fn append(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        if let Tamper::CutTo(_) = self.tamper.get() {
            panic!("an append to a cut log: nothing may be written on it");
        }
        inner.append(arena, expected_seq, events, record, snapshot)
    }

    fn snapshot(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        at_most: u64,
    ) -> Result<Option<Snapshot>, ArenaError> {
        let mut kept = inner.snapshot(arena, at_most)?;
        if let (Tamper::AlterSnapshot { from, to }, Some(kept)) = (self.tamper.get(), &mut kept) {
            kept.state = kept.state.replace(from, to);
        }
        Ok(kept)
    }

    fn read_events(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        let mut events = inner.read_events(arena, after, limit)?;
        match self.tamper.get() {
            Tamper::Nothing | Tamper::AlterSnapshot { .. } => {}
            Tamper::CutTo(seq) => events.retain(|e| e.seq <= seq),
            Tamper::AlterPayload { seq, from, to } => {
                for event in events.iter_mut().filter(|e| e.seq == seq) {
                    event.payload = event.payload.replace(from, to);
                }
            }
            Tamper::DropLastEvent => {
                let head = inner.head(arena)?.map_or(0, |h| h.seq);
                events.retain(|e| e.seq != head);
            }
            Tamper::ForgeRehashed {
                seq,
                from,
                to,
                through,
            } => {
                let forged = forge_rehashed(inner, arena, seq, (from, to), through)?;
                for event in events.iter_mut() {
                    if let Some(forgery) = forged.iter().find(|f| f.seq == event.seq) {
                        *event = forgery.clone();
                    }
                }
            }
        }
        Ok(events)
    }
}

/// Events `seq..=through` of `arena` with `from` replaced by `to` in event `seq`'s payload, each
/// re-hashed from the one before, as a forger who stops short of the head would store them.
fn forge_rehashed(
    inner: &MemoryStorage,
    arena: &str,
    seq: u64,
    (from, to): (&str, &str),
    through: u64,
) -> Result<Vec<Event>, ArenaError> {
    let mut prev = match seq {
        1 => String::new(),
        _ => inner.read_events(arena, seq - 2, 1)?.remove(0).hash,
    };
    let mut forged = inner.read_events(arena, seq - 1, (through + 1 - seq) as u32)?;
    for event in &mut forged {
        if event.seq == seq {
            event.payload = event.payload.replace(from, to);
        }
        event.hash = chain_hash(
            &prev,
            event.seq,
            &event.kind,
            &event.actor,
            &event.at,
            &event.payload,
        );
        prev = event.hash.clone();
    }
    Ok(forged)
}

/// Answers `conflict` to the next appends its layer says (writing nothing), then delegates.
type ConflictingStorage = Layered<MemoryStorage, Conflicts>;

/// How many appends a [`ConflictingStorage`] still refuses, and how many it was asked for.
struct Conflicts {
    failures: Cell<u32>,
    appends: Cell<u32>,
}

impl Conflicts {
    /// The next `n` appends conflict; resets the count of appends attempted.
    fn conflict_next(&self, n: u32) {
        self.failures.set(n);
        self.appends.set(0);
    }

    fn conflict_always(&self) {
        self.conflict_next(u32::MAX);
    }
}

/// A storage that conflicts on nothing yet.
fn conflicting_storage() -> ConflictingStorage {
    Layered {
        inner: MemoryStorage::new(),
        layer: Conflicts {
            failures: Cell::new(0),
            appends: Cell::new(0),
        },
    }
}

impl Layer<MemoryStorage> for Conflicts {
    fn append(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        self.appends.set(self.appends.get() + 1);
        let failures = self.failures.get();
        if failures > 0 {
            self.failures.set(failures - 1);
            return Err(ArenaError::Conflict);
        }
        inner.append(arena, expected_seq, events, record, snapshot)
    }
}

/// A storage shared with another manager that lets that writer in just before its next append: the
/// append then runs against a log that moved since the operation loaded it.
type RacingStorage = Layered<MemoryStorage, Rival>;

/// What runs before a [`RacingStorage`]'s next append.
struct Rival {
    before_next_append: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl Layer<MemoryStorage> for Rival {
    fn append(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        let rival = self.before_next_append.borrow_mut().take();
        if let Some(rival) = rival {
            rival();
        }
        inner.append(arena, expected_seq, events, record, snapshot)
    }
}

/// Returns `participating` in reverse order (the contract allows any order).
struct Unsorted;

impl Layer<MemoryStorage> for Unsorted {
    fn participating(
        &self,
        inner: &MemoryStorage,
        agent: &str,
    ) -> Result<Vec<ArenaId>, ArenaError> {
        let mut ids = inner.participating(agent)?;
        ids.reverse();
        Ok(ids)
    }
}

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

const OPERATOR: &str = "operator";
const LEAD: &str = "lead";
const DEPUTY: &str = "deputy";
const WORKER: &str = "worker";
const OBSERVER: &str = "observer";
const OUTSIDER: &str = "outsider";
const NEWCOMER: &str = "newcomer";
const GOAL: &str = "Write the quarterly report";
const STEPS: u32 = 3;

type Manager<S> = ArenaManager<S, TestClock>;

fn manager() -> Manager<MemoryStorage> {
    ArenaManager::new(MemoryStorage::new(), TestClock::new())
}

fn spec(agent: &str, role: Role) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.to_string(),
        role,
        permissions: None,
    }
}

fn narrowed(agent: &str, role: Role, permissions: &[Permission]) -> ParticipantSpec {
    ParticipantSpec {
        permissions: Some(permissions.to_vec()),
        ..spec(agent, role)
    }
}

/// Lead (the strategy's coordinator), a worker and an observer.
fn team() -> Vec<ParticipantSpec> {
    vec![
        spec(LEAD, Role::Coordinator),
        spec(WORKER, Role::Worker),
        spec(OBSERVER, Role::Observer),
    ]
}

/// [`team`] plus a second coordinator, so that any one coordinator may leave.
fn full_team() -> Vec<ParticipantSpec> {
    vec![
        spec(LEAD, Role::Coordinator),
        spec(DEPUTY, Role::Coordinator),
        spec(WORKER, Role::Worker),
        spec(OBSERVER, Role::Observer),
    ]
}

fn config(participants: Vec<ParticipantSpec>) -> ArenaConfig {
    ArenaConfig {
        goal: GOAL.to_string(),
        total_steps: STEPS,
        strategy: Strategy::Peer(LEAD.to_string()),
        participants,
        created_by: OPERATOR.to_string(),
    }
}

/// Where an arena is brought before a test acts on it.
#[derive(Clone, Copy, Debug)]
enum Stage {
    Created,
    Active,
    /// Activated, then settled.
    Settling,
    /// Aborted while active.
    ArchivedByAbort,
    /// Activated, settled, archived.
    ArchivedBySettle,
}

impl Stage {
    fn status(self) -> ArenaStatus {
        match self {
            Stage::Created => Created,
            Stage::Active => Active,
            Stage::Settling => Settling,
            Stage::ArchivedByAbort | Stage::ArchivedBySettle => Archived,
        }
    }
}

/// A new arena of [`full_team`], brought to `stage` by the lead.
fn arena_at<S: Storage>(m: &Manager<S>, stage: Stage) -> ArenaId {
    let id = m.create(&config(full_team())).unwrap();
    advance(m, &id, stage);
    id
}

/// Brings a created arena to `stage` by the lead.
fn advance<S: Storage>(m: &Manager<S>, id: &str, stage: Stage) {
    let lead = m.handle(id, LEAD);
    match stage {
        Stage::Created => {}
        Stage::Active => {
            lead.activate().unwrap();
        }
        Stage::Settling => {
            lead.activate().unwrap();
            lead.settle().unwrap();
        }
        Stage::ArchivedByAbort => {
            lead.activate().unwrap();
            lead.abort("out of budget").unwrap();
        }
        Stage::ArchivedBySettle => {
            lead.activate().unwrap();
            lead.settle().unwrap();
            lead.archive().unwrap();
        }
    }
    assert_eq!(m.get(id).unwrap().status, stage.status());
}

fn all_events<S: Storage, C: Clock>(m: &ArenaManager<S, C>, id: &str) -> Vec<Event> {
    m.events(id, 0, limits::PAGE).unwrap()
}

fn event_count<S: Storage, C: Clock>(m: &ArenaManager<S, C>, id: &str) -> usize {
    all_events(m, id).len()
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// Runs `op` and returns its result with the number of events it wrote to `id`'s log.
fn attempt<S: Storage, C: Clock, T>(
    m: &ArenaManager<S, C>,
    id: &str,
    op: impl FnOnce() -> Result<T, ArenaError>,
) -> (Result<T, ArenaError>, usize) {
    let before = event_count(m, id);
    let result = op();
    (result, event_count(m, id) - before)
}

/// Asserts `result` is `invalid-input` whose message mentions `mentions` (the message is prose for
/// people; its variant and its subject are the contract).
#[track_caller]
fn assert_invalid_input<T: Debug>(result: Result<T, ArenaError>, mentions: &str) {
    match result {
        Err(ArenaError::InvalidInput(message)) => assert!(
            message.contains(mentions),
            "invalid-input message {message:?} should mention {mentions:?}"
        ),
        other => panic!("expected invalid-input mentioning {mentions:?}, got {other:?}"),
    }
}

/// Asserts the log of `id` is numbered 1..=n without gaps and its chain verifies.
#[track_caller]
fn assert_gapless_and_verified<S: Storage, C: Clock>(m: &ArenaManager<S, C>, id: &str) {
    let events = all_events(m, id);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected);
    assert_eq!(m.verify(id).unwrap().problem, None);
    assert_eq!(m.get(id).unwrap().last_seq, events.len() as u64);
}

/// Every operation a handle offers, with the input the tests give it.
#[derive(Clone, Copy, Debug)]
enum Op {
    Info,
    Events,
    Leave,
    CompleteStep,
    ReportProgress,
    UpdateGoal,
    Invite,
    Activate,
    Settle,
    Archive,
    Abort,
}

impl Op {
    const ALL: [Op; 11] = [
        Op::Info,
        Op::Events,
        Op::Leave,
        Op::CompleteStep,
        Op::ReportProgress,
        Op::UpdateGoal,
        Op::Invite,
        Op::Activate,
        Op::Settle,
        Op::Archive,
        Op::Abort,
    ];

    fn run<S: Storage, C: Clock>(self, h: &Handle<'_, S, C>) -> Result<(), ArenaError> {
        match self {
            Op::Info => h.info().map(drop),
            Op::Events => h.events(0, 10).map(drop),
            Op::Leave => h.leave(),
            Op::CompleteStep => h.complete_step(1).map(drop),
            Op::ReportProgress => h.report_progress("halfway there").map(drop),
            Op::UpdateGoal => h.update_goal("Write a shorter report"),
            Op::Invite => h.invite(&spec(NEWCOMER, Role::Worker)).map(drop),
            Op::Activate => h.activate().map(drop),
            Op::Settle => h.settle().map(drop),
            Op::Archive => h.archive().map(drop),
            Op::Abort => h.abort("out of budget").map(drop),
        }
    }

    /// Whether a successful run appends an event.
    fn writes(self) -> bool {
        !matches!(self, Op::Info | Op::Events)
    }

    /// The permission the operation needs.
    fn permission(self) -> Permission {
        match self {
            Op::Info | Op::Events | Op::Leave => Permission::Observe,
            Op::CompleteStep | Op::ReportProgress => Permission::Contribute,
            Op::UpdateGoal => Permission::Steer,
            Op::Invite | Op::Activate | Op::Settle | Op::Archive | Op::Abort => {
                Permission::Coordinate
            }
        }
    }

    /// A stage in which the operation is allowed for whoever holds its permission.
    fn allowed_stage(self) -> Stage {
        match self {
            Op::Activate => Stage::Created,
            Op::Archive => Stage::Settling,
            _ => Stage::Active,
        }
    }
}

fn lifecycle<S: Storage, C: Clock>(
    h: &Handle<'_, S, C>,
    action: Lifecycle,
) -> Result<ArenaStatus, ArenaError> {
    match action {
        Lifecycle::Activate => h.activate(),
        Lifecycle::Settle => h.settle(),
        Lifecycle::Archive => h.archive(),
        Lifecycle::Abort => h.abort("out of budget"),
    }
}

// ------------------------------------------------------------------------------------------------
// Determinism and replay
// ------------------------------------------------------------------------------------------------

/// A collaboration touching every kind of event; returns the arena's id.
fn collaborate<S: Storage>(m: &Manager<S>) -> ArenaId {
    let id = m.create(&config(team())).unwrap();
    let lead = m.handle(&id, LEAD);
    let worker = m.handle(&id, WORKER);
    lead.update_goal("Write the annual report").unwrap();
    lead.invite(&spec(DEPUTY, Role::Coordinator)).unwrap();
    lead.activate().unwrap();
    worker.complete_step(2).unwrap();
    worker.report_progress("drafted the figures").unwrap();
    lead.complete_step(1).unwrap();
    m.handle(&id, OBSERVER).leave().unwrap();
    worker.complete_step(3).unwrap();
    lead.settle().unwrap();
    lead.archive().unwrap();
    id
}

#[test]
fn replaying_the_stored_events_rebuilds_exactly_the_stored_state() {
    let m = manager();
    let id = collaborate(&m);
    let events = all_events(&m, &id);
    let rebuilt = replay(&events).unwrap();
    assert_eq!(rebuilt, Some(m.get(&id).unwrap()));
}

#[test]
fn replaying_an_aborted_arena_rebuilds_exactly_the_stored_state() {
    let m = manager();
    let id = arena_at(&m, Stage::ArchivedByAbort);
    let rebuilt = replay(&all_events(&m, &id)).unwrap();
    assert_eq!(rebuilt, Some(m.get(&id).unwrap()));
}

#[test]
fn replaying_every_prefix_of_the_log_rebuilds_the_state_after_each_operation() {
    let m = manager();
    let id = m.create(&config(team())).unwrap();
    let lead = m.handle(&id, LEAD);
    let mut states = vec![m.get(&id).unwrap()];
    lead.activate().unwrap();
    states.push(m.get(&id).unwrap());
    let after_step = m.handle(&id, WORKER).complete_step(1).unwrap();
    states.push(after_step);
    lead.abort("out of budget").unwrap();
    states.push(m.get(&id).unwrap());

    let events = all_events(&m, &id);
    for state in states {
        let prefix = &events[..state.last_seq as usize];
        assert_eq!(replay(prefix).unwrap(), Some(state));
    }
}

#[test]
fn the_same_operations_on_the_same_clock_produce_the_same_log() {
    let first = manager();
    let second = manager();
    let first_id = collaborate(&first);
    let second_id = collaborate(&second);
    assert_eq!(first_id, second_id);
    assert_eq!(
        all_events(&first, &first_id),
        all_events(&second, &second_id)
    );
    assert_eq!(first.get(&first_id), second.get(&second_id));
}

#[test]
fn events_carry_the_clock_time_in_utc_with_microseconds() {
    let m = manager();
    let id = collaborate(&m);
    let events = all_events(&m, &id);
    for event in &events {
        let at = DateTime::parse_from_rfc3339(&event.at).unwrap();
        assert!(event.at.ends_with('Z'), "{} is not UTC", event.at);
        assert_eq!(event.at.len(), "2026-01-01T00:00:00.000000Z".len());
        assert!(at.timestamp_millis() >= START_MILLIS);
    }
    let ats: Vec<&str> = events.iter().map(|e| e.at.as_str()).collect();
    let mut sorted = ats.clone();
    sorted.sort();
    assert_eq!(ats, sorted);
    assert_eq!(m.get(&id).unwrap().created_at, events[0].at);
}

#[test]
fn arena_ids_are_uuid_v7_and_sort_by_creation() {
    let m = manager();
    let ids: Vec<ArenaId> = (0..3).map(|_| m.create(&config(team())).unwrap()).collect();
    for id in &ids {
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    }
    let listed: Vec<ArenaId> = m
        .list(None, 10)
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, ids);
}

// ------------------------------------------------------------------------------------------------
// Creation
// ------------------------------------------------------------------------------------------------

#[test]
fn create_logs_arena_created_then_one_agent_joined_per_participant_in_declaration_order() {
    let m = manager();
    let declared = vec![
        spec(WORKER, Role::Worker),
        spec(LEAD, Role::Coordinator),
        spec(OBSERVER, Role::Observer),
    ];
    let id = m.create(&config(declared)).unwrap();
    let events = all_events(&m, &id);

    assert_eq!(
        kinds(&events),
        [
            "arena-created",
            "agent-joined",
            "agent-joined",
            "agent-joined"
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(events.iter().all(|e| e.actor == OPERATOR));
    let joined: Vec<(String, Role)> = events[1..]
        .iter()
        .map(|e| match Change::decode(e).unwrap() {
            Change::AgentJoined { agent, role, .. } => (agent, role),
            other => panic!("expected agent-joined, got {other:?}"),
        })
        .collect();
    assert_eq!(
        joined,
        [
            (WORKER.to_string(), Role::Worker),
            (LEAD.to_string(), Role::Coordinator),
            (OBSERVER.to_string(), Role::Observer),
        ]
    );
    match Change::decode(&events[0]).unwrap() {
        Change::ArenaCreated {
            id: created_id,
            goal,
            total_steps,
            created_by,
            ..
        } => {
            assert_eq!(created_id, id);
            assert_eq!(goal, GOAL);
            assert_eq!(total_steps, STEPS);
            assert_eq!(created_by, OPERATOR);
        }
        other => panic!("expected arena-created, got {other:?}"),
    }
}

#[test]
fn a_new_arena_is_created_with_its_participants_and_nothing_done() {
    let m = manager();
    let id = m.create(&config(team())).unwrap();
    let arena = m.get(&id).unwrap();
    assert_eq!(arena.status, Created);
    assert_eq!(arena.outcome, None);
    assert_eq!(arena.goal, GOAL);
    assert_eq!(arena.created_by, OPERATOR);
    assert_eq!(
        arena.participants.keys().collect::<Vec<_>>(),
        [LEAD, OBSERVER, WORKER]
    );
    assert_eq!(
        arena.participants[OBSERVER].permissions,
        Role::Observer.permissions()
    );
    assert_eq!(arena.aggregate.total_steps, STEPS);
    assert_eq!(arena.aggregate.completed_steps, 0);
    assert!(
        arena
            .aggregate
            .progress
            .values()
            .all(|p| p.steps_completed == 0)
    );
}

#[test]
fn create_refuses_duplicate_participants() {
    let m = manager();
    let mut participants = team();
    participants.push(spec(WORKER, Role::Observer));
    assert_invalid_input(m.create(&config(participants)), "duplicate");
    assert_eq!(m.list(None, 10).unwrap(), []);
}

#[test]
fn create_refuses_a_strategy_coordinator_who_is_not_declared() {
    let m = manager();
    let participants = vec![spec(DEPUTY, Role::Coordinator), spec(WORKER, Role::Worker)];
    assert_invalid_input(m.create(&config(participants)), "coordinator");
    assert_eq!(m.list(None, 10).unwrap(), []);
}

#[test]
fn create_refuses_a_strategy_coordinator_declared_as_a_worker() {
    let m = manager();
    let participants = vec![spec(LEAD, Role::Worker), spec(DEPUTY, Role::Coordinator)];
    assert_invalid_input(m.create(&config(participants)), "coordinator");
}

#[test]
fn create_refuses_a_strategy_coordinator_narrowed_without_coordinate() {
    let m = manager();
    let participants = vec![
        narrowed(LEAD, Role::Coordinator, &[Permission::Observe]),
        spec(DEPUTY, Role::Coordinator),
    ];
    assert_invalid_input(m.create(&config(participants)), "coordinator");
}

#[test]
fn create_refuses_narrowing_beyond_the_role() {
    let m = manager();
    let mut participants = team();
    participants.push(narrowed(
        NEWCOMER,
        Role::Observer,
        &[Permission::Observe, Permission::Steer],
    ));
    assert_invalid_input(m.create(&config(participants)), "steer");
    assert_eq!(m.list(None, 10).unwrap(), []);
}

#[test]
fn create_keeps_a_narrowed_participants_permissions() {
    let m = manager();
    let mut participants = team();
    participants.push(narrowed(NEWCOMER, Role::Worker, &[Permission::Observe]));
    let id = m.create(&config(participants)).unwrap();
    assert_eq!(
        m.get(&id).unwrap().participants[NEWCOMER].permissions,
        [Permission::Observe].into()
    );
}

#[test]
fn create_refuses_an_empty_goal() {
    let m = manager();
    let config = ArenaConfig {
        goal: String::new(),
        ..config(team())
    };
    assert_invalid_input(m.create(&config), "goal");
}

#[test]
fn create_refuses_a_goal_of_only_whitespace() {
    let m = manager();
    let config = ArenaConfig {
        goal: " \n\t ".into(),
        ..config(team())
    };
    assert_invalid_input(m.create(&config), "goal");
}

#[test]
fn create_refuses_a_goal_of_4097_bytes() {
    let m = manager();
    let config = ArenaConfig {
        goal: "g".repeat(4097),
        ..config(team())
    };
    assert_eq!(
        m.create(&config),
        Err(ArenaError::LimitExceeded {
            what: "goal bytes".into(),
            limit: 4096
        })
    );
    assert_eq!(m.list(None, 10).unwrap(), []);
}

#[test]
fn create_accepts_a_goal_of_4096_bytes() {
    let m = manager();
    let config = ArenaConfig {
        goal: "é".repeat(2048),
        ..config(team())
    };
    let id = m.create(&config).unwrap();
    assert_eq!(m.get(&id).unwrap().goal, "é".repeat(2048));
}

#[test]
fn create_refuses_zero_steps() {
    let m = manager();
    let config = ArenaConfig {
        total_steps: 0,
        ..config(team())
    };
    assert_invalid_input(m.create(&config), "steps");
}

#[test]
fn create_refuses_100001_steps() {
    let m = manager();
    let config = ArenaConfig {
        total_steps: 100_001,
        ..config(team())
    };
    assert_eq!(
        m.create(&config),
        Err(ArenaError::LimitExceeded {
            what: "total steps".into(),
            limit: 100_000
        })
    );
}

#[test]
fn create_accepts_100000_steps() {
    let m = manager();
    let config = ArenaConfig {
        total_steps: 100_000,
        ..config(team())
    };
    let id = m.create(&config).unwrap();
    assert_eq!(m.get(&id).unwrap().aggregate.total_steps, 100_000);
}

fn lead_and_workers(count: usize) -> Vec<ParticipantSpec> {
    let mut participants = vec![spec(LEAD, Role::Coordinator)];
    participants.extend((1..count).map(|n| spec(&format!("worker-{n:02}"), Role::Worker)));
    participants
}

#[test]
fn create_refuses_65_participants() {
    let m = manager();
    assert_eq!(
        m.create(&config(lead_and_workers(65))),
        Err(ArenaError::LimitExceeded {
            what: "participants".into(),
            limit: 64
        })
    );
    assert_eq!(m.list(None, 10).unwrap(), []);
}

#[test]
fn create_accepts_64_participants() {
    let m = manager();
    let id = m.create(&config(lead_and_workers(64))).unwrap();
    assert_eq!(m.get(&id).unwrap().participants.len(), 64);
    assert_eq!(event_count(&m, &id), 65);
}

#[test]
fn an_unknown_arena_is_not_found() {
    let m = manager();
    let unknown = "0192f0c8-7c1a-7c3e-8a4b-1234567890ab";
    assert_eq!(m.get(unknown), Err(ArenaError::NotFound));
    assert_eq!(m.events(unknown, 0, 10), Err(ArenaError::NotFound));
    assert_eq!(m.verify(unknown), Err(ArenaError::NotFound));
    assert_eq!(m.handle(unknown, LEAD).info(), Err(ArenaError::NotFound));
    assert_eq!(
        m.handle(unknown, LEAD).activate(),
        Err(ArenaError::NotFound)
    );
}

// ------------------------------------------------------------------------------------------------
// The transition matrix: 5 ways to be in the 4 states × the 4 lifecycle moves, by the coordinator
// ------------------------------------------------------------------------------------------------

macro_rules! transition_tests {
    ($($name:ident: from $stage:ident, $action:ident => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            let m = manager();
            let id = arena_at(&m, Stage::$stage);
            let (result, written) =
                attempt(&m, &id, || lifecycle(&m.handle(&id, LEAD), Lifecycle::$action));
            assert_eq!(result, $expected);
            let status = m.get(&id).unwrap().status;
            match result {
                Ok(to) => {
                    assert_eq!(written, 1, "a legal transition writes one event");
                    assert_eq!(status, to);
                }
                Err(_) => {
                    assert_eq!(written, 0, "a refused transition writes nothing");
                    assert_eq!(status, Stage::$stage.status());
                }
            }
        }
    )*};
}

fn refused(from: ArenaStatus, to: ArenaStatus) -> Result<ArenaStatus, ArenaError> {
    Err(ArenaError::InvalidTransition { from, to })
}

transition_tests! {
    activate_leads_from_created_to_active: from Created, Activate => Ok(Active);
    settle_from_created_is_an_invalid_transition: from Created, Settle => refused(Created, Settling);
    archive_from_created_is_an_invalid_transition: from Created, Archive => refused(Created, Archived);
    abort_leads_from_created_to_archived: from Created, Abort => Ok(Archived);

    activate_from_active_is_an_invalid_transition: from Active, Activate => refused(Active, Active);
    settle_leads_from_active_to_settling: from Active, Settle => Ok(Settling);
    archive_from_active_is_an_invalid_transition: from Active, Archive => refused(Active, Archived);
    abort_leads_from_active_to_archived: from Active, Abort => Ok(Archived);

    activate_from_settling_is_an_invalid_transition: from Settling, Activate => refused(Settling, Active);
    settle_from_settling_is_an_invalid_transition: from Settling, Settle => refused(Settling, Settling);
    archive_leads_from_settling_to_archived: from Settling, Archive => Ok(Archived);
    abort_leads_from_settling_to_archived: from Settling, Abort => Ok(Archived);

    activate_after_abort_is_an_invalid_transition: from ArchivedByAbort, Activate => refused(Archived, Active);
    settle_after_abort_is_an_invalid_transition: from ArchivedByAbort, Settle => refused(Archived, Settling);
    archive_after_abort_is_an_invalid_transition: from ArchivedByAbort, Archive => refused(Archived, Archived);
    abort_after_abort_is_an_invalid_transition: from ArchivedByAbort, Abort => refused(Archived, Archived);

    activate_after_archive_is_an_invalid_transition: from ArchivedBySettle, Activate => refused(Archived, Active);
    settle_after_archive_is_an_invalid_transition: from ArchivedBySettle, Settle => refused(Archived, Settling);
    archive_after_archive_is_an_invalid_transition: from ArchivedBySettle, Archive => refused(Archived, Archived);
    abort_after_archive_is_an_invalid_transition: from ArchivedBySettle, Abort => refused(Archived, Archived);
}

#[test]
fn archiving_after_settling_records_outcome_completed() {
    let m = manager();
    let id = arena_at(&m, Stage::ArchivedBySettle);
    assert_eq!(m.get(&id).unwrap().outcome, Some(Outcome::Completed));
    assert_eq!(
        kinds(&all_events(&m, &id)[5..]),
        ["arena-activated", "arena-settling", "arena-archived"]
    );
}

#[test]
fn abort_records_outcome_aborted_with_its_reason() {
    let m = manager();
    let id = arena_at(&m, Stage::ArchivedByAbort);
    assert_eq!(
        m.get(&id).unwrap().outcome,
        Some(Outcome::Aborted("out of budget".into()))
    );
    assert_eq!(all_events(&m, &id).last().unwrap().kind, "arena-aborted");
}

#[test]
fn abort_refuses_an_empty_reason() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || m.handle(&id, LEAD).abort(""));
    assert_invalid_input(result, "reason");
    assert_eq!(written, 0);
}

#[test]
fn abort_refuses_a_reason_of_1025_bytes() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || m.handle(&id, LEAD).abort(&"r".repeat(1025)));
    assert_eq!(
        result,
        Err(ArenaError::LimitExceeded {
            what: "abort reason bytes".into(),
            limit: 1024
        })
    );
    assert_eq!(written, 0);
}

// ------------------------------------------------------------------------------------------------
// The state table and the role matrix: in a stage, an agent runs a handle operation
// ------------------------------------------------------------------------------------------------

macro_rules! handle_tests {
    ($($name:ident: in $stage:ident, $agent:ident does $op:ident => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            let m = manager();
            let id = arena_at(&m, Stage::$stage);
            let (result, written) = attempt(&m, &id, || Op::$op.run(&m.handle(&id, $agent)));
            assert_eq!(state_kind(result.clone()), $expected);
            let expected_writes = usize::from(result.is_ok() && Op::$op.writes());
            assert_eq!(written, expected_writes, "events written");
        }
    )*};
}

const OK: Result<(), ArenaError> = Ok(());
const INVALID_STATE: Result<(), ArenaError> = Err(ArenaError::InvalidState(String::new()));

/// The result with an `invalid-state` message checked for naming the states and then dropped, so a
/// table row can name only the error's kind.
fn state_kind(result: Result<(), ArenaError>) -> Result<(), ArenaError> {
    match result {
        Err(ArenaError::InvalidState(why)) => {
            assert!(why.contains("needs the arena"), "{why}");
            Err(ArenaError::InvalidState(String::new()))
        }
        other => other,
    }
}

fn denied(permission: Permission) -> Result<(), ArenaError> {
    Err(ArenaError::PermissionDenied(permission))
}

// What each state allows (DESIGN.md), by participants who hold the permission.
handle_tests! {
    complete_step_is_refused_while_created: in Created, WORKER does CompleteStep => INVALID_STATE;
    complete_step_is_allowed_while_active: in Active, WORKER does CompleteStep => OK;
    complete_step_is_refused_while_settling: in Settling, WORKER does CompleteStep => INVALID_STATE;
    complete_step_is_refused_after_abort: in ArchivedByAbort, WORKER does CompleteStep => INVALID_STATE;
    complete_step_is_refused_after_archive: in ArchivedBySettle, WORKER does CompleteStep => INVALID_STATE;

    report_progress_is_refused_while_created: in Created, WORKER does ReportProgress => INVALID_STATE;
    report_progress_is_allowed_while_active: in Active, WORKER does ReportProgress => OK;
    report_progress_is_refused_while_settling: in Settling, WORKER does ReportProgress => INVALID_STATE;
    report_progress_is_refused_after_abort: in ArchivedByAbort, WORKER does ReportProgress => INVALID_STATE;
    report_progress_is_refused_after_archive: in ArchivedBySettle, WORKER does ReportProgress => INVALID_STATE;

    update_goal_is_allowed_while_created: in Created, LEAD does UpdateGoal => OK;
    update_goal_is_allowed_while_active: in Active, LEAD does UpdateGoal => OK;
    update_goal_is_refused_while_settling: in Settling, LEAD does UpdateGoal => INVALID_STATE;
    update_goal_is_refused_after_abort: in ArchivedByAbort, LEAD does UpdateGoal => INVALID_STATE;
    update_goal_is_refused_after_archive: in ArchivedBySettle, LEAD does UpdateGoal => INVALID_STATE;

    invite_is_allowed_while_created: in Created, LEAD does Invite => OK;
    invite_is_allowed_while_active: in Active, LEAD does Invite => OK;
    invite_is_refused_while_settling: in Settling, LEAD does Invite => INVALID_STATE;
    invite_is_refused_after_abort: in ArchivedByAbort, LEAD does Invite => INVALID_STATE;
    invite_is_refused_after_archive: in ArchivedBySettle, LEAD does Invite => INVALID_STATE;

    leave_is_allowed_while_created: in Created, WORKER does Leave => OK;
    leave_is_allowed_while_active: in Active, WORKER does Leave => OK;
    leave_is_refused_while_settling: in Settling, WORKER does Leave => INVALID_STATE;
    leave_is_refused_after_abort: in ArchivedByAbort, WORKER does Leave => INVALID_STATE;
    leave_is_refused_after_archive: in ArchivedBySettle, WORKER does Leave => INVALID_STATE;

    reads_are_allowed_while_created: in Created, OBSERVER does Info => OK;
    reads_are_allowed_while_settling: in Settling, OBSERVER does Info => OK;
    reads_are_allowed_after_abort: in ArchivedByAbort, OBSERVER does Info => OK;
    events_stay_readable_after_archive: in ArchivedBySettle, OBSERVER does Events => OK;
}

// Each role × each handle operation, in a state that allows the operation.
handle_tests! {
    coordinator_may_read_info: in Active, LEAD does Info => OK;
    coordinator_may_read_events: in Active, LEAD does Events => OK;
    coordinator_may_leave_while_another_coordinator_remains: in Active, LEAD does Leave => OK;
    coordinator_may_complete_a_step: in Active, LEAD does CompleteStep => OK;
    coordinator_may_report_progress: in Active, LEAD does ReportProgress => OK;
    coordinator_may_update_the_goal: in Active, LEAD does UpdateGoal => OK;
    coordinator_may_invite: in Active, LEAD does Invite => OK;
    coordinator_may_activate: in Created, LEAD does Activate => OK;
    coordinator_may_settle: in Active, LEAD does Settle => OK;
    coordinator_may_archive: in Settling, LEAD does Archive => OK;
    coordinator_may_abort: in Active, LEAD does Abort => OK;

    worker_may_read_info: in Active, WORKER does Info => OK;
    worker_may_read_events: in Active, WORKER does Events => OK;
    worker_may_leave: in Active, WORKER does Leave => OK;
    worker_may_complete_a_step: in Active, WORKER does CompleteStep => OK;
    worker_may_report_progress: in Active, WORKER does ReportProgress => OK;
    worker_cannot_update_the_goal: in Active, WORKER does UpdateGoal => denied(Permission::Steer);
    worker_cannot_invite: in Active, WORKER does Invite => denied(Permission::Coordinate);
    worker_cannot_activate: in Created, WORKER does Activate => denied(Permission::Coordinate);
    worker_cannot_settle: in Active, WORKER does Settle => denied(Permission::Coordinate);
    worker_cannot_archive: in Settling, WORKER does Archive => denied(Permission::Coordinate);
    worker_cannot_abort: in Active, WORKER does Abort => denied(Permission::Coordinate);

    observer_may_read_info: in Active, OBSERVER does Info => OK;
    observer_may_read_events: in Active, OBSERVER does Events => OK;
    observer_may_leave: in Active, OBSERVER does Leave => OK;
    observer_cannot_complete_a_step: in Active, OBSERVER does CompleteStep => denied(Permission::Contribute);
    observer_cannot_report_progress: in Active, OBSERVER does ReportProgress => denied(Permission::Contribute);
    observer_cannot_update_the_goal: in Active, OBSERVER does UpdateGoal => denied(Permission::Steer);
    observer_cannot_invite: in Active, OBSERVER does Invite => denied(Permission::Coordinate);
    observer_cannot_activate: in Created, OBSERVER does Activate => denied(Permission::Coordinate);
    observer_cannot_settle: in Active, OBSERVER does Settle => denied(Permission::Coordinate);
    observer_cannot_archive: in Settling, OBSERVER does Archive => denied(Permission::Coordinate);
    observer_cannot_abort: in Active, OBSERVER does Abort => denied(Permission::Coordinate);
}

#[test]
fn a_non_participant_is_denied_every_operation() {
    for op in Op::ALL {
        let m = manager();
        let id = arena_at(&m, op.allowed_stage());
        let (result, written) = attempt(&m, &id, || op.run(&m.handle(&id, OUTSIDER)));
        assert_eq!(result, denied(op.permission()), "{op:?}");
        assert_eq!(written, 0, "{op:?} wrote events");
    }
}

#[test]
fn an_agent_that_left_is_denied_every_operation() {
    for op in Op::ALL {
        let m = manager();
        let id = m.create(&config(full_team())).unwrap();
        // The deputy holds every permission until it leaves.
        m.handle(&id, DEPUTY).leave().unwrap();
        advance(&m, &id, op.allowed_stage());
        let (result, written) = attempt(&m, &id, || op.run(&m.handle(&id, DEPUTY)));
        assert_eq!(result, denied(op.permission()), "{op:?}");
        assert_eq!(written, 0, "{op:?} wrote events");
    }
}

#[test]
fn a_coordinator_narrowed_without_steer_cannot_update_the_goal() {
    let m = manager();
    let participants = vec![
        narrowed(
            LEAD,
            Role::Coordinator,
            &[Permission::Observe, Permission::Coordinate],
        ),
        spec(WORKER, Role::Worker),
    ];
    let id = m.create(&config(participants)).unwrap();
    let lead = m.handle(&id, LEAD);
    let (result, written) = attempt(&m, &id, || lead.update_goal("Another goal"));
    assert_eq!(result, denied(Permission::Steer));
    assert_eq!(written, 0);
    assert_eq!(lead.activate(), Ok(Active));
}

#[test]
fn a_worker_narrowed_to_observe_cannot_complete_a_step() {
    let m = manager();
    let mut participants = team();
    participants.push(narrowed(NEWCOMER, Role::Worker, &[Permission::Observe]));
    let id = m.create(&config(participants)).unwrap();
    m.handle(&id, LEAD).activate().unwrap();
    let (result, written) = attempt(&m, &id, || m.handle(&id, NEWCOMER).complete_step(1));
    assert_eq!(
        result,
        Err(ArenaError::PermissionDenied(Permission::Contribute))
    );
    assert_eq!(written, 0);
}

#[test]
fn an_invitation_cannot_widen_a_role() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let wide = narrowed(
        NEWCOMER,
        Role::Worker,
        &[Permission::Observe, Permission::Coordinate],
    );
    let (result, written) = attempt(&m, &id, || m.handle(&id, LEAD).invite(&wide));
    assert_invalid_input(result, "coordinate");
    assert_eq!(written, 0);
}

// ------------------------------------------------------------------------------------------------
// Steps and progress
// ------------------------------------------------------------------------------------------------

#[test]
fn step_0_is_invalid_input() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || m.handle(&id, WORKER).complete_step(0));
    assert_invalid_input(result, "step 0");
    assert_eq!(written, 0);
}

#[test]
fn a_step_beyond_the_total_is_invalid_input() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || m.handle(&id, WORKER).complete_step(STEPS + 1));
    assert_invalid_input(result, "step 4");
    assert_eq!(written, 0);
}

#[test]
fn the_last_step_is_the_total() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let arena = m.handle(&id, WORKER).complete_step(STEPS).unwrap();
    assert!(arena.aggregate.is_done(STEPS));
    assert_eq!(arena.aggregate.completed_steps, 1);
}

#[test]
fn completing_a_step_twice_is_already_done() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, WORKER).complete_step(2).unwrap();
    let (result, written) = attempt(&m, &id, || m.handle(&id, LEAD).complete_step(2));
    assert_eq!(result, Err(ArenaError::AlreadyDone));
    assert_eq!(written, 0);
    let arena = m.get(&id).unwrap();
    assert_eq!(arena.aggregate.completed_steps, 1);
    assert_eq!(arena.aggregate.progress[WORKER].steps_completed, 1);
    assert_eq!(arena.aggregate.progress[LEAD].steps_completed, 0);
}

#[test]
fn progress_counts_the_steps_each_agent_completed() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, WORKER).complete_step(1).unwrap();
    m.handle(&id, LEAD).complete_step(2).unwrap();
    let arena = m.handle(&id, WORKER).complete_step(3).unwrap();
    assert_eq!(arena, m.get(&id).unwrap());
    assert_eq!(arena.aggregate.completed_steps, 3);
    assert_eq!(arena.aggregate.progress[WORKER].steps_completed, 2);
    assert_eq!(arena.aggregate.progress[LEAD].steps_completed, 1);
    assert_eq!(arena.aggregate.progress[OBSERVER].steps_completed, 0);
    assert_eq!(arena.aggregate.done_steps().collect::<Vec<_>>(), [1, 2, 3]);
    let steps: Vec<(String, Change)> = all_events(&m, &id)
        .iter()
        .filter(|e| e.kind == "step-completed")
        .map(|e| (e.actor.clone(), Change::decode(e).unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            (WORKER.to_string(), Change::StepCompleted { step: 1 }),
            (LEAD.to_string(), Change::StepCompleted { step: 2 }),
            (WORKER.to_string(), Change::StepCompleted { step: 3 }),
        ]
    );
}

#[test]
fn report_progress_keeps_each_agents_latest_note() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let worker = m.handle(&id, WORKER);
    worker.report_progress("started").unwrap();
    let arena = worker.report_progress("halfway").unwrap();
    assert_eq!(
        arena.aggregate.progress[WORKER].note.as_deref(),
        Some("halfway")
    );
    assert_eq!(arena.aggregate.progress[LEAD].note, None);
}

#[test]
fn report_progress_refuses_an_empty_note() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || m.handle(&id, WORKER).report_progress(""));
    assert_invalid_input(result, "note");
    assert_eq!(written, 0);
}

#[test]
fn update_goal_replaces_the_goal() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, LEAD).update_goal("A new goal").unwrap();
    assert_eq!(m.get(&id).unwrap().goal, "A new goal");
    assert_eq!(all_events(&m, &id).last().unwrap().kind, "goal-updated");
}

#[test]
fn update_goal_refuses_a_goal_of_4097_bytes() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || {
        m.handle(&id, LEAD).update_goal(&"g".repeat(4097))
    });
    assert_eq!(
        result,
        Err(ArenaError::LimitExceeded {
            what: "goal bytes".into(),
            limit: 4096
        })
    );
    assert_eq!(written, 0);
}

// ------------------------------------------------------------------------------------------------
// Membership
// ------------------------------------------------------------------------------------------------

#[test]
fn the_last_coordinator_cannot_leave() {
    let m = manager();
    let id = m.create(&config(team())).unwrap();
    m.handle(&id, LEAD).activate().unwrap();
    let (result, written) = attempt(&m, &id, || m.handle(&id, LEAD).leave());
    assert_eq!(
        result,
        Err(ArenaError::InvalidState(
            "the last coordinator cannot leave before the arena is archived".into()
        ))
    );
    assert_eq!(written, 0);
    assert!(m.get(&id).unwrap().participants.contains_key(LEAD));
}

#[test]
fn a_second_coordinator_lets_the_first_leave() {
    let m = manager();
    let id = m.create(&config(team())).unwrap();
    let lead = m.handle(&id, LEAD);
    lead.invite(&spec(DEPUTY, Role::Coordinator)).unwrap();
    assert_eq!(lead.leave(), Ok(()));
    let arena = m.get(&id).unwrap();
    assert!(!arena.participants.contains_key(LEAD));
    assert_eq!(all_events(&m, &id).last().unwrap().kind, "agent-left");
    // The deputy is now the last coordinator.
    assert!(matches!(
        m.handle(&id, DEPUTY).leave(),
        Err(ArenaError::InvalidState(why)) if why.contains("last coordinator")
    ));
}

#[test]
fn invite_adds_a_participant_with_an_agent_joined_event() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let participant = m
        .handle(&id, LEAD)
        .invite(&spec(NEWCOMER, Role::Observer))
        .unwrap();
    assert_eq!(participant.permissions, Role::Observer.permissions());
    let arena = m.get(&id).unwrap();
    assert_eq!(arena.participants[NEWCOMER], participant);
    let last = all_events(&m, &id).pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("agent-joined", LEAD)
    );
}

#[test]
fn invite_refuses_a_current_participant() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let (result, written) = attempt(&m, &id, || {
        m.handle(&id, LEAD).invite(&spec(WORKER, Role::Observer))
    });
    assert_invalid_input(result, "duplicate");
    assert_eq!(written, 0);
}

#[test]
fn an_agent_that_left_can_be_invited_back() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, WORKER).leave().unwrap();
    m.handle(&id, LEAD)
        .invite(&spec(WORKER, Role::Observer))
        .unwrap();
    assert_eq!(
        m.get(&id).unwrap().participants[WORKER].role,
        Role::Observer
    );
    assert_eq!(
        m.handle(&id, WORKER).complete_step(1),
        Err(ArenaError::PermissionDenied(Permission::Contribute))
    );
}

#[test]
fn inviting_a_65th_participant_is_limit_exceeded() {
    let m = manager();
    let id = m.create(&config(lead_and_workers(64))).unwrap();
    let (result, written) = attempt(&m, &id, || {
        m.handle(&id, LEAD).invite(&spec(NEWCOMER, Role::Worker))
    });
    assert_eq!(
        result,
        Err(ArenaError::LimitExceeded {
            what: "participants".into(),
            limit: 64
        })
    );
    assert_eq!(written, 0);
}

#[test]
fn leaving_removes_the_arena_from_active_arenas_for() {
    let m = manager();
    let first = arena_at(&m, Stage::Active);
    let second = arena_at(&m, Stage::Active);
    assert_eq!(
        m.active_arenas_for(WORKER).unwrap(),
        [first.clone(), second.clone()]
    );
    m.handle(&first, WORKER).leave().unwrap();
    assert_eq!(m.active_arenas_for(WORKER).unwrap(), [second]);
}

#[test]
fn active_arenas_for_excludes_archived_arenas() {
    let m = manager();
    let created = arena_at(&m, Stage::Created);
    let _aborted = arena_at(&m, Stage::ArchivedByAbort);
    let settling = arena_at(&m, Stage::Settling);
    let _archived = arena_at(&m, Stage::ArchivedBySettle);
    let active = arena_at(&m, Stage::Active);
    assert_eq!(
        m.active_arenas_for(OBSERVER).unwrap(),
        [created, settling, active]
    );
}

#[test]
fn active_arenas_for_excludes_arenas_the_agent_never_joined() {
    let m = manager();
    arena_at(&m, Stage::Active);
    assert_eq!(
        m.active_arenas_for(OUTSIDER).unwrap(),
        Vec::<ArenaId>::new()
    );
}

#[test]
fn active_arenas_for_is_sorted_whatever_order_the_storage_returns() {
    let m = ArenaManager::new(
        Layered {
            inner: MemoryStorage::new(),
            layer: Unsorted,
        },
        TestClock::new(),
    );
    let ids: Vec<ArenaId> = (0..4).map(|_| arena_at(&m, Stage::Active)).collect();
    assert_eq!(
        m.storage().participating(WORKER).unwrap(),
        ids.iter().rev().cloned().collect::<Vec<_>>(),
        "the storage really returns them unsorted"
    );
    assert_eq!(m.active_arenas_for(WORKER).unwrap(), ids);
}

// ------------------------------------------------------------------------------------------------
// Operations as values: `perform` is the one mutation path
// ------------------------------------------------------------------------------------------------

#[test]
fn an_operation_performed_writes_the_event_its_typed_call_writes() {
    let (typed, valued) = (manager(), manager());
    let typed_id = arena_at(&typed, Stage::Active);
    let valued_id = arena_at(&valued, Stage::Active);

    let after_typed = typed.handle(&typed_id, WORKER).complete_step(2).unwrap();
    let after_valued = valued
        .handle(&valued_id, WORKER)
        .perform(&Operation::CompleteStep(2))
        .unwrap();

    assert_eq!(after_typed, after_valued);
    assert_eq!(
        all_events(&typed, &typed_id),
        all_events(&valued, &valued_id)
    );
}

#[test]
fn an_operation_performed_is_refused_as_its_typed_call_is() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);

    let (result, written) = attempt(&m, &id, || {
        m.handle(&id, WORKER).perform(&Operation::Settle)
    });

    assert_eq!(
        result,
        Err(ArenaError::PermissionDenied(Permission::Coordinate))
    );
    assert_eq!(written, 0);
}

#[test]
fn a_keyed_operation_performed_again_writes_nothing_and_answers_the_arena_after_the_first() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let worker = m.handle(&id, WORKER).with_key("step-2");
    let first = worker.perform(&Operation::CompleteStep(2)).unwrap();

    let (again, written) = attempt(&m, &id, || worker.perform(&Operation::CompleteStep(2)));

    assert_eq!(again, Ok(first));
    assert_eq!(written, 0);
}

#[test]
fn a_keyed_typed_call_made_again_answers_what_the_first_answered() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let worker = m.handle(&id, WORKER).with_key("draft-1");
    let draft = ArtifactDraft {
        kind: "text".into(),
        content: "first draft".into(),
        metadata: Vec::new(),
    };
    let first = worker.put_artifact(&draft).unwrap();

    let (again, written) = attempt(&m, &id, || worker.put_artifact(&draft));

    assert_eq!(again, Ok(first));
    assert_eq!(written, 0);
}

// ------------------------------------------------------------------------------------------------
// Verify
// ------------------------------------------------------------------------------------------------

#[test]
fn verify_reports_no_problem_for_a_clean_arena() {
    let m = manager();
    let id = collaborate(&m);
    let report = m.verify(&id).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.events, event_count(&m, &id) as u64);
}

#[test]
fn verify_names_the_event_whose_payload_was_altered() {
    let m = ArenaManager::new(tampering_storage(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, WORKER).complete_step(1).unwrap();
    // Event 4 is the worker joining (1 created, 2 lead, 3 deputy): forge it into a coordinator.
    m.storage().layer.tamper.set(Tamper::AlterPayload {
        seq: 4,
        from: r#""role":"worker""#,
        to: r#""role":"coordinator""#,
    });
    // Reads of the log refuse the altered event rather than pass it on.
    assert_eq!(
        m.events(&id, 0, limits::PAGE),
        Err(ArenaError::Storage(format!(
            "arena {id}: event 4 does not chain to the event before: the log was altered \
             (`arena verify {id}` names the damage)"
        )))
    );
    assert_eq!(m.handle(&id, LEAD).events(3, 10), m.events(&id, 3, 10));

    let report = m.verify(&id).unwrap();
    let problem = report.problem.expect("the forgery is reported");
    assert!(problem.contains("event 4"), "{problem}");
    assert!(problem.contains("hash"), "{problem}");
    assert_eq!(report.events, 4);
}

/// An active arena of [`full_team`] with `extra` progress notes after activation (event 5), on a
/// tampering storage that does not tamper yet.
fn forgeable(extra: usize) -> (Manager<TamperingStorage>, ArenaId) {
    let m = ArenaManager::new(tampering_storage(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    for n in 0..extra {
        m.handle(&id, WORKER)
            .report_progress(&format!("note {n}"))
            .unwrap();
    }
    (m, id)
}

/// Event 4 is the worker joining (1 created, 2 lead, 3 deputy): forged into a coordinator.
fn forge_worker_into_coordinator(m: &Manager<TamperingStorage>, through: u64) {
    m.storage().layer.tamper.set(Tamper::ForgeRehashed {
        seq: 4,
        from: r#""role":"worker""#,
        to: r#""role":"coordinator""#,
        through,
    });
}

fn altered_at(id: &str, what: &str) -> ArenaError {
    ArenaError::Storage(format!(
        "arena {id}: {what}: the log was altered (`arena verify {id}` names the damage)"
    ))
}

#[test]
fn get_at_refuses_a_past_forged_and_rehashed_short_of_the_head() {
    let (m, id) = forgeable(4);
    assert_eq!(
        m.get_at(&id, 5).unwrap().participants[WORKER].role,
        Role::Worker
    );
    forge_worker_into_coordinator(&m, 6);
    // Up to event 6 the forgery chains; event 7, as the arena wrote it, does not follow it.
    let refused = altered_at(&id, "event 7 does not chain to the event before");
    assert_eq!(m.get_at(&id, 5), Err(refused.clone()));
    assert_eq!(m.get_at(&id, 4), Err(refused.clone()));
    // A fresh manager, which has checked nothing of this log before, refuses it the same way.
    let cold = ArenaManager::new(m.storage(), TestClock::new());
    assert_eq!(cold.get_at(&id, 5), Err(refused));
    // A state past the forgery is folded through it, and refused there.
    assert!(matches!(m.get_at(&id, 8), Err(ArenaError::Storage(_))));
}

#[test]
fn get_at_the_head_checks_the_head_hash() {
    let (m, id) = forgeable(2);
    let head = event_count(&m, &id) as u64;
    forge_worker_into_coordinator(&m, head);
    // The whole log re-hashed to the end: only the stored head tells.
    assert_eq!(
        m.get_at(&id, head),
        Err(altered_at(
            &id,
            &format!("the log's event {head} does not have the head's hash")
        ))
    );
}

#[test]
fn an_events_page_of_a_forged_stretch_rehashed_short_of_the_head_is_refused() {
    let (m, id) = forgeable(4);
    let before = m.events(&id, 3, 3).unwrap();
    forge_worker_into_coordinator(&m, 6);
    // The page (events 4 to 6) chains from event 3 and within itself; the log after it does not.
    assert_eq!(
        m.events(&id, 3, 3),
        Err(altered_at(
            &id,
            "event 7 does not chain to the event before"
        ))
    );
    assert_eq!(m.handle(&id, LEAD).events(3, 3), m.events(&id, 3, 3));
    // Pages wholly after the forgery are still served.
    m.storage().layer.tamper.set(Tamper::Nothing);
    assert_eq!(m.events(&id, 3, 3), Ok(before));
}

#[test]
fn a_forgery_of_a_log_read_before_is_caught_at_the_hash_this_host_checked() {
    // A log of more than two marks (every 64th event), read once before the forgery.
    let (m, id) = forgeable(200);
    assert!(
        event_count(&m, &id) > 192,
        "marks at events 64, 128 and 192"
    );
    assert_eq!(m.events(&id, 0, 10).unwrap().len(), 10);
    m.storage().layer.tamper.set(Tamper::ForgeRehashed {
        seq: 20,
        from: "note",
        to: "NOTE",
        through: 100,
    });
    // The page chains; the walk from it to the next hash this host checked (event 64) does not
    // arrive at that hash.
    assert_eq!(
        m.events(&id, 10, 20),
        Err(altered_at(
            &id,
            "the log's event 64 no longer has the hash it had when this host read it"
        ))
    );
    // A host that never read it walks to the head and finds the break after the forgery.
    let cold = ArenaManager::new(m.storage(), TestClock::new());
    assert_eq!(
        cold.events(&id, 10, 20),
        Err(altered_at(
            &id,
            "event 101 does not chain to the event before"
        ))
    );
    // Pages after the forgery are still served, by both.
    assert_eq!(m.events(&id, 101, 10).unwrap().len(), 10);
    assert_eq!(cold.events(&id, 101, 10).unwrap().len(), 10);
}

#[test]
fn reading_a_long_log_page_by_page_serves_every_event_once() {
    let (m, id) = forgeable(300);
    let head = event_count(&m, &id) as u64;
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = m.events(&id, after, 7).unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        seqs.extend(page.iter().map(|e| e.seq));
    }
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
}

#[test]
fn verify_reports_a_log_whose_last_event_is_missing() {
    let m = ArenaManager::new(tampering_storage(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, WORKER).complete_step(1).unwrap();
    let head = event_count(&m, &id) as u64;
    m.storage().layer.tamper.set(Tamper::DropLastEvent);
    // Reads refuse the short log rather than pass it on; `verify` reports it.
    let Err(ArenaError::Storage(refused)) = m.events(&id, 0, limits::PAGE) else {
        panic!("a log that ends before its head must not be read as whole");
    };
    assert!(
        refused.contains(&format!(
            "ended at event {}, but the log's head is event {head}",
            head - 1
        )),
        "{refused}"
    );

    let report = m.verify(&id).unwrap();
    let problem = report.problem.expect("the truncation is reported");
    assert!(problem.contains(&format!("event {head}")), "{problem}");
    assert_eq!(report.events, head - 1);
}

#[test]
fn verify_reports_an_altered_snapshot_with_its_seq() {
    let every_append = SnapshotPolicy {
        min_bytes: 0,
        snapshot_percent: 0,
    };
    let m =
        ArenaManager::new(tampering_storage(), TestClock::new()).with_snapshot_policy(every_append);
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, LEAD).update_goal("Write a guide").unwrap();
    m.handle(&id, WORKER).complete_step(1).unwrap();
    let head = event_count(&m, &id) as u64;
    assert_eq!(m.verify(&id).unwrap().problem, None);
    // Every snapshot from the goal update on holds the new goal's words.
    m.storage().layer.tamper.set(Tamper::AlterSnapshot {
        from: "Write a guide",
        to: "Write nothing",
    });
    // This manager's cache of parsed states still answers `get` with the true state, keyed by the
    // head; `verify` reads what is stored.
    assert_eq!(m.get(&id).unwrap().goal, "Write a guide");

    let report = m.verify(&id).unwrap();
    let problem = report.problem.expect("the altered snapshot is reported");
    assert_eq!(
        problem,
        format!(
            "the snapshot at event {} does not have the digest its event records",
            head - 1
        )
    );
    assert_eq!(report.events, head - 1);
}

#[test]
fn a_manager_loading_a_tampered_snapshot_drops_it_and_rebuilds_the_state_from_the_log() {
    let every_append = SnapshotPolicy {
        min_bytes: 0,
        snapshot_percent: 0,
    };
    let m =
        ArenaManager::new(tampering_storage(), TestClock::new()).with_snapshot_policy(every_append);
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, LEAD).update_goal("Write a guide").unwrap();
    let truth = m.get(&id).unwrap();
    for (from, to) in [
        ("\"last_seq\":", "\"last_seq\":1"),
        ("Write a guide", "Write nothing"),
        ("\"completed_steps\":0", "\"completed_steps\":2"),
    ] {
        m.storage()
            .layer
            .tamper
            .set(Tamper::AlterSnapshot { from, to });
        let cold = ArenaManager::new(m.storage(), TestClock::new());
        assert_eq!(cold.get(&id), Ok(truth.clone()), "{from} -> {to}");
    }
    // A write after a tampered load builds on the true state, and the log still replays.
    let cold = ArenaManager::new(m.storage(), TestClock::new());
    cold.handle(&id, WORKER).complete_step(1).unwrap();
    m.storage().layer.tamper.set(Tamper::Nothing);
    assert_eq!(m.get(&id).unwrap().aggregate.completed_steps, 1);
    assert_eq!(m.verify(&id).unwrap().problem, None);
}

// ------------------------------------------------------------------------------------------------
// Conflicts
// ------------------------------------------------------------------------------------------------

#[test]
fn an_operation_succeeds_after_transient_conflicts_and_leaves_no_gap() {
    let m = ArenaManager::new(conflicting_storage(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    let before = event_count(&m, &id);
    m.storage().layer.conflict_next(3);

    let arena = m.handle(&id, WORKER).complete_step(2).unwrap();

    assert_eq!(m.storage().layer.appends.get(), 4);
    assert_eq!(event_count(&m, &id), before + 1);
    assert_eq!(arena, m.get(&id).unwrap());
    assert_gapless_and_verified(&m, &id);
}

#[test]
fn create_succeeds_after_transient_conflicts_and_leaves_no_gap() {
    let m = ArenaManager::new(conflicting_storage(), TestClock::new());
    m.storage().layer.conflict_next(2);

    let id = m.create(&config(team())).unwrap();

    assert_eq!(m.storage().layer.appends.get(), 3);
    assert_eq!(
        m.list(None, 10)
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        std::slice::from_ref(&id)
    );
    assert_eq!(event_count(&m, &id), 4);
    assert_gapless_and_verified(&m, &id);
}

#[test]
fn an_operation_that_always_conflicts_returns_conflict_after_bounded_retries_and_writes_nothing() {
    let m = ArenaManager::new(conflicting_storage(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    m.storage().layer.conflict_always();

    let (result, written) = attempt(&m, &id, || m.handle(&id, WORKER).complete_step(2));

    assert_eq!(result, Err(ArenaError::Conflict));
    assert_eq!(written, 0);
    assert_eq!(
        m.storage().layer.appends.get(),
        limits::CONFLICT_RETRIES + 1
    );
    assert!(!m.get(&id).unwrap().aggregate.is_done(2));
}

#[test]
fn create_that_always_conflicts_returns_conflict_after_bounded_retries_and_stores_nothing() {
    let m = ArenaManager::new(conflicting_storage(), TestClock::new());
    m.storage().layer.conflict_always();

    assert_eq!(m.create(&config(team())), Err(ArenaError::Conflict));
    assert_eq!(
        m.storage().layer.appends.get(),
        limits::CONFLICT_RETRIES + 1
    );
    assert_eq!(m.list(None, 10).unwrap(), []);
}

/// Two managers over one storage (two hosts on one database); `racer`'s next append is preceded by
/// `rival`.
fn racing_pair() -> (Manager<RacingStorage>, Manager<MemoryStorage>, ArenaId) {
    let shared = MemoryStorage::new();
    let racer = ArenaManager::new(
        Layered {
            inner: shared.clone(),
            layer: Rival {
                before_next_append: RefCell::new(None),
            },
        },
        TestClock::new(),
    );
    let rival = ArenaManager::new(shared, TestClock::starting_at(START_MILLIS + 1_000_000));
    let id = arena_at(&racer, Stage::Active);
    (racer, rival, id)
}

#[test]
fn a_write_on_a_state_another_host_moved_on_is_decided_again_on_the_current_one() {
    let shared = MemoryStorage::new();
    let here = ArenaManager::new(&shared, TestClock::new());
    let there = ArenaManager::new(&shared, TestClock::starting_at(START_MILLIS + 1_000_000));
    let id = arena_at(&here, Stage::Created);
    // `here` holds the arena as created; `there` activates it behind its back.
    there.handle(&id, LEAD).activate().unwrap();
    // Decided on the held state, the step would be refused (`invalid-state`): the refusal is
    // checked against the head, found stale, and the step decided again on the active arena.
    let arena = here.handle(&id, WORKER).complete_step(1).unwrap();
    assert_eq!(arena.status, Active);
    assert!(arena.aggregate.is_done(1));
    // And a write the held state allows is appended under its head, refused with `conflict`, and
    // decided again: nothing is lost.
    there.handle(&id, WORKER).complete_step(2).unwrap();
    let arena = here.handle(&id, WORKER).complete_step(3).unwrap();
    assert_eq!(arena.aggregate.done_steps().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(here.verify(&id).unwrap().problem, None);
}

#[test]
fn a_refusal_decided_on_a_held_state_that_is_current_is_returned_and_writes_nothing() {
    let m = manager();
    let id = arena_at(&m, Stage::Created);
    let before = event_count(&m, &id);
    assert_eq!(
        m.handle(&id, WORKER).complete_step(1),
        Err(ArenaError::InvalidState(
            "complete-step needs the arena active, and it is created".into()
        ))
    );
    assert_eq!(event_count(&m, &id), before);
}

#[test]
fn after_a_concurrent_write_the_operation_is_applied_to_the_new_state() {
    let (racer, rival, id) = racing_pair();
    let rival_id = id.clone();
    *racer.storage().layer.before_next_append.borrow_mut() = Some(Box::new(move || {
        rival.handle(&rival_id, LEAD).complete_step(1).unwrap();
    }));

    let arena = racer.handle(&id, WORKER).complete_step(2).unwrap();

    assert_eq!(arena.aggregate.done_steps().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(arena.aggregate.progress[LEAD].steps_completed, 1);
    assert_eq!(arena.aggregate.progress[WORKER].steps_completed, 1);
    assert_gapless_and_verified(&racer, &id);
}

#[test]
fn after_a_concurrent_write_the_operation_is_validated_again() {
    let (racer, rival, id) = racing_pair();
    let rival_id = id.clone();
    *racer.storage().layer.before_next_append.borrow_mut() = Some(Box::new(move || {
        rival.handle(&rival_id, LEAD).complete_step(2).unwrap();
    }));
    let before = event_count(&racer, &id);

    assert_eq!(
        racer.handle(&id, WORKER).complete_step(2),
        Err(ArenaError::AlreadyDone)
    );

    let events = all_events(&racer, &id);
    assert_eq!(events.len(), before + 1, "only the rival's step is logged");
    assert_eq!(events.last().unwrap().actor, LEAD);
    assert_gapless_and_verified(&racer, &id);
}

// ------------------------------------------------------------------------------------------------
// Authority, re-checked by verify
// ------------------------------------------------------------------------------------------------

/// Appends `change` by `actor` straight to `m`'s storage, sealed on the chain, as a host that holds
/// the database could: nothing but `verify` looks at it before the next read.
fn forge<S: Storage, C: Clock>(
    m: &ArenaManager<S, C>,
    id: &str,
    actor: &str,
    change: Change,
) -> u64 {
    let head = m.storage().head(id).unwrap().unwrap();
    let event = arena_component::events::seal(
        head.seq,
        &head.hash,
        "2026-01-01T01:00:00.000000Z",
        actor,
        &change,
        None,
    );
    m.storage()
        .append(id, head.seq, std::slice::from_ref(&event), None, None)
        .unwrap();
    event.seq
}

#[test]
fn verify_names_a_strangers_forged_event_though_the_chain_holds() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let seq = forge(
        &m,
        &id,
        OUTSIDER,
        Change::GoalUpdated {
            goal: "Hand me the keys".into(),
        },
    );
    let report = m.verify(&id).unwrap();
    assert_eq!(
        report.problem,
        Some(format!(
            "event {seq}: goal-updated by {OUTSIDER}, who is not a participant at that point: \
             the event was not written by the arena"
        ))
    );
    assert_eq!(report.events, seq);
}

#[test]
fn verify_names_a_participants_forged_event_that_needs_a_permission_it_lacks() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    let seq = forge(
        &m,
        &id,
        WORKER,
        Change::GoalUpdated {
            goal: "Do less".into(),
        },
    );
    assert_eq!(
        m.verify(&id).unwrap().problem,
        Some(format!(
            "event {seq}: goal-updated by {WORKER}, who does not hold steer at that point: the \
             event was not written by the arena"
        ))
    );
}

#[test]
fn verify_finds_no_authority_problem_in_a_log_the_arena_wrote() {
    let m = manager();
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, LEAD).update_goal("Write a guide").unwrap();
    m.handle(&id, WORKER).complete_step(1).unwrap();
    m.handle(&id, OBSERVER).leave().unwrap();
    m.handle(&id, LEAD).settle().unwrap();
    assert_eq!(m.verify(&id).unwrap().problem, None);
}

// ------------------------------------------------------------------------------------------------
// The end of the log
// ------------------------------------------------------------------------------------------------

#[test]
fn a_log_cut_below_a_kept_snapshot_refuses_writes_and_reads_and_verify_names_it() {
    let every_append = SnapshotPolicy {
        min_bytes: 0,
        snapshot_percent: 0,
    };
    let m =
        ArenaManager::new(tampering_storage(), TestClock::new()).with_snapshot_policy(every_append);
    let id = arena_at(&m, Stage::Active);
    m.handle(&id, WORKER).complete_step(1).unwrap();
    let kept = event_count(&m, &id) as u64;
    let cut = kept - 1;
    m.storage().layer.tamper.set(Tamper::CutTo(cut));
    let refused = format!(
        "arena {id}: a snapshot is kept at event {kept}, after the log's head at event {cut}: the \
         log was cut back, so nothing was written (`arena verify {id}` names the damage)"
    );
    let cold = ArenaManager::new(m.storage(), TestClock::new());
    assert_eq!(
        cold.handle(&id, WORKER).complete_step(2),
        Err(ArenaError::Storage(refused.clone()))
    );
    assert_eq!(cold.get(&id), Err(ArenaError::Storage(refused)));
    assert_eq!(
        cold.verify(&id).unwrap().problem,
        Some(format!(
            "a snapshot is kept at event {kept}, after the stored head at event {cut}: the log \
             was cut back"
        ))
    );
}

/// Appends an event by another writer to the log when the head has been read, before `verify`
/// reads the log (as a writer in another process may).
struct AppendAfterHead {
    writer: RefCell<Option<Box<dyn FnOnce()>>>,
    heads: Cell<u32>,
}

impl Layer<MemoryStorage> for AppendAfterHead {
    fn head(&self, inner: &MemoryStorage, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        let head = inner.head(arena)?;
        self.heads.set(self.heads.get() + 1);
        let writer = self.writer.borrow_mut().take();
        if let Some(writer) = writer {
            writer();
        }
        Ok(head)
    }
}

#[test]
fn verify_reads_the_log_up_to_the_head_it_read_first_so_a_concurrent_writer_is_no_damage() {
    let every_append = SnapshotPolicy {
        min_bytes: 0,
        snapshot_percent: 0,
    };
    let storage = MemoryStorage::new();
    let writer =
        ArenaManager::new(storage.clone(), TestClock::new()).with_snapshot_policy(every_append);
    let id = arena_at(&writer, Stage::Active);
    let verifier = ArenaManager::new(
        Layered {
            inner: storage.clone(),
            layer: AppendAfterHead {
                writer: RefCell::new(None),
                heads: Cell::new(0),
            },
        },
        TestClock::new(),
    );
    let before = event_count(&writer, &id) as u64;
    let (write_id, w) = (id.clone(), writer);
    *verifier.storage().layer.writer.borrow_mut() = Some(Box::new(move || {
        w.handle(&write_id, WORKER).complete_step(1).unwrap();
    }));
    let report = verifier.verify(&id).unwrap();
    assert!(
        verifier.storage().layer.writer.borrow().is_none(),
        "the writer ran"
    );
    assert_eq!(report.problem, None);
    assert_eq!(report.events, before);
}

// ------------------------------------------------------------------------------------------------
// A storage that stores and then answers conflict
// ------------------------------------------------------------------------------------------------

/// Stores each append, then answers `conflict` to the next `n` of them (an answer lost, as a storage
/// that retries on its own may).
struct StoresThenConflicts {
    lies: Cell<u32>,
}

impl Layer<MemoryStorage> for StoresThenConflicts {
    fn append(
        &self,
        inner: &MemoryStorage,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        inner.append(arena, expected_seq, events, record, snapshot)?;
        if self.lies.get() > 0 {
            self.lies.set(self.lies.get() - 1);
            return Err(ArenaError::Conflict);
        }
        Ok(())
    }
}

fn storing_then_conflicting() -> Layered<MemoryStorage, StoresThenConflicts> {
    Layered {
        inner: MemoryStorage::new(),
        layer: StoresThenConflicts { lies: Cell::new(0) },
    }
}

#[test]
fn an_unkeyed_write_stored_then_answered_conflict_is_not_repeated() {
    let m = ArenaManager::new(storing_then_conflicting(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    let before = event_count(&m, &id);
    m.storage().layer.lies.set(1);
    let after = m.handle(&id, WORKER).complete_step(1).unwrap();
    assert_eq!(after.aggregate.completed_steps, 1);
    assert_eq!(
        event_count(&m, &id),
        before + 1,
        "one event, not one per retry"
    );
    assert_eq!(m.storage().layer.lies.get(), 0, "the conflict was answered");
    assert_eq!(m.verify(&id).unwrap().problem, None);
}

#[test]
fn a_create_stored_then_answered_conflict_makes_one_arena() {
    let m = ArenaManager::new(storing_then_conflicting(), TestClock::new());
    m.storage().layer.lies.set(1);
    let id = m.create(&config(full_team())).unwrap();
    assert_eq!(m.storage().layer.lies.get(), 0, "the conflict was answered");
    let listed: Vec<_> = m
        .list(None, 100)
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, vec![id]);
}

#[test]
fn read_artifact_refuses_content_altered_in_storage() {
    let m = ArenaManager::new(tampering_storage(), TestClock::new());
    let id = arena_at(&m, Stage::Active);
    let stored = m
        .handle(&id, WORKER)
        .put_artifact(&ArtifactDraft {
            kind: "text".into(),
            content: "the reef is north".into(),
            metadata: vec![],
        })
        .unwrap();
    assert_eq!(
        m.handle(&id, LEAD)
            .read_artifact(&stored.id)
            .unwrap()
            .content,
        "the reef is north"
    );
    m.storage().layer.tamper.set(Tamper::AlterPayload {
        seq: stored.seq,
        from: "north",
        to: "south",
    });
    assert_eq!(
        m.handle(&id, LEAD).read_artifact(&stored.id),
        Err(ArenaError::Storage(format!(
            "arena {id}: event {} does not hold the content of artifact {}: its digest differs \
             from the one the state holds",
            stored.seq, stored.id
        )))
    );
}
