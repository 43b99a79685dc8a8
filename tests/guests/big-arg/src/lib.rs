//! Hostile: sends an 8 MiB progress note.

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

struct BigArg;

impl exports::arena::core::plugin::Guest for BigArg {
    fn turn(_turn: u32) -> Result<String, String> {
        let note = "x".repeat(8 << 20);
        match arena::core::contribute::report_progress(&note) {
            Ok(_) => Ok("the host took 8 MiB".into()),
            Err(e) => Err(format!("{e:?}")),
        }
    }
}

export!(BigArg);
