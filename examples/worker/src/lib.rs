//! A worker plugin: each turn it completes the next step nobody has done yet. It remembers where it got
//! to between turns (a plugin instance lives for one run). Imports `observe` and `contribute` only.

use std::sync::atomic::{AtomicU32, Ordering};

// `generate_all` also generates the wasi:config bindings the world names; unused, they are no import.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

use arena::core::types::{ArenaError, ArenaStatus};
use arena::core::{contribute, observe};

/// The lowest step this worker has not seen done.
static NEXT_STEP: AtomicU32 = AtomicU32::new(1);

struct Worker;

impl exports::arena::core::plugin::Guest for Worker {
    fn turn(_turn: u32) -> Result<String, String> {
        let status = observe::status().map_err(|e| format!("reading the status: {e:?}"))?;
        if status != ArenaStatus::Active {
            return Ok(format!("waiting: the arena is {}", status_name(status)));
        }
        let total = observe::progress()
            .map_err(|e| format!("reading progress: {e:?}"))?
            .total_steps;
        let mut step = NEXT_STEP.load(Ordering::Relaxed);
        while step <= total {
            match contribute::complete_step(step) {
                Ok(aggregate) => {
                    NEXT_STEP.store(step + 1, Ordering::Relaxed);
                    let _ = contribute::report_progress(&format!("finished step {step}"));
                    return Ok(format!(
                        "completed step {step} ({}/{})",
                        aggregate.completed_steps, aggregate.total_steps
                    ));
                }
                Err(ArenaError::AlreadyDone) => step += 1,
                Err(e) => return Err(format!("completing step {step}: {e:?}")),
            }
        }
        NEXT_STEP.store(step, Ordering::Relaxed);
        Ok("no open step left".to_string())
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

export!(Worker);
