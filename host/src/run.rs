//! Runs arenas of plugins described in a TOML manifest.
//!
//! ```toml
//! [arena]
//! goal = "Write a field guide"      # a new arena (or `id = "…"` to resume one; resume never re-creates)
//! steps = 6
//! coordinator = "lead"              # optional: the first coordinator plugin by default
//!
//! [run]
//! max_rounds = 50                   # optional, default 100
//!
//! [[plugin]]
//! agent = "lead"
//! role = "coordinator"              # coordinator, worker or observer
//! component = "lead.wasm"           # a path relative to the manifest, or builtin:coordinator|worker|observer
//! permissions = ["observe", "coordinate"]   # optional: narrows the role
//! memory_mb = 64                    # optional limits
//! fuel = 1000000000
//! max_argument_bytes = 65536
//! allowed_outbound_hosts = ["https://api.example.com"]   # optional: wasi:http to these hosts only
//! ```
//!
//! Every plugin is checked against its grant before anything is compiled or any arena is created.
//! Turns then go in rounds: in round `n`, each plugin that is still running takes turn `n`, in manifest
//! order. The run ends after the round in which the arena becomes archived, or after `max_rounds`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::plugin::{
    Delivery, Plugin, PluginEngine, PluginError, PluginLimits, PluginSpec, TurnOutcome, TurnReport,
    check_imports,
};
use crate::types::{
    ArenaConfig, ArenaStatus, ParticipantSpec, Permission, Pipeline, Role, Stage, Strategy,
};
use crate::{
    ArenaHost, HostError, PERMISSIONS, parse_role, parse_steps, permission_name, role_permissions,
};

/// The sample plugins built into the program, by the name `builtin:NAME` uses.
pub const BUILTIN_PLUGINS: [(&str, &[u8]); 5] = [
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
];

/// The manifest `arena demo` runs.
pub const DEMO_MANIFEST: &str = include_str!("demo.toml");

/// A run manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The arena to create or resume.
    pub arena: ArenaSection,
    /// How long to run.
    #[serde(default)]
    pub run: RunSection,
    /// The plugins, in turn order.
    #[serde(rename = "plugin")]
    pub plugins: Vec<PluginEntry>,
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

