//! What the API answers when it cannot answer: JSON naming the `arena-error` variant, with the
//! status code a client expects of it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use arena_host::types::ArenaError;
use arena_host::{HostError, describe};

/// An API error: `{"error": VARIANT, "message": TEXT}`, plus `"limit"` for `limit-exceeded`.
///
/// `error` is an `arena-error` variant (`not-found`, `invalid-input`, `limit-exceeded`, …), or one of
/// the server's own: `unauthorized` (no valid token), `forbidden` (a Host header that is not a
/// loopback name), `method-not-allowed` (a method other than the path's own: GET, or POST to fork), `timeout` (the request ran out
/// of time) and `host` (the host failed).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error,
                message: message.into(),
                limit: None,
            },
        }
    }

    /// 400 `invalid-input`: a malformed parameter.
    pub(crate) fn bad_input(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-input",
            format!("invalid input: {what}"),
        )
    }

    /// 404 `not-found`.
    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("not found: {what}"),
        )
    }

    /// `limit-exceeded` naming the limit: 400 for a request asking too much, 503 for a server that
    /// is full.
    pub(crate) fn limit(status: StatusCode, what: &str, limit: u64) -> Self {
        let mut error = Self::new(
            status,
            "limit-exceeded",
            format!("limit exceeded: {what} (limit {limit})"),
        );
        error.body.limit = Some(limit);
        error
    }

    /// 401 `unauthorized`.
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs its token: `Authorization: Bearer TOKEN` or `?token=TOKEN`",
        )
    }

    /// 401 `unauthorized` with its own message.
    pub(crate) fn unauthorized_with(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`: a request addressed to another name than the loopback one served.
    pub(crate) fn foreign_host(host: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "host {host:?} is not a loopback name; without --token only localhost, \
                 127.0.0.1 and [::1] are served"
            ),
        )
    }

    /// 403 `forbidden`: a browser page from an origin `/mcp` does not allow (DNS rebinding, or a
    /// page elsewhere driving a local agent's token).
    pub(crate) fn forbidden_origin(origin: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "origin {origin:?} is not allowed: /mcp serves loopback origins and those \
                 --mcp-allow-origin names"
            ),
        )
    }

    /// 403 `forbidden`: a write from a browser page of another origin than the console's own (or
    /// a loopback one).
    pub(crate) fn forbidden_write_origin(origin: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "origin {origin:?} is not allowed: writes are taken only from the console's own \
                 origin and loopback ones"
            ),
        )
    }

    /// 403 `permission-denied`: the agent's grant does not hold what the request needs.
    pub(crate) fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission-denied", message)
    }

    /// 503 `timeout`: the request did not finish in time.
    pub(crate) fn timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request did not finish within {} ms; try again",
                limit.as_millis()
            ),
        )
    }

    /// 405 `method-not-allowed`: the path is served, but not for this method.
    pub(crate) fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("{path} is served for GET only, not {method}"),
        )
    }

    /// 500 `host`: the host itself failed.
    pub(crate) fn host(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "host", message)
    }
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> Self {
        let HostError::Arena(arena) = &e else {
            return ApiError::host(e.to_string());
        };
        let (status, variant) = match arena {
            ArenaError::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ArenaError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid-input"),
            ArenaError::LimitExceeded(_) => (StatusCode::BAD_REQUEST, "limit-exceeded"),
            ArenaError::InvalidTransition(_) => (StatusCode::CONFLICT, "invalid-transition"),
            ArenaError::InvalidState(_) => (StatusCode::CONFLICT, "invalid-state"),
            ArenaError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "permission-denied"),
            ArenaError::AlreadyDone => (StatusCode::CONFLICT, "already-done"),
            ArenaError::Conflict => (StatusCode::CONFLICT, "conflict"),
            ArenaError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        };
        let mut error = ApiError::new(status, variant, describe(arena));
        if let ArenaError::LimitExceeded(l) = arena {
            error.body.limit = Some(l.limit);
        }
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
