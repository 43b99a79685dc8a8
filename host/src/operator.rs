//! What an operator does with a host beyond single calls: walking every arena page by page, following
//! an arena's log as it grows, and choosing a new arena's coordinator.

use std::collections::VecDeque;
use std::time::Duration;

use crate::types::{ArenaInfo, Event, ParticipantSpec, Role};
use crate::{ArenaHost, HostError};

/// Arenas or events fetched per call while paging (the arena's largest page).
const PAGE: u32 = 1000;

/// How long [`Follow`] waits for another writer before it reads the log again, unless told otherwise.
pub const FOLLOW_POLL: Duration = Duration::from_secs(1);

/// The coordinator a new arena gets when none is named: the first participant declared with the
/// coordinator role, if any.
///
/// # Example
///
/// ```
/// use arena_host::default_coordinator;
/// use arena_host::types::{ParticipantSpec, Role};
/// let spec = |agent: &str, role| ParticipantSpec { agent: agent.into(), role, permissions: None };
/// let team = [spec("wendy", Role::Worker), spec("lead", Role::Coordinator)];
/// assert_eq!(default_coordinator(&team), Some("lead"));
/// ```
pub fn default_coordinator(participants: &[ParticipantSpec]) -> Option<&str> {
    participants
        .iter()
        .find(|p| p.role == Role::Coordinator)
        .map(|p| p.agent.as_str())
}

impl ArenaHost {
    /// Every arena, oldest first, fetched a page at a time as the iterator advances. A failed page is
    /// yielded as the error, and ends the iteration.
    pub fn arenas(&self) -> Arenas<'_> {
        Arenas {
            host: self,
            after: None,
            page: VecDeque::new(),
            done: false,
        }
    }

    /// The events of `arena` after `after`, then every event appended later, as it commits, on this
    /// host or another. Between reads the iterator waits for appends (see
    /// [`ArenaHost::wait_for_appends`]) for at most [`FOLLOW_POLL`], or [`Follow::poll`].
    ///
    /// It does not end while the log can be read: stop by dropping it (`take`, `break`). A failed
    /// read is yielded as the error, and ends the iteration.
    pub fn follow(&self, arena: &str, after: u64) -> Follow<'_> {
        Follow {
            host: self,
            arena: arena.to_string(),
            after,
            poll: FOLLOW_POLL,
            page: VecDeque::new(),
            read_once: false,
            done: false,
        }
    }
}

/// Every arena of a host, oldest first: see [`ArenaHost::arenas`].
pub struct Arenas<'a> {
    host: &'a ArenaHost,
    after: Option<String>,
    page: VecDeque<ArenaInfo>,
    done: bool,
}

impl Iterator for Arenas<'_> {
    type Item = Result<ArenaInfo, HostError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            match self.host.list(self.after.as_deref(), PAGE) {
                Ok(page) => {
                    self.done = page.is_empty();
                    self.after = page.last().map(|info| info.id.clone());
                    self.page = page.into();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.page.pop_front().map(Ok)
    }
}

/// An arena's events as they commit: see [`ArenaHost::follow`].
pub struct Follow<'a> {
    host: &'a ArenaHost,
    arena: String,
    /// The last event read.
    after: u64,
    poll: Duration,
    page: VecDeque<Event>,
    /// Whether the log was read once: only later reads wait for appends.
    read_once: bool,
    done: bool,
}

impl Follow<'_> {
    /// The same iterator, waiting at most `poll` for another writer between reads of the log.
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Reads the next page of events, first waiting for appends if the last read found the end.
    fn read(&mut self) -> Result<(), HostError> {
        if self.read_once {
            self.host.wait_for_appends(self.poll)?;
        }
        let page = self.host.events(&self.arena, self.after, PAGE)?;
        // A full page may have more behind it: read on without waiting.
        self.read_once = page.len() < PAGE as usize;
        if let Some(last) = page.last() {
            self.after = last.seq;
        }
        self.page = page.into();
        Ok(())
    }
}

impl Iterator for Follow<'_> {
    type Item = Result<Event, HostError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.page.is_empty() && !self.done {
            if let Err(e) = self.read() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.page.pop_front().map(Ok)
    }
}
