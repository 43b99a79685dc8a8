//! Where an arena stands in its lifecycle, and how it ended.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an arena is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArenaStatus {
    /// Set up: participants may join and leave; no work yet.
    Created,
    /// At work.
    Active,
    /// Work is over; the coordinator merges before archiving.
    Settling,
    /// Closed for good; everything stays readable.
    Archived,
}

impl ArenaStatus {
    /// The state's name as the WIT and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ArenaStatus::Created => "created",
            ArenaStatus::Active => "active",
            ArenaStatus::Settling => "settling",
            ArenaStatus::Archived => "archived",
        }
    }
}

impl fmt::Display for ArenaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an archived arena ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Archived after settling.
    Completed,
    /// Aborted, with the coordinator's reason.
    Aborted(String),
}
