//! What the model plugins share: `example-llm-worker` and `example-llm-agent` both talk to an
//! OpenAI-compatible chat-completions server (Ollama, llama.cpp's `llama-server`, vLLM, or a hosted
//! API) from inside the sandbox.
//!
//! - [`settings`]: how to reach the model, read from `[plugin.config]`, and the number reader the
//!   plugins' own keys use;
//! - [`protocol`]: the URL, which statuses are retried or permanent, the backoff, quoting a body;
//! - [`http`]: one request over `wasi:http`, retried with backoff (the only part that needs WASI);
//! - [`text`] and [`plan`]: cutting text to a bound, and step lists;
//! - [`arena_names!`]: the WIT names of the arena's enums, for each plugin's own generated types.
//!
//! All but `http` is plain Rust, tested natively.

pub mod http;
pub mod plan;
pub mod protocol;
pub mod settings;
pub mod text;

/// Defines `status_name`, `slot_status_name` and `role_name` (the WIT spelling of `arena-status`,
/// `slot-status` and `role`) over the types module a plugin's `wit_bindgen::generate!` made, such
/// as `arena_names!(crate::arena::core::types)`. Each plugin generates its own bindings, so the
/// functions are generated where they are used rather than written against one crate's types.
#[macro_export]
macro_rules! arena_names {
    ($($types:ident)::+) => {
        /// The arena status's name as the WIT spells it.
        #[allow(dead_code)]
        pub fn status_name(status: $($types)::+::ArenaStatus) -> &'static str {
            use $($types)::+::ArenaStatus as S;
            match status {
                S::Created => "created",
                S::Active => "active",
                S::Settling => "settling",
                S::Archived => "archived",
            }
        }

        /// The slot status's name as the WIT spells it.
        #[allow(dead_code)]
        pub fn slot_status_name(status: $($types)::+::SlotStatus) -> &'static str {
            use $($types)::+::SlotStatus as S;
            match status {
                S::Idle => "idle",
                S::Working => "working",
                S::Done => "done",
                S::Failed => "failed",
            }
        }

        /// The role's name as the WIT spells it.
        #[allow(dead_code)]
        pub fn role_name(role: $($types)::+::Role) -> &'static str {
            use $($types)::+::Role as R;
            match role {
                R::Coordinator => "coordinator",
                R::Worker => "worker",
                R::Observer => "observer",
            }
        }
    };
}
