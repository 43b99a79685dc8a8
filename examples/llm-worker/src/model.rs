//! The worker's side of the chat-completions protocol: its request body, reading the reply's text,
//! and reading the answer out of it. Pure, so it is tested natively. The URL, retries and quoting are
//! `example_llm_common`'s.

use example_llm_common::protocol::first_choice;
use serde::Deserialize;
use serde_json::{Value, json};

/// The request body: the model, a system and a user message, and the temperature when set.
pub fn request_body(model: &str, system: &str, user: &str, temperature: Option<f64>) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [
            { "role": "system", "content": system },
            { "role": "user", "content": user },
        ],
    });
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    body
}

/// The text of `choices[0].message.content` in a chat-completions response body.
pub fn completion_text(body: &[u8]) -> Result<String, String> {
    let (_, choice) = first_choice(body)?;
    let text = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .ok_or_else(|| "the reply's first choice has no message content".to_string())?;
    if text.trim().is_empty() {
        return Err("the reply's message content is empty".into());
    }
    Ok(text.to_string())
}

/// What the model answered, as the worker uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The contribution, stored as the draft.
    pub content: String,
    /// A fact worth sharing, if the model gave one.
    pub fact: Option<String>,
    /// How sure the model is of the fact, in [0, 1].
    pub confidence: f64,
}

/// The confidence of a fact the model gave without one.
pub const DEFAULT_CONFIDENCE: f64 = 0.5;

#[derive(Deserialize)]
struct Structured {
    content: String,
    #[serde(default)]
    fact: Option<String>,
    #[serde(default)]
    confidence: Option<f64>,
}

/// Reads the model's reply: a JSON object `{"content", "fact", "confidence"}` (also inside a
/// Markdown code fence) gives its fields; anything else is the content as it stands, with no fact.
pub fn parse_answer(reply: &str) -> Answer {
    let structured = serde_json::from_str::<Structured>(unfence(reply))
        .ok()
        .filter(|s| !s.content.trim().is_empty());
    match structured {
        Some(s) => Answer {
            content: s.content,
            fact: s
                .fact
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty()),
            confidence: clamp_confidence(s.confidence.unwrap_or(DEFAULT_CONFIDENCE)),
        },
        None => Answer {
            content: reply.to_string(),
            fact: None,
            confidence: DEFAULT_CONFIDENCE,
        },
    }
}

/// A confidence in [0, 1].
pub fn clamp_confidence(c: f64) -> f64 {
    if c.is_nan() {
        DEFAULT_CONFIDENCE
    } else {
        c.clamp(0.0, 1.0)
    }
}

/// The text inside a surrounding Markdown code fence (```json … ```), or the text trimmed.
fn unfence(reply: &str) -> &str {
    let text = reply.trim();
    let Some(inner) = text.strip_prefix("```") else {
        return text;
    };
    let Some(inner) = inner.strip_suffix("```") else {
        return text;
    };
    // Drop the info string (`json`) on the opening line.
    match inner.find('\n') {
        Some(newline) => inner[newline + 1..].trim(),
        None => inner.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_model_messages_and_temperature() {
        let body = request_body("m", "sys", "usr", None);
        assert_eq!(
            body,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "sys"}, {"role": "user", "content": "usr"}]})
        );
        assert_eq!(
            request_body("m", "s", "u", Some(0.5))["temperature"],
            json!(0.5)
        );
    }

    #[test]
    fn completion_text_reads_the_first_choice() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hello"}}]}"#;
        assert_eq!(completion_text(body).unwrap(), "hello");
        assert!(
            completion_text(b"not json")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            completion_text(br#"{"choices":[]}"#)
                .unwrap_err()
                .contains("no choices")
        );
        assert!(
            completion_text(br#"{"error":"x"}"#)
                .unwrap_err()
                .contains("no choices")
        );
        assert!(
            completion_text(br#"{"choices":[{"message":{}}]}"#)
                .unwrap_err()
                .contains("no message content")
        );
        assert!(
            completion_text(br#"{"choices":[{"message":{"content":" "}}]}"#)
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn structured_answers_give_their_fields() {
        let a = parse_answer(r#"{"content": "the draft", "fact": "herons", "confidence": 0.9}"#);
        assert_eq!(a.content, "the draft");
        assert_eq!(a.fact.as_deref(), Some("herons"));
        assert_eq!(a.confidence, 0.9);
        let fenced = "```json\n{\"content\": \"c\", \"fact\": \"f\", \"confidence\": 7}\n```";
        let a = parse_answer(fenced);
        assert_eq!((a.content.as_str(), a.confidence), ("c", 1.0));
        let a = parse_answer(r#"{"content": "c", "confidence": -3}"#);
        assert_eq!((a.fact, a.confidence), (None, 0.0));
        let a = parse_answer(r#"{"content": "c", "fact": "  "}"#);
        assert_eq!(a.fact, None);
    }

    #[test]
    fn anything_else_is_the_content() {
        for reply in [
            "just prose",
            r#"{"text": "x"}"#,
            r#"{"content": ""}"#,
            "[1, 2]",
            "```\nx\n```",
        ] {
            let a = parse_answer(reply);
            assert_eq!(a.content, reply);
            assert_eq!(a.fact, None);
        }
    }
}
