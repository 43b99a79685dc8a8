//! Runs arenas of plugins described in a TOML manifest.
//!
//! ```toml
//! [arena]
//! goal = "Write a field guide"      # a new arena (or `id = "…"` to resume one; resume never re-creates,
//!                                   # and the arena's coordinator invites plugins not yet participants)
//! steps = 6
//! coordinator = "lead"              # optional: the first coordinator plugin by default
//!
//! [run]
//! schedule = "concurrent"           # or "rounds": lockstep, deterministic
//! max_turns = 100                   # per plugin (`max_rounds` is read too)
//! deadline_ms = 600000              # optional: the whole run's wall-clock limit
//! memory_mb = 4096                  # optional: the memory the whole team may hold at once
//!
//! [[plugin]]
//! agent = "lead"
//! role = "coordinator"              # coordinator, worker or observer
//! component = "lead.wasm"           # a path relative to the manifest, or builtin:NAME
//! permissions = ["observe", "coordinate"]   # optional: narrows the role
//! memory_mb = 64                    # optional limits
//! fuel = 1000000000
//! turn_timeout_ms = 120000
//! idle_ms = 1000
//! max_argument_bytes = 131072
//! max_writes_per_turn = 1000
//! max_write_bytes_per_turn = 4194304
//! output_bytes = 65536
//! allowed_outbound_hosts = ["https://api.example.com"]   # optional: wasi:http to these hosts only
//!
//! [plugin.config]                   # read through wasi:config/store
//! model = "llama3.2"
//! api_key = { env = "ARENA_LLM_API_KEY" }   # from the environment: a secret
//!
//! [[person]]                        # a person in the loop: no plugin; the run waits for them
//! agent = "rita"
//! role = "worker"
//! ```
//!
//! Before anything is compiled or any arena created, every entry is read (config and secrets
//! included), and every plugin's imports are checked against its grant; then every plugin is
//! compiled, linked and its exports checked, still before the arena is created. Then the run
//! goes by its schedule ([`concurrent`] or [`rounds`]) until the arena is archived, every plugin
//! has stopped, each has taken `max_turns`, the deadline passes, or it is interrupted.

mod concurrent;
pub mod manifest;
mod model_config;
pub mod person;
mod rounds;
mod turn;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use manifest::{Manifest, PluginEntry, RunSection, Schedule};

use crate::plugin::{
    Delivery, Plugin, PluginEngine, PluginError, TurnOutcome, TurnReport, check_imports,
};
use crate::types::{ArenaConfig, ArenaInfo, ArenaStatus, Permission, Strategy};
use crate::{ArenaHost, HostError, default_coordinator};
use manifest::declared_grant;

/// The sample plugins built into the program, by the name `builtin:NAME` uses.
pub const BUILTIN_PLUGINS: [(&str, &[u8]); 8] = [
    (
        "coordinator",
        include_bytes!(concat!(
            env!("ARENA_GUEST_DIR"),
            "/example_coordinator.wasm"
        )),
    ),
    (
        "worker",
        include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/example_worker.wasm")),
    ),
    (
        "observer",
        include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/example_observer.wasm")),
    ),
    (
        "drafter",
        include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/example_drafter.wasm")),
    ),
    (
        "reviewer",
        include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/example_reviewer.wasm")),
    ),
    (
        "llm-worker",
        include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/example_llm_worker.wasm")),
    ),
    // The model agent: `builtin:llm-agent` names it for every role; a grant with `steer` or
    // `coordinate` gets the build that imports them too (see `PluginEntry::component`).
    (
        "llm-agent",
        include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/example_llm_agent.wasm")),
    ),
    (
        LLM_AGENT_LEAD,
        include_bytes!(concat!(
            env!("ARENA_GUEST_DIR"),
            "/example_llm_agent_coordinator.wasm"
        )),
    ),
];

/// The build of `builtin:llm-agent` that also imports `steer` and `coordinate`.
pub const LLM_AGENT_LEAD: &str = "llm-agent-coordinator";

/// The manifest `arena demo` runs.
pub const DEMO_MANIFEST: &str = include_str!("demo.toml");

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The manifest is malformed or names something that does not exist.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A plugin was refused before the run (its imports, its exports, its bytes).
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The arena host failed.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// How a run ended.
#[derive(Debug)]
pub struct RunSummary {
    /// The arena that ran.
    pub arena: String,
    /// Turns taken by the plugin that took the most (in `rounds`, the rounds played).
    pub rounds: u32,
    /// The arena's status at the end.
    pub status: ArenaStatus,
    /// Plugins stopped for breaking a limit or trapping.
    pub stopped: Vec<String>,
    /// Every batch of events a subscriber accepted, in delivery order.
    pub delivered: Vec<Delivered>,
}

