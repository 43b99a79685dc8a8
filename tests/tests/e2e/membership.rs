//! Participants: joined at creation, invited, leaving; and which arenas an agent is active in.

use arena_host::types::{ArenaError, ArenaStatus, Permission, Role};
use arena_tests::{arena_error, arena_in, config, fresh_host, spec};

#[test]
fn each_declared_participant_joins_with_an_event_at_creation() {
    let (_dir, host) = fresh_host();
    let id = host.create(&config(3)).unwrap();
    let events = host.all_events(&id, 0).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "arena-created",
            "agent-joined",
            "agent-joined",
            "agent-joined"
        ]
    );
    for (event, agent) in events[1..].iter().zip(["lead", "wendy", "otto"]) {
        let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(payload["agent"], agent);
        assert_eq!(payload["v"], 1);
    }
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let info = host.get(&id).unwrap();
    assert_eq!(info.aggregate.participants, ["lead", "otto", "wendy"]);
}

#[test]
fn an_invited_agent_joins_with_its_role() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let joined = host
        .handle(&id, "lead")
        .unwrap()
        .invite(&spec("nina", Role::Worker))
        .unwrap();
    assert_eq!(joined.role, Role::Worker);
    let last = host.all_events(&id, 0).unwrap().pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("agent-joined", "lead")
    );
    host.handle(&id, "nina").unwrap().complete_step(2).unwrap();
}

#[test]
fn inviting_a_current_participant_is_refused() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Created);
    let error = arena_error(
        host.handle(&id, "lead")
            .unwrap()
            .invite(&spec("wendy", Role::Observer)),
    );
    assert!(matches!(error, ArenaError::InvalidInput(m) if m.contains("wendy")));
}

#[test]
fn a_participant_who_left_holds_no_permission() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.leave().unwrap();
    assert_eq!(
        arena_error(wendy.complete_step(1)),
        ArenaError::PermissionDenied(Permission::Contribute)
    );
    assert_eq!(
        arena_error(wendy.info()),
        ArenaError::PermissionDenied(Permission::Observe)
    );
    let last = host.all_events(&id, 0).unwrap().pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("agent-left", "wendy")
    );
    assert!(host.handle(&id, "wendy").unwrap().grant().is_empty());
}

#[test]
fn the_last_coordinator_cannot_leave() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let lead = host.handle(&id, "lead").unwrap();
    assert!(
        matches!(arena_error(lead.leave()), ArenaError::InvalidState(why) if why.contains("last coordinator"))
    );
    lead.invite(&spec("deputy", Role::Coordinator)).unwrap();
    lead.leave().unwrap();
    let deputy = host.handle(&id, "deputy").unwrap();
    assert!(
        matches!(arena_error(deputy.leave()), ArenaError::InvalidState(why) if why.contains("last coordinator"))
    );
    assert_eq!(deputy.settle().unwrap(), ArenaStatus::Settling);
}

#[test]
fn active_arenas_are_sorted_and_exclude_archived_and_left_ones() {
    let (_dir, host) = fresh_host();
    let mut ids: Vec<String> = (0..6)
        .map(|_| arena_in(&host, ArenaStatus::Created))
        .collect();
    // Ask in a shuffled order of activity: the answer must still be sorted.
    let archived = ids.remove(4);
    host.handle(&archived, "lead")
        .unwrap()
        .abort("done early")
        .unwrap();
    let left = ids.remove(1);
    host.handle(&left, "wendy").unwrap().leave().unwrap();
    host.handle(&ids[2], "lead").unwrap().activate().unwrap();
    ids.sort();
    assert_eq!(host.active_arenas_for("wendy").unwrap(), ids);
    let mut with_left = ids.clone();
    with_left.push(left);
    with_left.sort();
    assert_eq!(host.active_arenas_for("lead").unwrap(), with_left);
    assert!(host.active_arenas_for("nobody").unwrap().is_empty());
}

#[test]
fn active_arenas_come_back_sorted_even_when_created_out_of_order() {
    let (_dir, host) = fresh_host();
    // Arenas created by two hosts interleaved: ids still sort by creation time.
    let dir = tempfile::tempdir().unwrap();
    let other =
        arena_host::ArenaHost::open(dir.path().join("other.db"), Default::default()).unwrap();
    let mut expected = Vec::new();
    for round in 0..5 {
        let id = arena_in(&host, ArenaStatus::Created);
        let _elsewhere = arena_in(&other, ArenaStatus::Created);
        if round % 2 == 0 {
            host.handle(&id, "lead")
                .unwrap()
                .invite(&spec("zed", Role::Observer))
                .unwrap();
            expected.push(id);
        }
    }
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "UUIDv7 ids sort by creation");
    assert_eq!(host.active_arenas_for("zed").unwrap(), sorted);
}
