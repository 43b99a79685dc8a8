//! `arena serve`, run as an operator runs it, asked over plain HTTP: the API's shapes and errors,
//! its safety defaults, and live events that arrive exactly once and in order.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arena_host::types::{ArenaConfig, FactDraft, ParticipantSpec, Role, Strategy};
use arena_host::{ArenaHost, HostOptions};
use serde_json::Value;

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

fn program() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_arena"));
    command.env("ARENA_CACHE_DIR", cache_dir());
    command.env_remove("ARENA_SERVE_TOKEN");
    command
}

/// A host on the same database file, writing as the arena's agents do.
fn writer(db: &Path) -> ArenaHost {
    let options = HostOptions {
        component_cache: Some(cache_dir()),
        ..HostOptions::default()
    };
    ArenaHost::open(db, options).expect("open the database")
}

fn spec(agent: &str, role: Role) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    }
}

/// An active arena of `lead` (coordinator), `wendy` (worker) and `otto` (observer).
fn active_arena(host: &ArenaHost, steps: u32) -> String {
    let id = host
        .create(&ArenaConfig {
            goal: "survey the reef".into(),
            total_steps: steps,
            strategy: Strategy::Peer("lead".into()),
            participants: vec![
                spec("lead", Role::Coordinator),
                spec("wendy", Role::Worker),
                spec("otto", Role::Observer),
            ],
            created_by: "operator".into(),
        })
        .expect("create");
    host.handle(&id, "lead")
        .unwrap()
        .activate()
        .expect("activate");
    id
}

/// `arena serve` on an ephemeral port; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(db: &Path, extra: &[&str]) -> Server {
        let mut child = program()
            .arg("--db")
            .arg(db)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start arena serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the address");
        let addr = line
            .strip_prefix("serving http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        Server { child, addr }
    }

    fn get(&self, path: &str) -> Response {
        request(self.addr, path, &[])
    }

    /// The server's resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// One HTTP/1.0 exchange (the server closes the connection after it).
fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    raw(addr, "GET", path, headers)
}

fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = format!("{method} {path} HTTP/1.0\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (key, value) in headers {
        text.push_str(&format!("{key}: {value}\r\n"));
    }
    text.push_str("\r\n");
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

/// An open event stream, read message by message.
struct Stream {
    reader: BufReader<TcpStream>,
}

impl Stream {
    fn open(addr: SocketAddr, id: &str, headers: &[(&str, &str)]) -> Result<Stream, Response> {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut text = format!("GET /api/arenas/{id}/events/stream HTTP/1.0\r\nHost: {addr}\r\n");
        for (key, value) in headers {
            text.push_str(&format!("{key}: {value}\r\n"));
        }
        text.push_str("Accept: text/event-stream\r\n\r\n");
        stream.write_all(text.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read the head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
        if status != 200 {
            let mut body = String::new();
            reader.read_to_string(&mut body).unwrap();
            return Err(Response { status, head, body });
        }
        Ok(Stream { reader })
    }

    /// The next message's `id` and its event, as JSON.
    fn next(&mut self) -> (u64, Value) {
        let (mut id, mut data) = (None, String::new());
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read the stream");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let Some(id) = id {
                    return (id, serde_json::from_str(&data).expect("JSON data"));
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim().parse().expect("a numeric id"));
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            }
        }
    }
}

fn cli_json(db: &Path, args: &[&str]) -> Vec<Value> {
    let out = program()
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .output()
        .expect("run arena");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_api_answers_with_the_shapes_the_cli_prints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 3);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.complete_step(1).unwrap();
    wendy
        .add_fact(&FactDraft {
            content: "Coral bleaching on the north reef".into(),
            confidence: 0.75,
            tags: vec!["reef".into()],
        })
        .unwrap();
    let server = Server::start(&db, &[]);

    assert_eq!(
        server.get(&format!("/api/arenas/{id}")).json(),
        cli_json(&db, &["show", &id])[0]
    );
    assert_eq!(
        server.get(&format!("/api/arenas/{id}?at=2")).json(),
        cli_json(&db, &["show", &id, "--at", "2"])[0]
    );
    let list = server.get("/api/arenas").json();
    assert_eq!(list["arenas"], Value::Array(cli_json(&db, &["list"])));
    assert_eq!(list["next"], Value::Null);
    let events = server
        .get(&format!("/api/arenas/{id}/events?after=2&limit=3"))
        .json();
    assert_eq!(
        events["events"],
        Value::Array(cli_json(
            &db,
            &["events", &id, "--after", "2", "--limit", "3"]
        ))
    );
    assert_eq!(events["next"], 5);
    assert_eq!(
        server.get(&format!("/api/arenas/{id}/facts")).json()["facts"],
        Value::Array(cli_json(&db, &["facts", &id]))
    );
    assert_eq!(
        server.get("/api/facts?tag=reef").json()["facts"],
        Value::Array(cli_json(&db, &["facts", "--tag", "reef"]))
    );
    assert_eq!(
        server.get(&format!("/api/arenas/{id}/verify")).json(),
        cli_json(&db, &["verify", &id])[0]
    );
    assert_eq!(
        Value::Array(
            server
                .get(&format!("/api/arenas/{id}/slots"))
                .json()
                .as_array()
                .unwrap()
                .clone()
        ),
        Value::Array(cli_json(&db, &["artifacts", &id]))
    );
}

