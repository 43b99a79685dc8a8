//! Hostile: reads the arena, then never returns from its turn.

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

struct Looper;

impl exports::arena::core::plugin::Guest for Looper {
    fn turn(_turn: u32) -> Result<String, String> {
        let _ = arena::core::observe::status();
        let mut spins = 0u64;
        loop {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
}

export!(Looper);
