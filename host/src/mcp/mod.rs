//! MCP: the arena as a Model Context Protocol server.

use anyhow::Result;
use arena_host::ArenaHost;

/// `arena mcp`.
pub(crate) fn stdio(_host: ArenaHost, _arena: &str, _agent: &str) -> Result<()> {
    anyhow::bail!("not yet")
}
