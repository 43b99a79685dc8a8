//! `[[plugin]]` entries: a plugin's limits, its configuration and secrets, its component's bytes,
//! and the participant it declares.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::MAX_COMPONENT_BYTES;
use crate::plugin::{PluginConfig, PluginLimits, PluginSpec, cancel_flag};
use crate::role_permissions;
use crate::run::{BUILTIN_PLUGINS, RunError};
use crate::types::{ParticipantSpec, Permission};

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
                crate::run::LLM_AGENT_LEAD
            }
            _ => name,
        }
    }

    /// The plugin's name in reports: the component as written, or the built-in build it took.
    pub(super) fn name(&self) -> String {
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
            team_memory: None,
        })
    }

    /// The participant a new arena declares for this plugin.
    pub fn participant(&self) -> Result<ParticipantSpec, RunError> {
        participant_spec(
            &self.agent,
            &self.role,
            self.permissions.as_deref(),
            |what| self.manifest_error(what),
        )
    }
}

/// The participant a manifest entry declares (a plugin or a person): `role` and the permissions
/// narrowing it parsed, each unknown name refused through `error`.
pub fn participant_spec(
    agent: &str,
    role: &str,
    permissions: Option<&[String]>,
    error: impl Fn(std::fmt::Arguments<'_>) -> RunError,
) -> Result<ParticipantSpec, RunError> {
    let parsed_role = role.parse().map_err(|_| {
        error(format_args!(
            "unknown role {role:?} (coordinator, worker or observer)"
        ))
    })?;
    let permissions = permissions
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    name.parse::<Permission>()
                        .map_err(|_| error(format_args!("unknown permission {name:?}")))
                })
                .collect::<Result<Vec<Permission>, RunError>>()
        })
        .transpose()?;
    Ok(ParticipantSpec {
        agent: agent.to_string(),
        role: parsed_role,
        permissions,
    })
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
