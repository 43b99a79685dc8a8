//! The transport: one chat-completions request over `wasi:http` (through `wstd`), retried with
//! exponential backoff on 429, 5xx and connection errors.

use crate::config::Settings;
use crate::model;
use wstd::http::error::ErrorCode;
use wstd::http::{Body, Client, Request};
use wstd::time::Duration;

/// Sends the chat request and returns the reply's message text, or what failed (the caller names the
/// model). The text never carries the API key.
pub fn ask(settings: &Settings, system: &str, user: &str) -> Result<String, String> {
    wstd::runtime::block_on(ask_with_retries(settings, system, user))
}

/// One attempt's outcome.
enum Attempt {
    /// A successful response's body.
    Reply(Vec<u8>),
    /// A failure worth another attempt.
    Retry(String),
    /// A failure that another attempt would repeat.
    Fail(String),
}

async fn ask_with_retries(settings: &Settings, system: &str, user: &str) -> Result<String, String> {
    let url = model::chat_url(&settings.endpoint);
    let body = serde_json::to_vec(&model::request_body(
        &settings.model,
        system,
        user,
        settings.temperature,
    ))
    .map_err(|e| format!("encoding the request: {e}"))?;
    let client = Client::new();
    let mut retry = 0;
    loop {
        let failure = match attempt(&client, &url, settings.api_key.as_deref(), &body).await {
            Attempt::Reply(reply) => return model::completion_text(&reply),
            Attempt::Fail(what) => return Err(what),
            Attempt::Retry(what) => what,
        };
        if retry >= settings.max_retries {
            return Err(if retry == 0 {
                failure
            } else {
                format!("{failure} (after {} attempts)", retry + 1)
            });
        }
        wstd::task::sleep(Duration::from_millis(model::backoff_ms(retry))).await;
        retry += 1;
    }
}

async fn attempt(client: &Client, url: &str, api_key: Option<&str>, body: &[u8]) -> Attempt {
    let mut request = Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        // A known length rather than a chunked body: some servers read only `content-length`.
        .header("content-length", body.len());
    if let Some(key) = api_key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    // `http`'s errors describe what was malformed, never the value (the key stays out).
    let request = match request.body(Body::from(body.to_vec())) {
        Ok(request) => request,
        Err(e) => return Attempt::Fail(format!("building the request to {url}: {e}")),
    };
    let response = match client.send(request).await {
        Ok(response) => response,
        Err(e) => {
            return match e.downcast_ref::<ErrorCode>() {
                Some(ErrorCode::HttpRequestDenied) => Attempt::Fail(format!(
                    "the host denied the request to {url} (is it in allowed_outbound_hosts?)"
                )),
                Some(ErrorCode::HttpRequestUriInvalid) => {
                    Attempt::Fail(format!("the host refused the URL {url}"))
                }
                Some(code) => Attempt::Retry(format!("connecting to {url}: {code:?}")),
                None => Attempt::Retry(format!("connecting to {url}: {e}")),
            };
        }
    };
    let status = response.status();
    let mut body = response.into_body();
    let bytes = match body.contents().await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => return Attempt::Retry(format!("reading the reply from {url}: {e}")),
    };
    if status.is_success() {
        Attempt::Reply(bytes)
    } else if model::retryable_status(status.as_u16()) {
        Attempt::Retry(format!("HTTP {status}: {}", model::quote(&bytes)))
    } else {
        Attempt::Fail(format!("HTTP {status}: {}", model::quote(&bytes)))
    }
}
