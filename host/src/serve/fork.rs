//! `POST /api/arenas/{id}/fork`: the console's way to fork an arena at one of its events.
//!
//! A write, so it takes its authority from an agent token (`arena token issue`) in the
//! `Authorization: Bearer` header, never from a cookie: a page elsewhere cannot make a browser send
//! it, so the route is safe from cross-site forgery. The token must be for the arena forked, and its
//! agent must hold `coordinate` there now (the parent's coordinator); the fork is created by that
//! agent. A request from a browser must come from the page's own origin or a loopback one.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use arena_host::HostError;
use arena_host::tokens::TokenError;
use arena_host::types::{ArenaError, Permission};

use super::{ApiError, AppState};

/// The body: the parent's event to fork after.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForkRequest {
    at: u64,
}

/// Whether `origin` may write: the page's own (`http://` or `https://` and the request's `Host`),
/// or a loopback one.
fn allowed_origin(origin: &str, host: &str) -> bool {
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
    own || super::mcp::loopback_origin(origin)
}

/// The agent token in `Authorization: Bearer`, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// `POST /api/arenas/{id}/fork` with `{"at": SEQ}`: 201 with `{"id": FORK, "parent", "at",
/// "created_by"}`; 403 `forbidden` for a foreign origin, 401 without a token for this arena, 403
/// `permission-denied` when its agent does not hold `coordinate`, 400 `invalid-input` for a
/// malformed body or an event outside the log. Nothing is written unless it answers 201.
pub(super) async fn fork(
    State(state): State<AppState>,
    Path(id): Path<String>,
    actor: Option<Extension<super::access::Actor>>,
    headers: HeaderMap,
    body: Result<Json<ForkRequest>, JsonRejection>,
) -> Response {
    let actor = actor.map(|Extension(actor)| actor).unwrap_or_default();
    match fork_as_agent(state, id, actor, headers, body).await {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn fork_as_agent(
    state: AppState,
    id: String,
    actor: super::access::Actor,
    headers: HeaderMap,
    body: Result<Json<ForkRequest>, JsonRejection>,
) -> Result<serde_json::Value, ApiError> {
    let host_name = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && !allowed_origin(origin, host_name)
    {
        return Err(ApiError::forbidden_write_origin(origin));
    }
    let token = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let Json(ForkRequest { at }) = body.map_err(|e| ApiError::bad_input(e.body_text()))?;
    state
        .call(move |host| {
            let handle = match host.resolve_token(&token, Some(&id)) {
                Ok(handle) => handle,
                Err(TokenError::Refused) => return Err(ApiError::unauthorized()),
                Err(e) => return Err(ApiError::host(e.to_string())),
            };
            // The access log names the agent that forked.
            actor.set(handle.agent());
            if !handle.grant().contains(&Permission::Coordinate) {
                return Err(ApiError::from(HostError::Arena(
                    ArenaError::PermissionDenied(Permission::Coordinate),
                )));
            }
            let fork = host.fork(&id, at, handle.agent())?;
            Ok(json!({ "id": fork, "parent": id, "at": at, "created_by": handle.agent() }))
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::{Semaphore, watch};

    use super::super::{router, sse};
    use super::*;
    use arena_host::ArenaHost;
    use arena_host::types::{ArenaConfig, ArenaStatus, ParticipantSpec, Role, Strategy};

    /// A served database with one active arena (lead, wendy) and a token for each of them.
    struct Served {
        host: ArenaHost,
        arena: String,
        lead: String,
        wendy: String,
        addr: std::net::SocketAddr,
        _dir: tempfile::TempDir,
    }

    fn spec(agent: &str, role: Role) -> ParticipantSpec {
        ParticipantSpec {
            agent: agent.into(),
            role,
            permissions: None,
        }
    }

    async fn served() -> (Served, watch::Sender<bool>) {
        let dir = tempfile::tempdir().unwrap();
        let host = ArenaHost::open(dir.path().join("a.db"), Default::default()).unwrap();
        let arena = host
            .create(&ArenaConfig {
                goal: "g".into(),
                total_steps: 3,
                strategy: Strategy::Peer("lead".into()),
                participants: vec![spec("lead", Role::Coordinator), spec("wendy", Role::Worker)],
                created_by: "operator".into(),
            })
            .unwrap();
        host.handle(&arena, "lead").unwrap().activate().unwrap();
        let token = |agent| {
            host.issue_token(&arena, agent, None, None)
                .unwrap()
                .secret
                .expose()
                .to_string()
        };
        let (lead, wendy) = (token("lead"), token("wendy"));
        let (stop, shutdown) = watch::channel(false);
        let state = AppState {
            host: host.clone(),
            token: None,
            calls: Arc::new(Semaphore::new(2)),
            streams: Arc::new(Semaphore::new(1)),
            max_streams: 1,
            heads: sse::Heads::start(host.clone(), shutdown.clone()),
            shutdown,
            request_timeout: Duration::from_secs(20),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let served = Served {
            host,
            arena,
            lead,
            wendy,
            addr,
            _dir: dir,
        };
        (served, stop)
    }

    /// POSTs `body` to the arena's fork route with `headers`; the status and the JSON answer.
    async fn post(s: &Served, headers: &str, body: &str) -> (u16, serde_json::Value) {
        let request = format!(
            "POST /api/arenas/{}/fork HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{headers}\r\n{body}",
            s.arena,
            body.len()
        );
        let addr = s.addr;
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        })
        .await
        .unwrap();
        let status = answer[9..12].parse().unwrap();
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        (status, serde_json::from_str(body).unwrap())
    }

    fn in_runtime(test: impl AsyncFnOnce(Served)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (served, stop) = served().await;
            test(served).await;
            let _ = stop.send(true);
        });
    }

    #[test]
    fn the_coordinators_token_in_the_header_forks_the_arena_as_that_agent() {
        in_runtime(async |s: Served| {
            let bearer = format!("Authorization: Bearer {}\r\n", s.lead);
            let (status, body) = post(&s, &bearer, r#"{"at": 3}"#).await;
            assert_eq!(status, 201, "{body}");
            let fork = body["id"].as_str().unwrap();
            let info = s.host.get(fork).unwrap();
            assert_eq!(info.created_by, "lead");
            assert_eq!(
                info.status,
                ArenaStatus::Created,
                "event 3 is before activation"
            );
            assert_eq!(s.host.verify(fork).unwrap().problem, None);
        });
    }

    #[test]
    fn a_fork_without_an_agent_token_is_401_and_writes_nothing() {
        in_runtime(async |s: Served| {
            let (status, body) = post(&s, "", r#"{"at": 3}"#).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("unauthorized"))
            );
            // A cookie carries no authority to write.
            let cookie = format!("Cookie: arena_token={}\r\n", s.lead);
            let (status, _) = post(&s, &cookie, r#"{"at": 3}"#).await;
            assert_eq!(status, 401);
            assert_eq!(s.host.list(None, 10).unwrap().len(), 1);
        });
    }

    #[test]
    fn a_workers_token_may_not_fork() {
        in_runtime(async |s: Served| {
            let bearer = format!("Authorization: Bearer {}\r\n", s.wendy);
            let (status, body) = post(&s, &bearer, r#"{"at": 3}"#).await;
            assert_eq!(status, 403);
            assert_eq!(body["error"], "permission-denied");
            assert_eq!(s.host.list(None, 10).unwrap().len(), 1);
        });
    }

    #[test]
    fn a_fork_from_a_foreign_origin_is_403_and_writes_nothing() {
        in_runtime(async |s: Served| {
            let headers = format!(
                "Authorization: Bearer {}\r\nOrigin: http://evil.example\r\n",
                s.lead
            );
            let (status, body) = post(&s, &headers, r#"{"at": 3}"#).await;
            assert_eq!(status, 403);
            assert_eq!(body["error"], "forbidden");
            assert_eq!(s.host.list(None, 10).unwrap().len(), 1);
        });
    }

    #[test]
    fn a_fork_at_an_event_outside_the_log_is_400_invalid_input() {
        in_runtime(async |s: Served| {
            let bearer = format!("Authorization: Bearer {}\r\n", s.lead);
            let (status, body) = post(&s, &bearer, r#"{"at": 99}"#).await;
            assert_eq!(status, 400);
            assert_eq!(body["error"], "invalid-input");
            let (status, body) = post(&s, &bearer, r#"{"seq": 2}"#).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid-input");
            assert_eq!(s.host.list(None, 10).unwrap().len(), 1);
        });
    }

    #[test]
    fn only_the_pages_own_origin_and_loopback_ones_may_fork() {
        assert!(allowed_origin(
            "http://arena.example:7070",
            "arena.example:7070"
        ));
        assert!(allowed_origin("https://ARENA.example", "arena.example"));
        assert!(allowed_origin(
            "http://127.0.0.1:9999",
            "arena.example:7070"
        ));
        assert!(!allowed_origin("http://evil.example", "arena.example:7070"));
        assert!(!allowed_origin(
            "http://arena.example:7070.evil",
            "arena.example:7070"
        ));
        assert!(!allowed_origin("null", "arena.example:7070"));
        assert!(!allowed_origin("http://", ""));
    }
}
