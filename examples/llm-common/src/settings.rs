//! The settings of a model plugin, read from its runtime configuration (`wasi:config/store`, filled
//! from the manifest's `[plugin.config]`). Pure: the lookup is passed in, so it is tested natively.

/// Retries of a failed request when `max_retries` is not set.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The most retries `max_retries` may ask for (the backoff doubles each time).
pub const MAX_RETRIES_LIMIT: u32 = 10;

/// What a plugin needs to talk to its model.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The server's base URL, such as `http://127.0.0.1:11434`.
    pub endpoint: String,
    /// The model name the server knows.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set; never shown.
    pub api_key: Option<String>,
    /// Retries of a request that failed with 429, 5xx or a connection error.
    pub max_retries: u32,
    /// Replaces the default system prompt when set.
    pub system_prompt: Option<String>,
    /// Sampling temperature, sent when set.
    pub temperature: Option<f64>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_retries", &self.max_retries)
            .field("system_prompt", &self.system_prompt)
            .field("temperature", &self.temperature)
            .finish()
    }
}

/// Reads keys through a lookup (a key's value, `None` when absent, or the store's error text). Values
/// are trimmed; an empty one counts as absent. Errors name the key, never a value (a key may hold a
/// secret).
pub struct Config<F> {
    lookup: F,
}

impl<F: FnMut(&str) -> Result<Option<String>, String>> Config<F> {
    pub fn new(lookup: F) -> Self {
        Config { lookup }
    }

    /// The key's text, if set.
    pub fn text(&mut self, key: &str) -> Result<Option<String>, String> {
        let value = (self.lookup)(key).map_err(|e| format!("config: reading `{key}`: {e}"))?;
        Ok(value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()))
    }

    /// The key as a whole number in `min..=max`, if set.
    pub fn whole(&mut self, key: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        match self.text(key)? {
            None => Ok(None),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "config: `{key}` must be a whole number from {min} to {max}"
                )),
            },
        }
    }
}

impl Settings {
    /// Reads the settings through `lookup` (see [`Config`]).
    pub fn read(
        lookup: impl FnMut(&str) -> Result<Option<String>, String>,
    ) -> Result<Self, String> {
        Self::from_config(&mut Config::new(lookup))
    }

    /// Reads the settings from `config`, which a plugin goes on reading its own keys from.
    pub fn from_config<F: FnMut(&str) -> Result<Option<String>, String>>(
        config: &mut Config<F>,
    ) -> Result<Self, String> {
        let endpoint = config
            .text("endpoint")?
            .ok_or("config: `endpoint` is required")?;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err("config: `endpoint` must start with http:// or https://".into());
        }
        let model = config.text("model")?.ok_or("config: `model` is required")?;
        let api_key = config.text("api_key")?;
        let max_retries = config
            .whole("max_retries", 0, MAX_RETRIES_LIMIT.into())?
            .map_or(DEFAULT_MAX_RETRIES, |n| n as u32);
        let system_prompt = config.text("system_prompt")?;
        let temperature = match config.text("temperature")? {
            None => None,
            Some(text) => match text.parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => Some(t),
                _ => return Err("config: `temperature` must be a number of 0 or more".into()),
            },
        };
        Ok(Settings {
            endpoint,
            model,
            api_key,
            max_retries,
            system_prompt,
            temperature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::read(|key| Ok(map.get(key).cloned()))
    }

    #[test]
    fn minimal_settings_take_the_defaults() {
        let s = read(&[("endpoint", "http://127.0.0.1:8080"), ("model", "m")]).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:8080");
        assert_eq!(s.model, "m");
        assert_eq!(s.api_key, None);
        assert_eq!(s.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(s.system_prompt, None);
        assert_eq!(s.temperature, None);
    }

    #[test]
    fn every_key_is_read() {
        let s = read(&[
            ("endpoint", " https://api.example.com/v1/ "),
            ("model", "gpt"),
            ("api_key", "sk-secret"),
            ("max_retries", "0"),
            ("system_prompt", "Be brief."),
            ("temperature", "0.2"),
        ])
        .unwrap();
        assert_eq!(s.endpoint, "https://api.example.com/v1/");
        assert_eq!(s.api_key.as_deref(), Some("sk-secret"));
        assert_eq!(s.max_retries, 0);
        assert_eq!(s.system_prompt.as_deref(), Some("Be brief."));
        assert_eq!(s.temperature, Some(0.2));
        assert!(!format!("{s:?}").contains("sk-secret"));
    }

    #[test]
    fn missing_or_bad_values_are_named() {
        assert_eq!(
            read(&[("model", "m")]).unwrap_err(),
            "config: `endpoint` is required"
        );
        assert_eq!(
            read(&[("endpoint", "http://x")]).unwrap_err(),
            "config: `model` is required"
        );
        assert!(read(&[("endpoint", "ftp://x"), ("model", "m")]).is_err());
        assert_eq!(
            read(&[
                ("endpoint", "http://x"),
                ("model", "m"),
                ("max_retries", "-1")
            ])
            .unwrap_err(),
            "config: `max_retries` must be a whole number from 0 to 10"
        );
        assert!(
            read(&[
                ("endpoint", "http://x"),
                ("model", "m"),
                ("temperature", "hot")
            ])
            .unwrap_err()
            .contains("temperature")
        );
    }

    #[test]
    fn store_errors_name_the_key() {
        let err = Settings::read(|_| Err("upstream down".into())).unwrap_err();
        assert_eq!(err, "config: reading `endpoint`: upstream down");
    }
}
