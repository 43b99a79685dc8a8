//! The bound on an arena's log: counting it, and refusing an operation that would pass it.

use crate::events::{Change, Event};
use crate::storage::Storage;
use crate::types::{Arena, ArenaError, limits};

/// `limit-exceeded("arena log bytes")` when `next`, the state after `changes`, holds more log than
/// [`limits::LOG_BYTES`], unless every change is a lifecycle transition that ends the arena's work
/// (settling, archiving, aborting: few and small, so a full arena can still be closed).
pub(crate) fn check(next: &Arena, changes: &[Change]) -> Result<(), ArenaError> {
    let closing = changes.iter().all(|c| {
        matches!(
            c,
            Change::ArenaSettling {} | Change::ArenaArchived { .. } | Change::ArenaAborted { .. }
        )
    });
    match next.log_bytes {
        Some(bytes) if bytes > limits::LOG_BYTES && !closing => Err(ArenaError::LimitExceeded {
            what: "arena log bytes".into(),
            limit: limits::LOG_BYTES,
        }),
        _ => Ok(()),
    }
}

/// Gives a state loaded from a snapshot that predates the bound its log size, counted from the log
/// up to the state's last event.
pub(crate) fn count_if_unknown(
    storage: &impl Storage,
    arena: &str,
    state: &mut Arena,
) -> Result<(), ArenaError> {
    if state.log_bytes.is_some() {
        return Ok(());
    }
    let mut bytes = 0;
    let mut after = 0;
    while after < state.last_seq {
        let wanted = (state.last_seq - after).min(u64::from(limits::PAGE)) as u32;
        let page = storage.read_events(arena, after, wanted)?;
        let Some(last) = page.last() else {
            return Err(ArenaError::Storage(format!(
                "arena {arena}: the log ends at event {after}, before its state's event {}",
                state.last_seq
            )));
        };
        after = last.seq;
        bytes += page.iter().map(Event::log_bytes).sum::<u64>();
    }
    state.log_bytes = Some(bytes);
    Ok(())
}

