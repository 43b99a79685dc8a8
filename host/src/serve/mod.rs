//! `arena serve`: a read-only HTTP API over the arena database, its events live as Server-Sent
//! Events, and a web console whose assets are built into the program.
//!
//! [`api`] answers the JSON endpoints with the shapes `--json` prints, [`sse`] streams an arena's
//! log as it commits, [`assets`] serves the page, [`guard`] checks the token and the Host header.
//! Every handler runs its blocking host calls off the async runtime, within [`REQUEST_TIMEOUT`],
//! and every request gets the same limit as a whole (a live stream's body excepted). Connections
//! are hyper's, each accepted by [`serve`]'s loop: at most [`MAX_CONNECTIONS`] open at once, fewer
//! under a low open-file limit (one past the cap is closed as soon as it is accepted), and one that
//! has not sent a request's whole header within [`HEADER_TIMEOUT`] — the first request's, or the
//! next on a kept-alive connection — is closed: a slow or idle client holds its place for ten
//! seconds at most. At Ctrl-C, a connection with a request in flight finishes it; any other is
//! closed at once.

pub(crate) mod access;
mod act;
mod api;
mod assets;
mod error;
mod fork;
mod guard;
pub(crate) mod mcp;
mod sse;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};

use arena_host::ArenaHost;

pub(crate) use error::ApiError;

/// How long one request may take, host calls included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Host calls in flight at once; more requests wait (within their timeout) for a turn.
const BLOCKING_CALLS: usize = 8;

/// How long a connection may take to send a request's whole header, the first or the next one
/// on a kept-alive connection; then it is closed.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once, at most: fewer where the process may open fewer files
/// ([`connection_cap`]). One accepted past the cap is closed at once, which frees its descriptor
/// and tells its client, instead of leaving it queued behind connections that may never speak.
pub(crate) const MAX_CONNECTIONS: usize = 512;

/// Descriptors kept for everything but connections: the database, the runtime, live streams'
/// watchers, the listener.
const SPARE_DESCRIPTORS: usize = 64;

/// [`MAX_CONNECTIONS`], or the process's open-file limit less [`SPARE_DESCRIPTORS`] when that is
/// lower (at least 16), so that the cap is reached before the descriptors run out.
fn connection_cap() -> usize {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        if let Some(files) = limit.current {
            let files = usize::try_from(files).unwrap_or(usize::MAX);
            return files
                .saturating_sub(SPARE_DESCRIPTORS)
                .clamp(16, MAX_CONNECTIONS);
        }
    }
    MAX_CONNECTIONS
}

/// How long connections get to finish after Ctrl-C before the server stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What `arena serve` was asked for.
pub(crate) struct Options {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Option<String>,
    pub(crate) max_streams: usize,
    /// The limits of MCP over Streamable HTTP at `/mcp`.
    pub(crate) mcp: mcp::Limits,
    /// Where the access log goes.
    pub(crate) access_log: access::Destination,
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    host: ArenaHost,
    token: Option<Arc<str>>,
    /// Host calls in flight.
    calls: Arc<Semaphore>,
    /// Live event streams: one permit per stream.
    streams: Arc<Semaphore>,
    max_streams: usize,
    heads: sse::Heads,
    /// Turns true on shutdown; live streams end then.
    shutdown: watch::Receiver<bool>,
    /// How long one request may take: [`REQUEST_TIMEOUT`].
    request_timeout: Duration,
}

impl AppState {
    /// Runs `f` on the host in a blocking thread, within the request's time limit (waiting for a
    /// turn included).
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&ArenaHost) -> Result<T, ApiError> + Send + 'static,
    {
        let host = self.host.clone();
        let calls = self.calls.clone();
        let work = async move {
            let _turn = calls
                .acquire_owned()
                .await
                .map_err(|_| ApiError::host("the server is shutting down"))?;
            tokio::task::spawn_blocking(move || f(&host))
                .await
                .map_err(|e| ApiError::host(format!("a host call failed: {e}")))?
        };
        tokio::time::timeout(self.request_timeout, work)
            .await
            .map_err(|_| ApiError::timeout(self.request_timeout))?
    }
}

