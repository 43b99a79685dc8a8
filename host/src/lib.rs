//! The wasmtime host of SharedArena.
//!
//! An [`ArenaHost`] owns one arena database and one instance of the arena component, which it serves
//! the `storage` imports from SQLite. Operators call it directly; agents act through an
//! [`AgentHandle`], bound to one arena and one agent and limited to the agent's grant. The names of
//! the WIT types (`Permission::name`, `Display`, `FromStr`) come with the types, from
//! [`arena_bindings::names`].
//!
//! # Example
//!
//! ```no_run
//! use arena_host::{ArenaHost, HostOptions};
//! let host = ArenaHost::open("arena.db", HostOptions::default())?;
//! for arena in host.arenas() {
//!     let arena = arena?;
//!     println!("{} {}", arena.id, arena.goal);
//! }
//! # Ok::<(), arena_host::HostError>(())
//! ```

#![warn(missing_docs)]

pub mod db;
mod error;
mod handle;
mod operator;
pub mod plugin;
pub mod precompiled;
pub mod run;
mod runtime;
pub mod tokens;

pub use arena_bindings::manager::{Operation, VerifyReport};
pub use arena_bindings::names::{self, StepsError, UnknownName, parse_steps};
pub use arena_bindings::types;
pub use db::{DbError, Durability, Location, TokenRecord};
pub use error::{HostError, describe};
pub use handle::{AgentHandle, Created, Performed, operation_permission, role_permissions};
pub use operator::{Arenas, FOLLOW_POLL, Follow, default_coordinator};
pub use runtime::{
    ARENA_COMPONENT, ARENA_DEADLINE, ArenaHost, CommitStats, GroupCommit, HostOptions, MAX_BATCH,
    OpenBackend,
};
pub use tokens::{IssuedToken, TokenError, TokenSecret};
