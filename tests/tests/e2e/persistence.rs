//! What is acknowledged is in the database: reopening, concurrent hosts, tampering.

use std::sync::{Arc, Barrier};
use std::thread;

use arena_host::types::{ArenaError, ArenaStatus, Outcome};
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

/// Two hosts (two connections) complete the steps of one arena at once. Each round is a fresh arena;
/// rounds repeat (a bounded number of times) until the hosts have raced at least once, so the conflict
/// path is exercised however the scheduler interleaves them.
#[test]
fn two_hosts_completing_steps_of_one_arena_lose_nothing() {
    const STEPS: u32 = 100;
    const ROUNDS: usize = 20;
    let (dir, host_a) = fresh_host();
    let host_b = ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).unwrap();
    for _ in 0..ROUNDS {
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
        if host_a.conflicts() + host_b.conflicts() > 0 {
            return;
        }
    }
    panic!("the hosts never raced in {ROUNDS} rounds; the conflict path was not exercised");
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
    assert_eq!(version, arena_host::db::sqlite::SCHEMA_VERSION as i64);
    // And the migrated database keeps working.
    let id = host.create(&config(2)).unwrap();
    assert_eq!(host.verify(&id).unwrap().problem, None);
}

/// The active arena of `tests/fixtures/schema-v4.sql`.
const V4_ACTIVE: &str = "01a2303f-4f6b-7c6a-8cdf-9a8eca58e01b";

#[test]
fn a_database_written_by_schema_version_4_opens_migrates_verifies_and_goes_on_writing() {
    use arena_host::Operation;
    use arena_host::types::FactQuery;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(include_str!("../../fixtures/schema-v4.sql"))
        .unwrap();
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    let arenas = host.list(None, 10).unwrap();
    let events: Vec<u64> = arenas
        .iter()
        .map(|a| {
            let report = host.verify(&a.id).unwrap();
            assert_eq!(report.problem, None, "arena {}", a.id);
            report.events
        })
        .collect();
    assert_eq!(events, [13, 14, 6, 2]);
    let statuses: Vec<ArenaStatus> = arenas.iter().map(|a| a.status).collect();
    use ArenaStatus::{Active, Archived, Created};
    assert_eq!(statuses, [Active, Archived, Archived, Created]);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, arena_host::db::sqlite::SCHEMA_VERSION as i64);

    // What the old database indexed still answers: facts by tag across arenas, participation.
    let reef = FactQuery {
        tag: Some("reef".into()),
        text: None,
    };
    assert_eq!(host.all_facts(None, &reef).unwrap().len(), 3);
    assert_eq!(host.active_arenas_for("wendy").unwrap(), [V4_ACTIVE]);
    // A key the old database remembered was stored without its operation, so a retry with it
    // cannot be checked: it is refused, naming the key, and writes nothing (never done twice).
    let wendy = host.handle(V4_ACTIVE, "wendy").unwrap();
    let refused = wendy
        .perform(Some("step-2"), &Operation::CompleteStep(2))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("step-2") && refused.contains("cannot be checked"),
        "{refused}"
    );
    assert_eq!(event_count(&host, V4_ACTIVE), 13);
    // And it goes on writing, across a reopen.
    wendy.complete_step(3).unwrap();
    wendy.report_progress("south side next").unwrap();
    drop(wendy);
    drop(host);
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    let arena = host.get(V4_ACTIVE).unwrap();
    assert_eq!(arena.aggregate.completed_steps, 3);
    assert_eq!(host.verify(V4_ACTIVE).unwrap().problem, None);
    assert_eq!(host.verify(V4_ACTIVE).unwrap().events, 15);
    let id = host.create(&config(2)).unwrap();
    assert_eq!(host.verify(&id).unwrap().problem, None);
}

