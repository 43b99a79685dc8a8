//! Exports `arena:core/plugin@0.1.0#turn` taking a string instead of a `u32`.

wit_bindgen::generate!({ world: "agent", path: "wit" });

struct Mismatched;

impl exports::arena::core::plugin::Guest for Mismatched {
    fn turn(turn: String) -> Result<String, String> {
        Ok(turn)
    }
}

export!(Mismatched);
