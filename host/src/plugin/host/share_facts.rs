//! `share-facts`: add shared facts.

use arena_bindings::agent::arena::core::share_facts;

use crate::types::{Fact, FactDraft};

use super::{HandleResult, PluginState};

impl share_facts::Host for PluginState {
    fn add_fact(&mut self, draft: FactDraft) -> HandleResult<Fact> {
        let texts: Vec<&str> = std::iter::once(draft.content.as_str())
            .chain(draft.tags.iter().map(String::as_str))
            .collect();
        self.write("add-fact", &texts, |h| h.add_fact(&draft))
    }
}
