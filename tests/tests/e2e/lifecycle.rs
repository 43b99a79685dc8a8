//! The transition matrix and the state table, through the component.

use arena_host::AgentHandle;
use arena_host::types::{ArenaError, ArenaStatus, Outcome, Role, Transition};
use arena_tests::{STATES, arena_error, arena_in, event_count, fresh_host, spec};

use ArenaStatus::*;

#[derive(Clone, Copy, Debug)]
enum Move {
    Activate,
    Settle,
    Archive,
    Abort,
}

fn perform(lead: &AgentHandle, action: Move) -> Result<ArenaStatus, arena_host::HostError> {
    match action {
        Move::Activate => lead.activate(),
        Move::Settle => lead.settle(),
        Move::Archive => lead.archive(),
        Move::Abort => lead.abort("called off"),
    }
}

/// The lifecycle of DESIGN.md: where each move leads from each state, or `None` if it is illegal.
fn expected(from: ArenaStatus, action: Move) -> Option<ArenaStatus> {
    match (from, action) {
        (Created, Move::Activate) => Some(Active),
        (Active, Move::Settle) => Some(Settling),
        (Settling, Move::Archive) => Some(Archived),
        (Created | Active | Settling, Move::Abort) => Some(Archived),
        _ => None,
    }
}

fn target(action: Move) -> ArenaStatus {
    match action {
        Move::Activate => Active,
        Move::Settle => Settling,
        Move::Archive | Move::Abort => Archived,
    }
}

#[test]
fn every_transition_from_every_state_is_legal_or_refused_without_writing() {
    let (_dir, host) = fresh_host();
    for from in STATES {
        for action in [Move::Activate, Move::Settle, Move::Archive, Move::Abort] {
            let id = arena_in(&host, from);
            let lead = host.handle(&id, "lead").unwrap();
            let before = event_count(&host, &id);
            match expected(from, action) {
                Some(to) => {
                    assert_eq!(perform(&lead, action).unwrap(), to, "{from:?} {action:?}");
                    assert_eq!(host.get(&id).unwrap().status, to);
                    assert_eq!(event_count(&host, &id), before + 1);
                }
                None => {
                    assert_eq!(
                        arena_error(perform(&lead, action)),
                        ArenaError::InvalidTransition(Transition {
                            from,
                            to: target(action)
                        }),
                        "{from:?} {action:?}"
                    );
                    assert_eq!(host.get(&id).unwrap().status, from);
                    assert_eq!(
                        event_count(&host, &id),
                        before,
                        "a refused move wrote an event"
                    );
                }
            }
        }
    }
}

#[test]
fn settling_then_archiving_records_a_completed_outcome() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, Archived);
    assert_eq!(host.get(&id).unwrap().outcome, Some(Outcome::Completed));
}

#[test]
fn abort_records_its_reason_as_the_outcome() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, Active);
    host.handle(&id, "lead")
        .unwrap()
        .abort("the tide came in")
        .unwrap();
    let info = host.get(&id).unwrap();
    assert_eq!(info.status, Archived);
    assert_eq!(
        info.outcome,
        Some(Outcome::Aborted("the tide came in".into()))
    );
}

/// Each operation of the state table, tried in each state by a participant allowed to do it.
#[test]
fn each_operation_is_allowed_only_in_the_states_of_the_table() {
    let (_dir, host) = fresh_host();
    type Op = fn(&arena_host::ArenaHost, &str) -> Result<(), arena_host::HostError>;
    let ops: [(&str, Op, &[ArenaStatus]); 7] = [
        (
            "complete-step",
            |h, id| h.handle(id, "wendy")?.complete_step(1).map(drop),
            &[Active],
        ),
        (
            "report-progress",
            |h, id| h.handle(id, "wendy")?.report_progress("half way").map(drop),
            &[Active],
        ),
        (
            "update-goal",
            |h, id| h.handle(id, "lead")?.update_goal("map the whole coast"),
            &[Created, Active],
        ),
        (
            "invite",
            |h, id| {
                h.handle(id, "lead")?
                    .invite(&spec("nina", Role::Worker))
                    .map(drop)
            },
            &[Created, Active],
        ),
        (
            "leave",
            |h, id| h.handle(id, "wendy")?.leave(),
            &[Created, Active],
        ),
        (
            "observe",
            |h, id| h.handle(id, "otto")?.info().map(drop),
            &STATES,
        ),
        (
            "events",
            |h, id| h.handle(id, "otto")?.events(0, 10).map(drop),
            &STATES,
        ),
    ];
    for (name, op, allowed) in ops {
        for state in STATES {
            let id = arena_in(&host, state);
            let before = event_count(&host, &id);
            let result = op(&host, &id);
            if allowed.contains(&state) {
                assert!(result.is_ok(), "{name} in {state:?}: {result:?}");
            } else {
                assert!(
                    matches!(arena_error(result), ArenaError::InvalidState(ref why) if why.contains(state.name())),
                    "{name} in {state:?}"
                );
                assert_eq!(
                    event_count(&host, &id),
                    before,
                    "{name} in {state:?} wrote an event"
                );
            }
        }
    }
}

#[test]
fn an_archived_arena_stays_readable() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, Archived);
    let otto = host.handle(&id, "otto").unwrap();
    assert_eq!(otto.info().unwrap().status, Archived);
    assert_eq!(otto.events(0, 100).unwrap().len(), event_count(&host, &id));
    assert_eq!(host.verify(&id).unwrap().problem, None);
}
