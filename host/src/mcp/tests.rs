//! The MCP tools and agent tokens, driven through the real arena component on a real database.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use arena_host::types::{ArenaConfig, ParticipantSpec, Permission, Role, Strategy};
use arena_host::{AgentHandle, ArenaHost, HostOptions, TokenError};

use super::tools;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    host: ArenaHost,
    arena: String,
}

fn spec(agent: &str, role: Role, permissions: Option<Vec<Permission>>) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.into(),
        role,
        permissions,
    }
}

/// An active peer arena of four steps: `lead` coordinates, `wendy` works, `olga` observes, and
/// `nell` is a worker narrowed to observe and contribute.
fn arena() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let host = ArenaHost::open(&path, HostOptions::default()).unwrap();
    let arena = host
        .create(&ArenaConfig {
            goal: "Map the reef".into(),
            total_steps: 4,
            strategy: Strategy::Peer("lead".into()),
            participants: vec![
                spec("lead", Role::Coordinator, None),
                spec("wendy", Role::Worker, None),
                spec("olga", Role::Observer, None),
                spec(
                    "nell",
                    Role::Worker,
                    Some(vec![Permission::Observe, Permission::Contribute]),
                ),
            ],
            created_by: "operator".into(),
        })
        .unwrap();
    host.handle(&arena, "lead").unwrap().activate().unwrap();
    Fixture {
        _dir: dir,
        path,
        host,
        arena,
    }
}

fn handle(f: &Fixture, agent: &str) -> AgentHandle {
    f.host.handle(&f.arena, agent).unwrap()
}

fn names(handle: &AgentHandle) -> Vec<&'static str> {
    tools::granted(handle).iter().map(|t| t.name).collect()
}

/// What the catalogue lists for these permissions: the expectation, from the catalogue itself.
fn catalogue_names(permissions: &[&str]) -> Vec<&'static str> {
    arena_catalogue::TOOLS
        .iter()
        .filter(|t| permissions.contains(&t.permission.name()))
        .map(|t| t.name)
        .collect()
}

#[test]
fn each_role_lists_exactly_the_tools_of_its_grant() {
    let f = arena();
    let all = [
        "observe",
        "read-slots",
        "contribute",
        "share-facts",
        "steer",
        "coordinate",
    ];
    assert_eq!(names(&handle(&f, "lead")), catalogue_names(&all));
    assert_eq!(
        names(&handle(&f, "lead")).len(),
        arena_catalogue::TOOLS.len()
    );
    assert_eq!(
        names(&handle(&f, "wendy")),
        catalogue_names(&["observe", "read-slots", "contribute", "share-facts"])
    );
    let observer = names(&handle(&f, "olga"));
    assert_eq!(observer, catalogue_names(&["observe", "read-slots"]));
    for writer in [
        "complete_step",
        "put_artifact",
        "add_fact",
        "settle",
        "merge",
    ] {
        assert!(!observer.contains(&writer), "{writer}");
    }
    assert_eq!(
        names(&handle(&f, "nell")),
        catalogue_names(&["observe", "contribute"])
    );
}

#[test]
fn a_tool_outside_the_grant_called_by_name_is_refused_and_changes_nothing() {
    let f = arena();
    let before = f.host.get(&f.arena).unwrap().last_seq;
    let result = tools::call(&handle(&f, "olga"), "complete_step", &json!({"step": 1}));
    assert_eq!(result.is_error, Some(true));
    let body = result.structured_content.unwrap();
    assert_eq!(body["error"], "permission-denied");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("needs contribute"),
        "{body}"
    );
    let narrowed = tools::call(&handle(&f, "nell"), "add_fact", &json!({"content": "x"}));
    assert_eq!(
        narrowed.structured_content.unwrap()["error"],
        "permission-denied"
    );
    assert_eq!(f.host.get(&f.arena).unwrap().last_seq, before);
}

