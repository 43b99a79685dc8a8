//! The handle functions as tools: one catalogue of names, descriptions, JSON Schemas and argument
//! decoding, shared by every way in that speaks in tool calls — the MCP server and the model agent.
//!
//! Each tool is one function of the WIT handle interfaces (`wit/handles.wit`), named as the WIT names
//! it with `-` written `_` (`complete-step` is `complete_step`). A tool belongs to the interface, and
//! so the permission, of its function: [`granted`] lists exactly the tools a grant links, as a plugin
//! with that grant could import them, no more. The catalogue decides nothing else: a caller still
//! refuses a tool outside the grant when it is called by name, and the arena checks the permission
//! again on every call.
//!
//! Decoding ([`decode`]) turns a tool call's JSON arguments into a [`Call`] in plain Rust types, which
//! each side maps onto its own bindings (wasmtime's on the host, wit-bindgen's in a plugin). Writes
//! take an optional `key`: a retry with the same key writes nothing and answers as the first call did.
//!
//! # Example
//!
//! ```
//! use arena_catalogue::{decode, granted, Call, Permission};
//!
//! let observer = [Permission::Observe, Permission::ReadSlots];
//! assert!(granted(&observer).all(|tool| !tool.writes || tool.name == "leave"));
//!
//! let call = decode("complete_step", &serde_json::json!({"step": 3, "key": "s3"})).unwrap();
//! assert_eq!(call.call, Call::CompleteStep { step: 3 });
//! assert_eq!(call.key.as_deref(), Some("s3"));
//! ```

mod decode;
mod schema;

pub use decode::{ArgumentError, Call, Invocation, Role, SlotStatus, decode};

/// The six permissions, one per WIT handle interface: the arena's own definition, shared.
pub use arena_permissions::Permission;

/// One handle function offered as a tool.
#[derive(Debug, PartialEq, Eq)]
pub struct Tool {
    /// The tool's name: the WIT function's name with `-` written `_` (`complete_step`).
    pub name: &'static str,
    /// The WIT function (`complete-step`).
    pub function: &'static str,
    /// The interface the function belongs to, and so the permission it needs.
    pub permission: Permission,
    /// Whether the call can change the arena. A write takes an optional idempotency `key`.
    pub writes: bool,
    /// What the tool does, when the arena allows it and what it refuses, written for a model.
    pub description: &'static str,
}

impl Tool {
    /// The JSON Schema of the tool's arguments: an object with no properties beyond the listed ones.
    pub fn input_schema(&self) -> serde_json::Value {
        schema::input_schema(self)
    }
}

const fn entry(
    name: &'static str,
    function: &'static str,
    permission: Permission,
    writes: bool,
    description: &'static str,
) -> Tool {
    Tool {
        name,
        function,
        permission,
        writes,
        description,
    }
}

use Permission::{Contribute, Coordinate, Observe, ReadSlots, ShareFacts, Steer};