/// A batch of events a subscriber accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The subscriber's agent.
    pub agent: String,
    /// The first sequence number of the batch.
    pub first: u64,
    /// The last sequence number of the batch.
    pub last: u64,
}

/// What a run reports while it goes: the CLI's progress display and turn log.
pub trait Observer {
    /// `agent` (plugin `plugin`) began turn `turn`.
    fn turn_started(&mut self, _plugin: &str, _agent: &str, _turn: u32) {}
    /// A turn ended.
    fn turn_ended(&mut self, report: &TurnReport);
    /// The arena's steps done, of its total, after a turn.
    fn progress(&mut self, _completed: u32, _total: u32) {}
    /// The run is about to start on `arena`, whose `persons` act from outside (the run waits for
    /// them).
    fn persons(&mut self, _arena: &str, _persons: &[String]) {}
}

/// Observes only the turns' reports.
struct Reports<F>(F);

impl<F: FnMut(&TurnReport)> Observer for Reports<F> {
    fn turn_ended(&mut self, report: &TurnReport) {
        (self.0)(report)
    }
}

/// Stops a run from outside: Ctrl-C sets it. Turns in flight are interrupted, nothing acknowledged
/// is lost, and the arena stays as its completed calls left it.
#[derive(Clone, Debug, Default)]
pub struct RunControl {
    stop: Arc<AtomicBool>,
}

