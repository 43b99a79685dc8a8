//! The access log of `arena serve`: one line per request, the API's, the page's, the live streams'
//! and MCP's alike, written when the response's body has been sent (or the client has gone):
//!
//! ```text
//! 2026-12-06T03:35:27.123Z 127.0.0.1:50412 GET /api/arenas?token=REDACTED 200 1234 2.1ms -
//! 2026-12-06T03:35:28.004Z 127.0.0.1:50413 POST /mcp?arena=0193… 200 377 5.8ms ada
//! ```
//!
//! Fields, separated by one space: the time the request arrived (UTC), the remote address, the
//! method, the path and query with the value of every `token` parameter replaced by `REDACTED`
//! (and cut to [`MAX_TARGET`] bytes), the status, the response body's bytes, the time from arrival
//! to the last byte, and the agent a bearer token identified (MCP's agent tokens), or `-`.
//!
//! Every line is bounded (the target is cut, every field is short), and lines are handed to one
//! writer thread through a queue of [`QUEUE`] lines: a slow disk or a stderr nobody reads never
//! holds a request up. When the queue is full a line is dropped and counted, and the next line
//! written is preceded by a note of how many were. There is no rotation: a line is at most about
//! 1.3 KiB, the file is opened for appending, so `logrotate`'s `copytruncate` can rotate it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// The longest path and query written, in bytes; a longer one is cut and ends with `…`.
pub(crate) const MAX_TARGET: usize = 1024;

/// Lines waiting for the writer, at most; past it, lines are dropped and counted.
const QUEUE: usize = 4096;

/// Where the access log goes: `--access-log`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Standard error (`-`, the default).
    Stderr,
    /// Appended to a file.
    File(PathBuf),
    /// No access log (`off`).
    Off,
}

impl std::str::FromStr for Destination {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "-" => Destination::Stderr,
            "off" => Destination::Off,
            path => Destination::File(PathBuf::from(path)),
        })
    }
}

/// The remote address of a request's connection, put in its extensions by the connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remote(pub(crate) SocketAddr);

/// The agent a request acts as, once a handler has resolved its bearer token: set through the
/// request's extensions, read when the line is written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Actor(Arc<OnceLock<String>>);

impl Actor {
    /// Names the agent the request acts as (the first name given stays).
    pub(crate) fn set(&self, agent: &str) {
        let _ = self.0.set(agent.to_string());
    }
}

/// The log: a queue to its writer thread, or nothing.
#[derive(Clone)]
pub(crate) struct AccessLog {
    queue: Option<SyncSender<String>>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Opens the destination (a file is created if need be, and appended to) and starts the writer.
    pub(crate) fn open(destination: &Destination) -> Result<Self> {
        let out: Box<dyn std::io::Write + Send> = match destination {
            Destination::Off => {
                return Ok(AccessLog {
                    queue: None,
                    dropped: Arc::default(),
                });
            }
            Destination::Stderr => Box::new(std::io::stderr()),
            Destination::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the access log {}", path.display()))?,
            ),
        };
        Ok(Self::to_writer(out))
    }

    /// A log written to `out` by its own thread.
    pub(crate) fn to_writer(out: Box<dyn std::io::Write + Send>) -> Self {
        let (queue, lines) = std::sync::mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        // Without a thread the log is silent, and the server is not worse for it.
        let started = std::thread::Builder::new()
            .name("arena-serve-access-log".into())
            .spawn(move || write_lines(out, &lines, &counted));
        if let Err(e) = started {
            tracing::warn!("starting the access log's writer: {e}");
        }
        AccessLog {
            queue: Some(queue),
            dropped,
        }
    }

    fn write(&self, line: String) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn enabled(&self) -> bool {
        self.queue.is_some()
    }
}

/// The writer thread: each line as it comes, flushed whenever the queue is empty.
fn write_lines(
    mut out: Box<dyn std::io::Write + Send>,
    lines: &Receiver<String>,
    dropped: &AtomicU64,
) {
    let mut failed = false;
    while let Ok(line) = lines.recv() {
        let mut next = Some(line);
        while let Some(line) = next {
            let lost = dropped.swap(0, Ordering::Relaxed);
            let mut result = Ok(());
            if lost > 0 {
                result = writeln!(
                    out,
                    "access log: {lost} lines dropped (the writer fell behind)"
                );
            }
            result = result.and_then(|()| out.write_all(line.as_bytes()));
            if let Err(e) = result
                && !failed
            {
                // Said once; the server goes on without its log rather than stop serving.
                failed = true;
                tracing::warn!("writing the access log: {e}");
            }
            next = lines.try_recv().ok();
        }
        let _ = out.flush();
    }
}

