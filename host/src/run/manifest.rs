//! The run manifest: the arena to create or resume, how to schedule the run, and its plugins.
//!
//! Everything a manifest can get wrong is found here, before any component is compiled or any
//! arena created: unknown keys, roles and permissions, a missing environment variable for a
//! secret, an unreadable or oversized component file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{BUILTIN_PLUGINS, RunError};
use crate::plugin::{PluginConfig, PluginLimits, PluginSpec, cancel_flag};
use crate::types::{ParticipantSpec, Permission, Pipeline, Stage, Strategy};
use crate::{parse_steps, role_permissions};

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
    /// Turns each plugin takes at most (`max_rounds` is its older name). Default 100.
    #[serde(default = "default_turns", alias = "max_rounds")]
    pub max_turns: u32,
    /// Wall-clock time the whole run may take, in milliseconds; then turns in flight are
    /// interrupted and the run ends. None by default.
    pub deadline_ms: Option<u64>,
    /// `rounds` only: a pause after each turn, in milliseconds, so that a person watching the arena
    /// (`arena serve`) can follow it. None by default.
    pub pace_ms: Option<u64>,
    /// The memory of the whole team, in MiB: the plugins' `memory_mb` caps may sum to this at
    /// most, or the run is refused before anything is compiled. Default: half the machine's
    /// memory ([`default_team_memory_bytes`]).
    pub memory_mb: Option<u64>,
}

impl RunSection {
    /// The team's memory cap in bytes: `memory_mb`, or [`default_team_memory_bytes`].
    pub fn team_memory_bytes(&self) -> u64 {
        self.memory_mb
            .map_or_else(default_team_memory_bytes, |mb| mb.saturating_mul(1 << 20))
    }

    /// Refuses a team whose plugins' memory caps sum past [`RunSection::team_memory_bytes`],
    /// naming the key.
    pub fn check_team_memory(&self, plugins: &[PluginSpec]) -> Result<(), RunError> {
        let cap = self.team_memory_bytes();
        let sum = plugins
            .iter()
            .map(|p| p.limits.memory_bytes as u64)
            .fold(0u64, u64::saturating_add);
        if sum > cap {
            return Err(RunError::Manifest(format!(
                "the {} plugins' memory caps (memory_mb) sum to {} MiB, over the team's cap of \
                 {} MiB ([run] memory_mb)",
                plugins.len(),
                sum >> 20,
                cap >> 20
            )));
        }
        Ok(())
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

/// A `[plugin.config]` value: a string (a number or a boolean is taken as its text), or
/// `{ env = "NAME" }` read from the host's environment at start (a secret).
#[derive(Clone, Debug)]
pub enum ConfigValue {
    /// A value written in the manifest.
    Text(String),
    /// A value read from an environment variable: a secret.
    Env(EnvValue),
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let expected = "a string, a number, a boolean or { env = \"NAME\" }";
        Ok(match toml::Value::deserialize(deserializer)? {
            toml::Value::String(text) => ConfigValue::Text(text),
            toml::Value::Integer(n) => ConfigValue::Text(n.to_string()),
            toml::Value::Float(x) => ConfigValue::Text(x.to_string()),
            toml::Value::Boolean(b) => ConfigValue::Text(b.to_string()),
            toml::Value::Table(table) => ConfigValue::Env(
                EnvValue::deserialize(toml::Value::Table(table))
                    .map_err(|e| D::Error::custom(format!("expected {expected}: {e}")))?,
            ),
            other => {
                return Err(D::Error::custom(format!(
                    "expected {expected}, found {}",
                    other.type_str()
                )));
            }
        })
    }
}

/// `{ env = "NAME" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvValue {
    /// The environment variable.
    pub env: String,
}

/// One `[[plugin]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The agent the plugin acts as.
    pub agent: String,
    /// `coordinator`, `worker` or `observer`.
    pub role: String,
    /// A path relative to the manifest, or `builtin:NAME`.
    pub component: String,
    /// Narrows the role's permissions.
    pub permissions: Option<Vec<String>>,
    /// Largest linear memory, in MiB.
    pub memory_mb: Option<usize>,
    /// Fuel one turn may burn.
    pub fuel: Option<u64>,
    /// Wall-clock limit of one turn, in milliseconds (default 120000).
    pub turn_timeout_ms: Option<u64>,
    /// How long an idle plugin waits for new events before its next turn, in milliseconds
    /// (default 1000; `concurrent` only).
    pub idle_ms: Option<u64>,
    /// Largest argument of one handle call, in bytes.
    pub max_argument_bytes: Option<usize>,
    /// Writes one turn may make.
    pub max_writes_per_turn: Option<u32>,
    /// Argument bytes the writes of one turn may carry.
    pub max_write_bytes_per_turn: Option<usize>,
    /// Stdout and stderr kept per run, each, in bytes.
    pub output_bytes: Option<usize>,
    /// Hosts the plugin may reach over `wasi:http` (none by default).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// What the plugin reads through `wasi:config/store`.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
}

