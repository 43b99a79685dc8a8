//! Builds the arena component and the sample plugins for `wasm32-wasip2`; the host embeds them.

fn main() {
    let root = guest_build::workspace_root(1);
    let dir = guest_build::build(
        &root,
        &[
            "arena-component",
            "example-coordinator",
            "example-worker",
            "example-observer",
        ],
        &["arena-component", "examples"],
    );
    println!("cargo:rustc-env=ARENA_GUEST_DIR={}", dir.display());
}
