//! The chat-completions protocol with tools, without the transport: the request body (messages, the
//! granted tools, `max_tokens`) and the reply (text, tool calls, `finish_reason`, `usage`). Pure.

use serde_json::{Value, json};

use example_llm_common::protocol::first_choice;

/// The granted handle functions as OpenAI-style `tools`: name, description and JSON Schema, all from
/// the catalogue.
pub fn tools(grant: &[arena_catalogue::Permission]) -> Vec<Value> {
    arena_catalogue::granted(grant)
        .map(|tool| {
            json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema(),
                }
            })
        })
        .collect()
}

/// The request body. `tools` is left out when empty.
pub fn request_body(
    model: &str,
    messages: &[Value],
    tools: &[Value],
    temperature: Option<f64>,
    max_tokens: Option<u32>,
) -> Value {
    let mut body = json!({ "model": model, "messages": messages });
    if !tools.is_empty() {
        body["tools"] = json!(tools);
    }
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = max_tokens {
        body["max_tokens"] = json!(n);
    }
    body
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The call's id, echoed in the `tool` message that answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model wrote them: a JSON text, maybe malformed.
    pub arguments: String,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The assistant message as received, sent back in the next request.
    pub message: Value,
    /// Its text, if any.
    pub text: Option<String>,
    /// The tools it called, in order.
    pub calls: Vec<ToolCall>,
    /// `finish_reason`: `stop`, `length`, `tool_calls`…
    pub finish: Option<String>,
    /// `usage`: prompt and completion tokens, when the server counts them.
    pub tokens: Option<(u64, u64)>,
}

impl Reply {
    /// Whether the model stopped at the token cap: its text is not a finished answer.
    pub fn cut_off(&self) -> bool {
        self.finish.as_deref() == Some("length")
    }
}

/// Reads a chat-completions response body.
pub fn parse_reply(body: &[u8]) -> Result<Reply, String> {
    let (value, choice) = first_choice(body)?;
    let message = choice
        .get("message")
        .cloned()
        .ok_or("the reply's first choice has no message")?;
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|t| !t.trim().is_empty());
    let calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let function = call.get("function");
                    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
                    ToolCall {
                        id: text(call.get("id")).unwrap_or_else(|| format!("call_{i}")),
                        name: text(function.and_then(|f| f.get("name"))).unwrap_or_default(),
                        // Some servers send the arguments as an object rather than a JSON text.
                        arguments: match function.and_then(|f| f.get("arguments")) {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        },
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    let tokens = value.get("usage").map(|u| {
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        (n("prompt_tokens"), n("completion_tokens"))
    });
    if text.is_none() && calls.is_empty() && finish.as_deref() != Some("length") {
        return Err("the reply has neither text nor tool calls".into());
    }
    Ok(Reply {
        message,
        text,
        calls,
        finish,
        tokens,
    })
}

/// Whether a failed request was refused for its `tools`: a server or model without tool calling says
/// so in its error (llama.cpp's `llama-server` without `--jinja`: HTTP 500 "tools param requires
/// --jinja flag"; Ollama: HTTP 400 "… does not support tools"; vLLM without tool parsing: HTTP 400
/// "\"auto\" tool choice requires …").
pub fn refuses_tools(failure: &str) -> bool {
    failure.starts_with("HTTP ") && failure.to_ascii_lowercase().contains("tool")
}

/// The `tool` message answering call `id` with `content`.
pub fn tool_message(id: &str, content: &Value) -> Value {
    json!({ "role": "tool", "tool_call_id": id, "content": content.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arena_catalogue::Permission;

    #[test]
    fn tools_are_exactly_the_grants_from_the_catalogue() {
        let tools = tools(&[Permission::Observe]);
        let names: Vec<&str> = tools
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = arena_catalogue::granted(&[Permission::Observe])
            .map(|t| t.name)
            .collect();
        assert_eq!(names, want);
        assert!(!names.contains(&"settle"));
        assert_eq!(tools[0]["function"]["parameters"]["type"], "object");
    }

    #[test]
    fn the_body_carries_tools_and_caps_only_when_set() {
        let messages = [json!({"role": "user", "content": "hi"})];
        let bare = request_body("m", &messages, &[], None, None);
        assert_eq!(bare, json!({"model": "m", "messages": messages}));
        let full = request_body("m", &messages, &[json!({"x": 1})], Some(0.5), Some(64));
        assert_eq!(full["tools"], json!([{"x": 1}]));
        assert_eq!(full["max_tokens"], 64);
        assert_eq!(full["temperature"], 0.5);
    }

    #[test]
    fn replies_give_text_calls_finish_and_usage() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"c1","type":"function","function":{"name":"goal","arguments":"{}"}},
            {"type":"function","function":{"name":"add_fact","arguments":{"content":"x"}}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
        let reply = parse_reply(body).unwrap();
        assert_eq!(reply.text, None);
        assert_eq!(reply.calls.len(), 2);
        assert_eq!(reply.calls[0].id, "c1");
        assert_eq!(reply.calls[1].id, "call_1");
        assert_eq!(reply.calls[1].arguments, r#"{"content":"x"}"#);
        assert_eq!(reply.tokens, Some((12, 3)));
        assert!(!reply.cut_off());
        let cut = parse_reply(
            br#"{"choices":[{"message":{"content":"half a"},"finish_reason":"length"}]}"#,
        )
        .unwrap();
        assert!(cut.cut_off());
        assert!(parse_reply(br#"{"choices":[{"message":{"content":""}}]}"#).is_err());
        assert!(parse_reply(b"nope").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn servers_without_tool_calling_are_recognised_by_their_error() {
        for refusal in [
            r#"HTTP 500 Internal Server Error: {"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}} (after 4 attempts)"#,
            r#"HTTP 400 Bad Request: {"error":"registry.ollama.ai/library/gemma3:270m does not support tools"}"#,
            r#"HTTP 400 Bad Request: {"object":"error","message":"\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set"}"#,
        ] {
            assert!(refuses_tools(refusal), "{refusal}");
        }
        for other in [
            r#"HTTP 401 Unauthorized: {"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}"#,
            r#"HTTP 404 Not Found: {"error":"model 'x' not found"}"#,
            "connecting to http://127.0.0.1:8080/v1/chat/completions: ConnectionRefused (after 4 attempts)",
            "the reply has neither text nor tool calls",
        ] {
            assert!(!refuses_tools(other), "{other}");
        }
    }
}
