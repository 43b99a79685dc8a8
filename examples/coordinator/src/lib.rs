//! A coordinator plugin: activates the arena, watches progress, and settles then archives it once every
//! step is done. Imports `observe` and `coordinate` only.

wit_bindgen::generate!({ world: "agent", path: "../../wit" });

use arena::core::types::ArenaStatus;
use arena::core::{coordinate, observe};

struct Coordinator;

impl exports::arena::core::plugin::Guest for Coordinator {
    fn turn(_turn: u32) -> Result<String, String> {
        let info = observe::info().map_err(|e| format!("reading the arena: {e:?}"))?;
        let (done, total) = (info.aggregate.completed_steps, info.aggregate.total_steps);
        let report = match info.status {
            ArenaStatus::Created => {
                coordinate::activate().map_err(|e| format!("activating: {e:?}"))?;
                format!(
                    "activated the arena ({} participants)",
                    info.participants.len()
                )
            }
            ArenaStatus::Active if done >= total => {
                coordinate::settle().map_err(|e| format!("settling: {e:?}"))?;
                format!("all {total} steps done: settling")
            }
            ArenaStatus::Active => format!("watching: {done}/{total} steps done"),
            ArenaStatus::Settling => {
                coordinate::archive().map_err(|e| format!("archiving: {e:?}"))?;
                "archived the arena".to_string()
            }
            ArenaStatus::Archived => "the arena is archived".to_string(),
        };
        Ok(report)
    }
}

export!(Coordinator);
