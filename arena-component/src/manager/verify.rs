//! `verify`: the hash chain from event 1, each event's authority (its actor held the permission its
//! change needs), the fold of the whole log against the stored head, and every kept snapshot
//! compared with the digest its event records and the state its event leaves.

use std::collections::BTreeMap;

use super::ArenaManager;
use crate::clock::Clock;
use crate::events::{Change, Event, apply, recorded_snapshot_digest, snapshot_digest};
use crate::log_size;
use crate::storage::{Storage, check_page};
use crate::types::{Arena, ArenaError, Permission, limits};

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// The first problem, or `None` when the chain holds, the log ends at the stored head, and every
    /// kept snapshot is the state its event leaves.
    pub problem: Option<String>,
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Walks the hash chain from event 1 and replays the log, comparing the state after each event
    /// that has a kept snapshot with that snapshot (a mismatch names its seq), and the end of the
    /// log with the stored head. A fork's copied events are compared with its parent's log, so a
    /// parent altered after the fork is named.
    pub fn verify(&self, arena: &str) -> Result<VerifyReport, ArenaError> {
        let head = self.head(arena)?;
        let report = |events: u64, problem: String| {
            Ok(VerifyReport {
                events,
                problem: Some(problem),
            })
        };
        // One view of the log: the head is read first, and nothing past it (another writer may be
        // appending). A snapshot past the head is a cut log unless the head has moved past it.
        if let Some(latest) = self.storage.snapshot(arena, u64::MAX)?
            && latest.seq > head.seq
            && self.head(arena)?.seq < latest.seq
        {
            return report(
                0,
                format!(
                    "a snapshot is kept at event {}, after the stored head at event {}: the log \
                     was cut back",
                    latest.seq, head.seq
                ),
            );
        }
        // Every kept snapshot up to the head, newest first, each read with the bound below the one
        // before.
        let mut snapshots = BTreeMap::new();
        let mut at_most = head.seq;
        while let Some(snapshot) = self.storage.snapshot(arena, at_most)? {
            if snapshot.seq > at_most || snapshots.contains_key(&snapshot.seq) {
                return report(
                    0,
                    format!(
                        "asked for a snapshot at or before event {at_most}, got one at event {}",
                        snapshot.seq
                    ),
                );
            }
            let below = snapshot.seq.checked_sub(1);
            snapshots.insert(snapshot.seq, snapshot.state);
            match below {
                Some(below) => at_most = below,
                None => break,
            }
        }
        let mut state: Option<Arena> = None;
        let mut creating = true;
        let mut count = 0u64;
        let mut after = 0;
        // The walk ends at the head it read; an event past it that the head, read again, still does
        // not cover was added without moving the head (a writer's event always moves it in the same
        // transaction), and the walk goes on to the log's end so that it is named.
        let mut end = head.seq;
        loop {
            while after < end {
                let wanted = (end - after).min(u64::from(limits::PAGE)) as u32;
                let page = self.storage.read_events(arena, after, wanted)?;
                // A page out of order or too long is a problem of this log, reported as such.
                if let Err(ArenaError::Storage(problem)) =
                    check_page(arena, after, wanted, None, &page)
                {
                    return report(count, problem);
                }
                let Some(last) = page.last() else { break };
                after = last.seq;
                for event in &page {
                    count += 1;
                    if let Some(problem) = unauthorised(state.as_ref(), event, &mut creating) {
                        return report(count, problem);
                    }
                    let next = match apply(state.take(), event) {
                        Ok(next) => next,
                        Err(e) => return report(count, e.to_string()),
                    };
                    if event.kind == "arena-forked"
                        && let Some(problem) = self.parent_problem(arena, event)?
                    {
                        return report(count, format!("event {}: {problem}", event.seq));
                    }
                    if let Some(kept) = snapshots.get(&event.seq)
                        && let Some(problem) = snapshot_problem(event, kept, &next)
                    {
                        return report(count, problem);
                    }
                    state = Some(next);
                }
            }
            if end != head.seq || after != head.seq {
                break;
            }
            let past = self.storage.read_events(arena, head.seq, 1)?;
            match past.first() {
                Some(event) if self.head(arena)?.seq < event.seq => end = u64::MAX,
                _ => break,
            }
        }
        let problem = match state {
            None => Some("the log is empty".to_string()),
            Some(replayed) if replayed.last_seq != head.seq || replayed.last_hash != head.hash => {
                Some(format!(
                    "the log ends at event {} but the stored head is event {}: the log was \
                     truncated or the head altered",
                    replayed.last_seq, head.seq
                ))
            }
            Some(replayed) => snapshots
                .range(replayed.last_seq + 1..)
                .next()
                .map(|(seq, _)| {
                    format!(
                        "a snapshot is kept at event {seq}, after the log's end at event {}: \
                         the log was truncated",
                        replayed.last_seq
                    )
                }),
        };
        Ok(VerifyReport {
            events: count,
            problem,
        })
    }
}

