//! The built-in model plugins' settings (`builtin:llm-worker`, `builtin:llm-agent`), checked when the
//! run starts, before any plugin is compiled or any model called: a typo or a bad value fails the
//! run at once, naming the plugin, the key and what was expected, instead of failing one agent's
//! turns later. The plugins read the same keys the same way (`examples/llm-worker/src/config.rs`,
//! `examples/llm-agent/src/config.rs`).

use super::RunError;
use super::manifest::{ConfigValue, PluginEntry};

/// The llm-worker's keys.
const WORKER_KEYS: &[&str] = &[
    "endpoint",
    "model",
    "api_key",
    "max_retries",
    "system_prompt",
    "temperature",
];
/// The keys the llm-agent reads besides the llm-worker's.
const AGENT_KEYS: &[&str] = &[
    "max_tokens",
    "max_tool_calls",
    "max_failures",
    "turn_budget_ms",
];

/// A whole-number key's range, inclusive.
fn range(key: &str) -> Option<(u64, u64)> {
    Some(match key {
        "max_retries" => (0, 10),
        "max_tokens" => (1, 1 << 20),
        "max_tool_calls" => (1, 256),
        "max_failures" => (1, 1000),
        "turn_budget_ms" => (1, 24 * 3_600_000),
        _ => return None,
    })
}

/// Checks `entry`'s configuration if it is a built-in model plugin; other plugins read what they
/// like.
pub fn check(entry: &PluginEntry) -> Result<(), RunError> {
    let keys: Vec<&str> = match entry.component.as_str() {
        "builtin:llm-worker" => WORKER_KEYS.to_vec(),
        "builtin:llm-agent" => WORKER_KEYS.iter().chain(AGENT_KEYS).copied().collect(),
        _ => return Ok(()),
    };
    let error = |key: &str, what: String| {
        RunError::Manifest(format!(
            "plugin {} ({}): config key {key:?}: {what}",
            entry.agent, entry.component
        ))
    };
    for key in entry.config.keys() {
        if !keys.contains(&key.as_str()) {
            return Err(error(
                key,
                format!(
                    "not a setting of this plugin (it reads {})",
                    keys.join(", ")
                ),
            ));
        }
    }
    for required in ["endpoint", "model"] {
        if !entry.config.contains_key(required) {
            return Err(error(required, "required".into()));
        }
    }
    for (key, value) in &entry.config {
        // A value from the environment is a secret: checked by the plugin, never shown here.
        let ConfigValue::Text(text) = value else {
            continue;
        };
        let text = text.trim();
        let found = format!("found {text:?}");
        if key == "endpoint" && !(text.starts_with("http://") || text.starts_with("https://")) {
            return Err(error(
                key,
                format!("expected an http:// or https:// URL, {found}"),
            ));
        }
        if key == "model" && text.is_empty() {
            return Err(error(key, "expected a model name, found nothing".into()));
        }
        if key == "temperature" && !text.parse::<f64>().is_ok_and(|t| t.is_finite() && t >= 0.0) {
            return Err(error(
                key,
                format!("expected a number of 0 or more, {found}"),
            ));
        }
        if let Some((min, max)) = range(key)
            && !text.parse::<u64>().is_ok_and(|n| (min..=max).contains(&n))
        {
            return Err(error(
                key,
                format!("expected a whole number from {min} to {max}, {found}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Manifest;

    fn entry(component: &str, config: &str) -> PluginEntry {
        let manifest = Manifest::parse(&format!(
            "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"writer\"\nrole = \"worker\"\n\
             component = \"{component}\"\n[plugin.config]\n{config}"
        ))
        .unwrap();
        manifest.plugins.into_iter().next().unwrap()
    }

    const GOOD: &str = "endpoint = \"http://127.0.0.1:8080\"\nmodel = \"m\"\n";

    #[test]
    fn good_settings_pass_and_other_plugins_are_not_checked() {
        check(&entry(
            "builtin:llm-agent",
            &format!("{GOOD}temperature = 0.7\nmax_tokens = 512\napi_key = {{ env = \"K\" }}"),
        ))
        .unwrap();
        check(&entry("builtin:worker", "anything = \"goes\"")).unwrap();
    }

    #[test]
    fn each_bad_setting_names_the_plugin_the_key_and_what_was_expected() {
        let cases = [
            (
                "builtin:llm-agent",
                format!("{GOOD}temperature = \"hot\""),
                r#"plugin writer (builtin:llm-agent): config key "temperature": expected a number of 0 or more, found "hot""#,
            ),
            (
                "builtin:llm-agent",
                format!("{GOOD}max_tool_calls = 0"),
                r#"config key "max_tool_calls": expected a whole number from 1 to 256, found "0""#,
            ),
            (
                "builtin:llm-worker",
                format!("{GOOD}max_tokens = 5"),
                r#"config key "max_tokens": not a setting of this plugin"#,
            ),
            (
                "builtin:llm-agent",
                "model = \"m\"".to_string(),
                r#"config key "endpoint": required"#,
            ),
            (
                "builtin:llm-agent",
                "endpoint = \"ftp://x\"\nmodel = \"m\"".to_string(),
                r#"config key "endpoint": expected an http:// or https:// URL, found "ftp://x""#,
            ),
        ];
        for (component, config, want) in cases {
            let got = check(&entry(component, &config)).unwrap_err().to_string();
            assert!(got.contains(want), "{got}\nwanted {want}");
        }
    }
}