/// Whether a stored state equals its replay, a stored state without a log size (written before the
/// bound) counting as equal in that field.
/// Artifacts without a digest (kept before artifacts carried one) count as equal in that field too.
pub(crate) fn same_state(stored: &Arena, replayed: &Arena) -> bool {
    let mut stored = stored.clone();
    if stored.log_bytes.is_none() {
        stored.log_bytes = replayed.log_bytes;
    }
    for (agent, slot) in stored.slots.iter_mut() {
        let Some(replayed_slot) = replayed.slots.get(agent) else {
            continue;
        };
        for (entry, replayed_entry) in slot.artifacts.iter_mut().zip(&replayed_slot.artifacts) {
            if entry.digest.is_none() {
                entry.digest = replayed_entry.digest.clone();
            }
        }
    }
    stored == *replayed
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::clock::SteppingClock;
    use crate::manager::{ArenaManager, SnapshotPolicy};
    use crate::storage::{Layer, Layered, MemoryStorage, Snapshot};
    use crate::types::{ArenaConfig, ArenaId, ArenaStatus, ParticipantSpec, Role, Strategy};

    /// How [`Rewriting`] changes the `log_bytes` of the snapshots it loads.
    #[derive(Clone, Copy)]
    enum Rewrite {
        Nothing,
        /// Sets it, as if the arena's log were that large.
        Set(u64),
        /// Removes it, as in a snapshot written before the bound.
        Remove,
    }

    /// Rewrites the log size in the snapshots a storage returns.
    struct Rewriting {
        rewrite: Cell<Rewrite>,
    }

    impl Layer<MemoryStorage> for Rewriting {
        fn snapshot(
            &self,
            inner: &MemoryStorage,
            arena: &str,
            at_most: u64,
        ) -> Result<Option<Snapshot>, ArenaError> {
            let mut stored = inner.snapshot(arena, at_most)?;
            if let Some(stored) = stored
                .as_mut()
                .filter(|_| !matches!(self.rewrite.get(), Rewrite::Nothing))
            {
                let mut state: serde_json::Value = serde_json::from_str(&stored.state).unwrap();
                match self.rewrite.get() {
                    Rewrite::Nothing => {}
                    Rewrite::Set(bytes) => state["log_bytes"] = bytes.into(),
                    Rewrite::Remove => {
                        state.as_object_mut().unwrap().remove("log_bytes");
                    }
                }
                stored.state = state.to_string();
            }
            Ok(stored)
        }
    }

    /// A manager on a storage it may share with others, whose snapshots it reads rewritten.
    type Manager = ArenaManager<Layered<MemoryStorage, Rewriting>, SteppingClock>;

    /// A snapshot with every operation, so that every state a cold manager reads comes from one.
    const EVERY_OPERATION: SnapshotPolicy = SnapshotPolicy {
        min_bytes: 0,
        snapshot_percent: 0,
    };

    /// An active arena of a coordinator and a worker, and its manager.
    fn active_arena() -> (Manager, ArenaId) {
        let manager = ArenaManager::new(
            Layered {
                inner: MemoryStorage::new(),
                layer: Rewriting {
                    rewrite: Cell::new(Rewrite::Nothing),
                },
            },
            SteppingClock::starting_at(0),
        )
        .with_snapshot_policy(EVERY_OPERATION);
        let spec = |agent: &str, role| ParticipantSpec {
            agent: agent.into(),
            role,
            permissions: None,
        };
        let id = manager
            .create(&ArenaConfig {
                goal: "g".into(),
                total_steps: 10,
                strategy: Strategy::Peer("lead".into()),
                participants: vec![spec("lead", Role::Coordinator), spec("w", Role::Worker)],
                created_by: "op".into(),
            })
            .unwrap();
        manager.handle(&id, "lead").activate().unwrap();
        (manager, id)
    }

    /// A manager with nothing cached on `manager`'s storage, so that every state it reads comes
    /// from a snapshot, rewritten as `rewrite` says.
    fn cold(manager: &Manager, rewrite: Rewrite) -> Manager {
        ArenaManager::new(
            Layered {
                inner: manager.storage().inner.clone(),
                layer: Rewriting {
                    rewrite: Cell::new(rewrite),
                },
            },
            SteppingClock::starting_at(10_000),
        )
        .with_snapshot_policy(EVERY_OPERATION)
    }

    fn logged(manager: &Manager, id: &str) -> u64 {
        let events = manager.storage().inner.read_events(id, 0, 1000).unwrap();
        events.iter().map(Event::log_bytes).sum()
    }

    #[test]
    fn the_state_counts_every_byte_its_log_holds() {
        let (manager, id) = active_arena();
        manager
            .handle(&id, "w")
            .report_progress("half way")
            .unwrap();
        let state = manager.get(&id).unwrap();
        assert_eq!(state.log_bytes, Some(logged(&manager, &id)));
        assert!(state.log_bytes.unwrap() > 500, "{state:?}");
        assert_eq!(manager.verify(&id).unwrap().problem, None);
    }

    #[test]
    fn an_operation_past_the_bound_is_refused_and_writes_nothing_but_the_arena_can_still_close() {
        let (manager, id) = active_arena();
        let mut state = manager.get(&id).unwrap();
        let head = state.last_seq;
        // The state the manager holds says the log is nearly full (a snapshot could not: its
        // digest is in the chain).
        state.log_bytes = Some(limits::LOG_BYTES - 10);
        manager.hold(state);
        let refused = manager
            .handle(&id, "w")
            .report_progress("one note too many");
        assert_eq!(
            refused.unwrap_err(),
            ArenaError::LimitExceeded {
                what: "arena log bytes".into(),
                limit: limits::LOG_BYTES
            }
        );
        assert_eq!(manager.get(&id).unwrap().last_seq, head, "nothing written");
        assert_eq!(
            manager.handle(&id, "lead").settle(),
            Ok(ArenaStatus::Settling)
        );
        assert_eq!(
            manager.handle(&id, "lead").archive(),
            Ok(ArenaStatus::Archived)
        );
    }

    #[test]
    fn a_snapshot_whose_log_size_was_altered_is_not_used_and_the_state_is_rebuilt_from_the_log() {
        let (manager, id) = active_arena();
        let bytes = logged(&manager, &id);
        let cold = cold(&manager, Rewrite::Remove);
        assert_eq!(cold.get(&id).unwrap().log_bytes, Some(bytes));
        let problem = cold.verify(&id).unwrap().problem.unwrap();
        assert!(
            problem.ends_with("does not have the digest its event records"),
            "{problem}"
        );
        let after = cold.handle(&id, "w").report_progress("more").unwrap();
        cold.storage().layer.rewrite.set(Rewrite::Nothing);
        assert_eq!(after.log_bytes, Some(logged(&cold, &id)));
        assert_eq!(cold.verify(&id).unwrap().problem, None);
    }

    #[test]
    fn verify_names_a_snapshot_whose_log_size_was_altered() {
        let (warm, id) = active_arena();
        let manager = cold(&warm, Rewrite::Set(7));
        let problem = manager.verify(&id).unwrap().problem.unwrap();
        assert!(
            problem.ends_with("does not have the digest its event records"),
            "{problem}"
        );
    }
}
