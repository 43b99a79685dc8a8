//! `arena serve`, run as an operator runs it, asked over plain HTTP: the API's shapes and errors,
//! its safety defaults (`api.rs`), and live events that arrive exactly once and in order
//! (`streams.rs`), and connections that are slow, idle or many (`connections.rs`). This file
//! starts the server and speaks HTTP to it.

mod access_log;
mod act;
mod api;
mod connections;
mod streams;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
        let mut command = program();
        command
            .arg("--db")
            .arg(db)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra);
        Server::spawn(command)
    }

    /// `command`, an `arena serve` on an ephemeral port, started.
    fn spawn(mut command: Command) -> Server {
        let mut child = command
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