/// How long an idle plugin waits by default.
pub const DEFAULT_IDLE: Duration = Duration::from_millis(1000);

impl PluginEntry {
    /// How long this plugin idles between turns when nothing new happened.
    pub fn idle(&self) -> Duration {
        self.idle_ms.map_or(DEFAULT_IDLE, Duration::from_millis)
    }

    fn manifest_error(&self, what: impl std::fmt::Display) -> RunError {
        RunError::Manifest(format!("plugin {}: {what}", self.agent))
    }

    /// The plugin's sandbox limits: the defaults, overridden by the entry's keys.
    pub fn limits(&self) -> PluginLimits {
        let d = PluginLimits::default();
        PluginLimits {
            memory_bytes: self.memory_mb.map_or(d.memory_bytes, |mb| mb << 20),
            fuel_per_turn: self.fuel.unwrap_or(d.fuel_per_turn),
            turn_timeout: self
                .turn_timeout_ms
                .map_or(d.turn_timeout, Duration::from_millis),
            max_argument_bytes: self.max_argument_bytes.unwrap_or(d.max_argument_bytes),
            max_writes_per_turn: self.max_writes_per_turn.unwrap_or(d.max_writes_per_turn),
            max_write_bytes_per_turn: self
                .max_write_bytes_per_turn
                .unwrap_or(d.max_write_bytes_per_turn),
            output_bytes: self.output_bytes.unwrap_or(d.output_bytes),
            report_bytes: d.report_bytes,
        }
    }

    /// The configuration, with each `{ env = … }` read from `env` (the process environment in a
    /// run). A missing variable names the plugin, the key and the variable.
    pub fn config(&self, env: impl Fn(&str) -> Option<String>) -> Result<PluginConfig, RunError> {
        let mut config = PluginConfig::new();
        for (key, value) in &self.config {
            match value {
                ConfigValue::Text(text) => config.set(key, text),
                ConfigValue::Env(EnvValue { env: name }) => {
                    let value = env(name).ok_or_else(|| {
                        self.manifest_error(format_args!(
                            "config key {key:?} reads the environment variable {name}, which is not set"
                        ))
                    })?;
                    config.set_secret(key, value)
                }
            };
        }
        Ok(config)
    }

