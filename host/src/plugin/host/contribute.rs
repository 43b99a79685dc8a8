//! `contribute`: steps, progress, the plugin's own slot.

use arena_bindings::agent::arena::core::contribute;

use crate::types::{Aggregate, Artifact, ArtifactDraft, Slot, SlotStatus};

use super::{HandleResult, PluginState, metadata_texts};

impl contribute::Host for PluginState {
    fn complete_step(&mut self, step: u32) -> HandleResult<Aggregate> {
        self.write("complete-step", &[], |h| h.complete_step(step))
    }
    fn report_progress(&mut self, note: String) -> HandleResult<Aggregate> {
        self.write("report-progress", &[&note], |h| h.report_progress(&note))
    }
    fn put_artifact(&mut self, draft: ArtifactDraft) -> HandleResult<Artifact> {
        let texts: Vec<&str> = [draft.kind.as_str(), draft.content.as_str()]
            .into_iter()
            .chain(metadata_texts(&draft.metadata))
            .collect();
        self.write("put-artifact", &texts, |h| h.put_artifact(&draft))
    }
    fn set_slot_status(&mut self, status: SlotStatus) -> HandleResult<()> {
        self.write("set-slot-status", &[], |h| h.set_slot_status(status))
    }
    fn own_slot(&mut self) -> HandleResult<Slot> {
        self.read("own-slot", 0, |h| h.own_slot())
    }
}
