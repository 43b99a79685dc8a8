//! Events: what changed, how it is encoded and chained, and how the state is rebuilt from them.
//!
//! Every change to an arena is a [`Change`]; the manager validates an operation, turns it into changes,
//! and folds them into the state with [`apply`] — the same function replay uses, so replaying a log
//! rebuilds exactly the state that was stored.
//!
//! # Canonical bytes and the hash chain
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ u64be(seq) ‖ field(kind) ‖ field(actor) ‖ field(at) ‖ field(payload))`
//! where `field(s) = u32be(byte length of s) ‖ UTF-8 bytes of s`, `hash(0)` is 32 zero bytes, and hashes
//! are written as lowercase hex.

mod binding;
mod chain;
mod change;
mod fold;

pub use binding::{
    SNAPSHOT_FIELD, Unbound, bind_snapshot, check_bound_snapshot, recorded_snapshot_digest,
    snapshot_digest,
};
pub use chain::{chain_hash, seal};
pub use change::{Change, Event, Keyed, PAYLOAD_VERSION, ReplayError};
pub use fold::{apply, apply_sealed, replay};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Permission, Role, Strategy};

    const AT: &str = "2026-01-01T00:00:00.000000Z";

    fn created() -> Change {
        Change::ArenaCreated {
            id: "0192f0c8-7c1a-7c3e-8a4b-1234567890ab".into(),
            goal: "g".into(),
            total_steps: 3,
            strategy: Strategy::Peer("c".into()),
            created_by: "op".into(),
        }
    }

    #[test]
    fn payload_carries_its_version_and_round_trips() {
        let change = Change::StepCompleted { step: 2 };
        let event = seal(4, "", AT, "w", &change, None);
        assert_eq!(event.payload, r#"{"step":2,"v":1}"#);
        assert_eq!(Change::decode(&event), Ok(change));
    }

    #[test]
    fn an_unknown_payload_version_is_refused() {
        let mut event = seal(0, "", AT, "w", &Change::ArenaActivated {}, None);
        event.payload = r#"{"v":99}"#.into();
        assert!(matches!(
            Change::decode(&event),
            Err(ReplayError::Malformed { seq: 1, .. })
        ));
    }

    #[test]
    fn the_chain_covers_every_field() {
        let base = chain_hash("", 1, "k", "a", AT, "{}");
        assert_ne!(base, chain_hash("", 2, "k", "a", AT, "{}"));
        assert_ne!(base, chain_hash("", 1, "k2", "a", AT, "{}"));
        assert_ne!(base, chain_hash("", 1, "k", "a2", AT, "{}"));
        assert_ne!(base, chain_hash("", 1, "k", "a", "x", "{}"));
        assert_ne!(base, chain_hash("", 1, "k", "a", AT, "{ }"));
        assert_ne!(base, chain_hash(&base, 1, "k", "a", AT, "{}"));
        // Length prefixes keep field boundaries apart.
        assert_ne!(
            chain_hash("", 1, "ab", "c", AT, "{}"),
            chain_hash("", 1, "a", "bc", AT, "{}")
        );
    }

    /// A log of a creation and one join, and the state it leaves.
    fn created_log() -> (Vec<Event>, crate::types::Arena) {
        let e1 = seal(0, "", AT, "op", &created(), None);
        let join = Change::AgentJoined {
            agent: "c".into(),
            role: Role::Coordinator,
            permissions: Permission::ALL.to_vec(),
        };
        let e2 = seal(1, &e1.hash, AT, "op", &join, None);
        let state = replay([&e1, &e2]).unwrap().unwrap();
        (vec![e1, e2], state)
    }

    fn forked(parent: &str, seq: u64, parent_hash: &str) -> Change {
        Change::ArenaForked {
            id: "0192f0c8-7c1a-7c3e-8a4b-ffffffffffff".into(),
            parent: parent.into(),
            seq,
            parent_hash: parent_hash.into(),
        }
    }

    #[test]
    fn an_arena_forked_event_makes_the_state_the_forks_own() {
        let (log, state) = created_log();
        let change = forked(&state.id, 2, &state.last_hash);
        let event = seal(
            2,
            &state.last_hash,
            "2026-02-02T00:00:00.000000Z",
            "boss",
            &change,
            None,
        );
        let fork = apply(Some(state.clone()), &event).unwrap();
        assert_eq!(fork.id, "0192f0c8-7c1a-7c3e-8a4b-ffffffffffff");
        assert_eq!(fork.created_by, "boss");
        assert_eq!(fork.created_at, "2026-02-02T00:00:00.000000Z");
        assert_eq!(fork.status, crate::types::ArenaStatus::Created);
        assert_eq!(fork.participants, state.participants);
        assert_eq!(
            (fork.last_seq, fork.last_hash.as_str()),
            (3, event.hash.as_str())
        );
        assert_eq!(event.kind, "arena-forked");
        assert_eq!(replay(log.iter().chain([&event])).unwrap(), Some(fork));
    }

    #[test]
    fn an_arena_forked_event_naming_another_state_does_not_apply() {
        let (_, state) = created_log();
        for change in [
            forked("0192f0c8-7c1a-7c3e-8a4b-000000000000", 2, &state.last_hash),
            forked(&state.id, 1, &state.last_hash),
            forked(&state.id, 2, &"0".repeat(64)),
        ] {
            let event = seal(2, &state.last_hash, AT, "op", &change, None);
            assert_eq!(
                apply(Some(state.clone()), &event),
                Err(ReplayError::Inapplicable {
                    seq: 3,
                    kind: "arena-forked".into()
                })
            );
        }
        let first = seal(
            0,
            "",
            AT,
            "op",
            &forked(&state.id, 2, &state.last_hash),
            None,
        );
        assert!(matches!(
            apply(None, &first),
            Err(ReplayError::Inapplicable { seq: 1, .. })
        ));
    }

    #[test]
    fn replay_rebuilds_and_detects_tampering() {
        let e1 = seal(0, "", AT, "op", &created(), None);
        let join = Change::AgentJoined {
            agent: "c".into(),
            role: Role::Coordinator,
            permissions: Permission::ALL.to_vec(),
        };
        let e2 = seal(1, &e1.hash, AT, "op", &join, None);
        let e3 = seal(
            2,
            &e2.hash,
            AT,
            "c",
            &Change::GoalUpdated { goal: "h".into() },
            None,
        );
        let arena = replay([&e1, &e2, &e3]).unwrap().unwrap();
        assert_eq!(arena.goal, "h");
        assert_eq!(arena.last_seq, 3);
        assert!(arena.participants.contains_key("c"));

        let mut forged = e2.clone();
        forged.payload = forged.payload.replace("coordinator", "worker");
        assert!(matches!(
            replay([&e1, &forged, &e3]),
            Err(ReplayError::BrokenChain { seq: 2, .. })
        ));
        assert!(matches!(
            replay([&e1, &e3]),
            Err(ReplayError::Gap {
                seq: 3,
                expected: 2
            })
        ));
    }
}
