//! Each role against each handle operation: allowed, or `permission-denied` naming the permission —
//! checked by the host's grant and again by the component.

use arena_host::types::{ArenaError, ArenaStatus, Permission, Role};
use arena_host::{AgentHandle, ArenaHost, HostError};
use arena_tests::{arena_error, arena_in, config, fresh_host, spec};

type Op = fn(&AgentHandle) -> Result<(), HostError>;

/// Every implemented handle operation, with the permission it needs. Each runs on a fresh active arena.
fn operations() -> Vec<(&'static str, Permission, Op)> {
    vec![
        ("info", Permission::Observe, |h| h.info().map(drop)),
        ("events", Permission::Observe, |h| h.events(0, 10).map(drop)),
        ("leave", Permission::Observe, |h| h.leave()),
        ("complete-step", Permission::Contribute, |h| {
            h.complete_step(1).map(drop)
        }),
        ("report-progress", Permission::Contribute, |h| {
            h.report_progress("on it").map(drop)
        }),
        ("update-goal", Permission::Steer, |h| {
            h.update_goal("a new goal")
        }),
        ("invite", Permission::Coordinate, |h| {
            h.invite(&spec("nina", Role::Observer)).map(drop)
        }),
        ("settle", Permission::Coordinate, |h| h.settle().map(drop)),
        ("abort", Permission::Coordinate, |h| {
            h.abort("stop").map(drop)
        }),
    ]
}

/// An arena where `agent` holds `role`, plus a second coordinator so that anyone may leave.
fn active_arena_with(host: &ArenaHost, agent: &str, role: Role) -> String {
    let mut config = config(5);
    config.participants.retain(|p| p.agent == "lead");
    config.participants.push(spec("deputy", Role::Coordinator));
    if agent != "lead" {
        config.participants.push(spec(agent, role));
    }
    let id = host.create(&config).unwrap();
    host.handle(&id, "lead").unwrap().activate().unwrap();
    id
}

#[test]
fn each_role_may_do_exactly_what_its_permissions_allow() {
    let (_dir, host) = fresh_host();
    for role in [Role::Coordinator, Role::Worker, Role::Observer] {
        let granted: Vec<Permission> = match role {
            Role::Coordinator => Permission::ALL.to_vec(),
            Role::Worker => vec![
                Permission::Observe,
                Permission::ReadSlots,
                Permission::Contribute,
                Permission::ShareFacts,
            ],
            Role::Observer => vec![Permission::Observe, Permission::ReadSlots],
        };
        for (name, needs, op) in operations() {
            let id = active_arena_with(&host, "agent", role);
            let handle = host.handle(&id, "agent").unwrap();
            assert_eq!(handle.grant(), granted.as_slice(), "{role:?}");
            let result = op(&handle);
            if granted.contains(&needs) {
                assert!(result.is_ok(), "{role:?} {name}: {result:?}");
            } else {
                assert_eq!(
                    arena_error(result),
                    ArenaError::PermissionDenied(needs),
                    "{role:?} {name}"
                );
            }
        }
    }
}

#[test]
fn the_component_checks_permissions_even_when_the_host_grants_everything() {
    let (_dir, host) = fresh_host();
    for (name, needs, op) in operations() {
        if needs == Permission::Observe {
            continue;
        }
        let id = active_arena_with(&host, "otto", Role::Observer);
        // A host bug (or a hostile host configuration) hands the observer every interface.
        let overgranted = host.handle_with_grant(&id, "otto", Permission::ALL.to_vec());
        let before = host.get(&id).unwrap().last_seq;
        assert_eq!(
            arena_error(op(&overgranted)),
            ArenaError::PermissionDenied(needs),
            "{name}"
        );
        assert_eq!(
            host.get(&id).unwrap().last_seq,
            before,
            "{name} wrote an event"
        );
    }
}

#[test]
fn a_stranger_holds_no_permission() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let stranger = host.handle(&id, "mallory").unwrap();
    assert!(stranger.grant().is_empty());
    assert_eq!(
        arena_error(stranger.info()),
        ArenaError::PermissionDenied(Permission::Observe)
    );
    let forged = host.handle_with_grant(&id, "mallory", Permission::ALL.to_vec());
    assert_eq!(
        arena_error(forged.complete_step(1)),
        ArenaError::PermissionDenied(Permission::Contribute)
    );
    assert_eq!(
        arena_error(forged.info()),
        ArenaError::PermissionDenied(Permission::Observe)
    );
}

#[test]
fn a_narrowed_participant_loses_the_permissions_left_out() {
    let (_dir, host) = fresh_host();
    let mut config = config(5);
    config.participants[1].permissions = Some(vec![Permission::Observe]);
    let id = host.create(&config).unwrap();
    host.handle(&id, "lead").unwrap().activate().unwrap();
    let wendy = host.handle(&id, "wendy").unwrap();
    assert_eq!(wendy.grant(), &[Permission::Observe]);
    let overgranted = host.handle_with_grant(&id, "wendy", Permission::ALL.to_vec());
    assert_eq!(
        arena_error(overgranted.complete_step(1)),
        ArenaError::PermissionDenied(Permission::Contribute)
    );
}

#[test]
fn narrowing_cannot_widen_a_role() {
    let (_dir, host) = fresh_host();
    let mut config = config(5);
    config.participants[2].permissions = Some(vec![Permission::Observe, Permission::Coordinate]);
    assert!(
        matches!(arena_error(host.create(&config)), ArenaError::InvalidInput(m) if m.contains("coordinate"))
    );
}

#[test]
fn a_caller_without_the_permission_is_denied_before_its_arguments_are_checked() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let otto = host.handle_with_grant(&id, "otto", Permission::ALL.to_vec());
    assert_eq!(
        arena_error(otto.update_goal("")),
        ArenaError::PermissionDenied(Permission::Steer)
    );
    assert_eq!(
        arena_error(otto.report_progress(&"x".repeat(5000))),
        ArenaError::PermissionDenied(Permission::Contribute)
    );
    assert_eq!(
        arena_error(otto.abort("")),
        ArenaError::PermissionDenied(Permission::Coordinate)
    );
    assert_eq!(
        arena_error(otto.invite(&spec("", Role::Worker))),
        ArenaError::PermissionDenied(Permission::Coordinate)
    );
}