impl RunControl {
    /// A control nobody has stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the run was asked to stop.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs `manifest` (whose relative paths start at `base`) on `host`, telling `observer` about every
/// turn.
pub fn run(
    host: &ArenaHost,
    engine: &PluginEngine,
    manifest: &Manifest,
    base: &Path,
    report: impl FnMut(&TurnReport),
) -> Result<RunSummary, RunError> {
    let mut observer = Reports(report);
    run_with(
        host,
        engine,
        manifest,
        base,
        &RunControl::new(),
        &mut observer,
    )
}

/// Checks what can be checked of `manifest` without a database: every plugin entry (its component
/// read within its size cap, its limits, config and secrets), the team's memory, the participants,
/// and that a new arena has its goal and steps. `arena run` calls it before it opens the database,
/// so that a refused manifest leaves no file behind.
pub fn check(manifest: &Manifest, base: &Path) -> Result<(), RunError> {
    read_plugins(manifest, base)?;
    if manifest.arena.id.is_none()
        && (manifest.arena.goal.is_none() || manifest.arena.steps.is_none())
    {
        return Err(RunError::Manifest(
            "[arena] needs `goal` and `steps` for a new arena, or `id` to resume one".into(),
        ));
    }
    Ok(())
}

/// The plugins of `manifest` (whose relative paths start at `base`), sharing their team's memory,
/// and the participants they declare.
fn read_plugins(
    manifest: &Manifest,
    base: &Path,
) -> Result<
    (
        Vec<crate::plugin::PluginSpec>,
        Vec<crate::types::ParticipantSpec>,
    ),
    RunError,
> {
    if manifest.plugins.is_empty() {
        return Err(RunError::Manifest("no [[plugin]] entries".into()));
    }
    // The built-in model plugins' settings, before anything is compiled or any model called.
    for entry in &manifest.plugins {
        model_config::check(entry)?;
    }
    let env = |name: &str| std::env::var(name).ok();
    let mut specs = manifest
        .plugins
        .iter()
        .map(|entry| entry.spec(base, env))
        .collect::<Result<Vec<_>, _>>()?;
    // Plugins of one component share its bytes, so that the engine hashes them once.
    for i in 1..specs.len() {
        if let Some(first) = specs[..i].iter().position(|s| s.name == specs[i].name) {
            specs[i].component = specs[first].component.clone();
        }
    }
    // One budget for the whole team: what its live plugins hold, not what they may.
    let team_memory = manifest.run.team_memory()?;
    for spec in &mut specs {
        spec.team_memory = Some(team_memory.clone());
    }
    let mut participants = manifest
        .plugins
        .iter()
        .map(PluginEntry::participant)
        .collect::<Result<Vec<_>, _>>()?;
    for person in &manifest.persons {
        if participants.iter().any(|p| p.agent == person.agent) {
            return Err(RunError::Manifest(format!(
                "person {}: the agent is declared twice (a person runs no plugin)",
                person.agent
            )));
        }
        participants.push(person.participant()?);
    }
    Ok((specs, participants))
}

/// The participant who invites a resumed run's newcomers: the strategy's coordinator, or else
/// the first participant (by agent) holding `coordinate`.
fn inviting_coordinator(info: &ArenaInfo) -> Result<String, RunError> {
    let coordinates = |agent: &str| {
        info.participants
            .iter()
            .any(|p| p.agent == agent && p.permissions.contains(&Permission::Coordinate))
    };
    let named = match &info.strategy {
        Strategy::Peer(coordinator) => coordinator,
        Strategy::Pipeline(pipeline) => &pipeline.coordinator,
    };
    if coordinates(named) {
        return Ok(named.clone());
    }
    info.participants
        .iter()
        .find(|p| p.permissions.contains(&Permission::Coordinate))
        .map(|p| p.agent.clone())
        .ok_or_else(|| {
            RunError::Manifest(format!(
                "arena {} has plugins that are not participants, and no participant holding \
                 coordinate to invite them",
                info.id
            ))
        })
}

/// [`run`], stoppable through `control`.
pub fn run_with(
    host: &ArenaHost,
    engine: &PluginEngine,
    manifest: &Manifest,
    base: &Path,
    control: &RunControl,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    let (specs, participants) = read_plugins(manifest, base)?;

    // The grants: what the arena says now when resuming, else what its creation will declare.
    let resumed = manifest
        .arena
        .id
        .as_ref()
        .map(|id| host.get(id))
        .transpose()?;
    // When resuming, a plugin whose agent is not a participant (another team carrying on a fork)
    // is invited by the arena's coordinator once every plugin is checked; its grant is what that
    // invitation will declare.
    let mut newcomers = Vec::new();
    let grants: Vec<_> = match &resumed {
        Some(info) => specs
            .iter()
            .zip(&participants)
            .map(|(spec, declared)| {
                match info.participants.iter().find(|p| p.agent == spec.agent) {
                    Some(p) => p.permissions.clone(),
                    None => {
                        newcomers.push(declared.clone());
                        declared_grant(declared)
                    }
                }
            })
            .collect(),
        None => participants.iter().map(declared_grant).collect(),
    };
    let inviter = match &resumed {
        Some(info) if !newcomers.is_empty() => Some(inviting_coordinator(info)?),
        _ => None,
    };
    for (spec, grant) in specs.iter().zip(&grants) {
        check_imports(spec, grant)?;
    }
    // Compiled, linked and exports checked before anything is created.
    let prepared = specs
        .iter()
        .zip(&grants)
        .map(|(spec, grant)| engine.prepare(spec, grant))
        .collect::<Result<Vec<_>, _>>()?;

    let arena = match (&manifest.arena.id, resumed) {
        (Some(id), Some(_)) => {
            if let Some(inviter) = &inviter {
                let handle = host.handle(id, inviter)?;
                for newcomer in &newcomers {
                    handle.invite(newcomer)?;
                }
            }
            id.clone()
        }
        _ => {
            let (Some(goal), Some(steps)) = (&manifest.arena.goal, manifest.arena.steps) else {
                return Err(RunError::Manifest(
                    "[arena] needs `goal` and `steps` for a new arena, or `id` to resume one"
                        .into(),
                ));
            };
            let coordinator = match &manifest.arena.coordinator {
                Some(c) => c.clone(),
                None => default_coordinator(&participants)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        RunError::Manifest("no plugin has the coordinator role".into())
                    })?,
            };
            host.create(&ArenaConfig {
                goal: goal.clone(),
                total_steps: steps,
                strategy: manifest.arena.strategy(coordinator)?,
                participants,
                created_by: manifest.arena.created_by.clone(),
            })?
        }
    };

    let mut plugins = Vec::with_capacity(prepared.len());
    for (prepared, spec) in prepared.iter().zip(&specs) {
        let handle = host.handle_with_grant(&arena, &spec.agent, prepared.grant().to_vec());
        plugins.push(prepared.instantiate(handle)?);
    }
    let persons: Vec<String> = manifest.persons.iter().map(|p| p.agent.clone()).collect();
    if !persons.is_empty() {
        observer.persons(&arena, &persons);
    }
    let deadline = manifest
        .run
        .deadline_ms
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let run = Run {
        host,
        arena: &arena,
        control,
        deadline,
        max_turns: manifest.run.max_turns,
        pace: manifest.run.pace_ms.map(Duration::from_millis),
        persons: &persons,
    };
    let cancels: Vec<_> = specs.iter().map(|s| s.cancel.clone()).collect();
    let outcome = match manifest.run.schedule {
        Schedule::Rounds => rounds::run(&run, plugins, cancels, observer)?,
        Schedule::Concurrent => {
            let idle = manifest.plugins.iter().map(PluginEntry::idle).collect();
            concurrent::run(&run, plugins, idle, cancels, observer)?
        }
    };
    Ok(RunSummary {
        status: host.get(&arena)?.status,
        arena,
        rounds: outcome.turns,
        stopped: outcome.stopped,
        delivered: outcome.delivered,
    })
}

