//! The JSON endpoints. Each answers with the shapes `arena … --json` prints (the same views), and
//! asks the host what the matching command asks it.
//!
//! Lists are paged: `limit` is 1 to [`MAX_LIMIT`] (the arena component's largest page; more is
//! refused with `limit-exceeded`), and the answer names the cursor to continue from (`next`, null
//! at the end).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use arena_host::types::{ArenaInfo, ArenaStatus, FactCursor, FactQuery, SlotInfo};

use super::{ApiError, AppState};
use crate::cli::views::{
    ArtifactView, EventView, FactView, InfoView, ReportView, SlotInfoView, SlotView, Verified,
};

/// The largest page any list returns: the arena component's.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// The page a list returns when no `limit` is given.
const DEFAULT_LIMIT: u32 = 100;

/// Pages of arenas a filtered list reads at most per request; then it answers with what it found
/// and a `next` to go on from.
const FILTER_PAGES: usize = 10;

/// The longest goal text `/api/arenas?goal=` searches for, in bytes.
const MAX_GOAL_QUERY: usize = 1024;

type Answer = Result<Json<Value>, ApiError>;

/// The query, or 400 naming what is wrong with it.
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_input(e.body_text()))
}

/// `limit` checked against the cap.
fn limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::bad_input("limit must be at least 1")),
        n if n > MAX_LIMIT => Err(ApiError::limit(
            StatusCode::BAD_REQUEST,
            "limit",
            MAX_LIMIT.into(),
        )),
        n => Ok(n),
    }
}

