//! `/mcp`: MCP over Streamable HTTP, each request acting as the agent its bearer token names.
//!
//! In front of rmcp's service, one middleware ([`admit`]) checks every request in this order, and
//! answers the first refusal as JSON naming it: the `Origin` (a browser page may only reach the
//! server from a loopback origin or one `--mcp-allow-origin` names: 403), the token (401 without
//! detail, whatever the reason), the body size (413), each tool call's argument size (413), the
//! token's writes and bytes in the current minute (429) and its sessions and all sessions (429).
//! The token's handle then rides in the request's extensions to the handler
//! ([`crate::mcp::Source::Token`]), so every call has the agent's current permissions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use sha2::{Digest, Sha256};

use arena_host::{ArenaHost, TokenError};

use super::ApiError;
use crate::mcp::{ArenaMcp, Source};

/// The limits of `/mcp`, each a flag of `arena serve`.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Tool calls that write, per token per minute.
    pub(crate) writes_per_minute: u32,
    /// Request body bytes, per token per minute.
    pub(crate) bytes_per_minute: u64,
    /// The JSON arguments of one tool call, in bytes.
    pub(crate) max_argument_bytes: usize,
    /// One request body, in bytes.
    pub(crate) max_body_bytes: usize,
    /// Open sessions per token.
    pub(crate) sessions_per_token: usize,
    /// Open sessions in all.
    pub(crate) max_sessions: usize,
    /// A session without a request for this long is closed.
    pub(crate) idle_timeout: Duration,
    /// How long one request may take.
    pub(crate) request_timeout: Duration,
    /// Browser origins allowed besides loopback ones (`https://app.example:443`).
    pub(crate) allowed_origins: Vec<String>,
}

/// One token's use in the current minute.
#[derive(Default)]
struct Usage {
    window: Option<Instant>,
    writes: u32,
    bytes: u64,
}

#[derive(Clone)]
struct McpState {
    host: ArenaHost,
    limits: Arc<Limits>,
    /// Per token (by the SHA-256 of the token, never the token): its use this minute.
    usage: Arc<Mutex<HashMap<String, Usage>>>,
    /// Open sessions: session id → (token digest, last request). This table decides: a session it
    /// does not hold is refused, and one it drops for idleness is closed in rmcp too, so that
    /// events sent to a session (a subscription's notifications) never keep it open uncounted.
    sessions: Arc<Mutex<HashMap<String, (String, Instant)>>>,
    manager: Arc<LocalSessionManager>,
}

impl McpState {
    /// Drops the sessions idle past the limit from the table, and returns their ids.
    fn expire(&self) -> Vec<String> {
        let idle = self.limits.idle_timeout;
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let expired: Vec<String> = sessions
            .iter()
            .filter(|(_, (_, seen))| now.duration_since(*seen) >= idle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            sessions.remove(id);
        }
        expired
    }

    /// Closes the sessions idle past the limit, their streams included.
    async fn close_idle(&self) {
        for id in self.expire() {
            let _ = self.manager.close_session(&id.into()).await;
        }
    }
}

/// The `/mcp` routes.
pub(crate) fn routes(host: ArenaHost, limits: Limits) -> Router {
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(limits.idle_timeout);
    let manager = Arc::new(manager);
    let config =
        StreamableHttpServerConfig::default().with_max_request_body_bytes(limits.max_body_bytes);
    let timeout = limits.request_timeout;
    let sessions_host = host.clone();
    let service = StreamableHttpService::new(
        move || Ok(ArenaMcp::new(sessions_host.clone(), Source::Token, timeout)),
        manager.clone(),
        config,
    );
    let state = McpState {
        host,
        limits: Arc::new(limits),
        usage: Arc::default(),
        sessions: Arc::default(),
        manager,
    };
    // Idle sessions are closed even when no request comes to notice them.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let sweeper = state.clone();
        let period = (sweeper.limits.idle_timeout / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(30));
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                sweeper.close_idle().await;
            }
        });
    }
    Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(state, admit))
}

fn refuse(status: StatusCode, what: &str, limit: u64) -> Response {
    ApiError::limit(status, what, limit).into_response()
}

