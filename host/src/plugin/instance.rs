//! A live plugin: its own Store, bound to one arena and one agent, taking turns.
//!
//! Every turn (and every delivery of events to a subscriber) gets a fresh fuel budget, a fresh write
//! quota, and a wall-clock limit counted by the engine's epoch: at each tick the Store charges the
//! fuel its host calls owe and interrupts the plugin once the turn is overdue, the run is
//! interrupted, or its output is full. A plugin that breaks a limit or traps is stopped for the rest
//! of the run; the arena keeps exactly what its completed handle calls committed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wasmtime::component::{ResourceTable, TypedFunc};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;

use arena_bindings::agent::Agent;

use super::engine::PreparedPlugin;
use super::host::{PluginState, Stop, Turn, on_epoch};
use super::http::OutboundHosts;
use super::limits::{MemoryCap, Refusal};
use super::{PluginError, PluginErrorKind, PluginSpec};
use crate::AgentHandle;
use crate::types::{Event, Permission};

/// What one turn of one plugin did.
#[derive(Debug)]
pub struct TurnReport {
    /// The plugin's name.
    pub plugin: String,
    /// The agent it acts as.
    pub agent: String,
    /// The turn number, from 1.
    pub turn: u32,
    /// The plugin's own report, its error text, or why it was stopped (secrets redacted).
    pub outcome: TurnOutcome,
    /// What it wrote to stdout and stderr during the turn (secrets redacted).
    pub output: String,
    /// Fuel the turn burned, host calls included.
    pub fuel: u64,
}

/// How a turn ended.
#[derive(Debug)]
pub enum TurnOutcome {
    /// The plugin returned `ok(report)`.
    Done(String),
    /// The plugin returned `err(text)`; it keeps its turns.
    Failed(String),
    /// The plugin broke a limit or trapped, and was stopped for the rest of the run.
    Stopped(PluginError),
}

/// How a delivery of events to a subscriber ended.
#[derive(Debug)]
pub enum Delivery {
    /// The subscriber accepted the batch; its cursor may move past it.
    Accepted,
    /// The subscriber returned an error; the same events come again later.
    Refused(String),
    /// The subscriber broke a limit or trapped and was stopped.
    Stopped(PluginError),
}

type OnEvents = TypedFunc<(Vec<Event>,), (Result<(), String>,)>;

/// A live plugin instance in its own Store, bound to one arena and one agent.
pub struct Plugin {
    name: String,
    agent: String,
    store: Store<PluginState>,
    bindings: Agent,
    /// Bytes of stdout and stderr already reported.
    reported: (usize, usize),
    stopped: bool,
    /// The `subscriber.on-events` export, when the plugin has one and its grant holds `observe`.
    on_events: Option<OnEvents>,
}

