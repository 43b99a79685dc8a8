//! People in the loop: `/api/arenas/{id}/act`, a person acting as an agent with the agent's token in
//! the `Authorization` header — the agent's grant, its writes logged under its name, and nothing
//! written without the header (no token, a token in a cookie, a page of another origin).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use arena_host::ArenaHost;
use arena_host::types::ArenaStatus;
use serde_json::{Value, json};

use super::{Response, Server, active_arena, request, writer};

/// One POST of `body` (HTTP/1.0; the server closes the connection after it).
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (key, value) in headers {
        text.push_str(&format!("{key}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `tool` with `arguments`, acting with `token` (none: no header).
fn act(server: &Server, id: &str, token: Option<&str>, tool: &str, arguments: Value) -> Response {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    let body = json!({ "tool": tool, "arguments": arguments }).to_string();
    post(
        server.addr,
        &format!("/api/arenas/{id}/act"),
        &headers,
        &body,
    )
}

/// A served active arena of lead, wendy and otto, with a token for each.
struct Fixture {
    _dir: tempfile::TempDir,
    host: ArenaHost,
    id: String,
    server: Server,
    lead: String,
    wendy: String,
    otto: String,
}

fn fixture(extra: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arena.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let token = |agent: &str| {
        host.issue_token(&id, agent, None, Some("console"))
            .unwrap()
            .secret
            .expose()
            .to_string()
    };
    let (lead, wendy, otto) = (token("lead"), token("wendy"), token("otto"));
    let server = Server::start(&db, extra);
    Fixture {
        _dir: dir,
        host,
        id,
        server,
        lead,
        wendy,
        otto,
    }
}

impl Fixture {
    fn last_seq(&self) -> u64 {
        self.host.get(&self.id).unwrap().last_seq
    }
}

#[test]
fn a_persons_writes_are_logged_under_the_tokens_agent() {
    let f = fixture(&[]);
    let put = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "put_artifact",
        json!({"kind": "review", "content": "looks right to me"}),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let put = put.json();
    assert_eq!(put["artifact"]["content"], "looks right to me");
    let note = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "report_progress",
        json!({"note": "approved: the survey covers every reef"}),
    );
    assert_eq!(note.status, 200, "{}", note.body);
    let fact = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "add_fact",
        json!({"content": "the north reef is bleached", "tags": ["reef"]}),
    );
    assert_eq!(fact.status, 200, "{}", fact.body);
    let done = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "set_slot_status",
        json!({"status": "done"}),
    );
    assert_eq!(done.status, 200, "{}", done.body);

    let events = f
        .host
        .events(&f.id, put["seq"].as_u64().unwrap() - 1, 100)
        .unwrap();
    let logged: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        logged,
        [
            ("wendy", "artifact-put"),
            ("wendy", "progress-reported"),
            ("wendy", "fact-added"),
            ("wendy", "slot-updated"),
        ]
    );
    let facts = f.host.slots(&f.id).unwrap();
    let wendy = facts.iter().find(|s| s.agent == "wendy").unwrap();
    assert_eq!(wendy.status.name(), "done");
}

#[test]
fn a_workers_token_cannot_settle_and_nothing_changes() {
    let f = fixture(&[]);
    let before = f.last_seq();
    let answer = act(&f.server, &f.id, Some(&f.wendy), "settle", json!({}));
    assert_eq!(answer.status, 403, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["error"], "permission-denied");
    assert_eq!(
        body["message"],
        "permission denied: tool settle needs coordinate, which agent wendy does not hold in this arena"
    );
    // An observer cannot even write a note.
    let answer = act(
        &f.server,
        &f.id,
        Some(&f.otto),
        "report_progress",
        json!({"note": "hi"}),
    );
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(f.last_seq(), before);
    assert_eq!(f.host.get(&f.id).unwrap().status, ArenaStatus::Active);
}

