//! Imports `arena:core/observe@0.2.0`, a version this host does not provide.

wit_bindgen::generate!({ world: "agent", path: "wit" });

struct FromTheFuture;

impl exports::arena::core::plugin::Guest for FromTheFuture {
    fn turn(_turn: u32) -> Result<String, String> {
        Ok(arena::core::observe::goal())
    }
}

export!(FromTheFuture);
