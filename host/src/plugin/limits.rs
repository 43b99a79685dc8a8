//! The sandbox limits of one plugin, the memory a whole team shares, and the memory cap that
//! enforces both.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Per-plugin sandbox limits. Every quantity a plugin can make grow has one; each error that
/// enforces a limit names it by its manifest key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginLimits {
    /// Largest linear memory, in bytes (`memory_mb`). Default 64 MiB.
    pub memory_bytes: usize,
    /// Fuel (roughly, wasm instructions) one turn may burn (`fuel`). Every handle call is charged
    /// [`HOST_CALL_FUEL`] plus its argument bytes against the same budget, so a loop of
    /// cheap-looking calls runs out too.
    /// Default 1 000 000 000 (about a second of wasm).
    pub fuel_per_turn: u64,
    /// Wall-clock time one turn may take, time blocked in host calls and outbound HTTP included
    /// (`turn_timeout_ms`). Default 120 s.
    pub turn_timeout: Duration,
    /// Largest argument the plugin may pass to one handle call, in bytes, strings and lists summed
    /// (`max_argument_bytes`). Default 128 KiB: room for the largest artifact.
    pub max_argument_bytes: usize,
    /// Handle calls that write to the arena in one turn (`max_writes_per_turn`); past it a write is
    /// refused with `limit-exceeded`. Default 1,000.
    pub max_writes_per_turn: u32,
    /// Argument bytes of the writes of one turn (`max_write_bytes_per_turn`); past it a write is
    /// refused with `limit-exceeded`. Default 4 MiB.
    pub max_write_bytes_per_turn: usize,
    /// Stdout and stderr kept per plugin and run, each, in bytes (`output_bytes`); a plugin that
    /// fills either is stopped, whether or not it heeds the write errors. Default 64 KiB.
    pub output_bytes: usize,
    /// The longest turn report kept (`report_bytes`); a longer one is truncated with a note.
    /// Default 64 KiB.
    pub report_bytes: usize,
}

/// Fuel one handle call costs, besides one unit per argument byte: about what the host spends
/// serving it, so that a plugin cannot hide its work in host calls.
pub const HOST_CALL_FUEL: u64 = 20_000;

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_bytes: 64 << 20,
            fuel_per_turn: 1_000_000_000,
            turn_timeout: Duration::from_secs(120),
            max_argument_bytes: 128 << 10,
            max_writes_per_turn: 1_000,
            max_write_bytes_per_turn: 4 << 20,
            output_bytes: 64 << 10,
            report_bytes: 64 << 10,
        }
    }
}

/// The memory a whole team of plugins may hold at once (`[run] memory_mb`): every plugin's Store
/// reserves its linear memory's growth here, and gives it back when it is dropped. Growth that
/// would take the team past the cap is refused, however far the plugin is from its own cap.
#[derive(Debug)]
pub struct TeamMemory {
    cap: usize,
    used: AtomicUsize,
}

impl TeamMemory {
    /// A budget of `cap` bytes, none of it used.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(TeamMemory {
            cap,
            used: AtomicUsize::new(0),
        })
    }

    /// The cap, in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The bytes the team's live Stores hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// Reserves `bytes`, or says how much was in use when they did not fit.
    fn reserve(&self, bytes: usize) -> Result<(), usize> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.cap)
            })
            .map(|_| ())
    }

    fn release(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// Why memory growth was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Past the plugin's own cap: it wanted this many bytes.
    Own { wanted: usize },
    /// Past the team's: growing by `growth` bytes while the team held `used`, of `cap`.
    Team {
        growth: usize,
        used: usize,
        cap: usize,
    },
}

/// Refuses memory growth past the plugin's cap or the team's, remembering that it did. What it
/// reserved of the team's memory it gives back when the Store drops it.
pub(crate) struct MemoryCap {
    pub(crate) cap: usize,
    pub(crate) refused: Option<Refusal>,
    team: Option<Arc<TeamMemory>>,
    /// Bytes reserved of the team's memory.
    held: usize,
    /// The last growth reserved, given back if the growth fails after all.
    pending: usize,
}

impl MemoryCap {
    /// A cap of `cap` bytes, within `team`'s memory if there is one.
    pub(crate) fn new(cap: usize, team: Option<Arc<TeamMemory>>) -> Self {
        MemoryCap {
            cap,
            refused: None,
            team,
            held: 0,
            pending: 0,
        }
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        if let Some(team) = &self.team {
            team.release(self.held);
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.refused = Some(Refusal::Own { wanted: desired });
            return Err(wasmtime::Error::msg(format!(
                "memory cap of {} bytes exceeded (wanted {desired})",
                self.cap
            )));
        }
        let growth = desired.saturating_sub(current);
        if let Some(team) = &self.team {
            if let Err(used) = team.reserve(growth) {
                let cap = team.cap();
                self.refused = Some(Refusal::Team { growth, used, cap });
                return Err(wasmtime::Error::msg(format!(
                    "the team's memory cap of {cap} bytes exceeded (growing by {growth} with \
                     {used} in use)"
                )));
            }
            self.held += growth;
        }
        self.pending = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        if let Some(team) = &self.team {
            team.release(self.pending);
            self.held = self.held.saturating_sub(self.pending);
        }
        self.pending = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_team_is_refused_and_a_dropped_store_gives_its_memory_back() {
        let team = TeamMemory::new(100);
        let mut a = MemoryCap::new(80, Some(team.clone()));
        let mut b = MemoryCap::new(80, Some(team.clone()));
        assert!(a.memory_growing(0, 60, None).unwrap());
        assert!(b.memory_growing(0, 40, None).unwrap());
        assert_eq!(team.used(), 100);
        // Within b's own cap, past the team's.
        assert!(b.memory_growing(40, 41, None).is_err());
        assert_eq!(
            b.refused,
            Some(Refusal::Team {
                growth: 1,
                used: 100,
                cap: 100
            })
        );
        // Past a's own cap: refused as its own, whatever the team holds.
        assert!(a.memory_growing(60, 81, None).is_err());
        assert_eq!(a.refused, Some(Refusal::Own { wanted: 81 }));
        drop(a);
        assert_eq!(team.used(), 40);
        assert!(b.memory_growing(40, 80, None).unwrap());
        // A growth that failed after it was allowed is given back.
        b.memory_grow_failed(wasmtime::Error::msg("no")).unwrap();
        assert_eq!(team.used(), 40);
        drop(b);
        assert_eq!(team.used(), 0);
    }
}