/// The strategy a new arena's manifest describes, coordinated by `coordinator`.
fn strategy(arena: &ArenaSection, coordinator: String) -> Result<Strategy, RunError> {
    match arena.strategy.as_str() {
        "peer" if arena.stages.is_empty() => Ok(Strategy::Peer(coordinator)),
        "peer" => Err(RunError::Manifest(
            "[[arena.stage]] needs strategy = \"pipeline\"".into(),
        )),
        "pipeline" => {
            let stages = arena
                .stages
                .iter()
                .map(|s| {
                    Ok(Stage {
                        agent: s.agent.clone(),
                        steps: parse_steps(&s.steps)
                            .map_err(|e| RunError::Manifest(format!("stage {}: {e}", s.agent)))?,
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

/// The `[run]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Rounds at most.
    #[serde(default = "default_rounds")]
    pub max_rounds: u32,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            max_rounds: default_rounds(),
        }
    }
}

fn default_rounds() -> u32 {
    100
}

/// One `[[plugin]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    pub agent: String,
    pub role: String,
    pub component: String,
    pub permissions: Option<Vec<String>>,
    pub memory_mb: Option<usize>,
    pub fuel: Option<u64>,
    pub max_argument_bytes: Option<usize>,
    /// Hosts the plugin may reach over `wasi:http` (none by default).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("manifest: {0}")]
    Manifest(String),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Host(#[from] HostError),
}

/// How a run ended.
#[derive(Debug)]
pub struct RunSummary {
    /// The arena that ran.
    pub arena: String,
    /// Rounds played.
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

/// Events handed to a subscriber at once; it catches up over several deliveries.
pub const DELIVERY_BATCH: u32 = 100;

/// Delivers each subscriber the events after its durable cursor, one bounded batch each, and moves
/// the cursor past what it accepted. Returns whether anything was delivered.
fn deliver(
    host: &ArenaHost,
    arena: &str,
    round: u32,
    plugins: &mut [Plugin],
    delivered: &mut Vec<Delivered>,
    report: &mut impl FnMut(&TurnReport),
) -> Result<bool, RunError> {
    let mut any = false;
    for plugin in plugins.iter_mut().filter(|p| p.subscribes()) {
        let agent = plugin.agent().to_string();
        let cursor = host.cursor(arena, &agent)?;
        // Read through the subscriber's own handle: an agent that left hears nothing more.
        let events = match plugin.handle().events(cursor, DELIVERY_BATCH) {
            Ok(events) => events,
            Err(HostError::Arena(_)) => continue,
            Err(other) => return Err(other.into()),
        };
        let (Some(first), Some(last)) =
            (events.first().map(|e| e.seq), events.last().map(|e| e.seq))
        else {
            continue;
        };
        match plugin.deliver(events) {
            Delivery::Accepted => {
                host.advance_cursor(arena, &agent, last)?;
                delivered.push(Delivered { agent, first, last });
                any = true;
            }
            Delivery::Refused(text) => {
                tracing::warn!(%agent, "subscriber refused events {first}..={last}: {text}");
            }
            Delivery::Stopped(error) => report(&TurnReport {
                plugin: plugin.name().to_string(),
                agent,
                turn: round,
                outcome: TurnOutcome::Stopped(error),
                output: String::new(),
                fuel: 0,
            }),
        }
    }
    Ok(any)
}

impl Manifest {
    /// Parses a manifest.
    pub fn parse(text: &str) -> Result<Self, RunError> {
        toml::from_str(text).map_err(|e| RunError::Manifest(e.to_string()))
    }
}

fn resolve_component(entry: &PluginEntry, base: &Path) -> Result<(String, Arc<[u8]>), RunError> {
    if let Some(name) = entry.component.strip_prefix("builtin:") {
        let (_, bytes) = BUILTIN_PLUGINS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| {
                RunError::Manifest(format!(
                    "plugin {}: no built-in plugin {name:?} (coordinator, worker, observer, drafter, reviewer)",
                    entry.agent
                ))
            })?;
        return Ok((entry.component.clone(), Arc::from(*bytes)));
    }
    let path: PathBuf = base.join(&entry.component);
    let bytes = std::fs::read(&path).map_err(|e| {
        RunError::Manifest(format!(
            "plugin {}: reading {}: {e}",
            entry.agent,
            path.display()
        ))
    })?;
    Ok((entry.component.clone(), Arc::from(bytes)))
}

fn participant(entry: &PluginEntry) -> Result<ParticipantSpec, RunError> {
    let role = parse_role(&entry.role).ok_or_else(|| {
        RunError::Manifest(format!(
            "plugin {}: unknown role {:?} (coordinator, worker or observer)",
            entry.agent, entry.role
        ))
    })?;
    let permissions = entry
        .permissions
        .as_ref()
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    PERMISSIONS
                        .into_iter()
                        .find(|p| permission_name(*p) == name)
                        .ok_or_else(|| {
                            RunError::Manifest(format!(
                                "plugin {}: unknown permission {name:?}",
                                entry.agent
                            ))
                        })
                })
                .collect::<Result<Vec<Permission>, RunError>>()
        })
        .transpose()?;
    Ok(ParticipantSpec {
        agent: entry.agent.clone(),
        role,
        permissions,
    })
}

/// What a new participant will be granted: its role's preset, narrowed as declared.
fn declared_grant(spec: &ParticipantSpec) -> Vec<Permission> {
    let preset = role_permissions(spec.role);
    match &spec.permissions {
        None => preset,
        Some(narrowed) => preset
            .into_iter()
            .filter(|p| narrowed.contains(p))
            .collect(),
    }
}

fn limits(entry: &PluginEntry) -> PluginLimits {
    let defaults = PluginLimits::default();
    PluginLimits {
        memory_bytes: entry.memory_mb.map_or(defaults.memory_bytes, |mb| mb << 20),
        fuel_per_turn: entry.fuel.unwrap_or(defaults.fuel_per_turn),
        max_argument_bytes: entry
            .max_argument_bytes
            .unwrap_or(defaults.max_argument_bytes),
        output_bytes: defaults.output_bytes,
    }
}

