//! A multi-step scenario against the arena, for runtimes that make one call per process (the
//! `wasmtime` CLI): composed with the arena component and the memory storage, it runs as a command
//! and prints `N passed, M failed`.

wit_bindgen::generate!({
    world: "arena-client",
    path: "../../../wit",
    additional_derives: [PartialEq],
});

use arena::core::manager;
use arena::core::types::{
    ArenaConfig, ArenaError, ArenaStatus, ParticipantSpec, Permission, Role, Strategy, Transition,
};

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
            println!("ok   {name}");
        } else {
            self.failed += 1;
            println!("FAIL {name}");
        }
    }
}

fn spec(agent: &str, role: Role) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    }
}

fn main() {
    let mut t = Tally {
        passed: 0,
        failed: 0,
    };
    let config = ArenaConfig {
        goal: "drive the arena from a composed component".into(),
        total_steps: 2,
        strategy: Strategy::Peer("lead".into()),
        participants: vec![
            spec("lead", Role::Coordinator),
            spec("wendy", Role::Worker),
            spec("otto", Role::Observer),
        ],
        created_by: "driver".into(),
    };
    let id = match manager::create(&config) {
        Ok(id) => id,
        Err(e) => {
            println!("FAIL create: {e:?}\n0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    t.check("create mints a 36-character id", id.len() == 36);
    t.check(
        "settling a created arena is an invalid transition",
        matches!(
            manager::settle(&id, "lead"),
            Err(ArenaError::InvalidTransition(Transition {
                from: ArenaStatus::Created,
                to: ArenaStatus::Settling
            }))
        ),
    );
    t.check(
        "the coordinator activates",
        manager::activate(&id, "lead") == Ok(ArenaStatus::Active),
    );
    t.check(
        "an observer cannot contribute",
        matches!(
            manager::complete_step(&id, "otto", 1),
            Err(ArenaError::PermissionDenied(Permission::Contribute))
        ),
    );
    t.check(
        "a worker completes step 1",
        manager::complete_step(&id, "wendy", 1).is_ok_and(|a| a.completed_steps == 1),
    );
    t.check(
        "step 1 twice is already done",
        manager::complete_step(&id, "wendy", 1) == Err(ArenaError::AlreadyDone),
    );
    t.check(
        "a worker completes step 2",
        manager::complete_step(&id, "wendy", 2).is_ok_and(|a| a.completed_steps == 2),
    );
    t.check(
        "wendy is active in the arena",
        manager::active_arenas_for("wendy") == Ok(vec![id.clone()]),
    );
    t.check(
        "settle",
        manager::settle(&id, "lead") == Ok(ArenaStatus::Settling),
    );
    t.check(
        "archive",
        manager::archive(&id, "lead") == Ok(ArenaStatus::Archived),
    );
    t.check(
        "archived arenas are not active",
        manager::active_arenas_for("wendy") == Ok(vec![]),
    );
    let events = manager::events(&id, 0, 100).unwrap_or_default();
    t.check("the log has 9 events", events.len() == 9);
    t.check(
        "the log is gapless",
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1),
    );
    t.check(
        "the log verifies",
        manager::verify(&id).is_ok_and(|r| r.problem.is_none()),
    );
    println!("{} passed, {} failed", t.passed, t.failed);
    if t.failed > 0 {
        std::process::exit(1);
    }
}
