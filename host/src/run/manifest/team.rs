//! The team's memory: `[run] memory_mb`, one budget for what all the run's plugins hold at once.

use std::sync::Arc;

use super::RunSection;
use crate::plugin::TeamMemory;
use crate::run::RunError;

impl RunSection {
    /// The team's memory cap in bytes: `memory_mb`, or [`default_team_memory_bytes`].
    pub fn team_memory_bytes(&self) -> u64 {
        self.memory_mb
            .map_or_else(default_team_memory_bytes, |mb| mb.saturating_mul(1 << 20))
    }

    /// The memory the team shares, every byte of it free: refused, naming the key, when
    /// `memory_mb` leaves no room at all.
    pub fn team_memory(&self) -> Result<Arc<TeamMemory>, RunError> {
        if self.memory_mb == Some(0) {
            return Err(RunError::Manifest(
                "[run] memory_mb is 0: the team would have no memory to run in".into(),
            ));
        }
        let cap = usize::try_from(self.team_memory_bytes()).unwrap_or(usize::MAX);
        Ok(TeamMemory::new(cap))
    }
}

/// The team's memory cap when `[run] memory_mb` is not set: half the machine's memory as
/// `/proc/meminfo` gives it, or 4 GiB where it cannot be read.
pub fn default_team_memory_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        });
    total.map_or(4 << 30, |bytes| bytes / 2)
}
