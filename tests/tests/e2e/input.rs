//! Bad input gets a typed error and changes nothing.

use arena_host::types::{ArenaError, ArenaStatus, Limit, Role};
use arena_tests::{arena_error, arena_in, config, event_count, fresh_host, spec};

#[test]
fn an_unknown_arena_is_not_found() {
    let (_dir, host) = fresh_host();
    let unknown = "01934b5e-0000-7000-8000-000000000000";
    assert_eq!(arena_error(host.get(unknown)), ArenaError::NotFound);
    assert_eq!(
        arena_error(host.events(unknown, 0, 10)),
        ArenaError::NotFound
    );
    assert_eq!(arena_error(host.verify(unknown)), ArenaError::NotFound);
    assert_eq!(
        arena_error(host.handle(unknown, "lead")),
        ArenaError::NotFound
    );
}

#[test]
fn a_malformed_arena_id_is_invalid_input() {
    let (_dir, host) = fresh_host();
    for bad in ["", "nope", "'; DROP TABLE arenas;--", &"x".repeat(100_000)] {
        assert!(
            matches!(arena_error(host.get(bad)), ArenaError::InvalidInput(_)),
            "{:.20}",
            bad
        );
    }
}

#[test]
fn empty_and_oversized_goals_are_refused() {
    let (_dir, host) = fresh_host();
    let mut empty = config(3);
    empty.goal = "   ".into();
    assert!(matches!(
        arena_error(host.create(&empty)),
        ArenaError::InvalidInput(_)
    ));
    let mut huge = config(3);
    huge.goal = "é".repeat(2049); // 4098 bytes
    assert_eq!(
        arena_error(host.create(&huge)),
        ArenaError::LimitExceeded(Limit {
            what: "goal bytes".into(),
            limit: 4096
        })
    );
    let id = arena_in(&host, ArenaStatus::Active);
    let before = event_count(&host, &id);
    let lead = host.handle(&id, "lead").unwrap();
    assert!(matches!(
        arena_error(lead.update_goal("")),
        ArenaError::InvalidInput(_)
    ));
    assert!(matches!(
        arena_error(lead.update_goal(&"a".repeat(5000))),
        ArenaError::LimitExceeded(_)
    ));
    assert_eq!(event_count(&host, &id), before);
    assert!(
        host.list(None, 100)
            .unwrap()
            .iter()
            .all(|a| a.goal == "map the coastline")
    );
}

#[test]
fn steps_outside_one_to_total_are_invalid_and_twice_is_already_done() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let wendy = host.handle(&id, "wendy").unwrap();
    assert!(matches!(
        arena_error(wendy.complete_step(0)),
        ArenaError::InvalidInput(_)
    ));
    assert!(matches!(
        arena_error(wendy.complete_step(6)),
        ArenaError::InvalidInput(_)
    ));
    assert_eq!(wendy.complete_step(5).unwrap().completed_steps, 1);
    assert_eq!(arena_error(wendy.complete_step(5)), ArenaError::AlreadyDone);
    assert_eq!(host.get(&id).unwrap().aggregate.completed_steps, 1);
}

#[test]
fn step_counts_must_be_in_bounds() {
    let (_dir, host) = fresh_host();
    assert!(matches!(
        arena_error(host.create(&config(0))),
        ArenaError::InvalidInput(_)
    ));
    assert_eq!(
        arena_error(host.create(&config(100_001))),
        ArenaError::LimitExceeded(Limit {
            what: "total steps".into(),
            limit: 100_000
        })
    );
}

#[test]
fn duplicate_participants_and_a_missing_coordinator_are_refused() {
    let (_dir, host) = fresh_host();
    let mut duplicate = config(3);
    duplicate.participants.push(spec("wendy", Role::Observer));
    assert!(
        matches!(arena_error(host.create(&duplicate)), ArenaError::InvalidInput(m) if m.contains("duplicate"))
    );
    let mut leaderless = config(3);
    leaderless.participants.remove(0);
    assert!(
        matches!(arena_error(host.create(&leaderless)), ArenaError::InvalidInput(m) if m.contains("coordinator"))
    );
    assert!(
        host.list(None, 10).unwrap().is_empty(),
        "a refused create wrote an arena"
    );
}

#[test]
fn bad_agent_ids_are_refused() {
    let (_dir, host) = fresh_host();
    let mut empty = config(3);
    empty.participants.push(spec("", Role::Worker));
    assert!(matches!(
        arena_error(host.create(&empty)),
        ArenaError::InvalidInput(_)
    ));
    let mut long = config(3);
    long.participants.push(spec(&"a".repeat(129), Role::Worker));
    assert_eq!(
        arena_error(host.create(&long)),
        ArenaError::LimitExceeded(Limit {
            what: "agent id bytes".into(),
            limit: 128
        })
    );
    let mut control = config(3);
    control.participants.push(spec("bell\u{7}", Role::Worker));
    assert!(matches!(
        arena_error(host.create(&control)),
        ArenaError::InvalidInput(_)
    ));
}

#[test]
fn too_many_participants_is_a_limit() {
    let (_dir, host) = fresh_host();
    let mut crowd = config(3);
    crowd
        .participants
        .extend((0..62).map(|i| spec(&format!("w{i}"), Role::Worker)));
    assert_eq!(
        arena_error(host.create(&crowd)),
        ArenaError::LimitExceeded(Limit {
            what: "participants".into(),
            limit: 64
        })
    );
    crowd.participants.pop();
    let id = host.create(&crowd).unwrap();
    let lead = host.handle(&id, "lead").unwrap();
    assert_eq!(
        arena_error(lead.invite(&spec("one-too-many", Role::Observer))),
        ArenaError::LimitExceeded(Limit {
            what: "participants".into(),
            limit: 64
        })
    );
}

#[test]
fn hostile_text_is_stored_and_read_back_verbatim() {
    let (_dir, host) = fresh_host();
    let hostile = "'); DROP TABLE events;--";
    let mut config = config(3);
    config.goal = hostile.into();
    config
        .participants
        .push(spec("robert'); DROP TABLE members;--", Role::Worker));
    let id = host.create(&config).unwrap();
    assert_eq!(host.get(&id).unwrap().goal, hostile);
    let lead = host.handle(&id, "lead").unwrap();
    lead.activate().unwrap();
    let unicode = "Größe 测量 🌊 — \"quoted\" \\ back\nslash";
    lead.update_goal(unicode).unwrap();
    assert_eq!(host.get(&id).unwrap().goal, unicode);
    assert_eq!(
        host.active_arenas_for("robert'); DROP TABLE members;--")
            .unwrap(),
        std::slice::from_ref(&id)
    );
    assert_eq!(host.verify(&id).unwrap().problem, None);
    assert_eq!(event_count(&host, &id), 7);
}
