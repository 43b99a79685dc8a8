//! Replay speed on a 100,000-event arena: `verify` (walk the hash chain and fold every event from 1,
//! then compare with the stored state) through the arena component, against the same domain code
//! compiled natively on the same SQLite storage code, in the same run.
//!
//! The fixture is built natively and written in one transaction (one append of every event), not
//! through 100,000 commits. `cargo bench -p arena-host --bench replay`.

use std::time::Instant;

use arena_component::events::{Change, apply, seal};
use arena_component::{Arena, Permission, Role, Strategy};
use arena_host::native::native_manager;
use arena_host::storage::SqliteStorage;
use arena_host::types::{ArenaStatus, Event};
use arena_host::{ArenaHost, Durability, HostOptions};

const EVENTS: u64 = 100_000;
const ID: &str = "01934b5e-0000-7000-8000-000000000001";

/// Seals a realistic log: creation, two joins, activation, then steps and progress notes.
fn fixture() -> (Vec<Event>, Arena) {
    let mut changes = vec![
        Change::ArenaCreated {
            id: ID.into(),
            goal: "replay".into(),
            total_steps: 100_000,
            strategy: Strategy::Peer("lead".into()),
            created_by: "bench".into(),
        },
        Change::AgentJoined {
            agent: "lead".into(),
            role: Role::Coordinator,
            permissions: Permission::ALL.to_vec(),
        },
        Change::AgentJoined {
            agent: "w".into(),
            role: Role::Worker,
            permissions: Role::Worker.permissions().into_iter().collect(),
        },
        Change::ArenaActivated,
    ];
    let mut step = 0;
    while (changes.len() as u64) < EVENTS {
        step += 1;
        changes.push(Change::StepCompleted { step });
        changes.push(Change::ProgressReported {
            note: format!("finished step {step}"),
        });
    }
    changes.truncate(EVENTS as usize);
    let mut state: Option<Arena> = None;
    let mut events = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let (seq, hash) = state
            .as_ref()
            .map_or((0, String::new()), |a| (a.last_seq, a.last_hash.clone()));
        let actor = if i < 4 { "lead" } else { "w" };
        let at = format!(
            "2026-01-01T00:{:02}:{:02}.{:06}Z",
            (i / 60_000_000) % 60,
            (i / 1_000_000) % 60,
            i % 1_000_000
        );
        let event = seal(seq, &hash, &at, actor, change, None);
        state = Some(apply(state, &event).expect("the fixture folds"));
        events.push(Event {
            seq: event.seq,
            at: event.at,
            actor: event.actor,
            kind: event.kind,
            payload: event.payload,
            hash: event.hash,
        });
    }
    (events, state.expect("a state"))
}

fn write(path: &std::path::Path, events: &[Event], state: &Arena) {
    let mut storage = SqliteStorage::open(path, Durability::Normal).unwrap();
    let record = arena_bindings::storage::ArenaRecord {
        snapshot: serde_json::to_string(state).unwrap(),
        status: ArenaStatus::Active,
        participants: state.participants.keys().cloned().collect(),
    };
    storage.append(ID, 0, events, &record).unwrap();
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let built = Instant::now();
    let (events, state) = fixture();
    let component_db = dir.path().join("component.db");
    let native_db = dir.path().join("native.db");
    write(&component_db, &events, &state);
    write(&native_db, &events, &state);
    println!(
        "fixture: {EVENTS} events built and written in {:.2} s (one transaction each)",
        built.elapsed().as_secs_f64()
    );

    let host = ArenaHost::open(&component_db, HostOptions::default()).unwrap();
    let native = native_manager(&native_db, Durability::Normal).unwrap();
    let mut component_runs = Vec::new();
    let mut native_runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let report = host.verify(ID).unwrap();
        component_runs.push(start.elapsed().as_secs_f64());
        assert_eq!((report.events, report.problem), (EVENTS, None));
        let start = Instant::now();
        let report = native.verify(ID).unwrap();
        native_runs.push(start.elapsed().as_secs_f64());
        assert_eq!((report.events, report.problem), (EVENTS, None));
    }
    component_runs.sort_by(f64::total_cmp);
    native_runs.sort_by(f64::total_cmp);
    let (component, native) = (component_runs[2], native_runs[2]);
    println!(
        "verify (hash chain + replay from event 1 + compare), median of 5; WAL, synchronous=NORMAL"
    );
    println!(
        "component: {:.3} s = {:.0} events/s | native: {:.3} s = {:.0} events/s | component/native {:.2}×",
        component,
        EVENTS as f64 / component,
        native,
        EVENTS as f64 / native,
        component / native
    );
}
