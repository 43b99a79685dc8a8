//! Plugins written in Python (componentize-py) and JavaScript (componentize-js), built against the
//! `agent-worker` world, run by this host next to Rust plugins.
//!
//! They are built by `.ci/run` (the toolchains come from PyPI and npm), so these tests are ignored by
//! a plain `cargo test`; `.ci/run` runs them with `--ignored` after building the plugins.

use std::path::PathBuf;
use std::sync::Arc;

use arena_host::plugin::{PluginEngine, PluginErrorKind, PluginSpec};
use arena_host::run::{self, Manifest};
use arena_host::types::{ArenaStatus, Permission};
use arena_tests::{arena_in, fresh_host};

fn plugin(file: &str) -> PathBuf {
    let dir = std::env::var_os("POLYGLOT_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-guests"));
    let path = dir.join(file);
    assert!(
        path.exists(),
        "{} is missing: build it as .ci/run does",
        path.display()
    );
    path
}

/// Compiled interpreter plugins are cached here between test processes.
fn engine() -> PluginEngine {
    PluginEngine::new()
        .unwrap()
        .with_cache(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache"))
}

#[test]
#[ignore = "needs the Python and JavaScript plugins, which .ci/run builds"]
fn python_and_javascript_workers_collaborate_with_rust_plugins() {
    let (_dir, host) = fresh_host();
    let manifest = Manifest::parse(&format!(
        r#"
        [arena]
        goal = "three languages, one arena"
        steps = 6
        [run]
        schedule = "rounds"
        max_rounds = 10
        [[plugin]]
        agent = "lead"
        role = "coordinator"
        component = "builtin:coordinator"
        [[plugin]]
        agent = "rusty"
        role = "worker"
        component = "builtin:worker"
        [[plugin]]
        agent = "pythia"
        role = "worker"
        component = {py:?}
        [[plugin]]
        agent = "jess"
        role = "worker"
        component = {js:?}
        "#,
        py = plugin("py-worker.wasm").display().to_string(),
        js = plugin("js-worker.wasm").display().to_string(),
    ))
    .unwrap();
    let mut reports = Vec::new();
    let summary = run::run(
        &host,
        &engine(),
        &manifest,
        std::path::Path::new("."),
        |r| reports.push(format!("{} {:?}", r.agent, r.outcome)),
    )
    .unwrap();
    assert_eq!(summary.status, ArenaStatus::Archived, "{reports:#?}");
    assert!(summary.stopped.is_empty(), "{:?}", summary.stopped);
    let events = host.all_events(&summary.arena, 0).unwrap();
    for agent in ["rusty", "pythia", "jess"] {
        assert!(
            events
                .iter()
                .any(|e| e.kind == "step-completed" && e.actor == agent),
            "{agent} completed no step: {reports:#?}"
        );
    }
    assert!(
        reports.iter().any(|r| r.contains("in Python")),
        "{reports:#?}"
    );
    assert!(
        reports.iter().any(|r| r.contains("in JavaScript")),
        "{reports:#?}"
    );
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
}

#[test]
#[ignore = "needs the Python plugin, which .ci/run builds"]
fn the_python_worker_under_an_observer_grant_is_refused_before_it_is_compiled() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let engine = PluginEngine::new().unwrap();
    let spec = PluginSpec::new(
        "py-worker.wasm",
        "otto",
        Arc::from(std::fs::read(plugin("py-worker.wasm")).unwrap()),
    );
    let error = engine
        .load(&spec, host.handle(&id, "otto").unwrap())
        .err()
        .unwrap();
    assert!(
        matches!(
            &error.kind,
            PluginErrorKind::NotGranted {
                permission: Permission::Contribute,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(engine.compiled_components(), 0);
}
