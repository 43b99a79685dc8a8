//! The wasmtime host of SharedArena.
//!
//! An [`ArenaHost`] owns one arena database and one instance of the arena component, which it serves
//! the `storage` imports from SQLite. Operators call it directly; agents act through an
//! [`AgentHandle`], bound to one arena and one agent and limited to the agent's grant.
//!
//! # Example
//!
//! ```no_run
//! use arena_host::{ArenaHost, HostOptions};
//! let host = ArenaHost::open("arena.db", HostOptions::default())?;
//! for arena in host.list(None, 100)? {
//!     println!("{} {}", arena.id, arena.goal);
//! }
//! # Ok::<(), arena_host::HostError>(())
//! ```

pub mod bench;
pub mod db;
mod error;
mod handle;
pub mod native;
pub mod plugin;
pub mod precompiled;
pub mod run;
mod runtime;

pub use arena_bindings::manager::{Operation, VerifyReport};
pub use arena_bindings::types;
pub use db::{DbError, Durability, Location};
pub use error::{HostError, describe};
pub use handle::{AgentHandle, operation_permission};
pub use runtime::{
    ARENA_COMPONENT, ARENA_DEADLINE, ArenaHost, CommitStats, GroupCommit, HostOptions, MAX_BATCH,
};

use types::{ArenaStatus, Outcome, Permission, Role};

/// The state's name as the WIT spells it.
pub fn status_name(status: ArenaStatus) -> &'static str {
    match status {
        ArenaStatus::Created => "created",
        ArenaStatus::Active => "active",
        ArenaStatus::Settling => "settling",
        ArenaStatus::Archived => "archived",
    }
}

/// The permission's name, which is also its handle interface's name.
pub fn permission_name(permission: Permission) -> &'static str {
    match permission {
        Permission::Observe => "observe",
        Permission::ReadSlots => "read-slots",
        Permission::Contribute => "contribute",
        Permission::ShareFacts => "share-facts",
        Permission::Steer => "steer",
        Permission::Coordinate => "coordinate",
    }
}

/// All six permissions, in declaration order.
pub const PERMISSIONS: [Permission; 6] = [
    Permission::Observe,
    Permission::ReadSlots,
    Permission::Contribute,
    Permission::ShareFacts,
    Permission::Steer,
    Permission::Coordinate,
];

/// The permissions a role grants (DESIGN.md's presets), in declaration order.
pub fn role_permissions(role: Role) -> Vec<Permission> {
    let preset = arena_component::Role::permissions(match role {
        Role::Coordinator => arena_component::Role::Coordinator,
        Role::Worker => arena_component::Role::Worker,
        Role::Observer => arena_component::Role::Observer,
    });
    PERMISSIONS
        .into_iter()
        .filter(|p| preset.iter().any(|d| d.as_str() == permission_name(*p)))
        .collect()
}

/// The role's name.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Coordinator => "coordinator",
        Role::Worker => "worker",
        Role::Observer => "observer",
    }
}

/// The role named `name`, if any.
pub fn parse_role(name: &str) -> Option<Role> {
    [Role::Coordinator, Role::Worker, Role::Observer]
        .into_iter()
        .find(|r| role_name(*r) == name)
}

/// Parses step ranges written as `N` or `N-M`, separated by commas (`1-3,5`).
pub fn parse_steps(text: &str) -> Result<Vec<types::StepRange>, String> {
    let number = |n: &str| {
        n.trim().parse::<u32>().map_err(|_| {
            format!("{n:?} is not a step number (steps are N or N-M, comma-separated)")
        })
    };
    text.split(',')
        .map(|part| {
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (number(first)?, number(last)?),
                None => {
                    let n = number(part)?;
                    (n, n)
                }
            };
            Ok(types::StepRange { first, last })
        })
        .collect()
}

/// The outcome in words: `completed` or `aborted: REASON`.
pub fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Completed => "completed".into(),
        Outcome::Aborted(reason) => format!("aborted: {reason}"),
    }
}
