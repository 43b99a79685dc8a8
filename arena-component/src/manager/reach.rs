//! Whether an event read from the log chains to the head: what a read that does not end at the
//! head (a past state, an `events` page) checks before it answers, so that a forged stretch of the
//! log, re-hashed up to a point short of the head, is refused like any other altered event.
//!
//! The check recomputes hashes only (no decoding, no fold) from the event up to the head. So that
//! reading a long log page by page does not read the rest of the log for every page, the manager
//! keeps, per arena, the hashes of some events it has checked this way ("marks": every
//! [`MARK_EVERY`]th event's and the head's, each known to chain to the last). A later check walks
//! only to the next mark at or after its event, and from the marked head to the new head.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::ArenaManager;
use crate::clock::Clock;
use crate::events::chain_hash;
use crate::storage::{LogHead, Storage};
use crate::types::{ArenaError, limits};

/// Every how many events a checked chain keeps a mark.
const MARK_EVERY: u64 = 64;

/// Arenas whose marks are kept at most.
const MARKED_ARENAS: usize = 64;

/// Hashes by sequence number, each checked to chain to the last entry, a head this manager read.
type Marks = BTreeMap<u64, String>;

/// The marks of the arenas this manager checked reads of.
#[derive(Default)]
pub(crate) struct CheckedChains(Mutex<BTreeMap<String, Marks>>);

impl CheckedChains {
    fn chains(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Marks>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes and returns `arena`'s marks (a concurrent check then walks on its own).
    fn take(&self, arena: &str) -> Option<Marks> {
        self.chains().remove(arena)
    }

    /// Keeps `marks` for `arena`, unless marks that reach further were kept meanwhile.
    fn put(&self, arena: &str, marks: Marks) {
        let mut chains = self.chains();
        let reach = |m: &Marks| m.last_key_value().map_or(0, |(seq, _)| *seq);
        if chains
            .get(arena)
            .is_some_and(|kept| reach(kept) > reach(&marks))
        {
            return;
        }
        if chains.len() >= MARKED_ARENAS && !chains.contains_key(arena) {
            chains.clear();
        }
        chains.insert(arena.to_string(), marks);
    }
}

/// Where a walk along the chain stops, and what it keeps on the way.
struct Walk<'a> {
    /// The event the walk ends at.
    to: u64,
    /// The hash event `to` must have.
    expected: &'a str,
    /// What to say when the walk arrives at `to` with another hash.
    otherwise: &'a dyn Fn(u64) -> String,
}

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Checks that event `seq`, whose hash is `hash`, chains to `head`: the events after it, up to the
    /// head, each chain to the one before, and the last has the head's hash.
    ///
    /// # Failure
    ///
    /// `storage`, naming the first event that does not chain to the one before, or the event whose
    /// hash is not the one the chain leads to.
    pub(crate) fn check_reaches_head(
        &self,
        arena: &str,
        seq: u64,
        hash: &str,
        head: &LogHead,
    ) -> Result<(), ArenaError> {
        let no_head_hash = |at: u64| {
            format!("the log's event {at} does not have the head's hash: the log was altered")
        };
        if seq >= head.seq {
            return if seq == head.seq && hash == head.hash {
                Ok(())
            } else {
                Err(self.altered(arena, no_head_hash(head.seq)))
            };
        }
        if let Some(marks) = self.chains.take(arena)
            && let Some(mut marks) = self.extend_marks(arena, marks, head)
        {
            let (to, expected) = marks
                .range(seq..)
                .next()
                .map(|(to, hash)| (*to, hash.clone()))
                .unwrap_or_else(|| (head.seq, head.hash.clone()));
            let changed = |at: u64| {
                format!(
                    "the log's event {at} no longer has the hash it had when this host read it: \
                     the log was altered"
                )
            };
            let walk = Walk {
                to,
                expected: &expected,
                otherwise: &changed,
            };
            // The marks stay kept either way: they are what this host checked.
            let walked = self.walk(arena, seq, hash, &walk);
            if let Ok(found) = &walked {
                marks.extend(found.clone());
            }
            self.chains.put(arena, marks);
            return walked.map(drop);
        }
        let walk = Walk {
            to: head.seq,
            expected: &head.hash,
            otherwise: &no_head_hash,
        };
        let mut marks = self.walk(arena, seq, hash, &walk)?;
        marks.insert(head.seq, head.hash.clone());
        self.chains.put(arena, marks);
        Ok(())
    }

    /// `marks` carried on to `head`, or `None` when they do not lead there (the log was cut back
    /// or rewritten since they were taken: a walk from the event itself then decides).
    fn extend_marks(&self, arena: &str, mut marks: Marks, head: &LogHead) -> Option<Marks> {
        let (&last, last_hash) = marks.last_key_value()?;
        if last >= head.seq {
            return (last == head.seq && *last_hash == head.hash).then_some(marks);
        }
        let never = |_: u64| String::new();
        let walk = Walk {
            to: head.seq,
            expected: &head.hash,
            otherwise: &never,
        };
        let found = self.walk(arena, last, &last_hash.clone(), &walk).ok()?;
        marks.extend(found);
        marks.insert(head.seq, head.hash.clone());
        Some(marks)
    }

    /// Walks the chain from event `from` (hash `hash`) to event `walk.to`, recomputing each hash
    /// from the one before and comparing it with the stored one, and checks that event `walk.to`
    /// has hash `walk.expected`. Returns the marks passed on the way.
    fn walk(
        &self,
        arena: &str,
        from: u64,
        hash: &str,
        walk: &Walk<'_>,
    ) -> Result<Marks, ArenaError> {
        let mut marks = Marks::new();
        let mut prev = hash.to_string();
        let mut at = from;
        while at < walk.to {
            let wanted = (walk.to - at).min(u64::from(limits::PAGE)) as u32;
            // Checked against the end of the walk: gapless, and short only past it.
            let page = self.read_events_checked(arena, at, wanted, Some(walk.to))?;
            if page.len() < wanted as usize {
                return Err(self.altered(
                    arena,
                    format!(
                        "the log ends at event {} but the stored head is event {}",
                        at + page.len() as u64,
                        walk.to
                    ),
                ));
            }
            for event in &page {
                let computed = chain_hash(
                    &prev,
                    event.seq,
                    &event.kind,
                    &event.actor,
                    &event.at,
                    &event.payload,
                );
                if computed != event.hash {
                    return Err(self.altered(
                        arena,
                        format!(
                            "event {} does not chain to the event before: the log was altered",
                            event.seq
                        ),
                    ));
                }
                if event.seq % MARK_EVERY == 0 {
                    marks.insert(event.seq, computed.clone());
                }
                prev = computed;
            }
            at += page.len() as u64;
        }
        if prev != walk.expected {
            return Err(self.altered(arena, (walk.otherwise)(walk.to)));
        }
        Ok(marks)
    }

    /// The `storage` error for a log found altered.
    fn altered(&self, arena: &str, what: String) -> ArenaError {
        ArenaError::Storage(format!(
            "arena {arena}: {what} (`arena verify {arena}` names the damage)"
        ))
    }
}
