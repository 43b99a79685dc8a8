//! SharedArena's domain logic.
//!
//! Plain Rust modules named in the product's own words, generic over a [`storage::Storage`] and a
//! [`clock::Clock`], so the same logic runs natively (unit tests, the native baseline) and as the
//! WASI component, where `component` adapts it to the WIT in `wit/`.

#![warn(missing_docs)]

pub mod aggregate;
pub mod clock;
pub mod events;
pub mod facts;
pub mod handle;
mod log_size;
pub mod manager;
pub mod pipeline;
pub mod slots;
pub mod storage;
pub mod types;

#[cfg(target_arch = "wasm32")]
mod component;

pub use aggregate::{AgentProgress, Aggregate};
pub use clock::{Clock, SteppingClock, SystemClock};
pub use events::{Change, Event};
pub use handle::Handle;
pub use manager::{ArenaManager, SnapshotPolicy, VerifyReport};
pub use storage::{ArenaRecord, Layer, Layered, LogHead, MemoryStorage, Snapshot, Storage};
pub use types::*;
