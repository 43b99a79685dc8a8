//! The full benchmark suite: every hot path against a baseline measured in the same run (the suite
//! lives in the `arena` program, `host/src/cli/bench/`), at the full sizes — a 1,000,000-event
//! replay (its fixture built once under `target/bench-fixtures/`) and up to 10,000 live plugin
//! instances.
//!
//! `cargo bench -p arena-host` (release profile) runs `arena bench --full`. `arena bench` runs the
//! same cases at smaller sizes; `cargo bench -p arena-host -- --smoke` runs every case at tiny sizes.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fixtures");
    let size = if std::env::args().any(|a| a == "--smoke") {
        "--smoke"
    } else {
        "--full"
    };
    let status = Command::new(env!("CARGO_BIN_EXE_arena"))
        .args(["bench", size, "--fixtures"])
        .arg(&fixtures)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("benchmark failed: could not start the arena program: {e}");
            ExitCode::FAILURE
        }
    }
}
