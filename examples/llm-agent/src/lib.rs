//! A model agent plugin: each turn its model, on an OpenAI-compatible chat-completions server (Ollama,
//! llama.cpp's `llama-server`, vLLM, or a hosted API), reads the arena and acts by calling the agent's
//! granted handle functions as tools. The tools' names, descriptions, schemas and argument decoding
//! come from `arena_catalogue`, the same catalogue the MCP server offers.
//!
//! Settings (`[plugin.config]`): the model's, shared with the llm-worker through
//! `example_llm_common` (`endpoint`, `model`, `api_key`, `max_retries`, `system_prompt`,
//! `temperature`), and `max_tokens`, `max_tool_calls` (16), `max_failures` (3),
//! `turn_budget_ms` (100000). It needs `wasi:http` to the endpoint (`allowed_outbound_hosts`).
//!
//! Built twice from this source: `example-llm-agent` imports `observe`, `read-slots`, `contribute` and
//! `share-facts`; with the `coordinate` feature (`example-llm-agent-coordinator`) it imports `steer`
//! and `coordinate` as well. The host picks the build the agent's grant allows.

// `generate_all` also generates the wasi:config bindings, which this plugin reads.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

mod chat;
mod config;
mod context;
mod tools;
mod turn;

struct LlmAgent;

impl exports::arena::core::plugin::Guest for LlmAgent {
    fn turn(_turn: u32) -> Result<String, String> {
        turn::run()
    }
}

export!(LlmAgent);