impl Plugin {
    /// A Store for `spec` bound to `handle`: default-deny WASI with captured output, its
    /// configuration, the memory cap, and the epoch callback that enforces the turn's limits.
    fn store(spec: &PluginSpec, handle: AgentHandle, engine: &Engine) -> Store<PluginState> {
        let stdout = MemoryOutputPipe::new(spec.limits.output_bytes);
        let stderr = MemoryOutputPipe::new(spec.limits.output_bytes);
        let state = PluginState {
            handle,
            wasi: WasiCtx::builder()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .build(),
            table: ResourceTable::new(),
            limiter: MemoryCap::new(spec.limits.memory_bytes, spec.team_memory.clone()),
            limits: spec.limits.clone(),
            variables: spec.config.variables(),
            config: spec.config.clone(),
            http: WasiHttpCtx::new(),
            outbound: OutboundHosts::new(&spec.allowed_outbound_hosts),
            stdout,
            stderr,
            cancel: spec.cancel.clone(),
            turn: Turn::default(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(on_epoch);
        store.set_epoch_deadline(1);
        store
    }

    pub(super) fn start(
        prepared: &PreparedPlugin,
        handle: AgentHandle,
    ) -> Result<Self, PluginError> {
        let spec = &prepared.spec;
        let mut store = Self::store(spec, handle, &prepared.engine);
        store.data_mut().begin_turn();
        let observes = store.data().handle.grant().contains(&Permission::Observe);
        let instantiated = store.set_fuel(spec.limits.fuel_per_turn).and_then(|()| {
            let instance = prepared.pre.instance_pre().instantiate(&mut store)?;
            let bindings = prepared.indices.load(&mut store, &instance)?;
            let on_events = match prepared.on_events {
                Some(func) if observes => Some(
                    instance
                        .get_typed_func::<(Vec<Event>,), (Result<(), String>,)>(&mut store, func)?,
                ),
                _ => None,
            };
            Ok((bindings, on_events))
        });
        let (bindings, on_events) =
            instantiated.map_err(|e| classify(&spec.name, &spec.agent, store.data(), e))?;
        Ok(Plugin {
            name: spec.name.clone(),
            agent: spec.agent.clone(),
            store,
            bindings,
            reported: (0, 0),
            stopped: false,
            on_events,
        })
    }

    /// Stops the plugin after a trap (its Store is unusable now) and names what it broke.
    fn stop(&mut self, trap: wasmtime::Error) -> PluginError {
        self.stopped = true;
        let error = classify(&self.name, &self.agent, self.store.data(), trap);
        tracing::warn!(plugin = %self.name, agent = %self.agent, "{error}");
        error
    }

    /// Whether the plugin receives events: it exports `subscriber` and its grant holds `observe`.
    pub fn subscribes(&self) -> bool {
        self.on_events.is_some() && !self.stopped
    }

    /// The handle the plugin is bound to.
    pub fn handle(&self) -> &AgentHandle {
        &self.store.data().handle
    }

    /// Begins a turn or a delivery: a fresh fuel budget, write quota and wall-clock limit.
    fn begin(&mut self) -> wasmtime::Result<()> {
        self.store.data_mut().begin_turn();
        let fuel = self.store.data().limits.fuel_per_turn;
        self.store.set_fuel(fuel)
    }

    /// Hands the subscriber a batch of events, in order, with a turn's budget. A trap or a broken
    /// limit stops the plugin; the caller's cursor then stays where it was.
    pub fn deliver(&mut self, events: Vec<Event>) -> Delivery {
        let Some(on_events) = self.on_events.filter(|_| !self.stopped) else {
            return Delivery::Refused("not a subscriber".into());
        };
        let result = self
            .begin()
            .and_then(|()| on_events.call(&mut self.store, (events,)));
        match result {
            Ok((Ok(()),)) => Delivery::Accepted,
            Ok((Err(text),)) => Delivery::Refused(self.redact(&text)),
            Err(trap) => Delivery::Stopped(self.stop(trap)),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent it acts as.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Whether it was stopped for breaking a limit or trapping.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The wall-clock limit of one of its turns.
    pub fn turn_timeout(&self) -> std::time::Duration {
        self.store.data().limits.turn_timeout
    }

    /// Stops the plugin from outside (its turn ran past the limit while blocked where the host
    /// could not interrupt it, say): it takes no more turns.
    pub fn mark_stopped(&mut self) {
        self.stopped = true;
    }

    /// Lets the plugin act once, within its limits. A trap or a broken limit stops the plugin for
    /// the rest of the run; the arena keeps exactly what its completed handle calls committed.
    pub fn turn(&mut self, turn: u32) -> TurnReport {
        let outcome = if self.stopped {
            TurnOutcome::Stopped(PluginErrorKind::Stopped.of(&self.name, &self.agent))
        } else {
            let result = self.begin().and_then(|()| {
                self.bindings
                    .arena_core_plugin()
                    .call_turn(&mut self.store, turn)
            });
            // A full stdout counts even when the plugin ignored the write errors and returned.
            let result = match (result, self.store.data().turn.stop) {
                (Ok(_), None) if self.output_full() => {
                    self.store.data_mut().turn.stop = Some(Stop::OutputFull);
                    Err(wasmtime::Error::msg("output full"))
                }
                (result, _) => result,
            };
            match result {
                Ok(Ok(report)) => TurnOutcome::Done(self.report_text(&report)),
                Ok(Err(text)) => TurnOutcome::Failed(self.report_text(&text)),
                Err(trap) => TurnOutcome::Stopped(self.stop(trap)),
            }
        };
        let state = self.store.data();
        let wasm = state
            .limits
            .fuel_per_turn
            .saturating_sub(self.store.get_fuel().unwrap_or(0));
        let fuel = wasm.saturating_add(state.turn.fuel_debt);
        TurnReport {
            plugin: self.name.clone(),
            agent: self.agent.clone(),
            turn,
            outcome,
            output: self.new_output(),
            fuel,
        }
    }

    fn output_full(&self) -> bool {
        let state = self.store.data();
        let cap = state.limits.output_bytes;
        state.stdout.contents().len() >= cap || state.stderr.contents().len() >= cap
    }

    fn redact(&self, text: &str) -> String {
        self.store.data().config.redact(text).into_owned()
    }

    /// A turn's report or error text: secrets redacted, cut to `report_bytes` with a note.
    fn report_text(&self, text: &str) -> String {
        let cap = self.store.data().limits.report_bytes;
        let text = self.redact(text);
        if text.len() <= cap {
            return text;
        }
        let mut end = cap;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}… [truncated: {} bytes, over the report cap of {cap} bytes (report_bytes)]",
            &text[..end],
            text.len()
        )
    }

    /// What the plugin wrote since the last report, stdout then stderr, secrets redacted.
    fn new_output(&mut self) -> String {
        let mut text = String::new();
        let state = self.store.data();
        for (pipe, seen) in [
            (&state.stdout, &mut self.reported.0),
            (&state.stderr, &mut self.reported.1),
        ] {
            let bytes = pipe.contents();
            if bytes.len() > *seen {
                text.push_str(&String::from_utf8_lossy(&bytes[*seen..]));
                *seen = bytes.len();
            }
        }
        state.config.redact(&text).into_owned()
    }
}

/// Names the limit a trap broke, or reports the trap with its wasm backtrace (secrets redacted).
fn classify(plugin: &str, agent: &str, state: &PluginState, trap: wasmtime::Error) -> PluginError {
    let limits = &state.limits;
    let kind = match (state.turn.stop, state.limiter.refused) {
        (Some(Stop::ArgumentTooLarge { function, size }), _) => PluginErrorKind::ArgumentTooLarge {
            function,
            size,
            cap: limits.max_argument_bytes,
        },
        (Some(Stop::TimedOut), _) => PluginErrorKind::TurnTimeout {
            limit_ms: limits.turn_timeout.as_millis() as u64,
        },
        (Some(Stop::Interrupted), _) => PluginErrorKind::Interrupted,
        (Some(Stop::OutputFull), _) => PluginErrorKind::OutputFull {
            cap: limits.output_bytes,
        },
        (Some(Stop::OutOfFuel), _) => PluginErrorKind::Deadline {
            fuel: limits.fuel_per_turn,
        },
        (None, Some(Refusal::Own { wanted })) => PluginErrorKind::MemoryCap {
            wanted,
            cap: state.limiter.cap,
        },
        (None, Some(Refusal::Team { growth, used, cap })) => {
            PluginErrorKind::TeamMemoryCap { growth, used, cap }
        }
        (None, None) if trap.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) => {
            PluginErrorKind::Deadline {
                fuel: limits.fuel_per_turn,
            }
        }
        (None, None) => PluginErrorKind::Trap {
            message: state.config.redact(&format!("{trap:?}")).into_owned(),
        },
    };
    kind.of(plugin, agent)
}

/// A flag that interrupts every plugin holding it.
pub fn cancel_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
