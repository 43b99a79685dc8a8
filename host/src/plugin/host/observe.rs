//! `observe`: read the arena, leave it.

use arena_bindings::agent::arena::core::observe;

use crate::types::{Aggregate, ArenaInfo, ArenaStatus, Event, Fact, FactQuery, Participant};

use super::{HandleResult, PluginState};

impl observe::Host for PluginState {
    fn info(&mut self) -> HandleResult<ArenaInfo> {
        self.read("info", 0, |h| h.info())
    }
    fn goal(&mut self) -> HandleResult<String> {
        self.read("goal", 0, |h| h.info().map(|i| i.goal))
    }
    fn status(&mut self) -> HandleResult<ArenaStatus> {
        self.read("status", 0, |h| h.info().map(|i| i.status))
    }
    fn progress(&mut self) -> HandleResult<Aggregate> {
        self.read("progress", 0, |h| h.info().map(|i| i.aggregate))
    }
    fn participants(&mut self) -> HandleResult<Vec<Participant>> {
        self.read("participants", 0, |h| h.info().map(|i| i.participants))
    }
    fn events(&mut self, after: u64, limit: u32) -> HandleResult<Vec<Event>> {
        self.read("events", 0, |h| h.events(after, limit))
    }
    fn leave(&mut self) -> HandleResult<()> {
        self.write("leave", &[], |h| h.leave())
    }
    fn facts(&mut self, query: FactQuery) -> HandleResult<Vec<Fact>> {
        let size = [&query.tag, &query.text]
            .into_iter()
            .map(|t| t.as_ref().map_or(0, String::len))
            .sum();
        self.read("facts", size, |h| h.facts(&query))
    }
}