#[test]
fn reports_recorded_before_they_named_a_result_and_a_head_name_them_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(include_str!("../../fixtures/schema-v4.sql"))
        .unwrap();
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    // The fixture's archived arenas: one completed with a merge at event 13, one aborted.
    let served: Vec<_> = host
        .list(None, 10)
        .unwrap()
        .into_iter()
        .filter_map(|a| Some((a.id.clone(), a.report?)))
        .collect();
    assert_eq!(served.len(), 2);
    let mut results = Vec::new();
    for (id, report) in served {
        assert_eq!(host.verify(&id).unwrap().problem, None, "arena {id}");
        let archiving = host.all_events(&id, 0).unwrap().pop().unwrap();
        assert!(
            archiving.payload.contains("\"report\"") && !archiving.payload.contains("result"),
            "the fixture recorded the old report: {}",
            archiving.payload
        );
        assert_eq!(
            (report.head_seq, report.head_hash.as_str()),
            (archiving.seq, archiving.hash.as_str()),
            "arena {id}"
        );
        results.push((report.outcome, report.result));
    }
    assert_eq!(
        results,
        [
            (Outcome::Completed, Some("art-13".to_string())),
            (Outcome::Aborted("funding ended".into()), None)
        ]
    );
}

/// `tests/fixtures/schema-v5.sql` holds the arenas of the schema-4 fixture as schema version 5 kept
/// them (snapshots apart, no tokens yet); its active arena is [`V4_ACTIVE`].
#[test]
fn a_database_written_by_schema_version_5_opens_migrates_and_keeps_agent_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v5.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(include_str!("../../fixtures/schema-v5.sql"))
        .unwrap();
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    let events: Vec<u64> = host
        .list(None, 10)
        .unwrap()
        .iter()
        .map(|a| {
            let report = host.verify(&a.id).unwrap();
            assert_eq!(report.problem, None, "arena {}", a.id);
            report.events
        })
        .collect();
    assert_eq!(events, [13, 14, 6, 2]);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, arena_host::db::sqlite::SCHEMA_VERSION as i64);
    // The migrated database has no tokens, then keeps one across a reopen.
    assert!(host.tokens(None).unwrap().is_empty());
    let issued = host.issue_token(V4_ACTIVE, "wendy", None, None).unwrap();
    drop(host);
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    let wendy = host
        .resolve_token(issued.secret.expose(), Some(V4_ACTIVE))
        .unwrap();
    wendy.complete_step(3).unwrap();
    assert_eq!(host.tokens(Some(V4_ACTIVE)).unwrap().len(), 1);
    let report = host.verify(V4_ACTIVE).unwrap();
    assert_eq!((report.events, report.problem), (14, None));
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

// ------------------------------------------------------------------------------------------------
// Group commit
// ------------------------------------------------------------------------------------------------

const WRITERS: usize = 8;
const STEPS_EACH: u32 = 25;

fn host_on(dir: &std::path::Path, group_commit: bool) -> ArenaHost {
    let options = HostOptions {
        group_commit: if group_commit {
            arena_host::GroupCommit::On
        } else {
            arena_host::GroupCommit::Off
        },
        ..HostOptions::default()
    };
    ArenaHost::open(dir.join("arena.db"), options).unwrap()
}

/// An active arena whose workers `w0`… each own a share of the steps.
fn team_arena(host: &ArenaHost) -> String {
    let mut config = config(WRITERS as u32 * STEPS_EACH);
    config.participants.extend(
        (0..WRITERS).map(|w| arena_tests::spec(&format!("w{w}"), arena_host::types::Role::Worker)),
    );
    let id = host.create(&config).unwrap();
    host.handle(&id, "lead").unwrap().activate().unwrap();
    id
}

