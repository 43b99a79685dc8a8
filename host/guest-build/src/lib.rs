//! Builds wasm guests (the arena component, sample and test plugins) from a build script.
//!
//! The guests are built by a nested `cargo build --target wasm32-wasip2 --profile wasm-release` with a
//! target directory of its own (`target/wasm-guests`), so the outer build never waits on its own lock
//! and host debug and release builds share one set of guests. Flags meant for the host are scrubbed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, from a build script of a crate `depth` directories below it.
pub fn workspace_root(depth: usize) -> PathBuf {
    let mut root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for _ in 0..depth {
        root.pop();
    }
    root
}

/// Builds `packages` for `wasm32-wasip2`, tells cargo to rerun when any of `watched` (paths relative
/// to `root`, directories scanned recursively) changes, and returns the directory holding the `.wasm`
/// files (named after each package, with `-` as `_`).
///
/// # Panics
/// When the nested build fails, with its error output: a build script has no better way to report it.
pub fn build(root: &Path, packages: &[&str], watched: &[&str]) -> PathBuf {
    for path in watched.iter().chain(&["wit", "Cargo.toml", "Cargo.lock"]) {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    let target_dir = root.join("target").join("wasm-guests");
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "wasm-release",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    if env::var_os("CARGO_NET_OFFLINE").is_some() {
        command.arg("--offline");
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let output = command
        .output()
        .expect("running cargo to build wasm guests");
    if !output.status.success() {
        panic!(
            "building {packages:?} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    target_dir.join("wasm32-wasip2").join("wasm-release")
}