#[test]
fn an_arena_error_is_a_tool_result_with_its_variant_and_message() {
    let f = arena();
    let wendy = handle(&f, "wendy");
    let first = tools::call(&wendy, "complete_step", &json!({"step": 1}));
    assert_eq!(first.is_error, Some(false));
    let again = tools::call(&wendy, "complete_step", &json!({"step": 1}));
    assert_eq!(again.is_error, Some(true));
    assert_eq!(
        again.structured_content.unwrap(),
        json!({"error": "already-done", "message": "already done"})
    );
    let out_of_range = tools::call(&wendy, "complete_step", &json!({"step": 9}));
    assert_eq!(
        out_of_range.structured_content.unwrap()["error"],
        "invalid-input"
    );
    let undecodable = tools::call(&wendy, "complete_step", &json!({"step": "one"}));
    let body = undecodable.structured_content.unwrap();
    assert_eq!(body["error"], "invalid-input");
    assert!(body["message"].as_str().unwrap().contains("step"), "{body}");
}

#[test]
fn a_write_returns_structured_content_and_its_text_and_is_logged_under_the_agent() {
    let f = arena();
    let wendy = handle(&f, "wendy");
    let result = tools::call(
        &wendy,
        "put_artifact",
        &json!({"kind": "draft", "content": "north side", "metadata": {"lang": "en"}}),
    );
    assert_eq!(result.is_error, Some(false));
    let body = result.structured_content.clone().unwrap();
    let text = result.content[0]
        .as_text()
        .expect("a text block")
        .text
        .clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), body);
    let seq = body["seq"].as_u64().unwrap();
    assert_eq!(body["artifact"]["kind"], "draft");
    let event = f.host.events(&f.arena, seq - 1, 1).unwrap().remove(0);
    assert_eq!(
        (event.actor.as_str(), event.kind.as_str()),
        ("wendy", "artifact-put")
    );
}

#[test]
fn a_keyed_write_retried_writes_nothing_and_answers_the_same() {
    let f = arena();
    let wendy = handle(&f, "wendy");
    let args = json!({"step": 2, "key": "s2"});
    let first = tools::call(&wendy, "complete_step", &args);
    let again = tools::call(&wendy, "complete_step", &args);
    assert_eq!(first.structured_content, again.structured_content);
    assert_eq!(again.is_error, Some(false));
}

#[test]
fn reads_answer_the_shapes_json_prints() {
    let f = arena();
    let olga = handle(&f, "olga");
    let info = tools::call(&olga, "info", &Value::Null)
        .structured_content
        .unwrap();
    assert_eq!(info["goal"], "Map the reef");
    assert_eq!(info["status"], "active");
    let events = tools::call(&olga, "events", &json!({"after": 0, "limit": 2}));
    assert_eq!(
        events.structured_content.unwrap()["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// Tokens.

#[test]
fn an_issued_token_acts_as_its_agent_with_its_current_permissions() {
    let f = arena();
    let issued = f
        .host
        .issue_token(&f.arena, "wendy", None, Some("laptop"))
        .unwrap();
    let token = issued.secret.expose();
    assert!(token.starts_with("arena_") && token.len() == "arena_".len() + 64);
    let handle = f.host.resolve_token(token, Some(&f.arena)).unwrap();
    assert_eq!(
        (handle.arena(), handle.agent()),
        (f.arena.as_str(), "wendy")
    );
    assert_eq!(names(&handle), names(&self::handle(&f, "wendy")));
    let listed = f.host.tokens(Some(&f.arena)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].label.as_deref(), Some("laptop"));
    assert!(listed[0].last_used_at.is_some());
}

fn refused(result: Result<AgentHandle, TokenError>) {
    match result {
        Err(TokenError::Refused) => {}
        other => panic!("expected the one refusal, got {other:?}"),
    }
}

#[test]
fn an_unknown_token_is_refused() {
    let f = arena();
    refused(f.host.resolve_token("arena_00", None));
    refused(f.host.resolve_token("", Some(&f.arena)));
}

#[test]
fn a_revoked_token_is_refused() {
    let f = arena();
    let issued = f.host.issue_token(&f.arena, "wendy", None, None).unwrap();
    f.host.revoke_token(&issued.record.id).unwrap();
    refused(f.host.resolve_token(issued.secret.expose(), None));
    assert!(matches!(
        f.host.revoke_token("tok-nothing"),
        Err(TokenError::NoSuchToken(_))
    ));
}

#[test]
fn an_expired_token_is_refused() {
    let f = arena();
    let issued = f
        .host
        .issue_token(&f.arena, "wendy", Some(Duration::from_secs(1)), None)
        .unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    refused(f.host.resolve_token(issued.secret.expose(), None));
}

#[test]
fn a_token_for_another_arena_is_refused() {
    let f = arena();
    let issued = f.host.issue_token(&f.arena, "wendy", None, None).unwrap();
    refused(f.host.resolve_token(
        issued.secret.expose(),
        Some("01a2303f-0000-7000-8000-000000000000"),
    ));
}

#[test]
fn a_token_whose_agent_left_is_refused() {
    let f = arena();
    let issued = f.host.issue_token(&f.arena, "wendy", None, None).unwrap();
    handle(&f, "wendy").leave().unwrap();
    refused(f.host.resolve_token(issued.secret.expose(), None));
}

#[test]
fn a_token_is_issued_only_for_a_participant() {
    let f = arena();
    assert!(matches!(
        f.host.issue_token(&f.arena, "mallory", None, None),
        Err(TokenError::NotParticipant { .. })
    ));
    assert!(matches!(
        f.host
            .issue_token(&f.arena, "wendy", None, Some(&"x".repeat(201))),
        Err(TokenError::LabelTooLong(201))
    ));
}

#[test]
fn the_token_is_never_in_the_database_the_event_log_or_a_message() {
    let f = arena();
    let issued = f
        .host
        .issue_token(&f.arena, "wendy", None, Some("ci"))
        .unwrap();
    let token = issued.secret.expose().to_string();
    let handle = f.host.resolve_token(&token, None).unwrap();
    tools::call(&handle, "complete_step", &json!({"step": 3}));
    f.host.revoke_token(&issued.record.id).unwrap();
    let refusal = f.host.resolve_token(&token, None).unwrap_err().to_string();
    assert!(!refusal.contains(&token));
    assert!(!format!("{issued:?}").contains(&token));
    for event in f.host.all_events(&f.arena, 0).unwrap() {
        assert!(!event.payload.contains(&token[6..]), "event {}", event.seq);
    }
    drop(handle);
    drop(f.host);
    // Every page of the database file and its write-ahead log.
    let secret = &token.as_bytes()["arena_".len()..];
    for file in [f.path.clone(), f.path.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds the token",
                file.display()
            );
        }
    }
}