/// What a schedule needs to know about the run.
struct Run<'a> {
    host: &'a ArenaHost,
    arena: &'a str,
    control: &'a RunControl,
    deadline: Option<Instant>,
    max_turns: u32,
    /// The pause after each turn (`pace_ms`).
    pace: Option<Duration>,
    /// The agents of the manifest's `[[person]]` tables: the run waits for them.
    persons: &'a [String],
}

impl Run<'_> {
    /// Whether the run must end now: stopped from outside, or past its deadline.
    fn ending(&self) -> bool {
        self.control.is_stopped() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Pauses for the run's pace, if it has one, waking early when the run must end.
    fn pause(&self) {
        let Some(pace) = self.pace else { return };
        let until = Instant::now() + pace;
        while !self.ending() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }

    /// Whether the run waits for a person ([`person::waiting_for_person`]).
    fn waiting_for_person(&self) -> Result<bool, RunError> {
        person::waiting_for_person(self.host, self.arena, self.persons)
    }

    fn archived(&self) -> Result<bool, HostError> {
        Ok(self.host.get(self.arena)?.status == ArenaStatus::Archived)
    }

    fn progress(&self, observer: &mut dyn Observer) {
        if let Ok(info) = self.host.get(self.arena) {
            observer.progress(info.aggregate.completed_steps, info.aggregate.total_steps);
        }
    }
}

/// How a schedule ended.
struct Outcome {
    /// The most turns any plugin took.
    turns: u32,
    /// The plugins stopped, as `name (agent)`.
    stopped: Vec<String>,
    /// The batches subscribers accepted, in delivery order.
    delivered: Vec<Delivered>,
}

/// Events handed to a subscriber at once; it catches up over several deliveries.
pub const DELIVERY_BATCH: u32 = 100;

/// What one delivery to a subscriber came to.
enum Handed {
    /// Nothing to deliver, or the subscriber refused the batch (it comes again later).
    Nothing,
    /// The subscriber accepted a batch; its cursor moved past it.
    Accepted(Delivered),
    /// The subscriber broke a limit or trapped and was stopped.
    Stopped(TurnReport),
}

/// Delivers `plugin` (a subscriber) the next batch of events after its durable cursor, and moves
/// the cursor past what it accepted. Subscribers hear about commits between turns, never inside a
/// writer's call.
fn deliver(
    host: &ArenaHost,
    arena: &str,
    turn: u32,
    plugin: &mut Plugin,
) -> Result<Handed, RunError> {
    if !plugin.subscribes() {
        return Ok(Handed::Nothing);
    }
    let agent = plugin.agent().to_string();
    let cursor = host.cursor(arena, &agent)?;
    // Read through the subscriber's own handle: an agent that left hears nothing more.
    let events = match plugin.handle().events(cursor, DELIVERY_BATCH) {
        Ok(events) => events,
        Err(HostError::Arena(_)) => return Ok(Handed::Nothing),
        Err(other) => return Err(other.into()),
    };
    let (Some(first), Some(last)) = (events.first().map(|e| e.seq), events.last().map(|e| e.seq))
    else {
        return Ok(Handed::Nothing);
    };
    Ok(match plugin.deliver(events) {
        Delivery::Accepted => {
            host.advance_cursor(arena, &agent, last)?;
            Handed::Accepted(Delivered { agent, first, last })
        }
        Delivery::Refused(text) => {
            tracing::warn!(%agent, "subscriber refused events {first}..={last}: {text}");
            Handed::Nothing
        }
        Delivery::Stopped(error) => Handed::Stopped(TurnReport {
            plugin: plugin.name().to_string(),
            agent,
            turn,
            outcome: TurnOutcome::Stopped(error),
            output: String::new(),
            fuel: 0,
        }),
    })
}