/// The middleware: times the request and writes its line when its body is done.
pub(crate) async fn record(
    State(log): State<AccessLog>,
    mut request: Request,
    next: Next,
) -> Response {
    if !log.enabled() {
        return next.run(request).await;
    }
    let started = Instant::now();
    let at = chrono::Utc::now();
    let remote = request.extensions().get::<Remote>().map(|r| r.0);
    let method = request.method().as_str().to_string();
    let target = redacted_target(request.uri());
    let actor = Actor::default();
    request.extensions_mut().insert(actor.clone());
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let line = Line {
        log,
        at,
        remote,
        method,
        target,
        status: parts.status.as_u16(),
        actor,
        started,
        bytes: 0,
    };
    Response::from_parts(parts, Body::new(Counted { body, line }))
}

/// A response body that counts its bytes into its [`Line`], written when the body is dropped. Its
/// size and end are the inner body's, so a known length still goes out as `Content-Length`.
struct Counted {
    body: Body,
    line: Line,
}

impl http_body::Body for Counted {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.line.bytes += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What a line says, written when dropped: when the body has been sent, or the client has gone.
struct Line {
    log: AccessLog,
    at: chrono::DateTime<chrono::Utc>,
    remote: Option<SocketAddr>,
    method: String,
    target: String,
    status: u16,
    actor: Actor,
    started: Instant,
    bytes: u64,
}

impl Drop for Line {
    fn drop(&mut self) {
        let mut text = String::with_capacity(128 + self.target.len());
        let remote = self
            .remote
            .map_or_else(|| "-".to_string(), |r| r.to_string());
        let agent = self
            .actor
            .0
            .get()
            .map_or_else(|| "-".to_string(), |a| escaped(a, 256));
        let _ = writeln!(
            text,
            "{} {remote} {} {} {} {} {:.1}ms {agent}",
            self.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            escaped(&self.method, 32),
            self.target,
            self.status,
            self.bytes,
            self.started.elapsed().as_secs_f64() * 1e3,
        );
        self.log.write(text);
    }
}

/// The request's path and query, every `token` parameter's value replaced by `REDACTED` (its name
/// compared percent-decoded and ignoring case), escaped and cut to [`MAX_TARGET`] bytes.
pub(crate) fn redacted_target(uri: &axum::http::Uri) -> String {
    let mut target = uri.path().to_string();
    if let Some(query) = uri.query() {
        target.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_token_name(name) => format!("{name}=REDACTED"),
                None if is_token_name(pair) => pair.to_string(),
                _ => pair.to_string(),
            })
            .collect();
        target.push_str(&pairs.join("&"));
    }
    escaped(&target, MAX_TARGET)
}

fn is_token_name(name: &str) -> bool {
    super::guard::percent_decode(name).eq_ignore_ascii_case("token")
}

/// `text` with anything but visible ASCII percent-escaped (so a line stays one line of fields),
/// cut to `max` bytes with `…`.
fn escaped(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 4);
    for byte in text.bytes() {
        if out.len() >= max {
            out.push('…');
            break;
        }
        if byte.is_ascii_graphic() {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str) -> String {
        redacted_target(&uri.parse().unwrap())
    }

    #[test]
    fn a_token_in_the_query_is_redacted_and_nothing_else_is() {
        assert_eq!(
            target("/api/arenas?token=s3cret&limit=5"),
            "/api/arenas?token=REDACTED&limit=5"
        );
        assert_eq!(
            target("/api/arenas/x/events/stream?after=3&TOKEN=s3cret"),
            "/api/arenas/x/events/stream?after=3&TOKEN=REDACTED"
        );
        // A name spelled with percent-escapes is the same name.
        assert_eq!(target("/?%74oken=s3cret"), "/?%74oken=REDACTED");
        assert_eq!(target("/api/arenas?limit=5"), "/api/arenas?limit=5");
        assert_eq!(target("/mcp?arena=abc"), "/mcp?arena=abc");
    }

    #[test]
    fn a_long_target_is_cut_and_odd_bytes_are_escaped() {
        let long = format!("/api/arenas?goal={}", "a".repeat(5000));
        let cut = target(&long);
        assert!(cut.len() <= MAX_TARGET + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(escaped("ada lovelace\n", 64), "ada%20lovelace%0A");
    }

    #[test]
    fn destinations_are_read_from_the_flag() {
        assert_eq!("-".parse::<Destination>().unwrap(), Destination::Stderr);
        assert_eq!("off".parse::<Destination>().unwrap(), Destination::Off);
        assert_eq!(
            "logs/access.log".parse::<Destination>().unwrap(),
            Destination::File("logs/access.log".into())
        );
    }
}
