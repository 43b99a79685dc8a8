//! Agent plugins: components that act in an arena through the handle interfaces their grant allows.
//!
//! A plugin's imports are compared with its grant **before** it is compiled: an ungranted, unknown or
//! other-version import is refused with an error naming the agent, the interface and what is missing.
//! Its linker then defines WASI p2 (default-deny: no files, no network, no environment, captured
//! output) plus exactly the granted handle interfaces, each bound by the host to one arena and one
//! agent. Each plugin runs in its own Store with a memory cap, a fuel budget per turn (wasm
//! instructions, so time blocked in host calls does not count), and a cap on argument bytes; a plugin
//! that breaks one is stopped and reported, and the arena and the other plugins carry on.
//!
//! The rooms: [`engine`] compiles and links, [`imports`] checks a component's imports against its
//! grant, `host` holds the handle interfaces' host functions (one file each), [`limits`] the
//! sandbox limits, `poll` the WASI waits a turn's end cuts short, [`http`] outbound HTTP,
//! [`instance`] a live plugin taking turns.

pub mod config;
pub mod engine;
mod error;
mod host;
pub mod http;
pub mod imports;
pub mod instance;
pub mod limits;
mod poll;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use config::PluginConfig;
pub use engine::{PluginEngine, PreparedPlugin};
pub use error::{PluginError, PluginErrorKind};
pub use http::OutboundHosts;
pub use imports::{ImportsError, check_imports, component_imports, interface_name};
pub use instance::{Delivery, Plugin, TurnOutcome, TurnReport, cancel_flag};
pub use limits::{PluginLimits, TeamMemory};

/// The version of our WIT package that this host provides.
pub const PACKAGE: &str = "arena:core";
/// The version of [`PACKAGE`] this host links.
pub const PACKAGE_VERSION: &str = "0.1.0";

/// What a plugin brings: its component and who it acts as.
#[derive(Clone, Debug)]
pub struct PluginSpec {
    /// A name for reports (a file name, say).
    pub name: String,
    /// The agent the plugin acts as; the host binds every handle call to it.
    pub agent: String,
    /// The component's bytes.
    pub component: Arc<[u8]>,
    /// Its sandbox limits.
    pub limits: PluginLimits,
    /// Where it may send HTTP requests (`wasi:http`), as `http://host:port`, `https://host` or
    /// `host[:port]`; empty (the default) means no outbound access and no `wasi:http` import.
    pub allowed_outbound_hosts: Vec<String>,
    /// What it reads through `wasi:config/store` (empty by default); its secrets never leave it.
    pub config: PluginConfig,
    /// Interrupts the plugin's turn in progress when set (Ctrl-C, a run's deadline).
    pub cancel: Arc<AtomicBool>,
    /// The memory its team shares (`[run] memory_mb`), if it is one of a team's.
    pub team_memory: Option<Arc<TeamMemory>>,
}

impl PluginSpec {
    /// A plugin named `name` acting as `agent`, with the default limits, no outbound HTTP and no
    /// configuration.
    pub fn new(name: impl Into<String>, agent: impl Into<String>, component: Arc<[u8]>) -> Self {
        PluginSpec {
            name: name.into(),
            agent: agent.into(),
            component,
            limits: PluginLimits::default(),
            allowed_outbound_hosts: Vec::new(),
            config: PluginConfig::new(),
            cancel: cancel_flag(),
            team_memory: None,
        }
    }
}
