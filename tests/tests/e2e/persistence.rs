//! What is acknowledged is in the database: reopening, concurrent hosts, tampering.

use std::sync::{Arc, Barrier};
use std::thread;

use arena_host::types::{ArenaError, ArenaStatus};
use arena_host::{ArenaHost, HostOptions};
use arena_tests::{arena_error, arena_in, config, event_count, fresh_host};

#[test]
fn a_fresh_host_on_the_same_database_sees_the_same_state_and_events() {
    let (dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.complete_step(2).unwrap();
    wendy.report_progress("two down").unwrap();
    host.handle(&id, "lead")
        .unwrap()
        .update_goal("map the coastline twice")
        .unwrap();
    let (info, events) = (host.get(&id).unwrap(), host.all_events(&id, 0).unwrap());
    drop(wendy);
    drop(host);

    let reopened = ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).unwrap();
    assert_eq!(reopened.get(&id).unwrap(), info);
    assert_eq!(reopened.all_events(&id, 0).unwrap(), events);
    assert_eq!(reopened.verify(&id).unwrap().problem, None);
    assert_eq!(
        arena_error(reopened.handle(&id, "wendy").unwrap().complete_step(2)),
        ArenaError::AlreadyDone
    );
}

#[test]
fn events_are_paged_in_sequence_order() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Archived);
    let all = host.all_events(&id, 0).unwrap();
    assert_eq!(all.len(), 7);
    let page = host.events(&id, 2, 3).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert!(host.events(&id, 7, 10).unwrap().is_empty());
}