/// Eight writers on four arenas at once, each also retrying a step it already did: every operation
/// that was acknowledged is stored exactly once, in the order its writer made it, and refused ones
/// wrote nothing.
fn concurrent_writers_lose_and_duplicate_nothing(group_commit: bool) {
    let dir = tempfile::tempdir().unwrap();
    let host = host_on(dir.path(), group_commit);
    let arenas: Vec<String> = (0..4).map(|_| team_arena(&host)).collect();
    let before = host.commit_stats();
    let start = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (host, arenas, start) = (host.clone(), arenas.clone(), start.clone());
            thread::spawn(move || {
                let handles: Vec<_> = arenas
                    .iter()
                    .map(|id| host.handle(id, &format!("w{w}")).unwrap())
                    .collect();
                start.wait();
                for k in 0..STEPS_EACH {
                    let step = w as u32 * STEPS_EACH + k + 1;
                    for handle in &handles {
                        handle.complete_step(step).unwrap();
                        // Refused inside whatever batch it lands in, without spoiling the others.
                        assert_eq!(
                            arena_error(handle.complete_step(step)),
                            ArenaError::AlreadyDone
                        );
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let operations = (WRITERS as u32 * STEPS_EACH * 4 * 2) as u64;
    let stats = host.commit_stats();
    eprintln!("group commit {group_commit}: {stats:?} (before {before:?})");
    if group_commit {
        assert_eq!(stats.operations - before.operations, operations);
        assert!(stats.batches - before.batches <= operations);
        assert_eq!(stats.failed, 0);
    } else {
        assert_eq!(stats, before, "no batches without group commit");
    }
    drop(host);
    // What a fresh process sees.
    let host = host_on(dir.path(), false);
    for id in &arenas {
        let info = host.get(id).unwrap();
        assert_eq!(info.aggregate.completed_steps, WRITERS as u32 * STEPS_EACH);
        let events = host.all_events(id, 0).unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
        for w in 0..WRITERS {
            let steps: Vec<u32> = events
                .iter()
                .filter(|e| e.kind == "step-completed" && e.actor == format!("w{w}"))
                .map(|e| {
                    let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
                    payload["step"].as_u64().unwrap() as u32
                })
                .collect();
            let expected: Vec<u32> = (0..STEPS_EACH)
                .map(|k| w as u32 * STEPS_EACH + k + 1)
                .collect();
            assert_eq!(steps, expected, "w{w}'s steps, once each and in order");
        }
        assert_eq!(host.verify(id).unwrap().problem, None);
    }
}

#[test]
fn group_commit_loses_and_duplicates_nothing_under_concurrent_writers() {
    concurrent_writers_lose_and_duplicate_nothing(true);
}

#[test]
fn one_commit_per_operation_loses_and_duplicates_nothing_under_concurrent_writers() {
    concurrent_writers_lose_and_duplicate_nothing(false);
}

/// Two hosts (two connections, each batching its own writers) race for the same steps of one arena:
/// each batch holds the write lock from before its first read, and the expected-sequence check runs
/// inside it, so exactly one completion of each step gets through.
#[test]
fn group_commit_detects_conflicts_between_hosts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = [host_on(dir.path(), true), host_on(dir.path(), true)];
    let id = team_arena(&hosts[0]);
    let total = WRITERS as u32 * STEPS_EACH;
    let start = Arc::new(Barrier::new(4));
    let racers: Vec<_> = (0..4)
        .map(|r| {
            let (host, id, start) = (hosts[r % 2].clone(), id.clone(), start.clone());
            thread::spawn(move || {
                let handle = host.handle(&id, &format!("w{r}")).unwrap();
                start.wait();
                let mut won = 0;
                for step in 1..=total {
                    match handle.complete_step(step) {
                        Ok(_) => won += 1,
                        Err(e) => assert_eq!(arena_error::<()>(Err(e)), ArenaError::AlreadyDone),
                    }
                }
                won
            })
        })
        .collect();
    let won: u32 = racers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(won, total, "each step completed exactly once");
    let events = hosts[1].all_events(&id, 0).unwrap();
    let completed = events.iter().filter(|e| e.kind == "step-completed").count();
    assert_eq!(completed, total as usize);
    assert_eq!(hosts[0].verify(&id).unwrap().problem, None);
}