fn json(value: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::host(format!("encoding the answer: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ArenasQuery {
    after: Option<String>,
    limit: Option<u32>,
    status: Option<String>,
    agent: Option<String>,
    /// Only arenas whose goal contains this text, ignoring case.
    goal: Option<String>,
    #[allow(dead_code)]
    token: Option<String>,
}

/// `GET /api/arenas?after=ID&limit=N&status=S&agent=A&goal=TEXT`: arenas oldest first, optionally
/// only those in a status, those an agent currently participates in, and those whose goal contains
/// the text (ignoring case).
pub(super) async fn arenas(
    State(state): State<AppState>,
    q: Result<Query<ArenasQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let limit = limit(q.limit)? as usize;
    let status: Option<ArenaStatus> = q
        .status
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(ApiError::bad_input)?;
    let goal = q
        .goal
        .map(|g| g.trim().to_lowercase())
        .filter(|g| !g.is_empty());
    if goal.as_ref().is_some_and(|g| g.len() > MAX_GOAL_QUERY) {
        return Err(ApiError::limit(
            StatusCode::BAD_REQUEST,
            "goal",
            MAX_GOAL_QUERY as u64,
        ));
    }
    let filtered = status.is_some() || q.agent.is_some() || goal.is_some();
    let agent = q.agent;
    let matches = move |info: &ArenaInfo| {
        status.is_none_or(|s| info.status == s)
            && agent
                .as_deref()
                .is_none_or(|a| info.participants.iter().any(|p| p.agent == a))
            && goal
                .as_deref()
                .is_none_or(|g| info.goal.to_lowercase().contains(g))
    };
    let mut after = q.after;
    state
        .call(move |host| {
            let mut found: Vec<Value> = Vec::new();
            let pages = if filtered { FILTER_PAGES } else { 1 };
            for _ in 0..pages {
                let page_size = if filtered { MAX_LIMIT } else { limit as u32 };
                let page = host.list(after.as_deref(), page_size)?;
                let full = page.len() == page_size as usize;
                for info in &page {
                    after = Some(info.id.clone());
                    if matches(info) {
                        found.push(json(&InfoView::from(info))?);
                        if found.len() == limit {
                            return Ok(paged("arenas", found, json(&after)?));
                        }
                    }
                }
                if !full {
                    return Ok(paged("arenas", found, Value::Null));
                }
            }
            Ok(paged("arenas", found, json(&after)?))
        })
        .await
        .map(Json)
}

/// `{"<name>": items, "next": cursor}`.
fn paged(name: &str, items: Vec<Value>, next: Value) -> Value {
    serde_json::json!({ name: items, "next": next })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AtQuery {
    at: Option<u64>,
    #[allow(dead_code)]
    token: Option<String>,
}

/// `GET /api/arenas/{id}?at=SEQ`: the arena now, or as it was right after event `at`.
pub(super) async fn arena(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Answer {
    let at = query(q)?.at;
    state
        .call(move |host| {
            let info = match at {
                Some(0) => return Err(ApiError::bad_input("at must be a sequence number from 1")),
                Some(seq) => host.get_at(&id, seq)?,
                None => host.get(&id)?,
            };
            json(&InfoView::from(&info))
        })
        .await
        .map(Json)
}

/// `GET /api/arenas/{id}/report`: the settle report, once the arena is archived.
pub(super) async fn report(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    state
        .call(move |host| {
            let info = host.get(&id)?;
            match &info.report {
                Some(report) => json(&ReportView::from(report)),
                None => Err(ApiError::not_found(format!(
                    "arena {id} has no settle report while {}",
                    info.status.name()
                ))),
            }
        })
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
    #[allow(dead_code)]
    token: Option<String>,
}

/// `GET /api/arenas/{id}/events?after=SEQ&limit=N`: events after `after`, oldest first.
pub(super) async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    state
        .call(move |host| {
            // An unknown arena has no events, and says so.
            let events = host.events(&id, q.after, limit)?;
            if events.is_empty() {
                host.get(&id)?;
            }
            let next = match events.last() {
                Some(last) if events.len() == limit as usize => json(&last.seq)?,
                _ => Value::Null,
            };
            let events = events
                .iter()
                .map(|e| json(&EventView::from(e)))
                .collect::<Result<_, _>>()?;
            Ok(paged("events", events, next))
        })
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SlotsQuery {
    #[serde(default)]
    content: bool,
    #[allow(dead_code)]
    token: Option<String>,
}

/// `GET /api/arenas/{id}/slots?content=true`: every slot, sorted by agent; with `content`, each
/// with its artifacts in full, else with their ids.
pub(super) async fn slots(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<SlotsQuery>, QueryRejection>,
) -> Answer {
    let content = query(q)?.content;
    state
        .call(move |host| {
            let slots = host.slots(&id)?;
            let views = slots
                .iter()
                .map(|slot| {
                    if content {
                        return json(&SlotView::from(slot));
                    }
                    json(&SlotInfoView::from(&SlotInfo {
                        agent: slot.agent.clone(),
                        status: slot.status,
                        artifacts: slot.artifacts.iter().map(|a| a.id.clone()).collect(),
                    }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Array(views))
        })
        .await
        .map(Json)
}

/// `GET /api/arenas/{id}/slots/{agent}`: one slot with its artifacts in full.
pub(super) async fn slot(
    State(state): State<AppState>,
    Path((id, agent)): Path<(String, String)>,
) -> Answer {
    state
        .call(move |host| {
            let slots = host.slots(&id)?;
            let slot = slots
                .iter()
                .find(|slot| slot.agent == agent)
                .ok_or_else(|| ApiError::not_found(format!("{agent} has no slot in arena {id}")))?;
            json(&SlotView::from(slot))
        })
        .await
        .map(Json)
}

/// `GET /api/arenas/{id}/artifacts/{artifact}`: one artifact, content included.
pub(super) async fn artifact(
    State(state): State<AppState>,
    Path((id, artifact)): Path<(String, String)>,
) -> Answer {
    state
        .call(move |host| {
            let slots = host.slots(&id)?;
            let found = slots
                .iter()
                .flat_map(|slot| &slot.artifacts)
                .find(|a| a.id == artifact)
                .ok_or_else(|| {
                    ApiError::not_found(format!("no artifact {artifact} in arena {id}"))
                })?;
            json(&ArtifactView::from(found))
        })
        .await
        .map(Json)
}

/// `GET /api/arenas/{id}/artifacts/{artifact}/content`: the artifact's content alone, as a file to
/// save (`Content-Disposition: attachment`), named after the artifact with an extension for its kind:
/// `.json` for JSON, `.md` for Markdown, `.txt` else. Always served as plain text or JSON, never as
/// something a browser would render or run.
pub(super) async fn artifact_content(
    State(state): State<AppState>,
    Path((id, artifact)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (name, content_type, content) = state
        .call(move |host| {
            let slots = host.slots(&id)?;
            let found = slots
                .iter()
                .flat_map(|slot| &slot.artifacts)
                .find(|a| a.id == artifact)
                .ok_or_else(|| {
                    ApiError::not_found(format!("no artifact {artifact} in arena {id}"))
                })?;
            let (extension, content_type) = file_type(&found.kind, &found.content);
            Ok((
                format!("{id}-{}.{extension}", found.id),
                content_type,
                found.content.clone(),
            ))
        })
        .await?;
    // Ids are letters, digits and dashes; anything else is left out of the file name.
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_string()),
        ],
        content,
    )
        .into_response())
}

/// The file extension and content type an artifact downloads as.
fn file_type(kind: &str, content: &str) -> (&'static str, &'static str) {
    let kind = kind.to_ascii_lowercase();
    let trimmed = content.trim_start();
    let looks_json = (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<Value>(content).is_ok();
    if kind == "structured" || kind == "json" || looks_json {
        ("json", "application/json")
    } else if kind == "markdown" || kind == "md" {
        ("md", "text/markdown; charset=utf-8")
    } else {
        ("txt", "text/plain; charset=utf-8")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FactsQuery {
    tag: Option<String>,
    text: Option<String>,
    /// With `after_seq`: the cursor of the last fact already read.
    after_arena: Option<String>,
    after_seq: Option<u64>,
    limit: Option<u32>,
    #[allow(dead_code)]
    token: Option<String>,
}

/// `GET /api/arenas/{id}/facts?tag=T&text=X`: the arena's facts, as `arena facts ID` finds them.
pub(super) async fn arena_facts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<FactsQuery>, QueryRejection>,
) -> Answer {
    facts_of(state, Some(id), query(q)?).await
}

/// `GET /api/facts?tag=T&text=X&after_arena=ID&after_seq=SEQ&limit=N`: facts across every arena
/// carrying the tag (required), as `arena facts --tag T` finds them.
pub(super) async fn facts(
    State(state): State<AppState>,
    q: Result<Query<FactsQuery>, QueryRejection>,
) -> Answer {
    facts_of(state, None, query(q)?).await
}

async fn facts_of(state: AppState, arena: Option<String>, q: FactsQuery) -> Answer {
    let limit = limit(q.limit)?;
    let after = match (q.after_arena, q.after_seq) {
        (Some(arena), Some(seq)) => Some(FactCursor { arena, seq }),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_input("after_arena and after_seq go together"));
        }
    };
    let fact_query = FactQuery {
        tag: q.tag,
        text: q.text,
    };
    state
        .call(move |host| {
            if let Some(id) = &arena {
                // An unknown arena is not an empty one.
                host.get(id)?;
            }
            let facts = host.query_facts(arena.as_deref(), &fact_query, after.as_ref(), limit)?;
            let next = match facts.last() {
                Some(last) if facts.len() == limit as usize => {
                    serde_json::json!({ "arena": last.arena, "seq": last.seq })
                }
                _ => Value::Null,
            };
            let facts = facts
                .iter()
                .map(|f| json(&FactView::from(f)))
                .collect::<Result<_, _>>()?;
            Ok(paged("facts", facts, next))
        })
        .await
        .map(Json)
}

/// `GET /api/arenas/{id}/verify`: the hash chain walked and the log replayed against the stored
/// state; a problem found is an answer (`ok: false`), not an error.
pub(super) async fn verify(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    state
        .call(move |host| {
            let report = host.verify(&id)?;
            json(&Verified::new(&id, &report))
        })
        .await
        .map(Json)
}

/// Any other path.
pub(super) async fn no_such_path(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such path {}", uri.path()))
}

/// A served path asked with another method than its own: a JSON 405, like every other error.
pub(super) async fn wrong_method(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}
