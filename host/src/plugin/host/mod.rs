//! The handle interfaces as host functions, one file per interface (as wasmtime-wasi's `p2/host/`
//! does). Each is bound to the plugin's [`AgentHandle`]: one arena, one agent, its grant. An arena
//! error reaches the plugin as a value; an argument over the cap, or a host failure, traps it.

mod contribute;
mod coordinate;
mod observe;
mod read_slots;
mod share_facts;
mod steer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreContextMut, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::WasiHttpCtx;

use super::config::PluginConfig;
use super::http::OutboundHosts;
use super::limits::{HOST_CALL_FUEL, MemoryCap, PluginLimits};
use crate::types::{ArenaError, Limit};
use crate::{AgentHandle, HostError};

/// The host functions a plugin is linked to: one handle, plus the sandbox's bookkeeping.
pub(crate) struct PluginState {
    pub(crate) handle: AgentHandle,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryCap,
    pub(crate) limits: PluginLimits,
    pub(crate) config: PluginConfig,
    pub(crate) variables: WasiConfigVariables,
    pub(crate) http: WasiHttpCtx,
    pub(crate) outbound: OutboundHosts,
    /// What the plugin printed, kept to see whether it filled its cap.
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    /// Set by whoever runs the plugin to interrupt it (Ctrl-C, the run's deadline).
    pub(crate) cancel: Arc<AtomicBool>,
    /// The turn (or delivery) in progress.
    pub(crate) turn: Turn,
}

/// The budget of the turn in progress, and why it was stopped if it was.
#[derive(Debug, Default)]
pub(crate) struct Turn {
    /// When the turn's wall-clock limit runs out.
    pub(crate) deadline: Option<Instant>,
    /// Writes so far, and their argument bytes.
    pub(crate) writes: u32,
    pub(crate) write_bytes: usize,
    /// Fuel charged for the turn's host calls so far. Compiled code keeps its fuel counter to
    /// itself while it runs, so host calls are charged beside it: the turn is out of fuel when
    /// this reaches what wasm has left (last seen at an epoch tick).
    pub(crate) fuel_debt: u64,
    /// The wasm fuel left at the last epoch tick.
    pub(crate) fuel_left: u64,
    /// Why the host stopped the turn, when it did.
    pub(crate) stop: Option<Stop>,
}

