//! The transport: one chat-completions request over `wasi:http` (through `wstd`), retried with
//! exponential backoff on 429, 5xx and connection errors. A failure says whether it is permanent.

use wstd::http::error::ErrorCode;
use wstd::http::{Body, Client, Request};
use wstd::time::Duration;

use crate::protocol::{backoff_ms, chat_url, permanent_status, quote, retryable_status};
use crate::settings::Settings;

/// Why a request failed. Its text never carries the API key.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Another turn would fail the same way: a bad key, an unknown model, a refused host.
    pub permanent: bool,
    /// What failed.
    pub what: String,
}

/// Posts `body` to the settings' chat endpoint and returns the successful response's body.
pub fn post(settings: &Settings, body: &serde_json::Value) -> Result<Vec<u8>, Failure> {
    wstd::runtime::block_on(post_with_retries(settings, body))
}

/// One attempt's outcome.
enum Attempt {
    /// A successful response's body.
    Reply(Vec<u8>),
    /// A failure worth another attempt.
    Retry(String),
    /// A failure that another attempt would repeat.
    Fail(Failure),
}

async fn post_with_retries(
    settings: &Settings,
    body: &serde_json::Value,
) -> Result<Vec<u8>, Failure> {
    let url = chat_url(&settings.endpoint);
    let body = serde_json::to_vec(body).map_err(|e| Failure {
        permanent: true,
        what: format!("encoding the request: {e}"),
    })?;
    let client = Client::new();
    let mut retry = 0;
    loop {
        let failure = match attempt(&client, &url, settings.api_key.as_deref(), &body).await {
            Attempt::Reply(reply) => return Ok(reply),
            Attempt::Fail(failure) => return Err(failure),
            Attempt::Retry(what) => what,
        };
        if retry >= settings.max_retries {
            return Err(Failure {
                permanent: false,
                what: if retry == 0 {
                    failure
                } else {
                    format!("{failure} (after {} attempts)", retry + 1)
                },
            });
        }
        wstd::task::sleep(Duration::from_millis(backoff_ms(retry))).await;
        retry += 1;
    }
}

async fn attempt(client: &Client, url: &str, api_key: Option<&str>, body: &[u8]) -> Attempt {
    let fail = |what: String| {
        Attempt::Fail(Failure {
            permanent: true,
            what,
        })
    };
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
        Err(e) => return fail(format!("building the request to {url}: {e}")),
    };
    let response = match client.send(request).await {
        Ok(response) => response,
        Err(e) => {
            return match e.downcast_ref::<ErrorCode>() {
                Some(ErrorCode::HttpRequestDenied) => fail(format!(
                    "the host denied the request to {url} (is it in allowed_outbound_hosts?)"
                )),
                Some(ErrorCode::HttpRequestUriInvalid) => {
                    fail(format!("the host refused the URL {url}"))
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
    } else if retryable_status(status.as_u16()) {
        Attempt::Retry(format!("HTTP {status}: {}", quote(&bytes)))
    } else {
        Attempt::Fail(Failure {
            permanent: permanent_status(status.as_u16()),
            what: format!("HTTP {status}: {}", quote(&bytes)),
        })
    }
}
