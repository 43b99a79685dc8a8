//! Forks: a new arena whose state is its parent's right after one event, with the parent's log up
//! to that event copied into its own and checked against it by `verify`.

use arena_host::ArenaHost;
use arena_host::plugin::PluginEngine;
use arena_host::run::{self, Manifest};
use arena_host::types::{ArenaError, ArenaStatus, ArtifactDraft, FactDraft};
use arena_tests::{arena_error, arena_in, event_count, fresh_host};

fn note(content: &str) -> ArtifactDraft {
    ArtifactDraft {
        kind: "text".into(),
        content: content.into(),
        metadata: vec![],
    }
}

/// An active arena (lead, wendy, otto; 5 steps) in which wendy completed steps 1 and 2, put an
/// artifact and shared a fact, and then, after the returned event, completed step 3.
fn worked_arena(host: &ArenaHost) -> (String, u64) {
    let id = arena_in(host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.complete_step(1).unwrap();
    wendy.complete_step(2).unwrap();
    wendy.put_artifact(&note("wendy's first draft")).unwrap();
    wendy
        .add_fact(&FactDraft {
            content: "the coast is 40 km long".into(),
            confidence: 0.75,
            tags: vec!["coast".into()],
        })
        .unwrap();
    let at = host.get(&id).unwrap().last_seq;
    wendy.complete_step(3).unwrap();
    (id, at)
}

/// The `arena-forked` event of `fork`, which follows its parent's events up to `at`.
fn forked_event(host: &ArenaHost, fork: &str, at: u64) -> serde_json::Value {
    let events = host.events(fork, at, 1).unwrap();
    assert_eq!(events[0].kind, "arena-forked");
    assert_eq!(events[0].actor, "operator");
    serde_json::from_str(&events[0].payload).unwrap()
}

#[test]
fn a_fork_has_its_parents_state_at_the_event_it_was_taken_after() {
    let (_dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    let fork = host.fork(&parent, at, "operator").unwrap();
    assert_ne!(fork, parent);

    let then = host.get_at(&parent, at).unwrap();
    let forked = host.get(&fork).unwrap();
    assert_eq!(forked.id, fork);
    assert_eq!(forked.goal, then.goal);
    assert_eq!(forked.status, ArenaStatus::Active);
    assert_eq!(forked.participants, then.participants);
    assert_eq!(forked.aggregate, then.aggregate);
    assert_eq!(
        forked.aggregate.completed_steps, 2,
        "step 3 came after the fork"
    );
    assert_eq!(forked.created_by, "operator");
    assert_eq!(forked.last_seq, at + 1);
    // The artifacts and facts are the parent's, with their ids and content.
    assert_eq!(host.slots(&fork).unwrap(), {
        let mut slots = host.slots(&parent).unwrap();
        slots
            .iter_mut()
            .for_each(|s| s.artifacts.retain(|a| a.seq <= at));
        slots
    });
    let query = arena_host::types::FactQuery {
        tag: None,
        text: None,
    };
    assert_eq!(
        host.all_facts(Some(&fork), &query)
            .unwrap()
            .iter()
            .map(|f| (&f.id, &f.content))
            .collect::<Vec<_>>(),
        host.all_facts(Some(&parent), &query)
            .unwrap()
            .iter()
            .map(|f| (&f.id, &f.content))
            .collect::<Vec<_>>()
    );
    // Its log is the parent's up to `at`, then the event that records the fork.
    assert_eq!(
        host.events(&fork, 0, at as u32).unwrap(),
        host.events(&parent, 0, at as u32).unwrap()
    );
    let parent_hash = host.events(&parent, at - 1, 1).unwrap()[0].hash.clone();
    let payload = forked_event(&host, &fork, at);
    assert_eq!(payload["parent"], parent.as_str());
    assert_eq!(payload["seq"], at);
    assert_eq!(payload["parent-hash"], parent_hash.as_str());
    assert_eq!(payload["id"], fork.as_str());
}

#[test]
fn a_fork_goes_its_own_way_and_leaves_its_parent_as_it_was() {
    let (_dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    let parent_before = host.get(&parent).unwrap();
    let fork = host.fork(&parent, at, "operator").unwrap();
    let wendy = host.handle(&fork, "wendy").unwrap();
    wendy.complete_step(4).unwrap();
    let art = wendy.put_artifact(&note("the fork's draft")).unwrap();
    // Ids minted in the fork follow its own sequence, past every id it inherited.
    assert_eq!(art.id, format!("art-{}", host.get(&fork).unwrap().last_seq));
    assert_eq!(host.get(&parent).unwrap(), parent_before);
    assert_eq!(host.get(&fork).unwrap().aggregate.completed_steps, 3);
    assert_eq!(host.verify(&fork).unwrap().problem, None);
    assert_eq!(host.verify(&parent).unwrap().problem, None);
}

#[test]
fn verify_of_a_fork_passes_and_counts_the_copied_events() {
    let (_dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    let fork = host.fork(&parent, at, "operator").unwrap();
    let report = host.verify(&fork).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.events, at + 1);
}

#[test]
fn a_fork_of_a_fork_verifies_against_both_ancestors() {
    let (_dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    let child = host.fork(&parent, at, "operator").unwrap();
    host.handle(&child, "wendy")
        .unwrap()
        .complete_step(5)
        .unwrap();
    let child_head = host.get(&child).unwrap().last_seq;
    let grandchild = host.fork(&child, child_head, "operator").unwrap();
    assert_eq!(host.verify(&grandchild).unwrap().problem, None);
    assert_eq!(
        host.get(&grandchild).unwrap().aggregate.completed_steps,
        3,
        "steps 1, 2 and 5"
    );
}

#[test]
fn a_parent_altered_after_the_fork_is_named_by_the_forks_verify() {
    let (dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    let fork = host.fork(&parent, at, "operator").unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("arena.db")).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    // Event 6 is wendy's step 1: the parent now says she completed step 4.
    let changed = conn
        .execute(
            "UPDATE events SET payload = ?1 WHERE arena_id = ?2 AND seq = 6",
            rusqlite::params![r#"{"step":4,"v":1}"#, parent],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let problem = host
        .verify(&fork)
        .unwrap()
        .problem
        .expect("the altered parent must be found");
    assert_eq!(
        problem,
        format!(
            "event {}: arena {parent}, which this arena was forked from at event {at}, no longer \
             holds event 6 as the fork copied it: the parent's log was altered after the fork",
            at + 1
        )
    );
}

#[test]
fn a_parent_cut_back_below_the_fork_point_is_named_by_the_forks_verify() {
    let (dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    let fork = host.fork(&parent, at, "operator").unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("arena.db")).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_delete").unwrap();
    conn.execute(
        "DELETE FROM events WHERE arena_id = ?1 AND seq >= ?2",
        rusqlite::params![parent, at],
    )
    .unwrap();
    let problem = host.verify(&fork).unwrap().problem.expect("a cut parent");
    assert!(
        problem.starts_with(&format!(
            "event {}: arena {parent}, which this arena was forked from at event {at}",
            at + 1
        )),
        "{problem}"
    );
    assert!(problem.contains("cut back after the fork"), "{problem}");
}

#[test]
fn a_fork_of_an_archived_arena_starts_active_and_can_be_finished() {
    let (_dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    host.handle(&parent, "lead")
        .unwrap()
        .abort("the plan changed")
        .unwrap();
    let fork = host.fork(&parent, at, "operator").unwrap();
    let info = host.get(&fork).unwrap();
    assert_eq!(info.status, ArenaStatus::Active);
    assert_eq!(info.outcome, None);
    assert_eq!(info.report, None);
    let lead = host.handle(&fork, "lead").unwrap();
    lead.settle().unwrap();
    lead.archive().unwrap();
    assert_eq!(host.get(&fork).unwrap().status, ArenaStatus::Archived);
    assert_eq!(
        host.get(&parent).unwrap().status,
        ArenaStatus::Archived,
        "the parent stays as it was"
    );
    assert_eq!(host.verify(&fork).unwrap().problem, None);
}

#[test]
fn a_fork_of_the_whole_log_of_an_archived_arena_starts_active() {
    let (_dir, host) = fresh_host();
    let parent = arena_in(&host, ArenaStatus::Archived);
    let head = host.get(&parent).unwrap().last_seq;
    let fork = host.fork(&parent, head, "operator").unwrap();
    assert_eq!(host.get(&fork).unwrap().status, ArenaStatus::Active);
    assert_eq!(host.verify(&fork).unwrap().problem, None);
}

#[test]
fn a_fork_taken_before_activation_starts_created() {
    let (_dir, host) = fresh_host();
    let parent = arena_in(&host, ArenaStatus::Archived);
    // Events 1 to 4: the creation and its three joins, before `arena-activated`.
    let fork = host.fork(&parent, 4, "operator").unwrap();
    assert_eq!(host.get(&fork).unwrap().status, ArenaStatus::Created);
    host.handle(&fork, "lead").unwrap().activate().unwrap();
    assert_eq!(host.get(&fork).unwrap().status, ArenaStatus::Active);
}

#[test]
fn forking_at_an_event_outside_the_log_is_invalid_input_and_writes_nothing() {
    let (_dir, host) = fresh_host();
    let (parent, _) = worked_arena(&host);
    let head = host.get(&parent).unwrap().last_seq;
    for seq in [0, head + 1, u64::MAX] {
        assert_eq!(
            arena_error(host.fork(&parent, seq, "operator")),
            ArenaError::InvalidInput(format!("event {seq} is outside the log's 1..={head}"))
        );
    }
    assert_eq!(host.list(None, 10).unwrap().len(), 1);
    assert_eq!(event_count(&host, &parent) as u64, head);
}

#[test]
fn forking_an_unknown_arena_is_not_found_and_writes_nothing() {
    let (_dir, host) = fresh_host();
    let unknown = "0192f0c8-7c1a-7c3e-8a4b-1234567890ab";
    assert_eq!(
        arena_error(host.fork(unknown, 1, "operator")),
        ArenaError::NotFound
    );
    assert!(host.list(None, 10).unwrap().is_empty());
}

#[test]
fn resuming_a_fork_with_another_team_invites_it_and_archives() {
    let (_dir, host) = fresh_host();
    let (parent, at) = worked_arena(&host);
    host.handle(&parent, "lead")
        .unwrap()
        .abort("the first team gave up")
        .unwrap();
    let fork = host.fork(&parent, at, "operator").unwrap();
    let manifest = Manifest::parse(&format!(
        r#"
        [arena]
        id = {fork:?}
        [run]
        max_rounds = 20
        [[plugin]]
        agent = "boss"
        role = "coordinator"
        component = "builtin:coordinator"
        [[plugin]]
        agent = "walt"
        role = "worker"
        component = "builtin:worker"
        "#
    ))
    .unwrap();
    let summary = run::run(
        &host,
        &PluginEngine::new().unwrap(),
        &manifest,
        std::path::Path::new("."),
        |_| {},
    )
    .unwrap();
    assert_eq!(summary.arena, fork);
    assert_eq!(summary.status, ArenaStatus::Archived);
    let joins: Vec<(String, String)> = host
        .all_events(&fork, at + 1)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "agent-joined")
        .map(|e| {
            (
                e.actor,
                serde_json::from_str::<serde_json::Value>(&e.payload).unwrap()["agent"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        joins,
        [
            ("lead".to_string(), "boss".to_string()),
            ("lead".to_string(), "walt".to_string())
        ],
        "the fork's coordinator invites the new team"
    );
    let info = host.get(&fork).unwrap();
    assert_eq!(info.aggregate.completed_steps, info.aggregate.total_steps);
    assert!(
        info.aggregate
            .progress
            .iter()
            .any(|p| p.agent == "walt" && p.steps_completed > 0),
        "the new team did the rest: {:?}",
        info.aggregate.progress
    );
    assert_eq!(host.verify(&fork).unwrap().problem, None);
    assert_eq!(
        host.get(&parent).unwrap().outcome,
        Some(arena_host::types::Outcome::Aborted(
            "the first team gave up".into()
        ))
    );
}
