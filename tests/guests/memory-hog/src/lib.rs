//! Hostile: allocates a megabyte at a time, forever.

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

struct Hog;

impl exports::arena::core::plugin::Guest for Hog {
    fn turn(_turn: u32) -> Result<String, String> {
        let _ = arena::core::observe::status();
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
        }
    }
}

export!(Hog);
