//! Builds the arena component, its in-memory storage and the sample plugins for `wasm32-wasip2`; the
//! host embeds the component and the plugins. Also composes `arena-standalone.wasm` (the arena with
//! its storage inside) for hosts that bring no storage, such as the `wasmtime` CLI.

fn main() {
    let root = guest_build::workspace_root(1);
    let dir = guest_build::build(
        &root,
        &[
            "arena-component",
            "memory-storage",
            "example-coordinator",
            "example-worker",
            "example-observer",
            "example-drafter",
            "example-reviewer",
            "example-llm-worker",
            "example-llm-agent",
            "example-llm-agent-coordinator",
        ],
        &[
            "arena-component",
            "host/memory-storage",
            "examples/coordinator",
            "examples/worker",
            "examples/observer",
            "examples/drafter",
            "examples/reviewer",
            "examples/llm-common",
            "examples/llm-worker",
            "examples/llm-agent",
            "examples/llm-agent-coordinator",
        ],
    );
    guest_build::plug(
        &dir.join("arena_component.wasm"),
        &[&dir.join("memory_storage.wasm")],
        &dir.join("arena-standalone.wasm"),
    );
    println!("cargo:rustc-env=ARENA_GUEST_DIR={}", dir.display());
}
