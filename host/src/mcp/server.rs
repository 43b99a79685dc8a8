//! The MCP server handler: lists the agent's tools and answers their calls, on any transport.
//!
//! The handle is taken afresh for every request, so the tools always follow the agent's current
//! permissions: over stdio from `ArenaHost::handle(arena, agent)`, over HTTP from the bearer token
//! the request carried (resolved by the HTTP layer before the request reaches this handler).

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use arena_host::{AgentHandle, ArenaHost};

use super::tools;

/// Where a request's handle comes from.
#[derive(Clone)]
pub(crate) enum Source {
    /// One agent on one arena, as the operator started `arena mcp --as AGENT`.
    Agent {
        host: ArenaHost,
        arena: String,
        agent: String,
    },
    /// The handle the HTTP layer resolved from the request's bearer token and put in the request's
    /// extensions.
    Token,
}

/// The arena as an MCP server for one agent.
#[derive(Clone)]
pub(crate) struct ArenaMcp {
    source: Source,
    /// How long one request may take, host calls included.
    timeout: Duration,
}

impl ArenaMcp {
    pub(crate) fn new(source: Source, timeout: Duration) -> Self {
        ArenaMcp { source, timeout }
    }

    /// Runs `f` with the request's handle on a blocking thread, within the time limit.
    async fn with_handle<T, F>(
        &self,
        context: &RequestContext<RoleServer>,
        f: F,
    ) -> Result<T, McpError>
    where
        T: Send + 'static,
        F: FnOnce(&AgentHandle) -> T + Send + 'static,
    {
        let source = self.source.clone();
        let from_token = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AgentHandle>())
            .cloned();
        let work = tokio::task::spawn_blocking(move || {
            let handle = match (source, from_token) {
                (Source::Agent { host, arena, agent }, _) => host
                    .handle(&arena, &agent)
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?,
                (Source::Token, Some(handle)) => handle,
                (Source::Token, None) => {
                    return Err(McpError::invalid_request(
                        "the request carried no token",
                        None,
                    ));
                }
            };
            Ok(f(&handle))
        });
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(McpError::internal_error(
                format!("a host call failed: {e}"),
                None,
            )),
            Err(_) => Err(McpError::internal_error(
                format!(
                    "limit exceeded: time per request (limit {} ms); try again",
                    self.timeout.as_millis()
                ),
                None,
            )),
        }
    }
}

impl ServerHandler for ArenaMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "sharedarena",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "You are a participant in a SharedArena arena: a shared workspace with a goal, a \
                 lifecycle (created, active, settling, archived), numbered steps, one output slot \
                 per agent, shared facts and an audited event log. The tools are exactly the \
                 handle functions your permissions grant. Call `info` first to learn the goal, \
                 your role and the state. Pass a `key` to a write to make a retry safe.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self
            .with_handle(&context, |handle| {
                tools::granted(handle)
                    .into_iter()
                    .map(tools::listed)
                    .collect()
            })
            .await?;
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let arguments = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let result = self
            .with_handle(&context, move |handle| {
                tools::call(handle, &name, &arguments)
            })
            .await?;
        Ok(result.into())
    }
}
