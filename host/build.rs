//! Builds the arena component for `wasm32-wasip2` in a target directory of its own and hands its path
//! to the host as `ARENA_COMPONENT_WASM`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    let target_dir = root.join("target").join("wasm-guests");

    for path in [
        "arena-component/src",
        "arena-component/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "build",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "wasm-release",
            "-p",
            "arena-component",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    if env::var_os("CARGO_NET_OFFLINE").is_some() {
        command.arg("--offline");
    }
    // Flags meant for the host build must not reach the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(var);
    }
    let output = command
        .output()
        .expect("running cargo to build the arena component");
    if !output.status.success() {
        panic!(
            "building the arena component for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("wasm-release")
        .join("arena_component.wasm");
    println!("cargo:rustc-env=ARENA_COMPONENT_WASM={}", wasm.display());
}
