//! A storage that fails on purpose: it wraps the host's real backend and, when the test arms it,
//! fails one call — a read, or an append before it writes or after it has committed (the answer is
//! lost on its way back) — answers one append with `conflict`, or returns one page of events
//! malformed. Everything else passes through.
//!
//! The only file that knows the storage traits: when they change, this is the file to adapt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arena_bindings::storage::{ArenaRecord, LogHead, StateSnapshot};
use arena_host::db::{Backend, Storage, TokenRecord};
use arena_host::types::{ArenaError, Event};

/// What to do to the next call of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fail the `nth` read (1 for the first) with a `storage` error.
    Read { nth: u32 },
    /// Fail the next append with a `storage` error before anything is written.
    AppendBefore,
    /// Commit the next append, then answer it with a `storage` error.
    AppendAfter,
    /// Answer the next append with `conflict`, writing nothing.
    Conflict,
    /// Answer the `nth` page of events read (1 for the first) malformed: two events out of order,
    /// an event twice, or an event past the log's head. The component must refuse it as a `storage`
    /// error of its own.
    Malformed { nth: u32 },
}

/// The text every injected error carries.
pub const INJECTED: &str = "injected fault";

/// The fault armed for the next operation, and whether it fired. Shared by the test and the storage.
#[derive(Default)]
pub struct Plan(Mutex<(Option<Fault>, u32, Option<Fault>)>);

impl Plan {
    /// Arms `fault`.
    pub fn arm(&self, fault: Fault) {
        *self.0.lock().unwrap() = (Some(fault), 0, None);
    }

    /// Disarms the plan; the fault if it fired.
    pub fn disarm(&self) -> Option<Fault> {
        std::mem::take(&mut *self.0.lock().unwrap()).2
    }

    /// Whether this read fails.
    fn read(&self) -> Result<(), ArenaError> {
        let mut plan = self.0.lock().unwrap();
        let (armed, reads, fired) = &mut *plan;
        if let Some(fault @ Fault::Read { nth }) = *armed {
            *reads += 1;
            if *reads == nth {
                *armed = None;
                *fired = Some(fault);
                return Err(ArenaError::Storage(format!("{INJECTED}: read {nth}")));
            }
        }
        Ok(())
    }

    /// Whether this page of events is to be returned malformed.
    fn malformed(&self) -> bool {
        let mut plan = self.0.lock().unwrap();
        let (armed, reads, fired) = &mut *plan;
        if let Some(fault @ Fault::Malformed { nth }) = *armed {
            *reads += 1;
            if *reads == nth {
                *armed = None;
                *fired = Some(fault);
                return true;
            }
        }
        false
    }

    /// The append fault to inject now, if one is armed.
    fn append(&self) -> Option<Fault> {
        let mut plan = self.0.lock().unwrap();
        let (armed, _, fired) = &mut *plan;
        match *armed {
            Some(fault @ (Fault::AppendBefore | Fault::AppendAfter | Fault::Conflict)) => {
                *armed = None;
                *fired = Some(fault);
                Some(fault)
            }
            _ => None,
        }
    }
}

/// The host's backend, failing as `plan` says.
pub struct Faulty {
    pub inner: Box<dyn Backend>,
    pub plan: Arc<Plan>,
}

impl Storage for Faulty {
    fn head(&mut self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        self.plan.read()?;
        self.inner.head(arena)
    }

    fn snapshot(&mut self, arena: &str, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError> {
        self.plan.read()?;
        self.inner.snapshot(arena, at_most)
    }

    fn read_events(
        &mut self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        self.plan.read()?;
        let mut page = self.inner.read_events(arena, after, limit)?;
        if self.plan.malformed() {
            match page.len() {
                0 => page.push(Event {
                    seq: after + 1,
                    at: "2026-01-01T00:00:00Z".into(),
                    actor: "nobody".into(),
                    kind: "step-completed".into(),
                    payload: r#"{"step":1,"v":1}"#.into(),
                    hash: "0".repeat(64),
                }),
                1 => page.push(page[0].clone()),
                _ => page.swap(0, 1),
            }
        }
        Ok(page)
    }

    fn append(
        &mut self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        match self.plan.append() {
            None => self
                .inner
                .append(arena, expected_seq, events, record, snapshot),
            Some(Fault::Conflict) => Err(ArenaError::Conflict),
            Some(Fault::AppendAfter) => {
                self.inner
                    .append(arena, expected_seq, events, record, snapshot)?;
                Err(ArenaError::Storage(format!(
                    "{INJECTED}: the append committed, its answer was lost"
                )))
            }
            Some(_) => Err(ArenaError::Storage(format!(
                "{INJECTED}: the append failed before writing"
            ))),
        }
    }

    fn participating(&mut self, agent: &str) -> Result<Vec<String>, ArenaError> {
        self.plan.read()?;
        self.inner.participating(agent)
    }

    fn list_arenas(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError> {
        self.plan.read()?;
        self.inner.list_arenas(after, limit)
    }

    fn tagged(
        &mut self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        self.plan.read()?;
        self.inner.tagged(tag, after, limit)
    }
}

impl Backend for Faulty {
    fn add_token(&mut self, token: &TokenRecord, hash: &str) -> Result<(), ArenaError> {
        self.inner.add_token(token, hash)
    }

    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRecord>, ArenaError> {
        self.inner.token_by_hash(hash)
    }

    fn tokens(&mut self, arena: Option<&str>) -> Result<Vec<TokenRecord>, ArenaError> {
        self.inner.tokens(arena)
    }

    fn revoke_token(&mut self, id: &str, at: i64) -> Result<bool, ArenaError> {
        self.inner.revoke_token(id, at)
    }

    fn token_used(&mut self, id: &str, at: i64) -> Result<(), ArenaError> {
        self.inner.token_used(id, at)
    }

    fn cursor(&mut self, arena: &str, subscriber: &str) -> Result<u64, ArenaError> {
        self.inner.cursor(arena, subscriber)
    }

    fn advance_cursor(
        &mut self,
        arena: &str,
        subscriber: &str,
        seq: u64,
    ) -> Result<(), ArenaError> {
        self.inner.advance_cursor(arena, subscriber, seq)
    }

    fn conflicts(&self) -> u64 {
        self.inner.conflicts()
    }

    fn begin_batch(&mut self) -> Result<(), ArenaError> {
        self.inner.begin_batch()
    }

    fn commit_batch(&mut self) -> Result<(), ArenaError> {
        self.inner.commit_batch()
    }

    fn rollback_batch(&mut self) {
        self.inner.rollback_batch()
    }

    fn in_batch(&self) -> bool {
        self.inner.in_batch()
    }

    fn wait_for_appends(&mut self, timeout: Duration) {
        self.inner.wait_for_appends(timeout)
    }
}
