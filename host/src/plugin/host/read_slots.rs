//! `read-slots`: read every slot and artifact.

use arena_bindings::agent::arena::core::read_slots;

use crate::types::{Artifact, Slot, SlotInfo};

use super::{HandleResult, PluginState};

impl read_slots::Host for PluginState {
    fn list_slots(&mut self) -> HandleResult<Vec<SlotInfo>> {
        self.read("list-slots", 0, |h| h.list_slots())
    }
    fn read_slot(&mut self, agent: String) -> HandleResult<Slot> {
        self.read("read-slot", agent.len(), |h| h.read_slot(&agent))
    }
    fn read_artifact(&mut self, id: String) -> HandleResult<Artifact> {
        self.read("read-artifact", id.len(), |h| h.read_artifact(&id))
    }
}