/// Runs `manifest` (whose relative paths start at `base`) on `host`, calling `report` after every turn.
pub fn run(
    host: &ArenaHost,
    engine: &PluginEngine,
    manifest: &Manifest,
    base: &Path,
    mut report: impl FnMut(&TurnReport),
) -> Result<RunSummary, RunError> {
    if manifest.plugins.is_empty() {
        return Err(RunError::Manifest("no [[plugin]] entries".into()));
    }
    let mut specs = Vec::with_capacity(manifest.plugins.len());
    let mut participants = Vec::with_capacity(manifest.plugins.len());
    for entry in &manifest.plugins {
        let (name, component) = resolve_component(entry, base)?;
        specs.push(PluginSpec {
            name,
            agent: entry.agent.clone(),
            component,
            limits: limits(entry),
            allowed_outbound_hosts: entry.allowed_outbound_hosts.clone(),
        });
        participants.push(participant(entry)?);
    }

    let arena = match &manifest.arena.id {
        Some(id) => {
            // Resume: the grants are what the arena says now; nothing is re-created.
            let info = host.get(id)?;
            for spec in &specs {
                let grant = info
                    .participants
                    .iter()
                    .find(|p| p.agent == spec.agent)
                    .map(|p| p.permissions.clone())
                    .unwrap_or_default();
                check_imports(spec, &grant)?;
            }
            id.clone()
        }
        None => {
            for (spec, participant) in specs.iter().zip(&participants) {
                check_imports(spec, &declared_grant(participant))?;
            }
            let (Some(goal), Some(steps)) = (&manifest.arena.goal, manifest.arena.steps) else {
                return Err(RunError::Manifest(
                    "[arena] needs `goal` and `steps` for a new arena, or `id` to resume one"
                        .into(),
                ));
            };
            let coordinator = match &manifest.arena.coordinator {
                Some(c) => c.clone(),
                None => participants
                    .iter()
                    .find(|p| p.role == Role::Coordinator)
                    .map(|p| p.agent.clone())
                    .ok_or_else(|| {
                        RunError::Manifest("no plugin has the coordinator role".into())
                    })?,
            };
            host.create(&ArenaConfig {
                goal: goal.clone(),
                total_steps: steps,
                strategy: strategy(&manifest.arena, coordinator)?,
                participants,
                created_by: manifest.arena.created_by.clone(),
            })?
        }
    };

    let mut plugins = Vec::with_capacity(specs.len());
    for spec in &specs {
        plugins.push(engine.load(spec, host.handle(&arena, &spec.agent)?)?);
    }

    let mut rounds = 0;
    let mut delivered = Vec::new();
    // Events committed before this run (a resumed arena) reach subscribers first.
    deliver(host, &arena, 0, &mut plugins, &mut delivered, &mut report)?;
    let mut status = host.get(&arena)?.status;
    while rounds < manifest.run.max_rounds && status != ArenaStatus::Archived {
        rounds += 1;
        for index in 0..plugins.len() {
            if plugins[index].is_stopped() {
                continue;
            }
            report(&plugins[index].turn(rounds));
            // Subscribers hear about the turn's commits between turns, never inside a writer's call.
            deliver(
                host,
                &arena,
                rounds,
                &mut plugins,
                &mut delivered,
                &mut report,
            )?;
        }
        status = host.get(&arena)?.status;
    }
    // Let subscribers catch up with the end of the run, a bounded batch at a time.
    for _ in 0..1000 {
        if !deliver(
            host,
            &arena,
            rounds,
            &mut plugins,
            &mut delivered,
            &mut report,
        )? {
            break;
        }
    }
    Ok(RunSummary {
        arena,
        rounds,
        status,
        stopped: plugins
            .iter()
            .filter(|p| p.is_stopped())
            .map(|p| format!("{} ({})", p.name(), p.agent()))
            .collect(),
        delivered,
    })
}
