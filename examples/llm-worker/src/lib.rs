//! An LLM worker plugin: each turn it asks an OpenAI-compatible chat-completions server (Ollama,
//! llama.cpp's `llama-server`, vLLM, or a hosted API) for its contribution to the arena's goal, and
//! hands the answer in as a draft in its slot, a shared fact, and its completed steps.
//!
//! Its settings come from `wasi:config/store` (the manifest's `[plugin.config]`): `endpoint` and
//! `model` (required), `api_key`, `max_retries`, `system_prompt`, `temperature`. It needs `wasi:http`
//! to the endpoint (`allowed_outbound_hosts`). Imports `observe`, `read-slots`, `contribute` and
//! `share-facts`.
//!
//! The settings, the transport with its retries and the step plan are `example_llm_common`'s, shared
//! with the llm-agent. The protocol and the prompt are plain Rust, tested natively; only `turn` (the
//! arena calls and the request) touches WASI.

// `generate_all` also generates the wasi:config bindings, which this plugin reads.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

mod model;
mod plan;
mod prompt;
mod turn;

struct LlmWorker;

impl exports::arena::core::plugin::Guest for LlmWorker {
    fn turn(_turn: u32) -> Result<String, String> {
        turn::run()
    }
}

export!(LlmWorker);
