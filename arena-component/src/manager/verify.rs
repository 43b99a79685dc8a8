//! `verify`: the hash chain from event 1, the fold of the whole log, and every kept snapshot
//! compared with the state its event leaves.

use std::collections::BTreeMap;

use super::ArenaManager;
use crate::clock::Clock;
use crate::events::apply;
use crate::storage::Storage;
use crate::types::{Arena, ArenaError, limits};

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// The first problem, or `None` when the chain holds, the log ends at the head, and every kept
    /// snapshot is the state its event leaves.
    pub problem: Option<String>,
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Walks the hash chain from event 1 and replays the log, comparing the state after each event
    /// that has a snapshot with that snapshot, and the end of the log with the head, with the
    /// snapshots kept and with the state this manager last saw (a log only ever grows).
    pub fn verify(&self, arena: &str) -> Result<VerifyReport, ArenaError> {
        let head = self.head(arena)?;
        let seen = self.states.held_head(arena);
        let mut snapshots = BTreeMap::new();
        let mut at_most = head.seq;
        while let Some(snapshot) = self.storage.snapshot(arena, at_most)? {
            if snapshot.seq > at_most {
                return Ok(VerifyReport {
                    events: 0,
                    problem: Some(format!(
                        "asked for a snapshot at or before event {at_most}, got one at event {}",
                        snapshot.seq
                    )),
                });
            }
            let below = snapshot.seq.checked_sub(1);
            snapshots.insert(snapshot.seq, snapshot.state);
            match below {
                Some(below) => at_most = below,
                None => break,
            }
        }
        let mut state: Option<Arena> = None;
        let mut count = 0u64;
        let mut after = 0;
        loop {
            let page = self.storage.read_events(arena, after, limits::PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                count += 1;
                let next = match apply(state.take(), event) {
                    Ok(next) => next,
                    Err(e) => {
                        return Ok(VerifyReport {
                            events: count,
                            problem: Some(e.to_string()),
                        });
                    }
                };
                if let Some(kept) = snapshots.get(&event.seq)
                    && let Some(problem) = snapshot_problem(event.seq, kept, &next)
                {
                    return Ok(VerifyReport {
                        events: count,
                        problem: Some(problem),
                    });
                }
                state = Some(next);
            }
        }
        let problem = match state {
            None => Some("the log is empty".to_string()),
            Some(replayed) if replayed.last_seq != head.seq || replayed.last_hash != head.hash => {
                Some(format!(
                    "the log ends at event {} but its head is event {}",
                    replayed.last_seq, head.seq
                ))
            }
            Some(replayed) => match (snapshots.range(replayed.last_seq + 1..).next(), seen) {
                (Some((seq, _)), _) => Some(format!(
                    "a snapshot is kept at event {seq}, after the log's end at event {}: the log was truncated",
                    replayed.last_seq
                )),
                (None, Some((seq, _))) if seq > replayed.last_seq => Some(format!(
                    "the log ends at event {} but reached event {seq} before: the log was truncated",
                    replayed.last_seq
                )),
                (None, Some((seq, hash)))
                    if seq == replayed.last_seq && hash != replayed.last_hash =>
                {
                    Some(format!(
                        "event {seq} is not the one this host saw appended: the log was rewritten"
                    ))
                }
                _ => None,
            },
        };
        Ok(VerifyReport {
            events: count,
            problem,
        })
    }
}

/// What is wrong with the snapshot `kept` at event `seq`, given the state the log leaves there.
fn snapshot_problem(seq: u64, kept: &str, replayed: &Arena) -> Option<String> {
    match serde_json::from_str::<Arena>(kept) {
        Err(e) => Some(format!("the snapshot at event {seq} is unreadable: {e}")),
        Ok(snapshot) if snapshot != *replayed => Some(format!(
            "the snapshot at event {seq} does not match its events: {}",
            first_difference(&snapshot, replayed)
        )),
        Ok(_) => None,
    }
}

/// Names the first field in which two states differ.
fn first_difference(stored: &Arena, replayed: &Arena) -> String {
    let fields: [(&str, bool); 13] = [
        ("id", stored.id == replayed.id),
        ("goal", stored.goal == replayed.goal),
        ("status", stored.status == replayed.status),
        ("outcome", stored.outcome == replayed.outcome),
        ("strategy", stored.strategy == replayed.strategy),
        ("participants", stored.participants == replayed.participants),
        ("aggregate", stored.aggregate == replayed.aggregate),
        ("created_by", stored.created_by == replayed.created_by),
        ("created_at", stored.created_at == replayed.created_at),
        ("keys", stored.keys == replayed.keys),
        ("slots", stored.slots == replayed.slots),
        ("facts", stored.facts == replayed.facts),
        ("last_seq", stored.last_seq == replayed.last_seq),
    ];
    fields
        .iter()
        .find(|(_, same)| !same)
        .map_or("last_hash".to_string(), |(name, _)| {
            format!("{name} differs")
        })
}
