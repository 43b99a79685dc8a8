//! Running the `arena` program as a user runs it, shared by the test binaries that do.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The program, with its component cache inside the target directory.
pub fn program() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_arena"));
    command.env(
        "ARENA_CACHE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
    );
    command
}

/// Runs `arena --db DB ARGS` to its end.
pub fn arena(db: &Path, args: &[&str]) -> Output {
    program()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run arena")
}

/// Runs `arena ARGS`, expects it to succeed, and returns its stdout.
pub fn ok(db: &Path, args: &[&str]) -> String {
    let out = arena(db, args);
    assert!(
        out.status.success(),
        "arena {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `arena ARGS`, expects it to fail with nothing on stdout, and returns its stderr.
pub fn fails(db: &Path, args: &[&str]) -> String {
    let out = arena(db, args);
    assert!(!out.status.success(), "arena {args:?} succeeded");
    assert!(out.stdout.is_empty(), "arena {args:?} printed to stdout");
    String::from_utf8(out.stderr).expect("utf-8 errors")
}
