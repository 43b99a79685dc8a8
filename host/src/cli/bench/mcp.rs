//! `complete_step` as an MCP `tools/call`, over Streamable HTTP on a warm `arena serve` and over
//! stdio to `arena mcp`, each against the same durable operation in process, measured in turns.
//!
//! The clients are minimal on purpose (one keep-alive HTTP/1.1 connection; newline-delimited JSON on
//! a pipe), so that the figures are the server's and the protocol's, not a client library's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::{BenchConfig, Row, active_arena, median, micros, open_host, time_per_op};

/// The protocol version the clients ask for: the latest that still has `initialize` and sessions.
const PROTOCOL: &str = "2025-06-18";

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "arena-bench", "version": "1"}}})
}

fn step_call(id: u64, step: u32) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "complete_step", "arguments": {"step": step}}})
}

/// Checks a `tools/call` answer: a result without `isError`.
fn check_result(answer: &Value) -> Result<()> {
    match answer.get("result") {
        Some(result) if result["isError"] != true => Ok(()),
        _ => bail!("tools/call failed: {answer}"),
    }
}

/// A child process that is killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One keep-alive connection to `/mcp`, in a session.
struct HttpClient {
    stream: BufReader<TcpStream>,
    addr: String,
    token: String,
    session: Option<String>,
}

impl HttpClient {
    /// POSTs `body`; returns the JSON-RPC answer (none for a notification).
    fn post(&mut self, body: &Value) -> Result<Option<Value>> {
        let body = body.to_string();
        let mut request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: {PROTOCOL}\r\nContent-Length: {}\r\n",
            self.addr,
            self.token,
            body.len()
        );
        if let Some(session) = &self.session {
            request.push_str(&format!("Mcp-Session-Id: {session}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        self.stream.get_mut().write_all(request.as_bytes())?;
        let mut status = String::new();
        self.stream.read_line(&mut status)?;
        if !status.contains(" 200 ") && !status.contains(" 202 ") {
            bail!("/mcp answered {}", status.trim());
        }
        let (mut length, mut chunked) = (None, false);
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "mcp-session-id" => self.session = Some(value.to_string()),
                _ => {}
            }
        }
        let mut content = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.stream.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim(), 16)
                    .map_err(|_| anyhow!("a bad chunk size {size:?}"))?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                content.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = length {
            content.resize(length, 0);
            self.stream.read_exact(&mut content)?;
        }
        let text = String::from_utf8_lossy(&content);
        // JSON, or SSE whose `data:` lines carry the answer.
        let answer = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .chain(std::iter::once(text.trim()))
            .find_map(|data| {
                serde_json::from_str::<Value>(data)
                    .ok()
                    .filter(|v| v.get("id").is_some())
            });
        Ok(answer)
    }
}

/// A session with `arena mcp` over its stdin and stdout.
struct StdioClient {
    _child: Running,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl StdioClient {
    fn send(&mut self, message: &Value) -> Result<()> {
        writeln!(self.input, "{message}")?;
        Ok(self.input.flush()?)
    }

    fn ask(&mut self, message: &Value) -> Result<Value> {
        self.send(message)?;
        loop {
            let mut line = String::new();
            if self.output.read_line(&mut line)? == 0 {
                bail!("arena mcp closed its output");
            }
            let answer: Value = serde_json::from_str(&line)?;
            if answer.get("id") == message.get("id") {
                return Ok(answer);
            }
        }
    }
}

/// The two rows: HTTP and stdio, each against in-process `complete-step`.
pub(super) fn mcp_tools_call(config: &BenchConfig, exe: &Path, dir: &Path) -> Result<Vec<Row>> {
    let steps = (config.ops * config.samples * 2) as u32 + 10;
    // The baseline: the same durable operation through the handle, in process.
    let local = open_host(&dir.join("mcp-local.db"), config.durability, true)?;
    let local_id = active_arena(&local, steps, 1)?;
    let worker = local.handle(&local_id, "w0")?;

    let http_db = dir.join("mcp-http.db");
    let stdio_db = dir.join("mcp-stdio.db");
    let token = {
        let host = open_host(&http_db, config.durability, true)?;
        let id = active_arena(&host, steps, 1)?;
        let token = host.issue_token(&id, "w0", None, Some("bench"))?;
        token.secret.expose().to_string()
    };
    let stdio_id = {
        let host = open_host(&stdio_db, config.durability, true)?;
        active_arena(&host, steps, 1)?
    };
    let durability = config.durability.name();
    let mut server = Command::new(exe)
        .args(["--durability", durability, "--db"])
        .arg(&http_db)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--mcp-writes-per-minute",
            "1000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting arena serve")?;
    let served = server.stdout.take().context("arena serve's output")?;
    let server = Running(server);
    let mut line = String::new();
    BufReader::new(served).read_line(&mut line)?;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow!("arena serve printed {line:?}"))?
        .to_string();
    let stream = TcpStream::connect(&addr)?;
    // A request goes out in two writes' worth of packets: without this, Nagle's algorithm and the
    // server's delayed ACK hold each request back by tens of milliseconds.
    stream.set_nodelay(true)?;
    let mut http = HttpClient {
        stream: BufReader::new(stream),
        addr,
        token,
        session: None,
    };
    http.post(&initialize(1))?;
    http.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;

    let mut child = Command::new(exe)
        .args(["--durability", durability, "--db"])
        .arg(&stdio_db)
        .args(["mcp", "--arena", &stdio_id, "--as", "w0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting arena mcp")?;
    let input = child.stdin.take().context("arena mcp's input")?;
    let output = BufReader::new(child.stdout.take().context("arena mcp's output")?);
    let mut stdio = StdioClient {
        _child: Running(child),
        input,
        output,
    };
    stdio.ask(&initialize(1))?;
    stdio.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;

    // Both servers compiled the component and opened the database before they answered
    // `initialize`: they are warm.
    let (mut id, mut step_l, mut step_h, mut step_s) = (10u64, 0u32, 0u32, 0u32);
    let (mut over_http, mut over_stdio, mut in_process) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.samples {
        over_http.push(time_per_op(config.ops, || -> Result<()> {
            step_h += 1;
            id += 1;
            let answer = http.post(&step_call(id, step_h))?.context("no answer")?;
            check_result(&answer)
        })?);
        over_stdio.push(time_per_op(config.ops, || -> Result<()> {
            step_s += 1;
            id += 1;
            check_result(&stdio.ask(&step_call(id, step_s))?)
        })?);
        in_process.push(time_per_op(config.ops, || {
            step_l += 1;
            worker.complete_step(step_l).map(drop)
        })?);
    }
    drop(server);
    let (h, s, l) = (median(over_http), median(over_stdio), median(in_process));
    let row = |case: &str, measured: f64, target| Row {
        case: case.into(),
        value: micros(measured),
        baseline: "the same complete-step through the handle, in process".into(),
        baseline_value: micros(l),
        ratio: l / measured,
        higher_is_better: true,
        target,
    };
    Ok(vec![
        row(
            "complete_step as MCP tools/call, Streamable HTTP (warm server)",
            h,
            Some(0.5),
        ),
        row("complete_step as MCP tools/call, stdio", s, None),
    ])
}
