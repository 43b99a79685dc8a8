//! `arena mcp` and `/mcp`: the arena as a Model Context Protocol server, each client acting as one
//! agent through its [`AgentHandle`](arena_host::AgentHandle).
//!
//! [`server`] is the handler (tools listed and called, on any transport), [`tools`] maps the tool
//! catalogue's calls onto the handle. Over stdio the operator names the agent; over Streamable HTTP
//! (`arena serve`) each request carries an agent token.

pub(crate) mod resources;
pub(crate) mod server;
pub(crate) mod tools;

#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::{Context, Result};
use rmcp::ServiceExt;

use arena_host::ArenaHost;

pub(crate) use server::{ArenaMcp, Source};

/// How long one MCP request may take, host calls included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `arena mcp --arena ID --as AGENT`: serves MCP on stdin and stdout until the client closes them.
/// The agent must take part in the arena now; its tools follow its permissions as they change.
pub(crate) fn stdio(host: ArenaHost, arena: &str, agent: &str) -> Result<()> {
    let handle = host
        .handle(arena, agent)
        .with_context(|| format!("arena {arena}"))?;
    if handle.grant().is_empty() {
        anyhow::bail!("agent {agent:?} does not take part in arena {arena}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the MCP server's runtime")?;
    let server = ArenaMcp::new(
        host.clone(),
        Source::Agent {
            host,
            arena: arena.to_string(),
            agent: agent.to_string(),
        },
        REQUEST_TIMEOUT,
    );
    runtime.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .context("starting MCP on stdio")?;
        running.waiting().await.context("serving MCP on stdio")?;
        Ok(())
    })
}