#[test]
fn arenas_filter_by_status_and_agent_and_page_with_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let first = active_arena(&host, 2);
    let second = active_arena(&host, 2);
    host.handle(&second, "lead")
        .unwrap()
        .abort("called off")
        .unwrap();
    let server = Server::start(&db, &[]);

    let page = server.get("/api/arenas?limit=1").json();
    assert_eq!(page["arenas"][0]["id"], first.as_str());
    assert_eq!(page["next"], first.as_str());
    let rest = server.get(&format!("/api/arenas?after={first}")).json();
    assert_eq!(rest["arenas"][0]["id"], second.as_str());
    let archived = server.get("/api/arenas?status=archived").json();
    let ids: Vec<&str> = archived["arenas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()]);
    assert_eq!(
        server.get("/api/arenas?agent=nobody").json()["arenas"],
        serde_json::json!([])
    );
    assert_eq!(
        server.get("/api/arenas?agent=otto").json()["arenas"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let report = server.get(&format!("/api/arenas/{second}/report")).json();
    assert_eq!(report["outcome"], "aborted: called off");
}

#[test]
fn bad_requests_get_json_errors_with_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &[]);
    let unknown = "01934b5e-0000-7000-8000-000000000000";

    let cases: Vec<(String, u16, &str)> = vec![
        (format!("/api/arenas/{unknown}"), 404, "not-found"),
        (format!("/api/arenas/{unknown}/events"), 404, "not-found"),
        (format!("/api/arenas/{unknown}/slots"), 404, "not-found"),
        (format!("/api/arenas/{unknown}/facts"), 404, "not-found"),
        (
            format!("/api/arenas/{unknown}/events/stream"),
            404,
            "not-found",
        ),
        (
            format!("/api/arenas/{id}/artifacts/art-99"),
            404,
            "not-found",
        ),
        (format!("/api/arenas/{id}/slots/nobody"), 404, "not-found"),
        (format!("/api/arenas/{id}/report"), 404, "not-found"),
        (format!("/api/arenas/{id}?at=abc"), 400, "invalid-input"),
        (format!("/api/arenas/{id}?at=-1"), 400, "invalid-input"),
        (format!("/api/arenas/{id}?at=0"), 400, "invalid-input"),
        (
            format!("/api/arenas/{id}/events?after=x"),
            400,
            "invalid-input",
        ),
        (
            format!("/api/arenas/{id}/events?limit=0"),
            400,
            "invalid-input",
        ),
        (
            format!("/api/arenas/{id}/events?limit=1001"),
            400,
            "limit-exceeded",
        ),
        ("/api/arenas?status=sleeping".into(), 400, "invalid-input"),
        ("/api/arenas?colour=red".into(), 400, "invalid-input"),
        ("/api/facts".into(), 400, "invalid-input"),
        ("/api/nothing-here".into(), 404, "not-found"),
        ("/etc/passwd".into(), 404, "not-found"),
        ("/../Cargo.toml".into(), 404, "not-found"),
    ];
    for (path, status, variant) in cases {
        let answer = server.get(&path);
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert_eq!(answer.json()["error"], variant, "{path}");
        assert!(
            answer.json()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let capped = server
        .get(&format!("/api/arenas/{id}/events?limit=5000"))
        .json();
    assert_eq!(capped["limit"], 1000);
    let garbled = Stream::open(server.addr, &id, &[("Last-Event-ID", "seven")])
        .err()
        .unwrap();
    assert_eq!(garbled.status, 400);
}

#[test]
fn nothing_changes_an_arena() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &[]);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for path in [
            format!("/api/arenas/{id}"),
            format!("/api/arenas/{id}/events"),
            "/api/arenas".into(),
        ] {
            let answer = raw(server.addr, method, &path, &[("Content-Length", "0")]);
            assert_eq!(answer.status, 405, "{method} {path}");
        }
    }
    assert_eq!(host.get(&id).unwrap().last_seq, 5);
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a.db"), &[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("SharedArena"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    let script = server.get("/app.js");
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.body.contains("EventSource"));
    assert_eq!(server.get("/style.css").status, 200);
    assert_eq!(server.get("/index.html.bak").status, 404);
}

