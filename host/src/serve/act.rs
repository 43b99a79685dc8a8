//! `/api/arenas/{id}/act`: a person acting as an agent from the console (or any HTTP client), with
//! the agent's token.
//!
//! `POST {"tool": NAME, "arguments": {…}}` calls one tool of the catalogue (`arena-catalogue`), the
//! same tool surface MCP offers, through the agent's [`arena_host::AgentHandle`]: the agent's grant
//! now, the same checks and limits, and each write logged with the agent as its actor. `GET` answers
//! who the token acts as and which tools its grant links.
//!
//! The token travels only in the `Authorization: Bearer` header. A cookie is never read here, so a
//! page elsewhere cannot make a person's browser act for them (cross-site request forgery): it can
//! neither read the token nor set the header on a cross-site request. Each request is checked in
//! this order, and the first refusal answered as JSON naming it: the `Origin` (a loopback one, the
//! page's own, or one `--mcp-allow-origin` names: 403) and, without `--token`, the `Host` (a
//! loopback name: 403); the token (401 without detail); the body's size (413), the arguments' size
//! (413), the token's writes in the current minute (429) — the limits `/mcp` keeps, from the same
//! flags. The host call runs off the async runtime within [`super::REQUEST_TIMEOUT`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use arena_host::{AgentHandle, ArenaHost, TokenError};

use super::ApiError;
use crate::mcp::tools::{self, Refused};

/// The console's script for acting, built into the program like the page's own.
const SCRIPT: &str = include_str!("assets/act.js");

/// Its style sheet.
const STYLE: &str = include_str!("assets/act.css");

/// The limits of the act API: `/mcp`'s, from the same flags of `arena serve`.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Tool calls that write, per token per minute.
    pub(crate) writes_per_minute: u32,
    /// The JSON arguments of one tool call, in bytes.
    pub(crate) max_argument_bytes: usize,
    /// One request body, in bytes.
    pub(crate) max_body_bytes: usize,
    /// How long one request may take.
    pub(crate) request_timeout: Duration,
    /// Browser origins allowed besides loopback ones and the page's own.
    pub(crate) allowed_origins: Vec<String>,
    /// Whether the server has `--token` (then any `Host` is served, as the guard does).
    pub(crate) server_token: bool,
}

impl Limits {
    /// The act API's limits for a server started with `options`.
    pub(crate) fn of(options: &super::Options) -> Limits {
        Limits {
            writes_per_minute: options.mcp.writes_per_minute,
            max_argument_bytes: options.mcp.max_argument_bytes,
            max_body_bytes: options.mcp.max_body_bytes,
            request_timeout: super::REQUEST_TIMEOUT,
            allowed_origins: options.mcp.allowed_origins.clone(),
            server_token: options.token.is_some(),
        }
    }
}