    /// The built-in plugin `builtin:NAME` stands for: `NAME`, except that the model agent takes the
    /// build whose imports its grant allows (`steer` and `coordinate` too for a grant with both).
    fn builtin_variant<'a>(&self, name: &'a str) -> &'a str {
        match self.participant().map(|spec| declared_grant(&spec)) {
            Ok(grant)
                if name == "llm-agent"
                    && grant.contains(&Permission::Steer)
                    && grant.contains(&Permission::Coordinate) =>
            {
                super::LLM_AGENT_LEAD
            }
            _ => name,
        }
    }

    /// The plugin's name in reports: the component as written, or the built-in build it took.
    fn name(&self) -> String {
        match self.component.strip_prefix("builtin:") {
            Some(name) => format!("builtin:{}", self.builtin_variant(name)),
            None => self.component.clone(),
        }
    }

    /// The component's bytes: a built-in plugin, or a file (relative to `base`) of at most
    /// [`MAX_COMPONENT_BYTES`].
    pub fn component(&self, base: &Path) -> Result<Arc<[u8]>, RunError> {
        if let Some(name) = self.component.strip_prefix("builtin:") {
            let name = self.builtin_variant(name);
            let names: Vec<&str> = BUILTIN_PLUGINS.iter().map(|(n, _)| *n).collect();
            let (_, bytes) = BUILTIN_PLUGINS
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| {
                    self.manifest_error(format_args!(
                        "no built-in plugin {name:?} ({})",
                        names.join(", ")
                    ))
                })?;
            return Ok(Arc::from(*bytes));
        }
        let path = base.join(&self.component);
        let reading = |e: std::io::Error| {
            self.manifest_error(format_args!("reading {}: {e}", path.display()))
        };
        let too_large = || {
            self.manifest_error(format_args!(
                "{} is larger than the cap of {MAX_COMPONENT_BYTES} bytes for a component",
                path.display()
            ))
        };
        let file = std::fs::File::open(&path).map_err(reading)?;
        // Its size is checked before a byte is read; a device or a pipe has none to check.
        let metadata = file.metadata().map_err(reading)?;
        if !metadata.is_file() {
            return Err(
                self.manifest_error(format_args!("{} is not a regular file", path.display()))
            );
        }
        if metadata.len() > MAX_COMPONENT_BYTES {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        // A file growing while it is read stops at the cap all the same.
        file.take(MAX_COMPONENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(reading)?;
        if bytes.len() as u64 > MAX_COMPONENT_BYTES {
            return Err(too_large());
        }
        Ok(Arc::from(bytes))
    }

    /// The plugin, ready to check and prepare (reading secrets with `env`).
    pub fn spec(
        &self,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PluginSpec, RunError> {
        Ok(PluginSpec {
            name: self.name(),
            agent: self.agent.clone(),
            component: self.component(base)?,
            limits: self.limits(),
            allowed_outbound_hosts: self.allowed_outbound_hosts.clone(),
            config: self.config(env)?,
            cancel: cancel_flag(),
        })
    }

    /// The participant a new arena declares for this plugin.
    pub fn participant(&self) -> Result<ParticipantSpec, RunError> {
        let role = self.role.parse().map_err(|_| {
            self.manifest_error(format_args!(
                "unknown role {:?} (coordinator, worker or observer)",
                self.role
            ))
        })?;
        let permissions = self
            .permissions
            .as_ref()
            .map(|names| {
                names
                    .iter()
                    .map(|name| {
                        name.parse::<Permission>().map_err(|_| {
                            self.manifest_error(format_args!("unknown permission {name:?}"))
                        })
                    })
                    .collect::<Result<Vec<Permission>, RunError>>()
            })
            .transpose()?;
        Ok(ParticipantSpec {
            agent: self.agent.clone(),
            role,
            permissions,
        })
    }
}

/// What a new participant will be granted: its role's preset, narrowed as declared.
pub fn declared_grant(spec: &ParticipantSpec) -> Vec<Permission> {
    let preset = role_permissions(spec.role);
    match &spec.permissions {
        None => preset,
        Some(narrowed) => preset
            .into_iter()
            .filter(|p| narrowed.contains(p))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(toml_text: &str) -> PluginEntry {
        let manifest = Manifest::parse(&format!(
            "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"w\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n{toml_text}"
        ))
        .unwrap();
        manifest.plugins.into_iter().next().unwrap()
    }

    #[test]
    fn a_missing_environment_variable_names_the_plugin_the_key_and_the_variable() {
        let entry = entry("[plugin.config]\napi_key = { env = \"NO_SUCH_VAR\" }");
        let error = entry.config(|_| None).unwrap_err().to_string();
        for part in ["plugin w", "\"api_key\"", "NO_SUCH_VAR"] {
            assert!(error.contains(part), "{error}");
        }
    }

    #[test]
    fn unquoted_numbers_and_booleans_are_taken_as_their_text() {
        let entry = entry("[plugin.config]\ntemperature = 0.5\nmax_tokens = 256\nstream = false");
        let texts: Vec<String> = entry
            .config
            .values()
            .map(|v| match v {
                ConfigValue::Text(text) => text.clone(),
                ConfigValue::Env(_) => panic!("not an env value"),
            })
            .collect();
        assert_eq!(texts, ["256", "false", "0.5"]);
    }

    #[test]
    fn a_config_value_of_another_type_names_what_is_expected() {
        let error = Manifest::parse(
            "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"w\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n[plugin.config]\nstops = [1, 2]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(
                r#"expected a string, a number, a boolean or { env = "NAME" }, found array"#
            ),
            "{error}"
        );
        assert!(error.contains("stops"), "{error}");
        assert!(!error.contains("untagged"), "{error}");
    }

    #[test]
    fn builtin_llm_agent_takes_the_build_its_grant_allows() {
        let lead_bytes = |role: &str, permissions: &str| {
            let manifest = Manifest::parse(&format!(
                "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"a\"\nrole = \"{role}\"\ncomponent = \"builtin:llm-agent\"\n{permissions}"
            ))
            .unwrap();
            let bytes = manifest.plugins[0].component(Path::new(".")).unwrap();
            let lead = BUILTIN_PLUGINS
                .iter()
                .find(|(n, _)| *n == super::super::LLM_AGENT_LEAD)
                .unwrap()
                .1;
            *bytes == *lead
        };
        assert!(lead_bytes("coordinator", ""));
        assert!(!lead_bytes("worker", ""));
        assert!(!lead_bytes(
            "coordinator",
            "permissions = [\"observe\", \"read-slots\", \"contribute\"]"
        ));
    }

    #[test]
    fn the_llm_team_example_is_a_model_coordinator_over_three_model_workers() {
        let manifest = Manifest::parse(include_str!("../../../examples/llm-team.toml")).unwrap();
        let plugins: Vec<(&str, &str, String)> = manifest
            .plugins
            .iter()
            .map(|p| (p.agent.as_str(), p.role.as_str(), p.name()))
            .collect();
        assert_eq!(
            plugins,
            [
                (
                    "lead",
                    "coordinator",
                    "builtin:llm-agent-coordinator".into()
                ),
                ("researcher", "worker", "builtin:llm-agent".into()),
                ("writer", "worker", "builtin:llm-agent".into()),
                ("editor", "worker", "builtin:llm-agent".into()),
            ]
        );
        for plugin in &manifest.plugins {
            plugin.config(|_| None).unwrap();
            plugin.component(Path::new(".")).unwrap();
        }
    }

    #[test]
    fn values_from_the_environment_are_secrets_and_written_ones_are_not() {
        let entry = entry("[plugin.config]\nmodel = \"tiny\"\napi_key = { env = \"K\" }");
        let config = entry.config(|_| Some("sk-9".into())).unwrap();
        assert!(config.leaks("sk-9"));
        assert!(!config.leaks("tiny"));
    }

    #[test]
    fn schedule_defaults_to_concurrent_and_max_rounds_is_still_read() {
        let manifest =
            Manifest::parse("[arena]\nid = \"x\"\n[run]\nmax_rounds = 7\n[[plugin]]\nagent = \"a\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"").unwrap();
        assert_eq!(manifest.run.schedule, Schedule::Concurrent);
        assert_eq!(manifest.run.max_turns, 7);
    }

    #[test]
    fn an_oversized_component_file_is_refused_naming_the_cap_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        // Sparse: its size says too large, though no byte of it was ever written.
        let file = std::fs::File::create(dir.path().join("huge.wasm")).unwrap();
        file.set_len(MAX_COMPONENT_BYTES + 1).unwrap();
        let mut entry = entry("");
        entry.component = "huge.wasm".into();
        let error = entry.component(dir.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "manifest: plugin w: {} is larger than the cap of {MAX_COMPONENT_BYTES} bytes for \
                 a component",
                dir.path().join("huge.wasm").display()
            )
        );
    }

    #[test]
    fn a_component_that_is_not_a_regular_file_is_refused_unread() {
        let mut entry = entry("");
        entry.component = "/dev/zero".into();
        let error = entry.component(Path::new("/")).unwrap_err().to_string();
        assert_eq!(error, "manifest: plugin w: /dev/zero is not a regular file");
    }

    #[test]
    fn a_team_past_its_memory_cap_is_refused_naming_the_key() {
        let manifest = Manifest::parse(
            "[arena]\ngoal = \"g\"\nsteps = 1\n[run]\nmemory_mb = 100\n[[plugin]]\nagent = \"a\"\n\
             role = \"worker\"\ncomponent = \"builtin:worker\"\nmemory_mb = 60\n[[plugin]]\n\
             agent = \"b\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\nmemory_mb = 60",
        )
        .unwrap();
        let specs: Vec<PluginSpec> = manifest
            .plugins
            .iter()
            .map(|p| p.spec(Path::new("."), |_| None).unwrap())
            .collect();
        let error = manifest
            .run
            .check_team_memory(&specs)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("120 MiB") && error.contains("100 MiB"),
            "{error}"
        );
        assert!(error.contains("[run] memory_mb"), "{error}");
        assert!(manifest.run.check_team_memory(&specs[..1]).is_ok());
        // The default fits the machine, and is never zero.
        assert!(RunSection::default().team_memory_bytes() > 0);
    }
}