#[test]
fn a_token_guards_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active_arena(&writer(&db), 2);
    let server = Server::start(&db, &["--token", "s3cret-token"]);
    let path = format!("/api/arenas/{id}");

    for (path, headers) in [
        (path.clone(), vec![]),
        ("/".to_string(), vec![]),
        (path.clone(), vec![("Authorization", "Bearer wrong-token!")]),
        (format!("{path}?token=s3cret-toke"), vec![]),
        (path.clone(), vec![("Cookie", "arena_token=nope")]),
    ] {
        let answer = request(server.addr, &path, &headers);
        assert_eq!(answer.status, 401, "{path} {headers:?}");
        assert_eq!(answer.json()["error"], "unauthorized");
        assert_eq!(answer.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    let bearer = request(
        server.addr,
        &path,
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(bearer.status, 200);
    let query = server.get("/?token=s3cret-token");
    assert_eq!(query.status, 200);
    let cookie = query.header("set-cookie").unwrap();
    assert!(cookie.starts_with("arena_token=s3cret-token;") && cookie.contains("HttpOnly"));
    let with_cookie = request(
        server.addr,
        &path,
        &[("Cookie", "theme=dark; arena_token=s3cret-token")],
    );
    assert_eq!(with_cookie.status, 200);
    assert!(
        Stream::open(
            server.addr,
            &id,
            &[("Authorization", "Bearer s3cret-token")]
        )
        .is_ok()
    );
    assert_eq!(
        Stream::open(server.addr, &id, &[]).err().unwrap().status,
        401
    );
}

#[test]
fn without_a_token_only_loopback_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let out = program()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve on 0.0.0.0:0 without --token"),
        "{stderr}"
    );

    // A page elsewhere that renames itself to 127.0.0.1 (DNS rebinding) is not answered.
    let server = Server::start(&db, &[]);
    let rebound = request(
        server.addr,
        "/api/arenas",
        &[("Host", "attacker.example:7070")],
    );
    assert_eq!(rebound.status, 403);
    assert_eq!(rebound.json()["error"], "forbidden");
    assert_eq!(
        request(server.addr, "/api/arenas", &[("Host", "localhost:7070")]).status,
        200
    );
}

#[test]
fn streams_beyond_the_cap_are_refused_with_503_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active_arena(&writer(&db), 2);
    let server = Server::start(&db, &["--max-streams", "2"]);
    let first = Stream::open(server.addr, &id, &[]).ok().unwrap();
    let _second = Stream::open(server.addr, &id, &[]).ok().unwrap();
    let refused = Stream::open(server.addr, &id, &[]).err().unwrap();
    assert_eq!(refused.status, 503);
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"], "limit-exceeded");
    assert_eq!(body["limit"], 2);
    // A stream that ends gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Stream::open(server.addr, &id, &[]) {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("still refused: {}", e.body),
        }
    }
}

/// Commits `n` progress reports as `wendy`, one operation each.
fn busy(host: &ArenaHost, id: &str, n: usize) {
    let wendy = host.handle(id, "wendy").unwrap();
    for i in 0..n {
        wendy.report_progress(&format!("note {i}")).unwrap();
    }
}

#[test]
fn a_stream_resumes_from_last_event_id_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &[]);
    let end = 5 + 400;
    let writing = {
        let (host, id) = (host.clone(), id.clone());
        std::thread::spawn(move || busy(&host, &id, 400))
    };
    let mut seen = Vec::new();
    let mut stream = Stream::open(server.addr, &id, &[]).ok().unwrap();
    while seen.len() < 60 {
        let (seq, event) = stream.next();
        assert_eq!(event["seq"], seq);
        seen.push(seq);
    }
    // Hang up in the middle of the busy arena, and come back a little later.
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    let last = seen.last().unwrap().to_string();
    let mut stream = Stream::open(server.addr, &id, &[("Last-Event-ID", &last)])
        .ok()
        .unwrap();
    while *seen.last().unwrap() < end {
        seen.push(stream.next().0);
    }
    writing.join().unwrap();
    assert_eq!(seen, (1..=end).collect::<Vec<_>>());
}

#[test]
fn a_hundred_streams_each_get_a_thousand_operations_in_order() {
    const CLIENTS: usize = 100;
    const OPERATIONS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &["--max-streams", "128"]);
    let end = (5 + OPERATIONS) as u64;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut stream = Stream::open(server.addr, &id, &[]).ok().unwrap();
        clients.push(std::thread::spawn(move || {
            let mut expected = 1;
            while expected <= end {
                let (seq, event) = stream.next();
                assert_eq!(seq, expected, "out of order or duplicated");
                assert_eq!(event["seq"], seq);
                expected += 1;
            }
        }));
    }
    let rss_before = server.rss_kib();
    busy(&host, &id, OPERATIONS);
    let written = started.elapsed();
    let mut rss_peak = rss_before;
    for client in clients {
        while !client.is_finished() {
            rss_peak = rss_peak.max(server.rss_kib());
            std::thread::sleep(Duration::from_millis(50));
        }
        client.join().expect("a client saw every event in order");
    }
    eprintln!(
        "{CLIENTS} streams, {OPERATIONS} operations: written in {written:?}, all delivered in {:?}; \
         server RSS {rss_before} KiB before, {rss_peak} KiB at most",
        started.elapsed()
    );
    // Each stream holds at most a page of events: the server's memory stays bounded.
    assert!(rss_peak < 512 * 1024, "server RSS {rss_peak} KiB");
}