#[derive(Clone)]
struct ActState {
    host: ArenaHost,
    limits: Arc<Limits>,
    /// Per token (by its SHA-256, never the token): when its current minute began, and its writes.
    writes: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

/// The routes: `/api/arenas/{id}/act` and the console's `/act.js` and `/act.css`.
pub(crate) fn routes(host: ArenaHost, limits: Limits) -> Router {
    let state = ActState {
        host,
        limits: Arc::new(limits),
        writes: Arc::default(),
    };
    Router::new()
        .route("/api/arenas/{id}/act", get(whoami).post(act))
        .route(
            "/act.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/act.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// `http://NAME[:PORT]` or `https://…` with a loopback NAME.
fn loopback_origin(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(super::guard::is_loopback_name)
}

/// The `Origin` and `Host` checks: `Err` is the refusal.
fn check_origin(limits: &Limits, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !limits.server_token && !super::guard::is_loopback_name(host) {
        return Err(ApiError::foreign_host(host));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
    if own || loopback_origin(origin) || limits.allowed_origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::forbidden_origin(origin))
    }
}

/// 401 for a request without a bearer token: acting needs one, in the header.
fn no_token() -> ApiError {
    ApiError::unauthorized_with(
        "acting needs the agent's token in the header `Authorization: Bearer TOKEN` \
         (`arena token issue ARENA AGENT` makes one); a cookie or a query never authorizes a \
         write, and without a token the console is read-only",
    )
}

/// The bearer token of `headers`, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Runs `f` off the async runtime within the request's time limit.
async fn blocking<T, F>(state: &ActState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&ArenaHost) -> Result<T, ApiError> + Send + 'static,
{
    let host = state.host.clone();
    let work = tokio::task::spawn_blocking(move || f(&host));
    match tokio::time::timeout(state.limits.request_timeout, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(ApiError::host(format!("a host call failed: {e}"))),
        Err(_) => Err(ApiError::timeout(state.limits.request_timeout)),
    }
}

/// The handle `token` acts as on arena `id`, or 401.
fn resolve(host: &ArenaHost, token: &str, id: &str) -> Result<AgentHandle, ApiError> {
    match host.resolve_token(token, Some(id)) {
        Ok(handle) => Ok(handle),
        Err(TokenError::Refused) => Err(ApiError::unauthorized()),
        Err(e) => Err(ApiError::host(e.to_string())),
    }
}

/// `GET /api/arenas/{id}/act`: who the token acts as, its role and grant, and its tools.
async fn whoami(
    State(state): State<ActState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_origin(&state.limits, &headers)?;
    let token = bearer(&headers).ok_or_else(no_token)?;
    let answer = blocking(&state, move |host| {
        let handle = resolve(host, &token, &id)?;
        let info = host.get(&id)?;
        let role = info
            .participants
            .iter()
            .find(|p| p.agent == handle.agent())
            .map(|p| p.role.name());
        let tools: Vec<Value> = tools::granted(&handle)
            .iter()
            .map(|t| json!({ "name": t.name, "writes": t.writes, "permission": t.permission.name() }))
            .collect();
        let permissions: Vec<&str> = handle.grant().iter().map(|p| p.name()).collect();
        Ok(json!({
            "arena": handle.arena(),
            "agent": handle.agent(),
            "role": role,
            "permissions": permissions,
            "tools": tools,
        }))
    })
    .await?;
    Ok(axum::Json(answer).into_response())
}

/// `POST /api/arenas/{id}/act` with `{"tool": NAME, "arguments": {…}}`: the tool's result, as MCP
/// answers it (writes: the event's `seq`, the arena's status and aggregate, what was created).
async fn act(
    State(state): State<ActState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let limits = state.limits.clone();
    let (parts, body) = request.into_parts();
    check_origin(&limits, &parts.headers)?;
    let token = bearer(&parts.headers).ok_or_else(no_token)?;
    let resolver = token.clone();
    let arena = id.clone();
    let handle = blocking(&state, move |host| resolve(host, &resolver, &arena)).await?;
    if let Some(actor) = parts.extensions.get::<super::access::Actor>() {
        actor.set(handle.agent());
    }
    let bytes = tokio::time::timeout(
        limits.request_timeout,
        axum::body::to_bytes(Body::new(body), limits.max_body_bytes),
    )
    .await
    .map_err(|_| ApiError::timeout(limits.request_timeout))?
    .map_err(|_| {
        ApiError::limit(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body bytes",
            limits.max_body_bytes as u64,
        )
    })?;
    let call: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_input(format!("the body is not JSON: {e}")))?;
    let Some(name) = call.get("tool").and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError::bad_input(
            "the body needs `tool`: the name of a tool (GET this address lists them)",
        ));
    };
    if let Some(extra) = call
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "tool" && *k != "arguments"))
    {
        return Err(ApiError::bad_input(format!(
            "unknown field {extra:?}: the body is {{\"tool\": NAME, \"arguments\": {{…}}}}"
        )));
    }
    let arguments = call.get("arguments").cloned().unwrap_or_else(|| json!({}));
    if arguments.to_string().len() > limits.max_argument_bytes {
        return Err(ApiError::limit(
            StatusCode::PAYLOAD_TOO_LARGE,
            "tool call argument bytes",
            limits.max_argument_bytes as u64,
        ));
    }
    if arena_catalogue::tool(&name).is_some_and(|t| t.writes) {
        count_write(&state, &token)?;
    }
    let answer = blocking(&state, move |_| {
        tools::dispatch(&handle, &name, &arguments).map_err(|refused| match refused {
            Refused::UnknownTool(message) => ApiError::not_found(message),
            Refused::NotGranted(message) => ApiError::permission_denied(message),
            Refused::BadArguments(message) => ApiError::bad_input(message),
            Refused::Host(e) => ApiError::from(e),
        })
    })
    .await?;
    Ok(axum::Json(answer).into_response())
}

/// Counts one write of `token` in its current minute, or refuses it past the cap (429).
fn count_write(state: &ActState, token: &str) -> Result<(), ApiError> {
    let cap = state.limits.writes_per_minute;
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    let mut writes = state.writes.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let mine = writes.entry(digest).or_insert((now, 0));
    if now.duration_since(mine.0) >= Duration::from_secs(60) {
        *mine = (now, 0);
    }
    if mine.1 >= cap {
        return Err(ApiError::limit(
            StatusCode::TOO_MANY_REQUESTS,
            "writes per minute for this token",
            u64::from(cap),
        ));
    }
    mine.1 += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(server_token: bool) -> Limits {
        Limits {
            writes_per_minute: 2,
            max_argument_bytes: 100,
            max_body_bytes: 1000,
            request_timeout: Duration::from_secs(1),
            allowed_origins: vec!["https://console.example".into()],
            server_token,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn origins_allowed_are_loopback_the_pages_own_and_those_named() {
        let open = limits(false);
        for origin in [
            "http://localhost:7070",
            "http://127.0.0.1:7070",
            "http://[::1]:7070",
            "https://console.example",
        ] {
            let h = headers(&[("host", "127.0.0.1:7070"), ("origin", origin)]);
            assert!(check_origin(&open, &h).is_ok(), "{origin}");
        }
        let h = headers(&[
            ("host", "127.0.0.1:7070"),
            ("origin", "https://evil.example"),
        ]);
        assert!(check_origin(&open, &h).is_err());
        // With --token, the page's own origin on a public name.
        let guarded = limits(true);
        let h = headers(&[
            ("host", "arena.lan:7070"),
            ("origin", "http://arena.lan:7070"),
        ]);
        assert!(check_origin(&guarded, &h).is_ok());
        let h = headers(&[
            ("host", "arena.lan:7070"),
            ("origin", "http://evil.example"),
        ]);
        assert!(check_origin(&guarded, &h).is_err());
        // Without --token, a foreign Host is refused whatever the origin.
        let h = headers(&[("host", "arena.lan:7070")]);
        assert!(check_origin(&open, &h).is_err());
    }

    #[test]
    fn a_bearer_token_is_read_from_the_header_only() {
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer arena_x")])).as_deref(),
            Some("arena_x")
        );
        assert_eq!(bearer(&headers(&[("cookie", "arena_token=arena_x")])), None);
        assert_eq!(bearer(&headers(&[("authorization", "Bearer ")])), None);
    }
}