#[test]
fn two_hosts_completing_steps_of_one_arena_lose_nothing() {
    const STEPS: u32 = 60;
    let (dir, host_a) = fresh_host();
    let host_b = ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).unwrap();
    let id = host_a.create(&config(STEPS)).unwrap();
    host_a.handle(&id, "lead").unwrap().activate().unwrap();

    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = [(host_a.clone(), "lead", 0), (host_b.clone(), "wendy", 1)]
        .into_iter()
        .map(|(host, agent, parity)| {
            let (id, start) = (id.clone(), start.clone());
            thread::spawn(move || {
                let handle = host.handle(&id, agent).unwrap();
                start.wait();
                for step in (1..=STEPS).filter(|s| s % 2 == parity) {
                    handle.complete_step(step).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let info = host_b.get(&id).unwrap();
    assert_eq!(info.aggregate.completed_steps, STEPS);
    let events = host_a.all_events(&id, 0).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "sequence has a gap"
    );
    let steps = events.iter().filter(|e| e.kind == "step-completed").count();
    assert_eq!(steps, STEPS as usize, "a step was lost or duplicated");
    assert_eq!(host_a.verify(&id).unwrap().problem, None);
    assert!(
        host_a.conflicts() + host_b.conflicts() > 0,
        "the hosts never raced; the conflict path was not exercised"
    );
}

#[test]
fn verify_names_a_tampered_event() {
    let (dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    host.handle(&id, "wendy").unwrap().complete_step(3).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("arena.db")).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    conn.execute(
        "UPDATE events SET payload = ?1 WHERE arena_id = ?2 AND seq = 6",
        rusqlite::params![r#"{"step":4,"v":1}"#, id],
    )
    .unwrap();
    let report = host.verify(&id).unwrap();
    let problem = report.problem.expect("tampering must be found");
    assert!(problem.contains("event 6"), "{problem}");
}

#[test]
fn verify_notices_a_truncated_log() {
    let (dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Settling);
    let conn = rusqlite::Connection::open(dir.path().join("arena.db")).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_delete").unwrap();
    conn.execute(
        "DELETE FROM events WHERE arena_id = ?1 AND seq = (SELECT max(seq) FROM events WHERE arena_id = ?1)",
        rusqlite::params![id],
    )
    .unwrap();
    let problem = host
        .verify(&id)
        .unwrap()
        .problem
        .expect("truncation must be found");
    assert!(problem.contains("truncated"), "{problem}");
}

#[test]
fn the_arena_at_any_event_is_rebuilt_from_the_log() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.complete_step(1).unwrap();
    host.handle(&id, "lead")
        .unwrap()
        .update_goal("a second goal")
        .unwrap();
    let events = host.all_events(&id, 0).unwrap();
    assert_eq!(
        host.get_at(&id, events.len() as u64).unwrap(),
        host.get(&id).unwrap()
    );
    let created = host.get_at(&id, 4).unwrap();
    assert_eq!(
        (created.status, created.last_seq),
        (ArenaStatus::Created, 4)
    );
    assert_eq!(created.participants.len(), 3);
    let activated = host.get_at(&id, 5).unwrap();
    assert_eq!(activated.status, ArenaStatus::Active);
    assert_eq!(activated.aggregate.completed_steps, 0);
    let stepped = host.get_at(&id, 6).unwrap();
    assert_eq!(
        (stepped.aggregate.completed_steps, stepped.goal.as_str()),
        (1, "map the coastline")
    );
    assert!(matches!(
        arena_error(host.get_at(&id, 0)),
        ArenaError::InvalidInput(_)
    ));
    assert!(matches!(
        arena_error(host.get_at(&id, 8)),
        ArenaError::InvalidInput(_)
    ));
}

#[test]
fn verify_names_two_swapped_events() {
    let (dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.complete_step(1).unwrap();
    wendy.complete_step(2).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("arena.db")).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    for (from, to) in [(6, -6), (7, 6), (-6, 7)] {
        conn.execute(
            "UPDATE events SET seq = ?1 WHERE arena_id = ?2 AND seq = ?3",
            rusqlite::params![to, id, from],
        )
        .unwrap();
    }
    let problem = host
        .verify(&id)
        .unwrap()
        .problem
        .expect("swapped events must be found");
    assert!(problem.contains("event 6"), "{problem}");
}

#[test]
fn a_database_written_by_schema_version_1_opens_migrates_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(include_str!("../../fixtures/schema-v1.sql"))
        .unwrap();
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    let arenas = host.list(None, 10).unwrap();
    assert_eq!(arenas.len(), 1);
    let old = &arenas[0];
    assert_eq!(old.status, ArenaStatus::Archived);
    assert_eq!(old.aggregate.completed_steps, 6);
    let report = host.verify(&old.id).unwrap();
    assert_eq!((report.events, report.problem), (20, None));
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, arena_host::storage::SCHEMA_VERSION as i64);
    // And the migrated database keeps working.
    let id = host.create(&config(2)).unwrap();
    assert_eq!(host.verify(&id).unwrap().problem, None);
}

#[test]
fn a_keyed_operation_retried_writes_one_event_and_returns_the_same_result() {
    use arena_host::Operation;
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    let first = wendy
        .perform(Some("step-3-attempt"), &Operation::CompleteStep(3))
        .unwrap();
    let events = event_count(&host, &id);
    host.handle(&id, "lead")
        .unwrap()
        .update_goal("something else")
        .unwrap();
    let retry = wendy
        .perform(Some("step-3-attempt"), &Operation::CompleteStep(3))
        .unwrap();
    assert_eq!(retry, first, "a retry returns the original result");
    assert_eq!(
        event_count(&host, &id),
        events + 1,
        "only the goal update was written"
    );
    let steps = host
        .all_events(&id, 0)
        .unwrap()
        .iter()
        .filter(|e| e.kind == "step-completed")
        .count();
    assert_eq!(steps, 1);
    // Without the key the same operation is a new request, and the arena refuses it.
    assert_eq!(
        arena_error(wendy.perform(None, &Operation::CompleteStep(3))),
        ArenaError::AlreadyDone
    );
    // Keys belong to their caller: the same key from another agent is another operation.
    let lead = host.handle(&id, "lead").unwrap();
    let other = lead
        .perform(Some("step-3-attempt"), &Operation::CompleteStep(4))
        .unwrap();
    assert_eq!(other.aggregate.completed_steps, 2);
    assert_eq!(host.verify(&id).unwrap().problem, None);
}

#[test]
fn a_keyed_lifecycle_move_retried_is_not_an_invalid_transition() {
    use arena_host::Operation;
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Created);
    let lead = host.handle(&id, "lead").unwrap();
    assert_eq!(
        lead.perform(Some("go"), &Operation::Activate)
            .unwrap()
            .status,
        ArenaStatus::Active
    );
    assert_eq!(
        lead.perform(Some("go"), &Operation::Activate)
            .unwrap()
            .status,
        ArenaStatus::Active
    );
    assert_eq!(event_count(&host, &id), 5);
    assert!(matches!(
        arena_error(lead.perform(Some(""), &Operation::Settle)),
        ArenaError::InvalidInput(_)
    ));
}