/// Every tool, in the order of `wit/handles.wit`.
pub const TOOLS: &[Tool] = &[
    // observe
    entry(
        "info",
        "info",
        Observe,
        false,
        "Read the arena: its goal, lifecycle status (created, active, settling, archived), outcome, \
         participants with their roles and permissions, and the shared progress (completed steps of \
         the total, each agent's share). Start here.",
    ),
    entry(
        "goal",
        "goal",
        Observe,
        false,
        "Read the arena's current goal.",
    ),
    entry(
        "status",
        "status",
        Observe,
        false,
        "Read the arena's lifecycle status: created, active, settling or archived.",
    ),
    entry(
        "progress",
        "progress",
        Observe,
        false,
        "Read the shared progress: which steps are completed out of the total, the participants, \
         and each agent's completed steps and last progress note.",
    ),
    entry(
        "participants",
        "participants",
        Observe,
        false,
        "List the current participants, sorted by agent, with their roles and permissions.",
    ),
    entry(
        "events",
        "events",
        Observe,
        false,
        "Read the arena's event log in order: up to `limit` events (at most 1000, default 100) whose \
         sequence number is greater than `after` (default 0). Each event names its actor and kind. \
         To read on, pass the last sequence number you saw as `after`.",
    ),
    entry(
        "leave",
        "leave",
        Observe,
        true,
        "Leave the arena for good: afterwards you hold no permission in it. Allowed while the arena \
         is created or active; the last coordinator cannot leave.",
    ),
    entry(
        "facts",
        "facts",
        Observe,
        false,
        "Read this arena's shared facts in the order they were shared, optionally only those \
         carrying exactly `tag`, or whose content contains `text` (compared without regard to case).",
    ),
    // read-slots
    entry(
        "list_slots",
        "list-slots",
        ReadSlots,
        false,
        "List every participant's slot (status idle, working, done or failed, and artifact ids), \
         sorted by agent, without artifact content.",
    ),
    entry(
        "read_slot",
        "read-slot",
        ReadSlots,
        false,
        "Read one agent's slot with its artifacts and their content, in creation order.",
    ),
    entry(
        "read_artifact",
        "read-artifact",
        ReadSlots,
        false,
        "Read one artifact of this arena, with its content, by its id (such as `art-12`).",
    ),
    // contribute
    entry(
        "complete_step",
        "complete-step",
        Contribute,
        true,
        "Mark step `step` (1 to the arena's total) complete. Active arenas only. A step already \
         completed is refused as already-done. In a pipeline, only the stage owning the step may \
         complete it, once every stage it depends on is done.",
    ),
    entry(
        "report_progress",
        "report-progress",
        Contribute,
        true,
        "Record a short note on your progress (1 to 4096 bytes), shown to the others. Active arenas \
         only.",
    ),
    entry(
        "put_artifact",
        "put-artifact",
        Contribute,
        true,
        "Store a piece of work in your own slot and get its minted id. `content` is 1 byte to 64 KiB; \
         `kind` is 1 to 32 characters of a-z, 0-9 and - (`text` by default; `structured` content \
         must be JSON); `metadata` is at most 16 string entries. At most 64 artifacts per slot. \
         Active arenas only.",
    ),
    entry(
        "set_slot_status",
        "set-slot-status",
        Contribute,
        true,
        "Set your own slot's status: idle, working, done or failed. In a pipeline, `done` marks \
         your stage done and is refused until every stage it depends on is done. Active arenas \
         only.",
    ),
    entry(
        "own_slot",
        "own-slot",
        Contribute,
        false,
        "Read your own slot, with its artifacts and their content.",
    ),
    // share-facts
    entry(
        "add_fact",
        "add-fact",
        ShareFacts,
        true,
        "Share a fact with every participant, recorded with you as its source. `content` is 1 to \
         4096 bytes; `confidence` is how sure you are, from 0 to 1 (default 1); at most 8 distinct \
         `tags`. At most 256 facts per arena. Active arenas only.",
    ),
    // steer
    entry(
        "update_goal",
        "update-goal",
        Steer,
        true,
        "Replace the arena's goal (1 to 4096 bytes). Allowed while created or active.",
    ),
    // coordinate
    entry(
        "activate",
        "activate",
        Coordinate,
        true,
        "Start the work: move the arena from created to active.",
    ),
    entry(
        "settle",
        "settle",
        Coordinate,
        true,
        "Stop the work: move the arena from active to settling, once the participants are done. \
         While settling, only merge, archive and abort are allowed.",
    ),
    entry(
        "archive",
        "archive",
        Coordinate,
        true,
        "Finish: move the arena from settling to archived with outcome completed. Archived is final: \
         nothing can be written afterwards.",
    ),
    entry(
        "abort",
        "abort",
        Coordinate,
        true,
        "Give up: move the arena from any state but archived straight to archived, with outcome \
         aborted and the given reason.",
    ),
    entry(
        "invite",
        "invite",
        Coordinate,
        true,
        "Add a participant with a role (coordinator, worker or observer), optionally narrowed to \
         some of the role's permissions. Allowed while created or active.",
    ),
    entry(
        "merge",
        "merge",
        Coordinate,
        true,
        "Store the team's merged result in your own slot, recording the artifacts it came from \
         (`sources`: 1 to 64 distinct artifact ids of this arena). `content` and `kind` are as for \
         put_artifact. Allowed while active or settling. The last merge is the arena's result.",
    ),
];

/// The tool named `name`, if the catalogue has one.
pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The tools `grant` links, in catalogue order: exactly those of the granted interfaces.
pub fn granted(grant: &[Permission]) -> impl Iterator<Item = &'static Tool> + '_ {
    TOOLS.iter().filter(|t| grant.contains(&t.permission))
}
