//! The agent's settings: the llm-worker's (`endpoint`, `model`, `api_key`, `max_retries`,
//! `system_prompt`, `temperature`) and the tool loop's own. Pure: the lookup is passed in.

use example_llm_common::settings::{Config, Settings};

/// Tool calls one turn may make when `max_tool_calls` is not set.
pub const DEFAULT_MAX_TOOL_CALLS: u32 = 16;
/// The most `max_tool_calls` may ask for.
pub const MAX_TOOL_CALLS_LIMIT: u32 = 256;
/// Turns that fail for good before the slot is marked `failed`, when `max_failures` is not set.
pub const DEFAULT_MAX_FAILURES: u32 = 3;
/// How long one turn keeps asking the model, when `turn_budget_ms` is not set: under the host's
/// default turn timeout (120 s), so that the turn ends on its own terms.
pub const DEFAULT_TURN_BUDGET_MS: u64 = 100_000;

/// Everything the agent reads from its configuration.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    /// How to reach the model.
    pub model: Settings,
    /// Sent as `max_tokens` when set.
    pub max_tokens: Option<u32>,
    /// Tool calls one turn may make.
    pub max_tool_calls: u32,
    /// Turns failing for good before the slot is marked `failed`.
    pub max_failures: u32,
    /// No model request starts after this long into a turn.
    pub turn_budget_ms: u64,
}

impl AgentSettings {
    /// Reads the settings through `lookup`; errors name the key and what it must be.
    pub fn read(
        lookup: impl FnMut(&str) -> Result<Option<String>, String>,
    ) -> Result<Self, String> {
        let mut config = Config::new(lookup);
        let model = Settings::from_config(&mut config)?;
        Ok(AgentSettings {
            max_tokens: config.whole("max_tokens", 1, 1 << 20)?.map(|n| n as u32),
            max_tool_calls: config
                .whole("max_tool_calls", 1, MAX_TOOL_CALLS_LIMIT.into())?
                .map_or(DEFAULT_MAX_TOOL_CALLS, |n| n as u32),
            max_failures: config
                .whole("max_failures", 1, 1000)?
                .map_or(DEFAULT_MAX_FAILURES, |n| n as u32),
            turn_budget_ms: config
                .whole("turn_budget_ms", 1, 24 * 3_600_000)?
                .unwrap_or(DEFAULT_TURN_BUDGET_MS),
            model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<AgentSettings, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AgentSettings::read(|key| Ok(map.get(key).cloned()))
    }

    #[test]
    fn defaults_and_overrides() {
        let base = [("endpoint", "http://x"), ("model", "m")];
        let s = read(&base).unwrap();
        assert_eq!(s.max_tokens, None);
        assert_eq!(s.max_tool_calls, DEFAULT_MAX_TOOL_CALLS);
        assert_eq!(s.max_failures, DEFAULT_MAX_FAILURES);
        let s = read(&[
            base[0],
            base[1],
            ("max_tokens", "256"),
            ("max_tool_calls", "2"),
            ("max_failures", "1"),
        ])
        .unwrap();
        assert_eq!(
            (s.max_tokens, s.max_tool_calls, s.max_failures),
            (Some(256), 2, 1)
        );
    }

    #[test]
    fn bad_numbers_name_the_key_and_the_range() {
        let err = read(&[
            ("endpoint", "http://x"),
            ("model", "m"),
            ("max_tool_calls", "0"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            "config: `max_tool_calls` must be a whole number from 1 to 256"
        );
    }
}
