//! A worker that also tries to settle the arena: it imports `coordinate`.

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

use arena::core::{contribute, coordinate};

struct Usurper;

impl exports::arena::core::plugin::Guest for Usurper {
    fn turn(turn: u32) -> Result<String, String> {
        contribute::complete_step(turn).map_err(|e| format!("{e:?}"))?;
        coordinate::settle().map_err(|e| format!("{e:?}"))?;
        Ok("settled it myself".into())
    }
}

export!(Usurper);
