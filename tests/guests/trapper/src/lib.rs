//! Hostile: completes a step, then traps in the middle of its turn before reporting progress.

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

use arena::core::contribute;

struct Trapper;

impl exports::arena::core::plugin::Guest for Trapper {
    fn turn(turn: u32) -> Result<String, String> {
        contribute::complete_step(turn).map_err(|e| format!("{e:?}"))?;
        let half_done: Option<u32> = std::hint::black_box(None);
        let value = half_done.expect("the trapper traps here, mid-turn");
        contribute::report_progress(&value.to_string()).map_err(|e| format!("{e:?}"))?;
        Ok("unreachable".into())
    }
}

export!(Trapper);
