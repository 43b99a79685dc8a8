//! Who may ask: with `--token`, only requests carrying it; without, only requests addressed to a
//! loopback name (so that a web page elsewhere cannot read the arenas through DNS rebinding).

use anyhow::{Result, bail};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The cookie the page keeps the token in, once it was opened with `?token=`.
const COOKIE: &str = "arena_token";

/// Refuses a token that could not travel in a header, a query or a cookie unescaped.
pub(super) fn check_token_text(token: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(allowed) {
        bail!("--token must be non-empty and use only letters, digits and -._~+/=");
    }
    Ok(())
}

/// The middleware: lets the request through, or answers 401 or 403.
pub(super) async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = state.token.as_deref() else {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_name(host) {
            return ApiError::foreign_host(host).into_response();
        }
        return next.run(request).await;
    };
    let in_query = query_token(&request).is_some_and(|t| same(&t, token));
    let in_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim(), token));
    let in_cookie = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, token));
    if !(in_query || in_header || in_cookie) {
        return ApiError::unauthorized().into_response();
    }
    let mut response = next.run(request).await;
    if in_query && !in_cookie {
        // The page's own requests (its script, its EventSource) then carry the token by themselves.
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `token=` from the query string, percent-decoded (a `+` stays a `+`: tokens hold no spaces).
fn query_token(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("token=")?;
        Some(percent_decode(value))
    })
}

pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares without stopping at the first difference, so the time taken does not tell how much of
/// a guess was right.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `localhost`, `127.0.0.1` (any of 127/8) or `[::1]`, with or without a port.
pub(super) fn is_loopback_name(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_and_without_ports() {
        for host in [
            "localhost",
            "localhost:7070",
            "127.0.0.1:80",
            "[::1]:7070",
            "[::1]",
        ] {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "",
            "example.com",
            "evil.localhost.example:7070",
            "10.0.0.1:7070",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Bb%3D"), "a+b=");
        assert_eq!(percent_decode("abc%2"), "abc%2");
    }
}
