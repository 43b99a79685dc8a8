//! Subscribes to the arena's events and traps on the first batch, or, when its `mode`
//! configuration value is `sleep`, blocks in a WASI sleep for an hour on it.

wit_bindgen::generate!({ world: "agent-subscriber", path: "../../../wit", generate_all });

use arena::core::types::Event;

struct BadSubscriber;

impl exports::arena::core::plugin::Guest for BadSubscriber {
    fn turn(_turn: u32) -> Result<String, String> {
        Ok("waiting for events".into())
    }
}

impl exports::arena::core::subscriber::Guest for BadSubscriber {
    fn on_events(events: Vec<Event>) -> Result<(), String> {
        if wasi::config::store::get("mode").ok().flatten().as_deref() == Some("sleep") {
            wasip2::clocks::monotonic_clock::subscribe_duration(3_600_000_000_000).block();
            return Ok(());
        }
        let first: Option<&Event> = std::hint::black_box(None);
        panic!(
            "the bad subscriber traps on {} events ({:?})",
            events.len(),
            first.map(|e| e.seq)
        );
    }
}

export!(BadSubscriber);
