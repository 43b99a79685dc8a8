//! The host's error type: a guest-visible arena error, or a failure of the host or the sandbox.

use crate::types::ArenaError;

/// What a host operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The arena refused the operation; nothing changed.
    #[error("{}", describe(.0))]
    Arena(ArenaError),
    /// The arena component trapped; its runtime was rebuilt from the database and nothing
    /// unacknowledged was kept.
    #[error("the arena component trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The database could not be opened or migrated.
    // The reason is part of the message and deliberately not a `source`: a chain printed with
    // `{:#}` would say it twice.
    #[error("opening the arena database {location}: {reason}")]
    Open {
        /// Where the database is (a PostgreSQL URL without its password).
        location: String,
        /// Why it could not be opened.
        reason: crate::db::DbError,
    },
    /// The component could not be compiled or instantiated.
    #[error("loading the arena component: {0:#}")]
    Load(wasmtime::Error),
}

impl HostError {
    /// The arena error, if that is what this is.
    pub fn arena_error(&self) -> Option<&ArenaError> {
        match self {
            HostError::Arena(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArenaError> for HostError {
    fn from(e: ArenaError) -> Self {
        HostError::Arena(e)
    }
}

/// A one-line description of an arena error.
pub fn describe(e: &ArenaError) -> String {
    match e {
        ArenaError::NotFound => {
            "not found: no such arena, or no such slot or artifact in it".into()
        }
        ArenaError::InvalidTransition(t) => format!(
            "invalid transition from {} to {}",
            t.from.name(),
            t.to.name()
        ),
        ArenaError::InvalidState(why) => format!("invalid state: {why}"),
        ArenaError::PermissionDenied(p) => {
            format!("permission denied: needs {}", p.name())
        }
        ArenaError::InvalidInput(what) => format!("invalid input: {what}"),
        ArenaError::LimitExceeded(l) => format!("limit exceeded: {} (limit {})", l.what, l.limit),
        ArenaError::AlreadyDone => "already done".into(),
        ArenaError::Conflict => "conflict: a concurrent writer won; reload and retry".into(),
        ArenaError::Storage(m) => format!("storage: {m}"),
    }
}
