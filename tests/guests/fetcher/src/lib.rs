//! Reads the arena's goal, takes it as an `http://host:port/path` URL, fetches it over `wasi:http`, and
//! reports the response body (or the error).

wit_bindgen::generate!({ world: "agent", path: "../../../wit", generate_all });

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

struct Fetcher;

impl exports::arena::core::plugin::Guest for Fetcher {
    fn turn(_turn: u32) -> Result<String, String> {
        let url = arena::core::observe::goal().map_err(|e| format!("{e:?}"))?;
        fetch(&url)
    }
}

fn fetch(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(&format!("/{path}")))
        .map_err(|()| "path")?;
    let body = request.body().map_err(|()| "body")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("refused: {e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("finishing the request: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("refused: {e:?}"))?;
    let incoming = response.consume().map_err(|()| "body taken twice")?;
    let stream = incoming.stream().map_err(|()| "stream taken twice")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(4096) {
            Ok(chunk) => bytes.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the body: {e:?}")),
        }
    }
    Ok(format!(
        "{} {}",
        response.status(),
        String::from_utf8_lossy(&bytes)
    ))
}

export!(Fetcher);
