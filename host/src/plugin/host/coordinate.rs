//! `coordinate`: the lifecycle, membership and merges.

use arena_bindings::agent::arena::core::coordinate;

use crate::types::{ArenaStatus, Artifact, MergeRequest, Participant, ParticipantSpec};

use super::{HandleResult, PluginState, metadata_texts};

impl coordinate::Host for PluginState {
    fn activate(&mut self) -> HandleResult<ArenaStatus> {
        self.write("activate", &[], |h| h.activate())
    }
    fn settle(&mut self) -> HandleResult<ArenaStatus> {
        self.write("settle", &[], |h| h.settle())
    }
    fn archive(&mut self) -> HandleResult<ArenaStatus> {
        self.write("archive", &[], |h| h.archive())
    }
    fn abort(&mut self, reason: String) -> HandleResult<ArenaStatus> {
        self.write("abort", &[&reason], |h| h.abort(&reason))
    }
    fn invite(&mut self, participant: ParticipantSpec) -> HandleResult<Participant> {
        self.write("invite", &[&participant.agent], |h| h.invite(&participant))
    }
    fn merge(&mut self, request: MergeRequest) -> HandleResult<Artifact> {
        let texts: Vec<&str> = [request.kind.as_str(), request.content.as_str()]
            .into_iter()
            .chain(request.sources.iter().map(String::as_str))
            .chain(metadata_texts(&request.metadata))
            .collect();
        self.write("merge", &texts, |h| h.merge(&request))
    }
}
