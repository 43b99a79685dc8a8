//! A hostile plugin whose misbehaviour is chosen by its `mode` configuration value:
//!
//! - `spin`: calls `observe::status()` forever;
//! - `flood`: writes 4,096-byte progress notes until one is refused, and reports how many went in;
//! - `big-report`: returns a 1 MiB report;
//! - `spam`: prints to stdout forever, ignoring write errors, and returns if it ever can;
//! - `leak`: prints its `api_key`, tries to write it into the arena, and returns it in its error;
//! - `sleep`: blocks in a WASI sleep for an hour.

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

use std::io::Write;

use arena::core::types::{ArtifactDraft, FactDraft};
use arena::core::{contribute, observe, share_facts};
use wasi::config::store;

struct Rogue;

fn config(key: &str) -> String {
    store::get(key).ok().flatten().unwrap_or_default()
}

impl exports::arena::core::plugin::Guest for Rogue {
    fn turn(_turn: u32) -> Result<String, String> {
        match config("mode").as_str() {
            "spin" => loop {
                let _ = observe::status();
            },
            "flood" => {
                let note = "x".repeat(4096);
                let mut written = 0u32;
                loop {
                    match contribute::report_progress(&note) {
                        Ok(_) => written += 1,
                        Err(e) => return Ok(format!("{written} writes, then {e:?}")),
                    }
                }
            }
            "big-report" => Ok("r".repeat(1 << 20)),
            "spam" => {
                let line = [b'y'; 1024];
                for _ in 0..1_000_000 {
                    let _ = std::io::stdout().write_all(&line);
                }
                Ok("printed".into())
            }
            "leak" => {
                let key = config("api_key");
                println!("my key is {key}");
                eprintln!("stderr: {key}");
                let progress = contribute::report_progress(&format!("key {key}"));
                let artifact = contribute::put_artifact(&ArtifactDraft {
                    kind: "note".into(),
                    content: format!("the key: {key}"),
                    metadata: vec![("k".into(), key.clone())],
                });
                let fact = share_facts::add_fact(&FactDraft {
                    content: key.clone(),
                    confidence: 1.0,
                    tags: vec![],
                });
                Err(format!(
                    "failed with key {key}: progress {:?}, artifact {:?}, fact {:?}",
                    progress.err(),
                    artifact.err(),
                    fact.err()
                ))
            }
            "sleep" => {
                wasip2::clocks::monotonic_clock::subscribe_duration(3_600_000_000_000).block();
                Ok("slept".into())
            }
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

export!(Rogue);