/// Whether `origin` is a loopback one (`http://localhost:PORT`, `http://127.0.0.1`, `http://[::1]`).
pub(super) fn loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.rsplit_once(':').map_or(rest, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a JSON-RPC message asks that the limits count: whether it is a tool call that writes, and
/// the size of its arguments.
fn tool_calls(body: &Value) -> Vec<(bool, usize)> {
    let messages: Vec<&Value> = match body {
        Value::Array(batch) => batch.iter().collect(),
        single => vec![single],
    };
    messages
        .into_iter()
        .filter(|m| m["method"] == "tools/call")
        .map(|m| {
            let writes = m["params"]["name"]
                .as_str()
                .and_then(arena_catalogue::tool)
                .is_some_and(|tool| tool.writes);
            let size = m["params"]
                .get("arguments")
                .map_or(0, |a| a.to_string().len());
            (writes, size)
        })
        .collect()
}

async fn admit(State(state): State<McpState>, request: Request, next: Next) -> Response {
    let limits = state.limits.clone();
    if let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        && !loopback_origin(origin)
        && !limits.allowed_origins.iter().any(|o| o == origin)
    {
        return ApiError::forbidden_origin(origin).into_response();
    }
    let Some(token) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
    else {
        return ApiError::unauthorized().into_response();
    };
    let arena = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("arena="))
            .map(str::to_string)
    });
    let host = state.host.clone();
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    let resolved =
        tokio::task::spawn_blocking(move || host.resolve_token(&token, arena.as_deref()));
    let handle = match tokio::time::timeout(limits.request_timeout, resolved).await {
        Ok(Ok(Ok(handle))) => handle,
        Ok(Ok(Err(TokenError::Refused))) => return ApiError::unauthorized().into_response(),
        Ok(Ok(Err(e))) => return ApiError::host(e.to_string()).into_response(),
        Ok(Err(e)) => return ApiError::host(format!("a host call failed: {e}")).into_response(),
        Err(_) => return ApiError::timeout(limits.request_timeout).into_response(),
    };
    if let Some(actor) = request.extensions().get::<super::access::Actor>() {
        actor.set(handle.agent());
    }
    let (mut parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body bytes",
                limits.max_body_bytes as u64,
            );
        }
    };
    let calls = serde_json::from_slice::<Value>(&bytes)
        .map(|body| tool_calls(&body))
        .unwrap_or_default();
    if calls
        .iter()
        .any(|(_, size)| *size > limits.max_argument_bytes)
    {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "tool call argument bytes",
            limits.max_argument_bytes as u64,
        );
    }
    let writes = calls.iter().filter(|(writes, _)| *writes).count() as u32;
    {
        let mut usage = state.usage.lock().unwrap_or_else(|e| e.into_inner());
        let mine = usage.entry(digest.clone()).or_default();
        let now = Instant::now();
        if mine
            .window
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(60))
        {
            *mine = Usage {
                window: Some(now),
                writes: 0,
                bytes: 0,
            };
        }
        if mine.writes.saturating_add(writes) > limits.writes_per_minute {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "writes per minute for this token",
                u64::from(limits.writes_per_minute),
            );
        }
        if mine.bytes.saturating_add(bytes.len() as u64) > limits.bytes_per_minute {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "request bytes per minute for this token",
                limits.bytes_per_minute,
            );
        }
        mine.writes += writes;
        mine.bytes += bytes.len() as u64;
    }
    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|s| s.to_str().ok())
        .map(str::to_string);
    state.close_idle().await;
    {
        let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match &session {
            Some(id) => match sessions.get_mut(id) {
                // A session belongs to the token that opened it.
                Some((owner, _)) if *owner != digest => {
                    return ApiError::unauthorized().into_response();
                }
                Some((_, seen)) => *seen = now,
                None => {
                    return ApiError::not_found(
                        "MCP session (closed after its idle time, or never opened): start a new one",
                    )
                    .into_response();
                }
            },
            None if parts.method == http::Method::POST => {
                let mine = sessions
                    .values()
                    .filter(|(owner, _)| *owner == digest)
                    .count();
                if mine >= limits.sessions_per_token {
                    return refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        "open MCP sessions for this token",
                        limits.sessions_per_token as u64,
                    );
                }
                if sessions.len() >= limits.max_sessions {
                    return refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        "open MCP sessions in all",
                        limits.max_sessions as u64,
                    );
                }
            }
            None => {}
        }
    }
    parts.extensions.insert(handle);
    let closing = parts.method == http::Method::DELETE;
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = next.run(request).await;
    let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
    if closing {
        if let Some(id) = &session {
            sessions.remove(id);
        }
    } else if session.is_none()
        && let Some(id) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|s| s.to_str().ok())
    {
        sessions.insert(id.to_string(), (digest, Instant::now()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_are_told_from_others() {
        for origin in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://[::1]:8443",
        ] {
            assert!(loopback_origin(origin), "{origin}");
        }
        for origin in [
            "https://evil.example",
            "http://localhost.evil.example",
            "null",
        ] {
            assert!(!loopback_origin(origin), "{origin}");
        }
    }

    #[test]
    fn tool_calls_are_counted_as_writes_by_the_catalogue() {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "complete_step", "arguments": {"step": 1}}});
        assert_eq!(tool_calls(&body), [(true, 10)]);
        let read = serde_json::json!({"method": "tools/call", "params": {"name": "info"}});
        assert_eq!(tool_calls(&read), [(false, 0)]);
        assert!(tool_calls(&serde_json::json!({"method": "tools/list"})).is_empty());
    }
}
