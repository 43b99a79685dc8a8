//! Builds the test plugins in `tests/guests/` for `wasm32-wasip2`; tests find them in `TEST_GUEST_DIR`.

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
            "guest-fetcher",
            "guest-subscriber",
            "guest-bad-subscriber",
        ],
        &["tests/guests"],
    );
    println!("cargo:rustc-env=TEST_GUEST_DIR={}", dir.display());
}
