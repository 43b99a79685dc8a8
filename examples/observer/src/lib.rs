//! An observer plugin: reads the arena and its new events each turn and reports what it saw. Built
//! against the full `agent` world, it imports only `observe`, so an observer grant is enough.

use std::sync::atomic::{AtomicU64, Ordering};

// `generate_all` also generates the wasi:config bindings the world names; unused, they are no import.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

use arena::core::observe;
use arena::core::types::ArenaStatus;

/// The last event this observer has read.
static CURSOR: AtomicU64 = AtomicU64::new(0);

struct Observer;

impl exports::arena::core::plugin::Guest for Observer {
    fn turn(_turn: u32) -> Result<String, String> {
        let info = observe::info().map_err(|e| format!("reading the arena: {e:?}"))?;
        let events = observe::events(CURSOR.load(Ordering::Relaxed), 1000)
            .map_err(|e| format!("reading events: {e:?}"))?;
        if let Some(last) = events.last() {
            CURSOR.store(last.seq, Ordering::Relaxed);
        }
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        Ok(format!(
            "{}, {}/{} steps; saw {} new events {:?}",
            status_name(info.status),
            info.aggregate.completed_steps,
            info.aggregate.total_steps,
            events.len(),
            kinds
        ))
    }
}

/// The state's name as the WIT spells it.
fn status_name(status: ArenaStatus) -> &'static str {
    match status {
        ArenaStatus::Created => "created",
        ArenaStatus::Active => "active",
        ArenaStatus::Settling => "settling",
        ArenaStatus::Archived => "archived",
    }
}

export!(Observer);
