//! Fixtures for the end-to-end tests: fresh databases, arenas in each state, participant specs.

use arena_host::types::{ArenaConfig, ArenaError, ArenaStatus, ParticipantSpec, Role, Strategy};
use arena_host::{ArenaHost, HostError, HostOptions};

/// A host on a fresh database in a temporary directory (kept alive by the returned guard).
pub fn fresh_host() -> (tempfile::TempDir, ArenaHost) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let host =
        ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).expect("open host");
    (dir, host)
}

/// A participant with a role's full preset.
pub fn spec(agent: &str, role: Role) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    }
}

/// A config with coordinator `lead`, worker `wendy` and observer `otto`, and `steps` steps.
pub fn config(steps: u32) -> ArenaConfig {
    ArenaConfig {
        goal: "map the coastline".into(),
        total_steps: steps,
        strategy: Strategy::Peer("lead".into()),
        participants: vec![
            spec("lead", Role::Coordinator),
            spec("wendy", Role::Worker),
            spec("otto", Role::Observer),
        ],
        created_by: "operator".into(),
    }
}

/// Creates an arena from [`config`] (5 steps) and brings it to `status` the legal way.
pub fn arena_in(host: &ArenaHost, status: ArenaStatus) -> String {
    let id = host.create(&config(5)).expect("create");
    let lead = host.handle(&id, "lead").expect("lead's handle");
    match status {
        ArenaStatus::Created => {}
        ArenaStatus::Active => {
            lead.activate().expect("activate");
        }
        ArenaStatus::Settling => {
            lead.activate().expect("activate");
            lead.settle().expect("settle");
        }
        ArenaStatus::Archived => {
            lead.activate().expect("activate");
            lead.settle().expect("settle");
            lead.archive().expect("archive");
        }
    }
    id
}

/// The arena error inside a host result, panicking on success or on a non-arena failure.
pub fn arena_error<T: std::fmt::Debug>(result: Result<T, HostError>) -> ArenaError {
    match result {
        Err(HostError::Arena(e)) => e,
        other => panic!("expected an arena error, got {other:?}"),
    }
}

/// The number of events in an arena's log.
pub fn event_count(host: &ArenaHost, arena: &str) -> usize {
    host.all_events(arena, 0).expect("events").len()
}

/// All four states, in lifecycle order.
pub const STATES: [ArenaStatus; 4] = [
    ArenaStatus::Created,
    ArenaStatus::Active,
    ArenaStatus::Settling,
    ArenaStatus::Archived,
];
