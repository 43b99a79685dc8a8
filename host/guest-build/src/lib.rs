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
    ensure_target();
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
            TARGET,
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
            "building {packages:?} for {TARGET} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    target_dir.join(TARGET).join("wasm-release")
}

/// The target every guest is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Makes sure the compiler has the standard library for [`TARGET`]: when it is missing and `rustup`
/// is on the `PATH`, installs it (`rustup target add`, for the toolchain cargo is running), so that a
/// fresh machine needs no set-up step of its own.
///
/// # Panics
/// When the target is missing and cannot be installed, with one line saying what to run.
pub fn ensure_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let installed = || {
        Command::new(&rustc)
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            .is_some_and(|dir| dir.is_dir())
    };
    if installed() {
        return;
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (needed for the wasm guests)"
    );
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    match rustup.output() {
        // Another build script may have installed it meanwhile: what counts is that it is there.
        _ if installed() => {}
        Ok(out) => panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(_) => panic!(
            "the {TARGET} target is missing and rustup is not on the PATH: install the target for this \
             toolchain (with rustup: `rustup target add {TARGET}`), then build again"
        ),
    }
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