/// Why the host stopped a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The wall-clock limit ran out.
    TimedOut,
    /// The run was interrupted.
    Interrupted,
    /// The plugin passed an argument over the cap.
    ArgumentTooLarge { function: &'static str, size: usize },
    /// Host calls used up the turn's fuel.
    OutOfFuel,
    /// Its stdout or stderr is full.
    OutputFull,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub(crate) type HandleResult<T> = wasmtime::Result<Result<T, ArenaError>>;

impl PluginState {
    /// Starts a turn: a fresh budget, the wall-clock limit counting from now.
    pub(crate) fn begin_turn(&mut self) {
        let deadline = Instant::now() + self.limits.turn_timeout;
        self.turn = Turn {
            deadline: Some(deadline),
            fuel_left: self.limits.fuel_per_turn,
            ..Turn::default()
        };
        self.outbound.deadline = Some(deadline);
    }

    /// Traps the plugin with `stop` recorded, so that the error names what it broke.
    pub(super) fn stop(&mut self, stop: Stop) -> wasmtime::Error {
        self.turn.stop = Some(stop);
        wasmtime::Error::msg(format!("stopped by the host: {stop:?}"))
    }

    /// Why the turn must end now, if it must: checked at every host call and every epoch tick.
    fn overdue(&self) -> Option<Stop> {
        if self.cancel.load(Ordering::Relaxed) {
            return Some(Stop::Interrupted);
        }
        if self.turn.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Stop::TimedOut);
        }
        let cap = self.limits.output_bytes;
        if self.stdout.contents().len() >= cap || self.stderr.contents().len() >= cap {
            return Some(Stop::OutputFull);
        }
        None
    }

    /// Admits a handle call whose arguments hold `size` bytes: the argument cap and the turn's
    /// limits (a trap when broken), and the call's fuel.
    fn enter(&mut self, function: &'static str, size: usize) -> wasmtime::Result<()> {
        if size > self.limits.max_argument_bytes {
            return Err(self.stop(Stop::ArgumentTooLarge { function, size }));
        }
        if let Some(stop) = self.overdue() {
            return Err(self.stop(stop));
        }
        self.turn.fuel_debt = self
            .turn
            .fuel_debt
            .saturating_add(HOST_CALL_FUEL + size as u64);
        if self.turn.fuel_debt >= self.turn.fuel_left {
            return Err(self.stop(Stop::OutOfFuel));
        }
        Ok(())
    }

    /// Serves a call that reads the arena.
    pub(crate) fn read<T>(
        &mut self,
        function: &'static str,
        size: usize,
        call: impl FnOnce(&AgentHandle) -> Result<T, HostError>,
    ) -> HandleResult<T> {
        self.enter(function, size)?;
        relay(call(&self.handle))
    }

    /// Serves a call that writes to the arena, whose text arguments are `texts`: refused with a
    /// value when the turn's write quota is spent or a text carries a configured secret.
    pub(crate) fn write<T>(
        &mut self,
        function: &'static str,
        texts: &[&str],
        call: impl FnOnce(&AgentHandle) -> Result<T, HostError>,
    ) -> HandleResult<T> {
        let size = texts.iter().map(|t| t.len()).sum::<usize>();
        self.enter(function, size)?;
        let limits = &self.limits;
        if self.turn.writes >= limits.max_writes_per_turn {
            return Ok(Err(ArenaError::LimitExceeded(Limit {
                what: "writes per turn (max_writes_per_turn)".into(),
                limit: limits.max_writes_per_turn.into(),
            })));
        }
        if self.turn.write_bytes.saturating_add(size) > limits.max_write_bytes_per_turn {
            return Ok(Err(ArenaError::LimitExceeded(Limit {
                what: "bytes written per turn (max_write_bytes_per_turn)".into(),
                limit: limits.max_write_bytes_per_turn as u64,
            })));
        }
        if texts.iter().any(|t| self.config.leaks(t)) {
            return Ok(Err(ArenaError::InvalidInput(format!(
                "{function}: the arguments carry a secret from the plugin's configuration, \
                 which never reaches the arena"
            ))));
        }
        self.turn.writes += 1;
        self.turn.write_bytes += size;
        relay(call(&self.handle))
    }
}

/// Passes an arena error to the plugin as a value; anything else (an arena trap, a host failure)
/// traps the plugin.
fn relay<T>(result: Result<T, HostError>) -> HandleResult<T> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(HostError::Arena(error)) => Ok(Err(error)),
        Err(other) => Err(wasmtime::Error::msg(other.to_string())),
    }
}

/// Runs at every epoch tick while the plugin executes wasm: takes note of the fuel wasm has left
/// (host calls are charged against it), and interrupts the plugin once its turn is out of fuel or
/// overdue.
pub(crate) fn on_epoch(
    mut store: StoreContextMut<'_, PluginState>,
) -> wasmtime::Result<UpdateDeadline> {
    let fuel = store.get_fuel()?;
    let state = store.data_mut();
    state.turn.fuel_left = fuel;
    if state.turn.fuel_debt >= fuel {
        return Err(state.stop(Stop::OutOfFuel));
    }
    if let Some(stop) = state.overdue() {
        return Err(state.stop(stop));
    }
    Ok(UpdateDeadline::Continue(1))
}

/// Bytes of a metadata list, keys and values.
pub(crate) fn metadata_texts(metadata: &[(String, String)]) -> impl Iterator<Item = &str> {
    metadata.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])
}
