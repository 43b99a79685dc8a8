//! The run manifest: the arena to create or resume, how to schedule the run, and its plugins.
//!
//! Everything a manifest can get wrong is found here, before any component is compiled or any
//! arena created: unknown keys, roles and permissions, a missing environment variable for a
//! secret, an unreadable or oversized component file. The rooms: this file the `[arena]` and
//! `[run]` tables, `plugin` the `[[plugin]]` entries, `team` the team's memory budget.

mod plugin;
mod team;

use serde::Deserialize;

pub use plugin::{
    ConfigValue, DEFAULT_IDLE, EnvValue, PluginEntry, declared_grant, participant_spec,
};
pub use team::default_team_memory_bytes;

use super::RunError;
use crate::parse_steps;
use crate::types::{Pipeline, Stage, Strategy};

/// The largest component file a manifest may name (interpreter-based plugins are 12–18 MiB).
pub const MAX_COMPONENT_BYTES: u64 = 128 << 20;

/// A run manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The arena to create or resume.
    pub arena: ArenaSection,
    /// How the run is scheduled and when it ends.
    #[serde(default)]
    pub run: RunSection,
    /// The plugins, in manifest order (the turn order of `rounds`).
    #[serde(rename = "plugin")]
    pub plugins: Vec<PluginEntry>,
    /// The people in the loop: participants the runner runs no plugin for ([`super::person`]).
    #[serde(default, rename = "person")]
    pub persons: Vec<super::person::PersonEntry>,
}

impl Manifest {
    /// Parses a manifest.
    pub fn parse(text: &str) -> Result<Self, RunError> {
        toml::from_str(text).map_err(|e| RunError::Manifest(e.to_string()))
    }
}

/// The `[arena]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArenaSection {
    /// Resume this arena instead of creating one.
    pub id: Option<String>,
    /// The goal of a new arena.
    pub goal: Option<String>,
    /// The steps of a new arena.
    pub steps: Option<u32>,
    /// The coordinator of a new arena (default: the first coordinator plugin).
    pub coordinator: Option<String>,
    /// `peer` (the default) or `pipeline`.
    #[serde(default = "peer")]
    pub strategy: String,
    /// The stages of a pipeline, as `[[arena.stage]]` tables.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageEntry>,
    /// Recorded as the creator of a new arena.
    #[serde(default = "operator")]
    pub created_by: String,
}

fn operator() -> String {
    "operator".into()
}

fn peer() -> String {
    "peer".into()
}

/// One `[[arena.stage]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageEntry {
    /// The plugin's agent that works the stage.
    pub agent: String,
    /// The steps it owns: `N` or `N-M`, comma-separated.
    pub steps: String,
    /// The stages (agents) it waits for.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl ArenaSection {
    /// The strategy a new arena's manifest describes, coordinated by `coordinator`.
    pub(super) fn strategy(&self, coordinator: String) -> Result<Strategy, RunError> {
        match self.strategy.as_str() {
            "peer" if self.stages.is_empty() => Ok(Strategy::Peer(coordinator)),
            "peer" => Err(RunError::Manifest(
                "[[arena.stage]] needs strategy = \"pipeline\"".into(),
            )),
            "pipeline" => {
                let stages = self
                    .stages
                    .iter()
                    .map(|s| {
                        Ok(Stage {
                            agent: s.agent.clone(),
                            steps: parse_steps(&s.steps).map_err(|e| {
                                RunError::Manifest(format!("stage {}: {e}", s.agent))
                            })?,
                            depends_on: s.depends_on.clone(),
                        })
                    })
                    .collect::<Result<_, RunError>>()?;
                Ok(Strategy::Pipeline(Pipeline {
                    coordinator,
                    stages,
                }))
            }
            other => Err(RunError::Manifest(format!(
                "unknown strategy {other:?} (peer or pipeline)"
            ))),
        }
    }
}

/// How turns are scheduled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Each plugin takes its turns independently, in a thread of its own: while one waits for its
    /// model, the others act. The default.
    #[default]
    Concurrent,
    /// Lockstep: in round `n` each running plugin takes turn `n`, in manifest order. Deterministic,
    /// for tests and the demo.
    Rounds,
}

/// The `[run]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// `concurrent` (the default) or `rounds`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Turns each plugin takes at most, counting only those that acted: a turn that only waited
    /// (wrote nothing and did not fail) while another plugin worked does not count
    /// (`max_rounds` is its older name). Default 100.
    #[serde(default = "default_turns", alias = "max_rounds")]
    pub max_turns: u32,
    /// Wall-clock time the whole run may take, in milliseconds; then turns in flight are
    /// interrupted and the run ends. None by default.
    pub deadline_ms: Option<u64>,
    /// `rounds` only: a pause after each turn, in milliseconds, so that a person watching the arena
    /// (`arena serve`) can follow it. None by default.
    pub pace_ms: Option<u64>,
    /// The memory the whole team may hold at once, in MiB: a plugin's memory growth that would
    /// take the team's live plugins past it is refused, whatever its own `memory_mb`. Default:
    /// half the machine's memory ([`default_team_memory_bytes`]).
    pub memory_mb: Option<u64>,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            schedule: Schedule::default(),
            max_turns: default_turns(),
            deadline_ms: None,
            pace_ms: None,
            memory_mb: None,
        }
    }
}

fn default_turns() -> u32 {
    100
}

#[cfg(test)]
mod tests;
