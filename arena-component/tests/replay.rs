//! Property: over random sequences of operations, legal and illegal, by participants and strangers,
//! the state is a pure fold of the log — after every operation, replaying the log from event 1 gives
//! the live state, sequence numbers stay gapless, a refused operation writes nothing, and the state
//! replayed up to any event equals the state observed right after that operation.

use arena_component::events::replay;
use arena_component::facts::FactDraft;
use arena_component::{
    Arena, ArenaConfig, ArenaManager, MemoryStorage, ParticipantSpec, Role, SnapshotPolicy,
    SteppingClock, Storage,
};
use proptest::prelude::*;

const AGENTS: [&str; 5] = ["lead", "deputy", "wendy", "otto", "stranger"];
const TOTAL_STEPS: u32 = 6;

#[derive(Clone, Debug)]
enum Op {
    Activate(usize),
    Settle(usize),
    Archive(usize),
    Abort(usize),
    Step(usize, u32),
    Progress(usize),
    Goal(usize),
    Invite(usize, usize, Role),
    Leave(usize),
    Fact(usize, usize),
}

fn agent() -> impl Strategy<Value = usize> {
    0..AGENTS.len()
}

fn op() -> impl Strategy<Value = Op> {
    let role = prop_oneof![
        Just(Role::Coordinator),
        Just(Role::Worker),
        Just(Role::Observer)
    ];
    prop_oneof![
        agent().prop_map(Op::Activate),
        agent().prop_map(Op::Settle),
        agent().prop_map(Op::Archive),
        agent().prop_map(Op::Abort),
        (agent(), 0..=TOTAL_STEPS + 1).prop_map(|(a, s)| Op::Step(a, s)),
        (agent(), 0..=TOTAL_STEPS + 1).prop_map(|(a, s)| Op::Step(a, s)),
        agent().prop_map(Op::Progress),
        agent().prop_map(Op::Goal),
        (agent(), agent(), role).prop_map(|(a, b, r)| Op::Invite(a, b, r)),
        agent().prop_map(Op::Leave),
        (agent(), 0..3usize).prop_map(|(a, t)| Op::Fact(a, t)),
    ]
}

fn spec(agent: &str, role: Role) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    }
}

fn perform<S: Storage>(m: &ArenaManager<S, SteppingClock>, id: &str, op: &Op, n: usize) -> bool {
    let h = |a: usize| m.handle(id, AGENTS[a]);
    match op {
        Op::Activate(a) => h(*a).activate().is_ok(),
        Op::Settle(a) => h(*a).settle().is_ok(),
        Op::Archive(a) => h(*a).archive().is_ok(),
        Op::Abort(a) => h(*a).abort("called off").is_ok(),
        Op::Step(a, s) => h(*a).complete_step(*s).is_ok(),
        Op::Progress(a) => h(*a).report_progress(&format!("note {n}")).is_ok(),
        Op::Goal(a) => h(*a).update_goal(&format!("goal {n}")).is_ok(),
        Op::Invite(a, b, r) => h(*a).invite(&spec(AGENTS[*b], *r)).is_ok(),
        Op::Leave(a) => h(*a).leave().is_ok(),
        Op::Fact(a, t) => h(*a)
            .add_fact(&FactDraft {
                content: format!("fact {n}"),
                confidence: 0.5,
                tags: vec![format!("tag-{t}")],
            })
            .is_ok(),
    }
}

fn config() -> ArenaConfig {
    ArenaConfig {
        goal: "g".into(),
        total_steps: TOTAL_STEPS,
        strategy: arena_component::Strategy::Peer("lead".into()),
        participants: vec![
            spec("lead", Role::Coordinator),
            spec("wendy", Role::Worker),
            spec("otto", Role::Observer),
        ],
        created_by: "operator".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever the spacing of snapshots, the state at every event — as a host that holds nothing
    /// rebuilds it, from the nearest snapshot — is the fold of the log from event 1, and `verify`
    /// finds every kept snapshot equal to its event's state.
    #[test]
    fn the_state_at_every_event_is_the_fold_from_event_1_whatever_the_snapshot_spacing(
        ops in prop::collection::vec(op(), 1..40),
        min_bytes in 0u64..3000,
        snapshot_percent in 0u64..=150,
    ) {
        let storage = MemoryStorage::new();
        let policy = SnapshotPolicy { min_bytes, snapshot_percent };
        let m = ArenaManager::new(&storage, SteppingClock::starting_at(1_767_225_600_000))
            .with_snapshot_policy(policy);
        let id = m.create(&config()).unwrap();
        for (n, op) in ops.iter().enumerate() {
            perform(&m, &id, op, n);
        }
        let events = m.events(&id, 0, 1000).unwrap();
        let cold = ArenaManager::new(&storage, SteppingClock::starting_at(0));
        for seq in 1..=events.len() {
            let folded = replay(&events[..seq]).unwrap();
            prop_assert_eq!(Some(cold.get_at(&id, seq as u64).unwrap()), folded);
        }
        prop_assert_eq!(Some(cold.get(&id).unwrap()), replay(&events).unwrap());
        prop_assert_eq!(cold.get(&id).unwrap(), m.get(&id).unwrap());
        let kept = storage.snapshot_seqs(&id);
        if min_bytes == 0 && snapshot_percent == 0 {
            prop_assert_eq!(kept.len(), events.len() - 3, "one snapshot per append");
        }
        prop_assert_eq!(m.verify(&id).unwrap().problem, None);
    }

    #[test]
    fn replay_rebuilds_the_live_state_after_every_operation(ops in prop::collection::vec(op(), 1..40)) {
        let m = ArenaManager::new(MemoryStorage::new(), SteppingClock::starting_at(1_767_225_600_000));
        let id = m.create(&config()).unwrap();
        let mut observed: Vec<Arena> = vec![m.get(&id).unwrap()];
        for (n, op) in ops.iter().enumerate() {
            let before = m.get(&id).unwrap();
            let accepted = perform(&m, &id, op, n);
            let live = m.get(&id).unwrap();
            if accepted {
                prop_assert!(live.last_seq > before.last_seq, "{op:?} succeeded without an event");
                observed.push(live.clone());
            } else {
                prop_assert_eq!(&live, &before, "refused {:?} changed the arena", op);
            }
            let events = m.events(&id, 0, 1000).unwrap();
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            prop_assert_eq!(seqs, (1..=live.last_seq).collect::<Vec<_>>());
            prop_assert_eq!(replay(&events).unwrap(), Some(live));
        }
        for state in &observed {
            prop_assert_eq!(&m.get_at(&id, state.last_seq).unwrap(), state);
        }
        prop_assert_eq!(m.verify(&id).unwrap().problem, None);
    }
}
