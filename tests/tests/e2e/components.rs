//! Every component the project builds is valid, and the arena component asks any host for exactly
//! `storage` (plus its types and WASI) and offers exactly the manager — no surprise import.

use arena_host::ARENA_COMPONENT;
use arena_host::plugin::component_imports;
use arena_host::run::BUILTIN_PLUGINS;

fn validate(name: &str, bytes: &[u8]) {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .unwrap_or_else(|e| panic!("{name} is not a valid component: {e}"));
}

fn exports(bytes: &[u8]) -> Vec<String> {
    let mut exports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentExportSection(section) if depth == 1 => {
                exports.extend(
                    section
                        .into_iter()
                        .map(|e| e.unwrap().name.name.to_string()),
                );
            }
            _ => {}
        }
    }
    exports
}

#[test]
fn every_component_the_project_builds_validates() {
    validate("arena_component.wasm", ARENA_COMPONENT);
    for (name, bytes) in BUILTIN_PLUGINS {
        validate(name, bytes);
    }
    let guests = std::fs::read_dir(env!("TEST_GUEST_DIR")).unwrap();
    let mut count = 0;
    for entry in guests {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wasm") {
            validate(&path.display().to_string(), &std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count >= 9, "only {count} test guests found");
}

#[test]
fn the_arena_component_imports_only_storage_and_wasi_and_exports_the_manager() {
    let imports = component_imports(ARENA_COMPONENT).unwrap();
    let ours: Vec<&String> = imports.iter().filter(|i| !i.starts_with("wasi:")).collect();
    assert_eq!(ours, ["arena:core/types@0.1.0", "arena:core/storage@0.1.0"]);
    // Exactly what a host that lists its imports must provide (the Node host in tests/node does):
    // no filesystem, sockets or http, and no `random/insecure-seed` (a randomly seeded hasher).
    for wasi in imports.iter().filter(|i| i.starts_with("wasi:")) {
        let interface = wasi.split('@').next().unwrap();
        let cli = interface.strip_prefix("wasi:cli/").is_some_and(|i| {
            ["environment", "exit", "stderr", "stdin", "stdout"].contains(&i)
                || i.starts_with("terminal-")
        });
        let rest = [
            "wasi:clocks/monotonic-clock",
            "wasi:clocks/wall-clock",
            "wasi:io/error",
            "wasi:io/poll",
            "wasi:io/streams",
            "wasi:random/random",
        ]
        .contains(&interface);
        assert!(cli || rest, "unexpected WASI import {wasi}");
    }
    assert_eq!(exports(ARENA_COMPONENT), ["arena:core/manager@0.1.0"]);
}

#[test]
fn the_sample_observer_imports_only_observe_of_our_interfaces() {
    let (_, observer) = BUILTIN_PLUGINS
        .iter()
        .find(|(n, _)| *n == "observer")
        .unwrap();
    let ours: Vec<String> = component_imports(observer)
        .unwrap()
        .into_iter()
        .filter(|i| i.starts_with("arena:"))
        .collect();
    assert_eq!(ours, ["arena:core/types@0.1.0", "arena:core/observe@0.1.0"]);
}
