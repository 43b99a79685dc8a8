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

/// Composes components the way `wac plug` does: every export of a plug that matches an import of the
/// socket satisfies it, and the result exports what the socket exports. Writes the result to `out`.
///
/// # Panics
/// When a component cannot be read or the composition is invalid: a build script has no better way
/// to report it.
pub fn plug(socket: &Path, plugs: &[&Path], out: &Path) {
    use wac_graph::types::Package;
    use wac_graph::{CompositionGraph, EncodeOptions};

    let mut graph = CompositionGraph::new();
    let mut register = |name: &str, path: &Path| {
        let package = Package::from_file(name, None, path, graph.types_mut())
            .unwrap_or_else(|e| panic!("reading {}: {e:#}", path.display()));
        graph
            .register_package(package)
            .unwrap_or_else(|e| panic!("registering {}: {e:#}", path.display()))
    };
    let socket_id = register("compose:socket", socket);
    let plug_ids = plugs
        .iter()
        .enumerate()
        .map(|(i, path)| register(&format!("compose:plug{i}"), path))
        .collect();
    wac_graph::plug(&mut graph, plug_ids, socket_id)
        .unwrap_or_else(|e| panic!("plugging {plugs:?} into {}: {e:#}", socket.display()));
    let bytes = graph
        .encode(EncodeOptions::default())
        .unwrap_or_else(|e| panic!("encoding the composition of {}: {e:?}", socket.display()));
    std::fs::write(out, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
