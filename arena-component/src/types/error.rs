//! The one error type of every arena operation.

use super::permissions::Permission;
use super::status::ArenaStatus;

/// Every error an arena operation returns; maps 1:1 onto the WIT `arena-error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArenaError {
    /// No such arena (or artifact, slot or fact).
    #[error("no such arena")]
    NotFound,
    /// A lifecycle move that is not legal from the arena's state.
    #[error("invalid transition from {from} to {to}")]
    InvalidTransition {
        /// The arena's state.
        from: ArenaStatus,
        /// The state the move leads to.
        to: ArenaStatus,
    },
    /// The operation is not allowed in the arena's state.
    #[error("not allowed now: {0}")]
    InvalidState(String),
    /// The caller lacks this permission (or is no participant).
    #[error("permission denied: needs {0}")]
    PermissionDenied(Permission),
    /// An argument is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An input passes one of the bounds in [`limits`](super::limits).
    #[error("limit exceeded: {what} (limit {limit})")]
    LimitExceeded {
        /// What passed its bound.
        what: String,
        /// The bound.
        limit: u64,
    },
    /// The operation was done already: never retry it.
    #[error("already done")]
    AlreadyDone,
    /// A concurrent writer won: reload and retry.
    #[error("conflict: a concurrent writer won")]
    Conflict,
    /// The storage failed or holds what the arena cannot read.
    #[error("storage: {0}")]
    Storage(String),
}
