//! `verify`: the hash chain from event 1, the fold of the whole log against the stored head, and
//! every kept snapshot compared with the state its event leaves.

use std::collections::BTreeMap;

use super::ArenaManager;
use crate::clock::Clock;
use crate::events::apply;
use crate::log_size;
use crate::storage::{Storage, check_page};
use crate::types::{Arena, ArenaError, limits};

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
    /// log with the stored head.
    pub fn verify(&self, arena: &str) -> Result<VerifyReport, ArenaError> {
        let head = self.head(arena)?;
        let report = |events: u64, problem: String| {
            Ok(VerifyReport {
                events,
                problem: Some(problem),
            })
        };
        // Every kept snapshot, newest first, each read with the bound below the one before.
        let mut snapshots = BTreeMap::new();
        let mut at_most = u64::MAX;
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
        let mut count = 0u64;
        let mut after = 0;
        loop {
            let page = self.storage.read_events(arena, after, limits::PAGE)?;
            // A page out of order or too long is a problem of this log, reported as such.
            if let Err(ArenaError::Storage(problem)) =
                check_page(arena, after, limits::PAGE, None, &page)
            {
                return report(count, problem);
            }
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                count += 1;
                let next = match apply(state.take(), event) {
                    Ok(next) => next,
                    Err(e) => return report(count, e.to_string()),
                };
                if let Some(kept) = snapshots.get(&event.seq)
                    && let Some(problem) = snapshot_problem(event.seq, kept, &next)
                {
                    return report(count, problem);
                }
                state = Some(next);
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

/// What is wrong with the snapshot `kept` at event `seq`, given the state the log leaves there.
fn snapshot_problem(seq: u64, kept: &str, replayed: &Arena) -> Option<String> {
    match serde_json::from_str::<Arena>(kept) {
        Err(e) => Some(format!("the snapshot at event {seq} is unreadable: {e}")),
        Ok(snapshot) if !log_size::same_state(&snapshot, replayed) => Some(format!(
            "the snapshot at event {seq} does not match its events: {}",
            snapshot.first_difference(replayed)
        )),
        Ok(_) => None,
    }
}
