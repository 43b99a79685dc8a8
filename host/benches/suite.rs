//! The full benchmark suite: every hot path against a baseline measured in the same run (see
//! `arena_host::bench`), at the full sizes — a 1,000,000-event replay (its fixture built once under
//! `target/bench-fixtures/`) and up to 10,000 live plugin instances.
//!
//! `cargo bench -p arena-host` (release profile). `arena bench` runs the same cases at smaller sizes;
//! `cargo bench -p arena-host -- --smoke` runs every case at tiny sizes.

use std::path::PathBuf;

use arena_host::bench::{self, BenchConfig};

fn main() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fixtures");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_arena"));
    let smoke = std::env::args().any(|a| a == "--smoke");
    let config = if smoke {
        BenchConfig::smoke(fixtures, Some(exe))
    } else {
        BenchConfig::full(fixtures, Some(exe))
    };
    match bench::run(&config, |case| eprintln!("measuring: {case}")) {
        Ok(report) => print!("{}", bench::table(&report)),
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
