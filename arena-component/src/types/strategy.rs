//! How the participants of an arena work together.

use serde::{Deserialize, Serialize};

use super::ids::AgentId;
use crate::pipeline::Pipeline;

/// How the participants work together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Peers under this coordinator.
    Peer(AgentId),
    /// Stages in dependency order under a coordinator.
    Pipeline(Pipeline),
}

impl Strategy {
    /// The coordinator the strategy names.
    pub fn coordinator(&self) -> &str {
        match self {
            Strategy::Peer(agent) => agent,
            Strategy::Pipeline(pipeline) => &pipeline.coordinator,
        }
    }

    /// The pipeline, if the strategy is one.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        match self {
            Strategy::Peer(_) => None,
            Strategy::Pipeline(pipeline) => Some(pipeline),
        }
    }
}
