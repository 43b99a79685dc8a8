//! The sandbox limits of one plugin, and the memory cap that enforces one of them.

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

/// Refuses memory growth past the cap, remembering that it did.
pub(crate) struct MemoryCap {
    pub(crate) cap: usize,
    pub(crate) refused: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.refused = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory cap of {} bytes exceeded (wanted {desired})",
                self.cap
            )));
        }
        Ok(true)
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
