//! `arena serve`: a read-only HTTP API over the arena database, its events live as Server-Sent
//! Events, and a web console whose assets are built into the program.
//!
//! [`api`] answers the JSON endpoints with the shapes `--json` prints, [`sse`] streams an arena's
//! log as it commits, [`assets`] serves the page, [`guard`] checks the token and the Host header.
//! Every handler runs its blocking host calls off the async runtime, within [`REQUEST_TIMEOUT`].

mod api;
mod assets;
mod error;
mod guard;
mod sse;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::routing::get;
use tokio::sync::{Semaphore, watch};

use arena_host::ArenaHost;

pub(crate) use error::ApiError;

/// How long one request may take, host calls included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Host calls in flight at once; more requests wait (within their timeout) for a turn.
const BLOCKING_CALLS: usize = 8;

/// How long connections get to finish after Ctrl-C before the server stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What `arena serve` was asked for.
pub(crate) struct Options {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Option<String>,
    pub(crate) max_streams: usize,
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

/// The routes: the API under `/api`, the page at `/`, and a JSON 404 for anything else.
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
        .route("/facts", get(api::facts));
    Router::new()
        .nest("/api", api)
        .merge(assets::routes())
        .fallback(api::no_such_path)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .with_state(state)
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
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("listening on {}", options.addr))?;
    let local = listener.local_addr()?;
    let (stop, shutdown) = watch::channel(false);
    let heads = sse::Heads::start(host.clone(), shutdown.clone());
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
    let signal = async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping: finishing open requests");
        let _ = stop.send(true);
    };
    let mut stopped = shutdown.clone();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(signal);
    let grace = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served.context("serving")?,
        () = grace => eprintln!("stopped after {} s of grace", SHUTDOWN_GRACE.as_secs()),
    }
    Ok(())
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
}