/// What is wrong with the snapshot `kept` after `event`, given the state the log leaves there. A
/// snapshot bound to the chain must have the digest its event records and hold that state without
/// its last hash; one kept before snapshots were bound must hold the state.
fn snapshot_problem(event: &Event, kept: &str, replayed: &Arena) -> Option<String> {
    let seq = event.seq;
    let mut expected = replayed.clone();
    if let Some(recorded) = recorded_snapshot_digest(event) {
        if snapshot_digest(kept) != recorded {
            return Some(format!(
                "the snapshot at event {seq} does not have the digest its event records"
            ));
        }
        expected.last_hash.clear();
    }
    match serde_json::from_str::<Arena>(kept) {
        Err(e) => Some(format!("the snapshot at event {seq} is unreadable: {e}")),
        Ok(snapshot) if !log_size::same_state(&snapshot, &expected) => Some(format!(
            "the snapshot at event {seq} does not match its events: {}",
            snapshot.first_difference(&expected)
        )),
        Ok(_) => None,
    }
}

/// Why `event`'s actor had no authority for it in `state`, the state before it, if it had none: the
/// actor must be a participant holding the permission its change needs at that point, as the
/// operation that wrote it checked. The creation (`arena-created` and the joins by its creator at
/// its time that follow it) needs none. `creating` says whether every event so far belongs to it.
fn unauthorised(state: Option<&Arena>, event: &Event, creating: &mut bool) -> Option<String> {
    // A payload that does not decode, and a first event that is not a creation, are `apply`'s to name.
    let change = Change::decode(event).ok()?;
    let state = state?;
    let joins_creation = matches!(change, Change::AgentJoined { .. })
        && *creating
        && event.actor == state.created_by
        && event.at == state.created_at;
    *creating = joins_creation;
    let needed = match &change {
        // The fork's operator is checked by the host, as a creator is; its parent by `verify`.
        Change::ArenaCreated { .. } | Change::ArenaForked { .. } => return None,
        Change::AgentJoined { .. } if joins_creation => return None,
        Change::AgentLeft { agent } if *agent != event.actor => {
            return Some(format!(
                "event {}: agent-left of {agent} by {}: a participant leaves only by itself",
                event.seq, event.actor
            ));
        }
        Change::AgentLeft { .. } => Permission::Observe,
        Change::AgentJoined { .. }
        | Change::ArenaActivated {}
        | Change::ArenaSettling {}
        | Change::ArenaArchived { .. }
        | Change::ArenaAborted { .. }
        | Change::ArtifactMerged { .. } => Permission::Coordinate,
        Change::StepCompleted { .. }
        | Change::ProgressReported { .. }
        | Change::ArtifactPut { .. }
        | Change::SlotUpdated { .. } => Permission::Contribute,
        Change::GoalUpdated { .. } => Permission::Steer,
        Change::FactAdded { .. } => Permission::ShareFacts,
    };
    let holds = match state.participants.get(&event.actor) {
        None => "is not a participant".to_string(),
        Some(p) if !p.permissions.contains(&needed) => format!("does not hold {needed}"),
        Some(_) => return None,
    };
    Some(format!(
        "event {}: {} by {}, who {holds} at that point: the event was not written by the arena",
        event.seq, event.kind, event.actor
    ))
}
