//! The one error type of every arena operation.

use super::permissions::Permission;
use super::status::ArenaStatus;

/// Every error an arena operation returns; maps 1:1 onto the WIT `arena-error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArenaError {
    #[error("no such arena")]
    NotFound,
    #[error("invalid transition from {from} to {to}")]
    InvalidTransition { from: ArenaStatus, to: ArenaStatus },
    #[error("not allowed now: {0}")]
    InvalidState(String),
    #[error("permission denied: needs {0}")]
    PermissionDenied(Permission),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("limit exceeded: {what} (limit {limit})")]
    LimitExceeded { what: String, limit: u64 },
    #[error("already done")]
    AlreadyDone,
    #[error("conflict: a concurrent writer won")]
    Conflict,
    #[error("storage: {0}")]
    Storage(String),
}
