//! Forking an arena: a new arena whose state is its parent's right after one of its events.
//!
//! The fork's log begins with the parent's events `1..=seq`, copied byte for byte, hashes included,
//! so the fork's chain *is* the parent's chain up to the fork point, and every id minted from a
//! sequence number (`art-N`, `fact-N`) means the same in both. Its first own event, `arena-forked`
//! at `seq + 1`, records the parent, `seq` and the parent's hash there, and chains on that hash. So
//! replaying the fork's log alone rebuilds its state, and `verify` checks the copied events against
//! the parent's log: a parent altered after the fork no longer holds them, and is named.
//!
//! The fork starts `created` if the parent was still `created` at `seq`, and `active` otherwise
//! (a fork of a settling or archived arena is workable again), with no outcome and no idempotency
//! keys; its creator is the one who forked it. Who may fork is the host's decision, as for `create`.

use super::ArenaManager;
use super::load::{Loaded, SnapshotDebt};
use crate::clock::{Clock, mint_arena_id, timestamp};
use crate::events::{Change, Event, apply, apply_sealed, bind_snapshot, seal};
use crate::log_size;
use crate::storage::{ArenaRecord, Storage};
use crate::types::{ArenaError, ArenaId, check_agent_id, check_arena_id, limits};

impl<S: Storage, C: Clock> ArenaManager<S, C> {
    /// Creates a fork of `parent` as it was right after event `seq` (1 to its last), created by
    /// `by`, and returns the fork's id. `invalid-input` for a `seq` outside the parent's log,
    /// `not-found` for an unknown parent, `storage` for a parent whose log does not replay up to
    /// `seq`; none of them writes anything.
    pub fn fork(&self, parent: &str, seq: u64, by: &str) -> Result<ArenaId, ArenaError> {
        check_arena_id(parent)?;
        check_agent_id(by)?;
        let head = self.head(parent)?.seq;
        if seq == 0 || seq > head {
            return Err(ArenaError::InvalidInput(format!(
                "event {seq} is outside the log's 1..={head}"
            )));
        }
        let (copied, base) = self.copy_log(parent, seq)?;
        for _ in 0..=limits::CONFLICT_RETRIES {
            let id = mint_arena_id(&self.clock);
            let change = Change::ArenaForked {
                id: id.clone(),
                parent: parent.to_string(),
                seq,
                parent_hash: base.last_hash.clone(),
            };
            let at = timestamp(self.clock.now());
            let mut forked = seal(seq, &base.last_hash, &at, by, &change, None);
            let mut state =
                apply_sealed(Some(base.clone()), &forked, change, None).map_err(|e| {
                    ArenaError::Storage(format!(
                        "arena {parent}: its state at event {seq} does not take a fork: {e}"
                    ))
                })?;
            // The fork keeps a snapshot at once: loading it never folds the copied log.
            let snapshot = bind_snapshot(&mut forked, &base.last_hash, &mut state);
            log_size::check(&state, &[])?;
            let record = ArenaRecord {
                status: state.status,
                participants: state.participants.keys().cloned().collect(),
                tags: state.fact_tags(),
            };
            let mut events = copied.clone();
            events.push(forked);
            match self
                .storage
                .append(&id, 0, &events, Some(&record), Some(&snapshot))
            {
                Ok(()) => {
                    self.states.put(Loaded {
                        state,
                        debt: SnapshotDebt::kept(snapshot.len()),
                    });
                    return Ok(id);
                }
                // The id was taken between minting and appending: mint another.
                Err(ArenaError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ArenaError::Conflict)
    }

    /// The events `1..=seq` of `arena`, each checked against the chain by replaying them, and the
    /// state they leave.
    fn copy_log(
        &self,
        arena: &str,
        seq: u64,
    ) -> Result<(Vec<Event>, crate::types::Arena), ArenaError> {
        let mut events: Vec<Event> = Vec::new();
        let mut state = None;
        while (events.len() as u64) < seq {
            let after = events.len() as u64;
            let wanted = (seq - after).min(u64::from(limits::PAGE)) as u32;
            let page = self.read_events_checked(arena, after, wanted, None)?;
            if page.len() < wanted as usize {
                return Err(ArenaError::Storage(format!(
                    "arena {arena}: the log ends at event {} before event {seq}",
                    after + page.len() as u64
                )));
            }
            for event in &page {
                state = Some(apply(state, event).map_err(|e| {
                    ArenaError::Storage(format!("arena {arena}: the log does not replay: {e}"))
                })?);
            }
            events.extend(page);
        }
        let state = state.ok_or(ArenaError::NotFound)?;
        Ok((events, state))
    }

    /// What is wrong with the parent of a fork whose `arena-forked` event is `forked`: the parent's
    /// events `1..=seq` must still be exactly the ones copied into `arena`'s log. `None` when they
    /// are.
    pub(crate) fn parent_problem(
        &self,
        arena: &str,
        forked: &Event,
    ) -> Result<Option<String>, ArenaError> {
        let Ok(Change::ArenaForked { parent, seq, .. }) = Change::decode(forked) else {
            return Ok(None);
        };
        let taken = format!("arena {parent}, which this arena was forked from at event {seq}");
        let parent_head = match self.storage.head(&parent)? {
            None => return Ok(Some(format!("{taken}, no longer exists"))),
            Some(head) => head.seq,
        };
        if parent_head < seq {
            return Ok(Some(format!(
                "{taken}, ends at event {parent_head}: the parent's log was cut back after the fork"
            )));
        }
        let mut after = 0;
        while after < seq {
            let wanted = (seq - after).min(u64::from(limits::PAGE)) as u32;
            let theirs = match self.read_events_checked(&parent, after, wanted, None) {
                Ok(page) => page,
                Err(ArenaError::Storage(problem)) => {
                    return Ok(Some(format!("{taken}, cannot be read: {problem}")));
                }
                Err(e) => return Err(e),
            };
            let ours = self.read_events_checked(arena, after, wanted, None)?;
            for (theirs, ours) in theirs.iter().zip(&ours) {
                if theirs != ours {
                    return Ok(Some(format!(
                        "{taken}, no longer holds event {} as the fork copied it: the parent's \
                         log was altered after the fork",
                        ours.seq
                    )));
                }
            }
            if theirs.len() < wanted as usize || ours.len() < wanted as usize {
                return Ok(Some(format!(
                    "{taken}, ends at event {}: the parent's log was cut back after the fork",
                    after + theirs.len() as u64
                )));
            }
            after += u64::from(wanted);
        }
        Ok(None)
    }
}
