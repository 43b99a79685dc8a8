//! `GET /api/arenas/{id}/events/stream`: an arena's events as Server-Sent Events, each exactly once
//! and in order, as they commit — on this host or any other writing the same database.
//!
//! Each stream is pulled: it reads the log from its own cursor a small page at a time, and only
//! when the client has taken the page does it read the next. When it reaches the end it waits for
//! the arena's head to move. One thread ([`Heads`]) watches the heads of the arenas being followed,
//! waiting for appends the way `arena events --follow` does, so a hundred clients cost one watcher.
//! The event's `id` is its sequence number: a client that reconnects with `Last-Event-ID` goes on
//! right after it, without a gap or a duplicate.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, watch};

use arena_host::types::Event;
use arena_host::{ArenaHost, FOLLOW_POLL};

use super::{ApiError, AppState};
use crate::cli::views::EventView;

/// Events read per step of a stream: what one client holds in memory at most.
const PAGE: u32 = 32;

/// How long a stream at the end of the log waits for its head to move before it reads anyway.
const IDLE_READ: Duration = Duration::from_secs(15);

/// The last sequence number of each arena some stream follows, kept by one watching thread.
#[derive(Clone)]
pub(crate) struct Heads {
    arenas: Arc<Mutex<BTreeMap<String, watch::Sender<u64>>>>,
}

impl Heads {
    /// Starts the watcher, which ends when `shutdown` turns true.
    pub(crate) fn start(host: ArenaHost, shutdown: watch::Receiver<bool>) -> Self {
        let heads = Heads {
            arenas: Arc::default(),
        };
        let watched = heads.clone();
        std::thread::Builder::new()
            .name("arena-serve-heads".into())
            .spawn(move || watched.watch(&host, &shutdown))
            .expect("spawning the head watcher");
        heads
    }

    /// The head of `arena`, as the watcher last saw it.
    fn follow(&self, arena: &str) -> watch::Receiver<u64> {
        let mut arenas = self.arenas.lock().unwrap_or_else(|e| e.into_inner());
        arenas
            .entry(arena.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn watch(&self, host: &ArenaHost, shutdown: &watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = host.wait_for_appends(FOLLOW_POLL) {
                tracing::warn!("waiting for appends: {e}");
                std::thread::sleep(FOLLOW_POLL);
            }
            let followed: Vec<(String, watch::Sender<u64>)> = {
                let mut arenas = self.arenas.lock().unwrap_or_else(|e| e.into_inner());
                arenas.retain(|_, head| head.receiver_count() > 0);
                arenas
                    .iter()
                    .map(|(id, head)| (id.clone(), head.clone()))
                    .collect()
            };
            for (id, head) in followed {
                match host.get(&id) {
                    Ok(info) => {
                        head.send_if_modified(|seq| {
                            let moved = info.last_seq > *seq;
                            *seq = (*seq).max(info.last_seq);
                            moved
                        });
                    }
                    Err(e) => tracing::warn!(arena = %id, "reading the head: {e}"),
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    /// Start after this event (`Last-Event-ID` wins when both are given).
    after: Option<u64>,
    #[allow(dead_code)]
    token: Option<String>,
}

/// The stream of `id`'s events after `Last-Event-ID`, or `after`, or from the first.
pub(super) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_input(e.body_text()))?;
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_input("Last-Event-ID must be an event's sequence number")
            })?,
        None => q.after.unwrap_or(0),
    };
    let permit = state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::limit(
            StatusCode::SERVICE_UNAVAILABLE,
            "live event streams at once",
            state.max_streams as u64,
        )
    })?;
    let arena = id.clone();
    state.call(move |host| Ok(host.get(&arena)?)).await?;
    let follower = Follower {
        head: state.heads.follow(&id),
        state: state.clone(),
        arena: id,
        after,
        page: VecDeque::new(),
        at_end: false,
        _permit: permit,
    };
    let mut shutdown = state.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let events = stream::unfold(follower, |mut f| async move {
        let event = f.next().await?;
        Some((Ok(event), f))
    })
    .take_until(stopped);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One client's place in the log.
struct Follower {
    state: AppState,
    arena: String,
    head: watch::Receiver<u64>,
    /// The last event read.
    after: u64,
    page: VecDeque<Event>,
    /// Whether the last read found the end of the log.
    at_end: bool,
    /// The stream's place among `--max-streams`, given back when it ends.
    _permit: OwnedSemaphorePermit,
}

impl Follower {
    /// The next event to send; `None` ends the stream (after an `error` event, if reading failed).
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.page.pop_front() {
                return Some(message(&event));
            }
            if self.at_end {
                let after = self.after;
                let moved = tokio::time::timeout(IDLE_READ, self.head.wait_for(|h| *h > after));
                if let Ok(Err(_)) = moved.await {
                    // The watcher is gone: the server is stopping.
                    return None;
                }
            }
            let (arena, after) = (self.arena.clone(), self.after);
            match self
                .state
                .call(move |host| Ok(host.events(&arena, after, PAGE)?))
                .await
            {
                Ok(page) => {
                    self.at_end = page.len() < PAGE as usize;
                    if let Some(last) = page.last() {
                        self.after = last.seq;
                    }
                    self.page = page.into();
                }
                Err(e) => {
                    // A client that reconnects goes on from its last event.
                    let text = format!("{e:?}");
                    tracing::warn!(arena = %self.arena, "reading events for a stream: {text}");
                    return None;
                }
            }
        }
    }
}

/// An event as one SSE message: `id` its sequence number, `data` its `--json` line.
fn message(event: &Event) -> SseEvent {
    // Through a `Value`, whose keys are sorted, like every line `--json` prints.
    let data = serde_json::to_value(EventView::from(event))
        .map(|value| value.to_string())
        .unwrap_or_else(|_| "{}".into());
    SseEvent::default().id(event.seq.to_string()).data(data)
}
