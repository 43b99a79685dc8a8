//! The MCP server handler: lists the agent's tools and answers their calls, on any transport.
//!
//! The handle is taken afresh for every request, so the tools always follow the agent's current
//! permissions: over stdio from `ArenaHost::handle(arena, agent)`, over HTTP from the bearer token
//! the request carried (resolved by the HTTP layer before the request reaches this handler).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, Prompt, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ResourceContents, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use arena_host::{AgentHandle, ArenaHost, FOLLOW_POLL};

use super::resources::{self, ReadError};
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

/// The arena as an MCP server for one agent (one per session).
#[derive(Clone)]
pub(crate) struct ArenaMcp {
    host: ArenaHost,
    source: Source,
    /// How long one request may take, host calls included.
    timeout: Duration,
    /// The session's subscriptions: URI → whether it was cancelled.
    subscriptions: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
}

impl ArenaMcp {
    pub(crate) fn new(host: ArenaHost, source: Source, timeout: Duration) -> Self {
        ArenaMcp {
            host,
            source,
            timeout,
            subscriptions: Arc::default(),
        }
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
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_prompts()
                .build(),
        )
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

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let list = self.with_handle(&context, resources::list).await?;
        Ok(ListResourcesResult::with_all_items(list))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let asked = uri.clone();
        let read = self
            .with_handle(&context, move |handle| resources::read(handle, &asked))
            .await?;
        match read {
            Ok(value) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(value.to_string(), uri).with_mime_type("application/json"),
            ])
            .into()),
            Err(ReadError::NotFound(uri)) => Err(McpError::resource_not_found(
                format!("no such resource: {uri}"),
                None,
            )),
            Err(ReadError::Arena(e)) => Err(McpError::invalid_params(e.to_string(), None)),
        }
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let arena = self
            .with_handle(&context, |handle| {
                handle.info().map(|_| handle.arena().to_string())
            })
            .await?
            .map_err(|e| McpError::invalid_params(e.to_string(), None))?;
        if request.uri != resources::arena_uri(&arena) {
            return Err(McpError::invalid_params(
                format!(
                    "only {} can be subscribed to (it is updated after each commit)",
                    resources::arena_uri(&arena)
                ),
                None,
            ));
        }
        let cancelled = Arc::new(AtomicBool::new(false));
        if let Some(earlier) = self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request.uri.clone(), cancelled.clone())
        {
            earlier.store(true, Ordering::Relaxed);
        }
        tokio::spawn(follow(
            self.host.clone(),
            arena,
            request.uri,
            context.peer.clone(),
            cancelled,
        ));
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Some(cancelled) = self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request.uri)
        {
            cancelled.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "join",
            Some("How to take part: the goal, your role, the steps and the tools you have"),
            None,
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name != "join" {
            return Err(McpError::invalid_params(
                format!("no prompt is called {}; there is `join`", request.name),
                None,
            ));
        }
        let text = self
            .with_handle(&context, resources::join)
            .await?
            .map_err(|e| McpError::invalid_params(e.to_string(), None))?;
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(rmcp::model::Role::User, text)])
                .with_description("Joining a SharedArena arena")
                .into(),
        )
    }
}

/// Sends `notifications/resources/updated` for `uri` after each commit to `arena` (on this host at
/// once; on others as the host learns of them), until the subscription is cancelled or the client
/// is gone.
async fn follow(
    host: ArenaHost,
    arena: String,
    uri: String,
    peer: rmcp::Peer<RoleServer>,
    cancelled: Arc<AtomicBool>,
) {
    let head = |host: &ArenaHost, arena: &str| host.get(arena).map(|i| i.last_seq).unwrap_or(0);
    let (h, a) = (host.clone(), arena.clone());
    let Ok((mut mark, mut last)) =
        tokio::task::spawn_blocking(move || (h.appends_mark(), head(&h, &a))).await
    else {
        return;
    };
    while !cancelled.load(Ordering::Relaxed) {
        let (h, a) = (host.clone(), arena.clone());
        let Ok((next_mark, seq)) = tokio::task::spawn_blocking(move || {
            if let Err(e) = h.wait_for_appends_since(mark, FOLLOW_POLL) {
                tracing::warn!("waiting for appends: {e}");
                std::thread::sleep(FOLLOW_POLL);
            }
            let next = h.appends_mark();
            (next, head(&h, &a))
        })
        .await
        else {
            return;
        };
        mark = next_mark;
        if seq > last {
            last = seq;
            if peer
                .notify_resource_updated(rmcp::model::ResourceUpdatedNotificationParam::new(
                    uri.clone(),
                ))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}
