//! Why a plugin was refused or stopped: one error naming the plugin and its agent, and what
//! happened.

use crate::types::Permission;

/// Why a plugin was refused or stopped.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} (agent {agent}) {kind}")]
pub struct PluginError {
    /// The plugin's name (its file, or `builtin:NAME`).
    pub plugin: String,
    /// The agent it acts as.
    pub agent: String,
    /// What happened.
    pub kind: PluginErrorKind,
}

/// What refused or stopped a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginErrorKind {
    /// An import the grant does not cover; found before compiling.
    #[error("imports `{interface}` but its grant lacks the `{}` permission", permission.name())]
    NotGranted {
        /// The versioned interface name.
        interface: String,
        /// The permission that would grant it.
        permission: Permission,
    },
    /// An import this host does not provide at all (another version of ours, or something unknown).
    #[error("imports `{interface}`, which this host does not provide: {reason}")]
    UnknownImport {
        /// The import's name.
        interface: String,
        /// Why it is not provided.
        reason: String,
    },
    /// The bytes are not a valid component, or linking failed.
    #[error("cannot be loaded: {message}")]
    Invalid {
        /// What is wrong, from the parser or the linker.
        message: String,
    },
    /// The turn ran out of fuel: the execution deadline.
    #[error(
        "was stopped: it used its whole budget of {fuel} fuel in one turn (fuel, the execution deadline)"
    )]
    Deadline {
        /// The fuel budget of one turn.
        fuel: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error(
        "was stopped: it tried to grow its memory to {wanted} bytes, over the cap of {cap} bytes (memory_mb)"
    )]
    MemoryCap {
        /// The size it asked for.
        wanted: usize,
        /// The cap.
        cap: usize,
    },
    /// The plugin tried to grow its memory past what its team may hold at once.
    #[error(
        "was stopped: it tried to grow its memory by {growth} bytes while its team held {used}, \
         over the team's cap of {cap} bytes ([run] memory_mb)"
    )]
    TeamMemoryCap {
        /// The growth it asked for.
        growth: usize,
        /// What the team's plugins held then.
        used: usize,
        /// The team's cap.
        cap: usize,
    },
    /// The plugin passed a handle call an argument over the size cap.
    #[error(
        "was stopped: it passed {size} bytes to `{function}`, over the cap of {cap} bytes (max_argument_bytes)"
    )]
    ArgumentTooLarge {
        /// The handle function.
        function: &'static str,
        /// The argument's size.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The turn ran past its wall-clock limit (time blocked in host calls and HTTP included).
    #[error(
        "was stopped: its turn ran past the wall-clock limit of {limit_ms} ms (turn_timeout_ms)"
    )]
    TurnTimeout {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The run was interrupted (Ctrl-C, or its deadline) while the plugin was in a turn.
    #[error("was interrupted: the run was stopped")]
    Interrupted,
    /// The plugin filled its stdout or stderr.
    #[error("was stopped: it wrote {cap} bytes to stdout or stderr, the cap (output_bytes)")]
    OutputFull {
        /// The cap, per stream and run.
        cap: usize,
    },
    /// The plugin trapped (a panic, an unreachable, a bad memory access…).
    #[error("trapped: {message}")]
    Trap {
        /// The trap with its wasm backtrace.
        message: String,
    },
    /// The plugin was stopped earlier in this run and takes no more turns.
    #[error("was stopped earlier in this run")]
    Stopped,
}

impl PluginErrorKind {
    /// This error, about `plugin` acting as `agent`.
    pub fn of(self, plugin: &str, agent: &str) -> PluginError {
        PluginError {
            plugin: plugin.to_string(),
            agent: agent.to_string(),
            kind: self,
        }
    }
}
