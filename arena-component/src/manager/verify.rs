//! `verify`: the hash chain walked and the log replayed against the stored state.

use super::ArenaManager;
use crate::clock::Clock;
use crate::events::apply;
use crate::log_size;
use crate::storage::{Storage, check_page};
use crate::types::{Arena, ArenaError, check_arena_id, limits};

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// The first problem, or `None` when the chain holds and replay rebuilds the stored state.
    pub problem: Option<String>,
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Walks the hash chain from event 1 and replays the log, comparing the result with the stored
    /// state and the stored head.
    pub fn verify(&self, arena: &str) -> Result<VerifyReport, ArenaError> {
        check_arena_id(arena)?;
        let stored = self.storage.load(arena)?.ok_or(ArenaError::NotFound)?;
        let mut state = None;
        let mut count = 0u64;
        let mut after = 0;
        loop {
            let page = self.storage.read_events(arena, after, limits::PAGE)?;
            // A page out of order or too long is a problem of this log, reported as such.
            if let Err(ArenaError::Storage(problem)) =
                check_page(arena, after, limits::PAGE, None, &page)
            {
                return Ok(VerifyReport {
                    events: count,
                    problem: Some(problem),
                });
            }
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                count += 1;
                match apply(state.take(), event) {
                    Ok(next) => state = Some(next),
                    Err(e) => {
                        return Ok(VerifyReport {
                            events: count,
                            problem: Some(e.to_string()),
                        });
                    }
                }
            }
        }
        let problem = match state {
            None => Some("the log is empty".to_string()),
            Some(replayed) => {
                if replayed.last_seq != stored.head_seq || replayed.last_hash != stored.head_hash {
                    Some(format!(
                        "the log ends at event {} but the stored head is event {}: the log was truncated or the head altered",
                        replayed.last_seq, stored.head_seq
                    ))
                } else {
                    match serde_json::from_str::<Arena>(&stored.snapshot) {
                        Err(e) => Some(format!("the stored state is unreadable: {e}")),
                        Ok(snapshot) if !log_size::same_state(&snapshot, &replayed) => {
                            Some(format!(
                                "replaying the log does not rebuild the stored state: {}",
                                snapshot.first_difference(&replayed)
                            ))
                        }
                        Ok(_) => None,
                    }
                }
            }
        };
        Ok(VerifyReport {
            events: count,
            problem,
        })
    }
}
