//! The manifest's unit tests: parsing, config values and secrets, components, the team's memory.

use std::path::Path;

use super::*;
use crate::run::BUILTIN_PLUGINS;

fn entry(toml_text: &str) -> PluginEntry {
    let manifest = Manifest::parse(&format!(
        "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"w\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n{toml_text}"
    ))
    .unwrap();
    manifest.plugins.into_iter().next().unwrap()
}

#[test]
fn a_missing_environment_variable_names_the_plugin_the_key_and_the_variable() {
    let entry = entry("[plugin.config]\napi_key = { env = \"NO_SUCH_VAR\" }");
    let error = entry.config(|_| None).unwrap_err().to_string();
    for part in ["plugin w", "\"api_key\"", "NO_SUCH_VAR"] {
        assert!(error.contains(part), "{error}");
    }
}

#[test]
fn unquoted_numbers_and_booleans_are_taken_as_their_text() {
    let entry = entry("[plugin.config]\ntemperature = 0.5\nmax_tokens = 256\nstream = false");
    let texts: Vec<String> = entry
        .config
        .values()
        .map(|v| match v {
            ConfigValue::Text(text) => text.clone(),
            ConfigValue::Env(_) => panic!("not an env value"),
        })
        .collect();
    assert_eq!(texts, ["256", "false", "0.5"]);
}

#[test]
fn a_config_value_of_another_type_names_what_is_expected() {
    let error = Manifest::parse(
        "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"w\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n[plugin.config]\nstops = [1, 2]",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error
            .contains(r#"expected a string, a number, a boolean or { env = "NAME" }, found array"#),
        "{error}"
    );
    assert!(error.contains("stops"), "{error}");
    assert!(!error.contains("untagged"), "{error}");
}

#[test]
fn builtin_llm_agent_takes_the_build_its_grant_allows() {
    let lead_bytes = |role: &str, permissions: &str| {
        let manifest = Manifest::parse(&format!(
            "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"a\"\nrole = \"{role}\"\ncomponent = \"builtin:llm-agent\"\n{permissions}"
        ))
        .unwrap();
        let bytes = manifest.plugins[0].component(Path::new(".")).unwrap();
        let lead = BUILTIN_PLUGINS
            .iter()
            .find(|(n, _)| *n == crate::run::LLM_AGENT_LEAD)
            .unwrap()
            .1;
        *bytes == *lead
    };
    assert!(lead_bytes("coordinator", ""));
    assert!(!lead_bytes("worker", ""));
    assert!(!lead_bytes(
        "coordinator",
        "permissions = [\"observe\", \"read-slots\", \"contribute\"]"
    ));
}

#[test]
fn the_llm_team_example_is_a_model_coordinator_over_three_model_workers() {
    let manifest = Manifest::parse(include_str!("../../../../examples/llm-team.toml")).unwrap();
    let plugins: Vec<(&str, &str, String)> = manifest
        .plugins
        .iter()
        .map(|p| (p.agent.as_str(), p.role.as_str(), p.name()))
        .collect();
    assert_eq!(
        plugins,
        [
            (
                "lead",
                "coordinator",
                "builtin:llm-agent-coordinator".into()
            ),
            ("researcher", "worker", "builtin:llm-agent".into()),
            ("writer", "worker", "builtin:llm-agent".into()),
            ("editor", "worker", "builtin:llm-agent".into()),
        ]
    );
    for plugin in &manifest.plugins {
        plugin.config(|_| None).unwrap();
        plugin.component(Path::new(".")).unwrap();
    }
}

#[test]
fn values_from_the_environment_are_secrets_and_written_ones_are_not() {
    let entry = entry("[plugin.config]\nmodel = \"tiny\"\napi_key = { env = \"K\" }");
    let config = entry.config(|_| Some("sk-9".into())).unwrap();
    assert!(config.leaks("sk-9"));
    assert!(!config.leaks("tiny"));
}

#[test]
fn schedule_defaults_to_concurrent_and_max_rounds_is_still_read() {
    let manifest =
        Manifest::parse("[arena]\nid = \"x\"\n[run]\nmax_rounds = 7\n[[plugin]]\nagent = \"a\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"").unwrap();
    assert_eq!(manifest.run.schedule, Schedule::Concurrent);
    assert_eq!(manifest.run.max_turns, 7);
}

#[test]
fn an_oversized_component_file_is_refused_naming_the_cap_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // Sparse: its size says too large, though no byte of it was ever written.
    let file = std::fs::File::create(dir.path().join("huge.wasm")).unwrap();
    file.set_len(MAX_COMPONENT_BYTES + 1).unwrap();
    let mut entry = entry("");
    entry.component = "huge.wasm".into();
    let error = entry.component(dir.path()).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "manifest: plugin w: {} is larger than the cap of {MAX_COMPONENT_BYTES} bytes for \
             a component",
            dir.path().join("huge.wasm").display()
        )
    );
}

#[test]
fn a_component_that_is_not_a_regular_file_is_refused_unread() {
    let mut entry = entry("");
    entry.component = "/dev/zero".into();
    let error = entry.component(Path::new("/")).unwrap_err().to_string();
    assert_eq!(error, "manifest: plugin w: /dev/zero is not a regular file");
}

#[test]
fn the_team_memory_is_the_run_memory_cap_and_a_zero_cap_is_refused_naming_the_key() {
    let run = |text: &str| {
        Manifest::parse(&format!(
            "[arena]\ngoal = \"g\"\nsteps = 1\n[run]\n{text}\n[[plugin]]\nagent = \"a\"\n\
             role = \"worker\"\ncomponent = \"builtin:worker\""
        ))
        .unwrap()
        .run
    };
    assert_eq!(
        run("memory_mb = 100").team_memory().unwrap().cap(),
        100 << 20
    );
    let error = run("memory_mb = 0").team_memory().unwrap_err().to_string();
    assert_eq!(
        error,
        "manifest: [run] memory_mb is 0: the team would have no memory to run in"
    );
    // The default fits the machine, and is never zero.
    assert!(RunSection::default().team_memory().unwrap().cap() > 0);
}
