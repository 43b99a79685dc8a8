//! Builds the test plugins in `tests/guests/` for `wasm32-wasip2` (tests find them in
//! `TEST_GUEST_DIR`), and composes the test driver with the arena and its in-memory storage into
//! `test-driver-standalone.wasm`, a command any WASI runtime can run.

fn main() {
    let root = guest_build::workspace_root(1);
    let dir = guest_build::build(
        &root,
        &[
            "guest-looper",
            "guest-memory-hog",
            "guest-trapper",
            "guest-big-arg",
            "guest-usurper",
            "guest-other-version",
            "guest-wrong-turn",
            "guest-fetcher",
            "guest-rogue",
            "guest-subscriber",
            "guest-bad-subscriber",
            "guest-driver",
            "arena-component",
            "memory-storage",
        ],
        &["tests/guests", "arena-component", "host/memory-storage"],
    );
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let standalone = out.join("arena-standalone.wasm");
    guest_build::plug(
        &dir.join("arena_component.wasm"),
        &[&dir.join("memory_storage.wasm")],
        &standalone,
    );
    guest_build::plug(
        &dir.join("test-driver.wasm"),
        &[&standalone],
        &dir.join("test-driver-standalone.wasm"),
    );
    println!("cargo:rustc-env=TEST_GUEST_DIR={}", dir.display());
}