/// The routes: the API under `/api`, the page at `/`, and a JSON 404 for anything else. (`/mcp`,
/// with its own guard, is merged in by [`serve`].)
pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/arenas", get(api::arenas))
        .route("/arenas/{id}", get(api::arena))
        .route("/arenas/{id}/report", get(api::report))
        .route("/arenas/{id}/events", get(api::events))
        .route("/arenas/{id}/events/stream", get(sse::stream))
        .route("/arenas/{id}/slots", get(api::slots))
        .route("/arenas/{id}/slots/{agent}", get(api::slot))
        .route("/arenas/{id}/artifacts/{artifact}", get(api::artifact))
        .route(
            "/arenas/{id}/artifacts/{artifact}/content",
            get(api::artifact_content),
        )
        .route("/arenas/{id}/facts", get(api::arena_facts))
        .route("/arenas/{id}/verify", get(api::verify))
        .route("/arenas/{id}/fork", axum::routing::post(fork::fork))
        .route("/facts", get(api::facts));
    Router::new()
        .nest("/api", api)
        .merge(assets::routes())
        .fallback(api::no_such_path)
        .method_not_allowed_fallback(api::wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_limit,
        ))
        .with_state(state)
}

/// Answers a request that has not produced its response within the request limit with a JSON
/// 503 `timeout` (tower-http's `TimeoutLayer` would answer an empty body). A live stream's body
/// flows after its response, so it is not cut.
async fn time_limit(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout(state.request_timeout).into_response(),
    }
}

/// `arena serve`: serves until Ctrl-C, then lets open requests finish (live streams end at once).
pub(crate) fn command(host: ArenaHost, options: Options) -> Result<()> {
    if !options.addr.ip().is_loopback() && options.token.is_none() {
        bail!(
            "refusing to serve on {} without --token: anyone who can reach it could read every \
             arena; pass --token (or ARENA_SERVE_TOKEN), or bind a loopback address",
            options.addr
        );
    }
    if let Some(token) = &options.token {
        guard::check_token_text(token)?;
    }
    if options.max_streams == 0 {
        bail!("--max-streams must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(serve(host, options))
}

async fn serve(host: ArenaHost, options: Options) -> Result<()> {
    let log = access::AccessLog::open(&options.access_log)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("listening on {}", options.addr))?;
    let local = listener.local_addr()?;
    let (stop, shutdown) = watch::channel(false);
    let heads = sse::Heads::start(host.clone(), shutdown.clone());
    let act = act::routes(host.clone(), act::Limits::of(&options));
    let mcp = mcp::routes(host.clone(), options.mcp);
    let state = AppState {
        host,
        token: options.token.map(Into::into),
        calls: Arc::new(Semaphore::new(BLOCKING_CALLS)),
        streams: Arc::new(Semaphore::new(options.max_streams)),
        max_streams: options.max_streams,
        heads,
        shutdown: shutdown.clone(),
        request_timeout: REQUEST_TIMEOUT,
    };
    println!("serving http://{local}/ (Ctrl-C stops)");
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping: finishing open requests");
        let _ = stop.send(true);
    });
    // Outermost, so that every answer is logged: a refusal by a guard, a timeout, MCP's.
    let app = mcp
        .merge(act)
        .merge(router(state))
        .layer(axum::middleware::from_fn_with_state(log, access::record));
    let cap = connection_cap();
    let open = Arc::new(Semaphore::new(cap));
    let mut stopping = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                // Answers (an SSE stream of a few small writes) go out at once, not after the
                // client's delayed ACK: without it an MCP call over HTTP took 40 ms more.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::warn!("setting TCP_NODELAY: {e}");
                }
                stream
            }
            Err(e) => {
                // Out of descriptors, say: pause rather than spin, and go on.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(place) = open.clone().try_acquire_owned() else {
            tracing::debug!("{cap} connections open: closing a new one");
            drop(stream);
            continue;
        };
        tokio::spawn(connection(stream, app.clone(), shutdown.clone(), place));
    }
    drop(listener);
    // Every connection gives its place back when it ends.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, open.acquire_many(all))
        .await
        .is_err()
    {
        eprintln!("stopped after {} s of grace", SHUTDOWN_GRACE.as_secs());
    }
    Ok(())
}

