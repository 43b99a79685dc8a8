//! A plugin's configuration, read through `wasi:config/store`, and the secrets among it.
//!
//! Values come from the manifest's `[plugin.config]` table; a value given as `{ env = "NAME" }` is
//! read from the host's environment and is a secret: it is redacted (as `[redacted]`) from
//! everything the plugin reports — turn reports, error texts, its stdout and stderr, errors about
//! it — and a write that would carry it into the arena is refused, so it never reaches events,
//! state, facts, artifacts, the database file or logs.

use std::borrow::Cow;
use std::fmt;

use wasmtime_wasi_config::WasiConfigVariables;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Configuration values for one plugin.
#[derive(Clone, Default)]
pub struct PluginConfig {
    values: Vec<(String, String)>,
    /// Values that must never leave the plugin, longest first (so that one secret containing
    /// another is redacted whole).
    secrets: Vec<String>,
}

impl PluginConfig {
    /// An empty configuration: the plugin's `wasi:config/store` holds nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to a plain value (one written in the manifest, so not a secret).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        self.values.retain(|(k, _)| *k != key);
        self.values.push((key, value.into()));
        self
    }

    /// Sets `key` to a secret value (one read from the environment).
    pub fn set_secret(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        if !value.is_empty() && !self.secrets.contains(&value) {
            self.secrets.push(value.clone());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self.set(key, value)
    }

    /// The configured keys, in the order they were set.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(k, _)| k.as_str())
    }

    /// Whether `text` holds a secret.
    pub fn leaks(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|secret| text.contains(secret.as_str()))
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.leaks(text) {
            return Cow::Borrowed(text);
        }
        let mut text = text.to_string();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), REDACTED);
        }
        Cow::Owned(text)
    }

    /// The variables `wasi:config/store` serves.
    pub(crate) fn variables(&self) -> WasiConfigVariables {
        self.values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Shows the keys, never the values.
impl fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfig")
            .field("keys", &self.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_plain_values_are_not() {
        let mut config = PluginConfig::new();
        config.set("model", "tiny").set_secret("api-key", "sk-123");
        assert_eq!(
            config.redact("key sk-123, model tiny"),
            "key [redacted], model tiny"
        );
        assert!(config.leaks("xsk-123y"));
        assert!(!config.leaks("tiny"));
    }

    #[test]
    fn a_secret_inside_another_is_redacted_whole() {
        let mut config = PluginConfig::new();
        config.set_secret("a", "abc").set_secret("b", "abcdef");
        assert_eq!(config.redact("abcdef abc"), "[redacted] [redacted]");
    }

    #[test]
    fn debug_output_names_keys_but_never_values() {
        let mut config = PluginConfig::new();
        config.set_secret("api-key", "sk-123");
        let shown = format!("{config:?}");
        assert!(
            shown.contains("api-key") && !shown.contains("sk-123"),
            "{shown}"
        );
    }

    #[test]
    fn an_empty_secret_redacts_nothing() {
        let mut config = PluginConfig::new();
        config.set_secret("empty", "");
        assert_eq!(config.redact("anything"), "anything");
    }
}