#[test]
fn a_coordinators_token_settles_merges_and_archives() {
    let f = fixture(&[]);
    let put = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "put_artifact",
        json!({"content": "the survey"}),
    )
    .json();
    let source = put["artifact"]["id"].as_str().unwrap().to_string();
    let settle = act(&f.server, &f.id, Some(&f.lead), "settle", json!({}));
    assert_eq!(settle.status, 200, "{}", settle.body);
    assert_eq!(settle.json()["status"], "settling");
    let merge = act(
        &f.server,
        &f.id,
        Some(&f.lead),
        "merge",
        json!({"content": "the merged survey", "sources": [source]}),
    );
    assert_eq!(merge.status, 200, "{}", merge.body);
    let archive = act(&f.server, &f.id, Some(&f.lead), "archive", json!({}));
    assert_eq!(archive.status, 200, "{}", archive.body);
    assert_eq!(f.host.get(&f.id).unwrap().status, ArenaStatus::Archived);
    let actors: Vec<String> = f
        .host
        .events(&f.id, 0, 100)
        .unwrap()
        .iter()
        .rev()
        .take(3)
        .map(|e| format!("{} {}", e.actor, e.kind))
        .collect();
    assert_eq!(
        actors,
        [
            "lead arena-archived",
            "lead artifact-merged",
            "lead arena-settling"
        ]
    );
    // A transition the arena refuses is its typed error.
    let again = act(&f.server, &f.id, Some(&f.lead), "settle", json!({}));
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["error"], "invalid-transition");
}

#[test]
fn without_a_token_acting_is_401_and_the_console_stays_read_only() {
    let f = fixture(&[]);
    let before = f.last_seq();
    let answer = act(
        &f.server,
        &f.id,
        None,
        "report_progress",
        json!({"note": "hi"}),
    );
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.json()["error"], "unauthorized");
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer TOKEN"),
        "{}",
        answer.body
    );
    assert_eq!(answer.header("www-authenticate").as_deref(), Some("Bearer"));
    // Who am I, without a token: nobody.
    let who = request(f.server.addr, &format!("/api/arenas/{}/act", f.id), &[]);
    assert_eq!(who.status, 401, "{}", who.body);
    // Every other path is still GET only.
    let other = post(f.server.addr, &format!("/api/arenas/{}", f.id), &[], "{}");
    assert_eq!(other.status, 405, "{}", other.body);
    // An unknown token, or one for another arena, is refused alike.
    let other_arena = active_arena(&f.host, 1);
    let theirs = f
        .host
        .issue_token(&other_arena, "wendy", None, None)
        .unwrap();
    for token in ["arena_0000", theirs.secret.expose()] {
        let answer = act(
            &f.server,
            &f.id,
            Some(token),
            "report_progress",
            json!({"note": "x"}),
        );
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    assert_eq!(f.last_seq(), before);
}