/// Requests of one connection whose response is not ready yet.
#[derive(Clone, Default)]
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

/// One request counted in [`InFlight`] until dropped.
struct Counted(InFlight);

impl InFlight {
    fn enter(&self) -> Counted {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Counted(self.clone())
    }

    fn idle(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed) == 0
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        (self.0)
            .0
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves one connection until it ends, holding its `place` under the cap. At shutdown, one with
/// a request in flight finishes it; one without (idle, or still sending a header) is closed at once.
async fn connection(
    stream: tokio::net::TcpStream,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    place: tokio::sync::OwnedSemaphorePermit,
) {
    let in_flight = InFlight::default();
    let counter = in_flight.clone();
    let remote = stream.peer_addr().ok().map(access::Remote);
    let inner = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        if let Some(remote) = remote {
            request.extensions_mut().insert(remote);
        }
        let counted = counter.enter();
        let response = hyper::service::Service::call(&inner, request);
        async move {
            let response = response.await;
            drop(counted);
            response
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // A connection's errors (a client gone, a header too slow) are its own.
    tokio::select! {
        _ = connection.as_mut() => {}
        () = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
            if !in_flight.idle() {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
    drop(place);
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn a_host_call_past_the_request_limit_is_answered_503_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let host = ArenaHost::open(dir.path().join("a.db"), Default::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (stop, shutdown) = watch::channel(false);
            let state = AppState {
                host: host.clone(),
                token: None,
                calls: Arc::new(Semaphore::new(1)),
                streams: Arc::new(Semaphore::new(1)),
                max_streams: 1,
                heads: sse::Heads::start(host, shutdown.clone()),
                shutdown,
                request_timeout: Duration::from_millis(50),
            };
            let slow = state.call(|_| {
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            });
            let response = slow.await.unwrap_err().into_response();
            assert_eq!(
                response.status(),
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            );
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], "timeout");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("within 50 ms"), "{message}");
            // A call within the limit is answered.
            assert_eq!(state.call(|_| Ok(7)).await.unwrap(), 7);
            let _ = stop.send(true);
        });
    }

    #[test]
    fn a_request_past_the_time_limit_is_answered_503_timeout_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let host = ArenaHost::open(dir.path().join("a.db"), Default::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (stop, shutdown) = watch::channel(false);
            let state = AppState {
                host: host.clone(),
                token: None,
                calls: Arc::new(Semaphore::new(1)),
                streams: Arc::new(Semaphore::new(1)),
                max_streams: 1,
                heads: sse::Heads::start(host, shutdown.clone()),
                shutdown,
                request_timeout: Duration::from_millis(50),
            };
            // A handler that keeps no limit of its own, behind the one every request gets.
            let app = Router::new()
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "late"
                    }),
                )
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    time_limit,
                ))
                .with_state(state);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            let answer = tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
                stream
                    .write_all(b"GET /slow HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    .unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                answer
            })
            .await
            .unwrap();
            assert!(answer.starts_with("HTTP/1.0 503"), "{answer}");
            let body = answer.split_once("\r\n\r\n").unwrap().1;
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["error"], "timeout");
            assert_eq!(
                body["message"],
                "the request did not finish within 50 ms; try again"
            );
            let _ = stop.send(true);
        });
    }
}
