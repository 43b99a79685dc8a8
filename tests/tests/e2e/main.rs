//! End-to-end tests: the real arena component, compiled for wasm32-wasip2, served by the real wasmtime
//! host on a real SQLite file.

mod agents;
mod collaboration;
mod components;
mod forks;
mod input;
mod lifecycle;
mod llm_agents;
mod membership;
mod people;
mod permissions;
mod persistence;
mod plugins;
mod polyglot;
mod standalone;
mod tokens;