#[test]
fn granted_tools_each_carry_a_description_and_an_object_schema() {
    let f = arena();
    let listed: BTreeSet<String> = tools::granted(&handle(&f, "lead"))
        .into_iter()
        .map(|tool| {
            let tool = tools::listed(tool);
            assert!(!tool.description.as_deref().unwrap_or("").is_empty());
            assert_eq!(tool.input_schema["type"], "object");
            tool.name.to_string()
        })
        .collect();
    assert!(listed.contains("complete_step") && listed.contains("merge"));
}

#[test]
fn resources_are_read_through_the_handle_and_only_of_its_arena() {
    use super::resources::{self, ReadError};
    let f = arena();
    let olga = handle(&f, "olga");
    let base = resources::arena_uri(&f.arena);
    let info = resources::read(&olga, &base).ok().unwrap();
    assert_eq!(info["goal"], "Map the reef");
    let page = resources::read(&olga, &format!("{base}/events?after=3"))
        .ok()
        .unwrap();
    assert_eq!(page["events"][0]["seq"], 4);
    assert!(matches!(
        resources::read(&olga, "arena://another/events"),
        Err(ReadError::NotFound(_))
    ));
    // nell may not read slots: the arena's own refusal.
    match resources::read(&handle(&f, "nell"), &format!("{base}/slots/wendy")) {
        Err(ReadError::Arena(e)) => {
            assert_eq!(e.to_string(), "permission denied: needs read-slots")
        }
        _ => panic!("nell read a slot"),
    }
    let listed: Vec<String> = resources::list(&olga).into_iter().map(|r| r.uri).collect();
    assert!(
        listed.contains(&format!("{base}/slots/wendy")),
        "{listed:?}"
    );
}

#[test]
fn the_join_prompt_names_the_goal_the_role_and_exactly_the_granted_tools() {
    let f = arena();
    let text = super::resources::join(&handle(&f, "wendy")).unwrap();
    assert!(
        text.contains("Map the reef") && text.contains("as its worker"),
        "{text}"
    );
    assert!(
        text.contains("`complete_step`") && !text.contains("`settle`"),
        "{text}"
    );
}
