//! The chat-completions protocol's transport rules, without the transport: the URL, which failures
//! are worth a retry and which are permanent, the backoff, and quoting a body in an error. Pure.

/// The first retry waits this long; each later one twice as long as the one before.
pub const FIRST_BACKOFF_MS: u64 = 250;
/// At most this much of an error response's body is quoted in an error text.
pub const QUOTED_BODY_CHARS: usize = 200;

/// `{endpoint}/v1/chat/completions`, for an endpoint with or without a trailing `/`, and for one that
/// already ends in `/v1`.
pub fn chat_url(endpoint: &str) -> String {
    let base = endpoint.trim().trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

/// Whether a response with this status is worth asking again: rate limiting and server errors.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// Whether a failed request's status is permanent: another turn would get the same answer (bad key,
/// forbidden, unknown model or route, a request the server refuses).
pub fn permanent_status(status: u16) -> bool {
    matches!(status, 400 | 401 | 403 | 404 | 422)
}

/// How long to wait before retry number `retry` (0 for the first).
pub fn backoff_ms(retry: u32) -> u64 {
    FIRST_BACKOFF_MS.saturating_mul(1u64 << retry.min(20))
}

/// A chat-completions response body as JSON, and its first choice.
pub fn first_choice(body: &[u8]) -> Result<(serde_json::Value, serde_json::Value), String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the reply is not JSON ({e}): {}", quote(body)))?;
    let choice = value
        .get("choices")
        .and_then(serde_json::Value::as_array)
        .and_then(|choices| choices.first())
        .cloned()
        .ok_or_else(|| format!("the reply has no choices: {}", quote(body)))?;
    Ok((value, choice))
}

/// The start of a response body, for an error text.
pub fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut quoted: String = text.chars().take(QUOTED_BODY_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    if quoted.is_empty() {
        "(empty body)".into()
    } else {
        quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_whatever_the_endpoint_ends_with() {
        let want = "http://127.0.0.1:8080/v1/chat/completions";
        for endpoint in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1",
            "http://127.0.0.1:8080/v1/",
        ] {
            assert_eq!(chat_url(endpoint), want, "{endpoint}");
        }
        assert_eq!(
            chat_url("https://api.example.com/openai/v1"),
            "https://api.example.com/openai/v1/chat/completions"
        );
    }

    #[test]
    fn retries_and_backoff() {
        assert!(retryable_status(429));
        assert!(retryable_status(500));
        assert!(retryable_status(503));
        assert!(!retryable_status(400));
        assert!(!retryable_status(401));
        assert!(!retryable_status(404));
        assert_eq!(
            (0..4).map(backoff_ms).collect::<Vec<_>>(),
            [250, 500, 1000, 2000]
        );
        assert!(backoff_ms(u32::MAX) > 0);
    }

    #[test]
    fn permanent_statuses() {
        for s in [400, 401, 403, 404, 422] {
            assert!(permanent_status(s), "{s}");
        }
        for s in [429, 500, 503] {
            assert!(!permanent_status(s), "{s}");
        }
    }

    #[test]
    fn the_first_choice_or_what_is_wrong() {
        let (_, choice) = first_choice(br#"{"choices":[{"index":0},{"index":1}]}"#).unwrap();
        assert_eq!(choice["index"], 0);
        assert!(
            first_choice(b"nope")
                .unwrap_err()
                .starts_with("the reply is not JSON")
        );
        assert_eq!(
            first_choice(br#"{"choices":[]}"#).unwrap_err(),
            r#"the reply has no choices: {"choices":[]}"#
        );
    }

    #[test]
    fn quotes_are_short_and_whole_chars() {
        let long = "é".repeat(500);
        let q = quote(long.as_bytes());
        assert_eq!(q.chars().count(), QUOTED_BODY_CHARS + 1);
        assert_eq!(quote(b"  "), "(empty body)");
    }
}
