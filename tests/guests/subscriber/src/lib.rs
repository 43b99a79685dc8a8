//! Subscribes to the arena's events and insists on receiving them in order, without gaps or
//! duplicates within its lifetime; each turn it reports the sequence numbers it has accepted.

use std::cell::RefCell;

wit_bindgen::generate!({ world: "agent-subscriber", path: "../../../wit", generate_all });

use arena::core::types::Event;

thread_local! {
    static SEEN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Subscriber;

impl exports::arena::core::plugin::Guest for Subscriber {
    fn turn(_turn: u32) -> Result<String, String> {
        SEEN.with(|seen| {
            let seen = seen.borrow();
            Ok(format!(
                "accepted {} events, last {:?}",
                seen.len(),
                seen.last()
            ))
        })
    }
}

impl exports::arena::core::subscriber::Guest for Subscriber {
    fn on_events(events: Vec<Event>) -> Result<(), String> {
        SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            for event in &events {
                if let Some(last) = seen.last()
                    && event.seq != last + 1
                {
                    return Err(format!(
                        "event {} after {last}: a gap or a duplicate",
                        event.seq
                    ));
                }
                seen.push(event.seq);
            }
            Ok(())
        })
    }
}

export!(Subscriber);
