//! The access log: one line per request, the token never in it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

const SECRET: &str = "s3cret-serve-token";

/// The log's lines once it holds at least `n` (the writer flushes a moment after the answer).
fn lines(log: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fields of a line: time, remote, method, target, status, bytes, duration, agent.
fn fields(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

#[test]
fn a_request_is_logged_with_its_token_redacted_and_the_query_token_never_appears() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arena.db");
    let host = writer(&db);
    let id = active_arena(&host, 3);
    let log = dir.path().join("access.log");
    let log_arg = log.to_str().unwrap().to_string();
    let server = Server::start(&db, &["--token", SECRET, "--access-log", &log_arg]);

    let answer = server.get(&format!("/api/arenas/{id}?token={SECRET}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let refused = server.get("/api/arenas?token=wrong-guess");
    assert_eq!(refused.status, 401);
    let bearer = format!("Bearer {SECRET}");
    let by_header = request(
        server.addr,
        "/api/arenas?limit=2",
        &[("Authorization", &bearer)],
    );
    assert_eq!(by_header.status, 200);

    let lines = lines(&log, 3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let first = fields(&lines[0]);
    assert_eq!(first.len(), 8, "{}", lines[0]);
    assert!(
        first[0].ends_with('Z') && first[0].contains('T'),
        "{}",
        lines[0]
    );
    assert!(first[1].starts_with("127.0.0.1:"), "{}", lines[0]);
    assert_eq!(first[2], "GET");
    assert_eq!(first[3], format!("/api/arenas/{id}?token=REDACTED"));
    assert_eq!(first[4], "200");
    assert_eq!(first[5], answer.body.len().to_string());
    assert!(first[6].ends_with("ms"), "{}", lines[0]);
    // The server's own token names no agent.
    assert_eq!(first[7], "-");
    let second = fields(&lines[1]);
    assert_eq!(
        (second[3], second[4]),
        ("/api/arenas?token=REDACTED", "401")
    );
    let third = fields(&lines[2]);
    assert_eq!((third[3], third[4]), ("/api/arenas?limit=2", "200"));

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("wrong-guess"), "{text}");
}

#[test]
fn an_mcp_request_is_logged_with_the_agent_its_bearer_token_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arena.db");
    let host = writer(&db);
    let id = active_arena(&host, 3);
    let issued = host.issue_token(&id, "wendy", None, None).unwrap();
    let token = issued.secret.expose().to_string();
    let log = dir.path().join("access.log");
    let log_arg = log.to_str().unwrap().to_string();
    let server = Server::start(&db, &["--access-log", &log_arg]);

    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /mcp HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");

    let lines = lines(&log, 1);
    let line = lines
        .iter()
        .find(|l| l.contains(" POST /mcp "))
        .unwrap_or_else(|| panic!("no MCP line in {lines:#?}"));
    let f = fields(line);
    assert_eq!((f[2], f[3], f[4], f[7]), ("POST", "/mcp", "200", "wendy"));
    assert!(!std::fs::read_to_string(&log).unwrap().contains(&token));
}

#[test]
fn a_fork_from_the_console_is_logged_with_the_coordinator_that_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arena.db");
    let host = writer(&db);
    let id = active_arena(&host, 3);
    let issued = host.issue_token(&id, "lead", None, None).unwrap();
    let token = issued.secret.expose().to_string();
    let log = dir.path().join("access.log");
    let log_arg = log.to_str().unwrap().to_string();
    let server = Server::start(&db, &["--access-log", &log_arg]);

    let body = r#"{"at":2}"#;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/arenas/{id}/fork HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 201"), "{answer}");

    let lines = lines(&log, 1);
    let line = lines
        .iter()
        .find(|l| l.contains("/fork "))
        .unwrap_or_else(|| panic!("no fork line in {lines:#?}"));
    let f = fields(line);
    let target = format!("/api/arenas/{id}/fork");
    assert_eq!(
        (f[2], f[3], f[4], f[7]),
        ("POST", target.as_str(), "201", "lead")
    );
    assert!(!std::fs::read_to_string(&log).unwrap().contains(&token));
}