#[test]
fn a_token_in_a_cookie_alone_does_not_authorize_a_write() {
    // The server's own token in the cookie too, as the console carries it after `?token=`.
    let f = fixture(&["--token", "server-secret"]);
    let before = f.last_seq();
    let cookie = format!("arena_token={}; arena_token=server-secret", f.wendy);
    let body = json!({"tool": "report_progress", "arguments": {"note": "forged"}}).to_string();
    let answer = post(
        f.server.addr,
        &format!("/api/arenas/{}/act", f.id),
        &[("Cookie", &cookie)],
        &body,
    );
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(f.last_seq(), before);
    // The same request with the token in the header is honoured.
    let bearer = format!("Bearer {}", f.wendy);
    let answer = post(
        f.server.addr,
        &format!("/api/arenas/{}/act", f.id),
        &[
            ("Cookie", "arena_token=server-secret"),
            ("Authorization", &bearer),
        ],
        &body,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(f.last_seq(), before + 1);
}

#[test]
fn a_cross_origin_post_is_refused_even_with_the_token() {
    let f = fixture(&[]);
    let before = f.last_seq();
    let bearer = format!("Bearer {}", f.lead);
    let body = json!({"tool": "abort", "arguments": {"reason": "forged"}}).to_string();
    let path = format!("/api/arenas/{}/act", f.id);
    let answer = post(
        f.server.addr,
        &path,
        &[
            ("Origin", "https://evil.example"),
            ("Authorization", &bearer),
        ],
        &body,
    );
    assert_eq!(answer.status, 403, "{}", answer.body);
    let refused = answer.json();
    assert_eq!(refused["error"], "forbidden");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("\"https://evil.example\" is not allowed"),
        "{}",
        answer.body
    );
    assert_eq!(f.last_seq(), before);
    // The page's own (loopback) origin is.
    let own = format!("http://{}", f.server.addr);
    let answer = post(
        f.server.addr,
        &path,
        &[("Origin", &own), ("Authorization", &bearer)],
        &body,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(f.host.get(&f.id).unwrap().status, ArenaStatus::Archived);
}

#[test]
fn the_token_tells_the_console_its_agent_role_and_tools() {
    let f = fixture(&[]);
    let bearer = format!("Bearer {}", f.wendy);
    let who = request(
        f.server.addr,
        &format!("/api/arenas/{}/act", f.id),
        &[("Authorization", &bearer)],
    );
    assert_eq!(who.status, 200, "{}", who.body);
    let who = who.json();
    assert_eq!(who["agent"], "wendy");
    assert_eq!(who["role"], "worker");
    let tools: Vec<&str> = who["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"set_slot_status"), "{tools:?}");
    assert!(!tools.contains(&"settle"), "{tools:?}");
}

#[test]
fn bad_bodies_get_typed_errors_and_change_nothing() {
    let f = fixture(&["--mcp-max-body-bytes", "2048"]);
    let before = f.last_seq();
    let path = format!("/api/arenas/{}/act", f.id);
    let bearer = format!("Bearer {}", f.wendy);
    let auth = [("Authorization", bearer.as_str())];
    let cases: [(String, u16, &str); 5] = [
        ("not json".into(), 400, "invalid-input"),
        (r#"{"arguments": {}}"#.into(), 400, "invalid-input"),
        (r#"{"tool": "no_such_tool"}"#.into(), 404, "not-found"),
        (
            r#"{"tool": "complete_step", "arguments": {"step": "one"}}"#.into(),
            400,
            "invalid-input",
        ),
        (
            json!({"tool": "report_progress", "arguments": {"note": "x".repeat(4000)}}).to_string(),
            413,
            "limit-exceeded",
        ),
    ];
    for (body, status, error) in cases {
        let answer = post(f.server.addr, &path, &auth, &body);
        assert_eq!(answer.status, status, "{body:.60}: {}", answer.body);
        assert_eq!(answer.json()["error"], error, "{body:.60}");
    }
    let too_big = post(
        f.server.addr,
        &path,
        &auth,
        &json!({"tool": "report_progress", "arguments": {"note": "x".repeat(4000)}}).to_string(),
    );
    assert_eq!(too_big.json()["limit"], 2048);
    assert_eq!(f.last_seq(), before);
}

#[test]
fn a_persons_request_shows_in_the_access_log_under_the_tokens_agent() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let f = fixture(&["--access-log", log.to_str().unwrap()]);
    let note = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "report_progress",
        json!({"note": "reading the drafts"}),
    );
    assert_eq!(note.status, 200, "{}", note.body);

    // The writer thread flushes a moment after the answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(" POST /api/arenas/")) {
            break line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no act line in {text:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // time, remote, method, target, status, bytes, duration, agent
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(
        (fields[2], fields[3], fields[4], fields[7]),
        (
            "POST",
            format!("/api/arenas/{}/act", f.id).as_str(),
            "200",
            "wendy"
        )
    );
    assert!(!std::fs::read_to_string(&log).unwrap().contains(&f.wendy));
}

#[test]
fn writes_past_a_tokens_per_minute_cap_and_arguments_past_theirs_are_refused_naming_the_limit() {
    let f = fixture(&[
        "--mcp-writes-per-minute",
        "2",
        "--mcp-max-argument-bytes",
        "64",
    ]);
    for n in 0..2 {
        let note = act(
            &f.server,
            &f.id,
            Some(&f.wendy),
            "report_progress",
            json!({"note": format!("note {n}")}),
        );
        assert_eq!(note.status, 200, "{}", note.body);
    }
    let before = f.last_seq();
    let third = act(
        &f.server,
        &f.id,
        Some(&f.wendy),
        "report_progress",
        json!({"note": "one too many"}),
    );
    assert_eq!(third.status, 429, "{}", third.body);
    let third = third.json();
    assert_eq!(third["error"], "limit-exceeded");
    assert_eq!(third["limit"], 2);
    assert!(
        third["message"]
            .as_str()
            .unwrap_or_default()
            .contains("writes per minute"),
        "{third}"
    );
    assert_eq!(f.last_seq(), before);

    // Another token's writes are its own; arguments past their cap are refused by name.
    let long = act(
        &f.server,
        &f.id,
        Some(&f.lead),
        "report_progress",
        json!({"note": "x".repeat(100)}),
    );
    assert_eq!(long.status, 413, "{}", long.body);
    let long = long.json();
    assert_eq!(long["limit"], 64);
    assert!(
        long["message"]
            .as_str()
            .unwrap_or_default()
            .contains("argument bytes"),
        "{long}"
    );
    assert_eq!(f.last_seq(), before);
}
