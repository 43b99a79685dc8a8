//! The console opening a large arena: every request the page makes when it opens an arena, on a
//! warm `arena serve`, for an arena of `console_events` events against the same requests for an
//! arena of [`SMALL`] events in the same run (the cost ratio says how much the log's length costs).
//!
//! The large arena is written through the host, as agents write (so that it keeps its snapshots
//! as any arena does), once, and kept in the fixtures directory as `console-N-vV.db`: the browser
//! test of a large arena takes its copy from there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use arena_host::db::sqlite::SCHEMA_VERSION;
use arena_host::types::{ArtifactDraft, FactDraft, SlotStatus};
use arena_host::{ArenaHost, Durability};

use super::{BenchConfig, Row, active_arena, median, open_host};

/// Events in the baseline arena.
const SMALL: u64 = 1000;

/// Workers in a console fixture's arena (besides its coordinator, `lead`).
const WORKERS: usize = 4;

/// The newest events the page reads first: as many as the console asks for.
pub(crate) const NEWEST_PAGE: u64 = 1000;

/// The fixture of an arena of `events` events, built once into `dir`, and its path.
pub(crate) fn fixture(dir: &Path, events: u64) -> Result<PathBuf> {
    let path = dir.join(format!("console-{events}-v{SCHEMA_VERSION}.db"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    {
        let host = open_host(&partial, Durability::Normal, false)?;
        fill(&host, events)?;
    }
    rusqlite::Connection::open(&partial)
        .and_then(|c| c.pragma_update(None, "wal_checkpoint", "TRUNCATE"))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// An active arena of `events` events, its workers working as a team does: slot changes, progress
/// notes, steps, artifacts and facts (those two up to their limits), round after round.
fn fill(host: &ArenaHost, events: u64) -> Result<String> {
    let steps = arena_component::limits::TOTAL_STEPS;
    let id = active_arena(host, steps, WORKERS)?;
    let handles = (0..WORKERS)
        .map(|w| host.handle(&id, &format!("w{w}")))
        .collect::<Result<Vec<_>, _>>()?;
    let lead = host.handle(&id, "lead")?;
    // Created, joined (lead and the workers), activated.
    let mut written = 2 + WORKERS as u64 + 1;
    let (mut step, mut facts) = (0u32, 0usize);
    let mut artifacts = [0usize; WORKERS];
    let mut i = 0usize;
    while written < events {
        let w = i % WORKERS;
        let worker = &handles[w];
        let n = i / WORKERS;
        match n % 10 {
            0 => worker.set_slot_status(SlotStatus::Working)?,
            5 => worker.set_slot_status(SlotStatus::Done)?,
            3 if step < steps => {
                step += 1;
                worker.complete_step(step)?;
            }
            7 if artifacts[w] < arena_component::limits::ARTIFACTS_PER_SLOT => {
                artifacts[w] += 1;
                worker.put_artifact(&ArtifactDraft {
                    kind: "markdown".into(),
                    content: format!("# Finding {n}\n\nWhat w{w} found in round {n}."),
                    metadata: Vec::new(),
                })?;
            }
            9 if w == 0 && facts < arena_component::limits::FACTS => {
                facts += 1;
                lead.add_fact(&FactDraft {
                    content: format!("fact {facts}: round {n} holds"),
                    confidence: 0.8,
                    tags: vec![format!("round-{}", n % 8)],
                })?;
            }
            _ => {
                worker.report_progress(&format!("round {n}: working on item {i}"))?;
            }
        }
        written += 1;
        i += 1;
    }
    Ok(id)
}

/// A child process that is killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `arena serve` on `db`, and the address it listens on.
fn serve(exe: &Path, db: &Path) -> Result<(Running, String)> {
    let mut child = Command::new(exe)
        .arg("--db")
        .arg(db)
        .args(["serve", "--addr", "127.0.0.1:0", "--access-log", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting arena serve")?;
    let out = child.stdout.take().context("arena serve's output")?;
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow!("arena serve printed {line:?}"))?
        .to_string();
    Ok((running, addr))
}

/// One keep-alive HTTP/1.1 connection, as the page's.
struct Client {
    stream: BufReader<TcpStream>,
    addr: String,
}

impl Client {
    fn connect(addr: &str) -> Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream: BufReader::new(stream),
            addr: addr.to_string(),
        })
    }

    /// The response head's status and headers (lower-case names).
    fn head(&mut self) -> Result<(String, Vec<(String, String)>)> {
        let mut status = String::new();
        self.stream.read_line(&mut status)?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("the server closed the connection");
            }
            let line = line.trim_end();
            if line.is_empty() {
                return Ok((status, headers));
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }

    /// GETs `path` and returns its JSON answer (a 200 is required).
    fn get(&mut self, path: &str) -> Result<Value> {
        write!(
            self.stream.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
            self.addr
        )?;
        let (status, headers) = self.head()?;
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| anyhow!("GET {path}: no Content-Length"))?;
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        if !status.contains(" 200 ") {
            bail!(
                "GET {path}: {} {}",
                status.trim(),
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// Opens the live stream after event `after` and returns once its head has come: the stream
    /// has started (the connection is spent).
    fn stream_start(mut self, id: &str, after: u64) -> Result<()> {
        write!(
            self.stream.get_mut(),
            "GET /api/arenas/{id}/events/stream?after={after} HTTP/1.1\r\nHost: {}\r\n\
             Accept: text/event-stream\r\n\r\n",
            self.addr
        )?;
        let (status, _) = self.head()?;
        if !status.contains(" 200 ") {
            bail!("the event stream answered {}", status.trim());
        }
        Ok(())
    }

    /// Reads the live stream from the first event up to event `last` (what the page did before
    /// it read the log from its end).
    fn stream_all(mut self, id: &str, last: u64) -> Result<()> {
        self.stream_start_keep(id)?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("the event stream ended before event {last}");
            }
            if let Some(seq) = line.strip_prefix("id:")
                && seq.trim().parse::<u64>().ok() == Some(last)
            {
                return Ok(());
            }
        }
    }

    fn stream_start_keep(&mut self, id: &str) -> Result<()> {
        write!(
            self.stream.get_mut(),
            "GET /api/arenas/{id}/events/stream HTTP/1.0\r\nHost: {}\r\n\
             Accept: text/event-stream\r\n\r\n",
            self.addr
        )?;
        let (status, _) = self.head()?;
        if !status.contains(" 200 ") {
            bail!("the event stream answered {}", status.trim());
        }
        Ok(())
    }
}

/// What was timed, and its seconds.
type Timings = Vec<(&'static str, f64)>;

/// The seconds each request of the page's opening took, in the order the page makes them, and
/// the whole opening's (the requests one after another, as a worst case for the page's parallel
/// ones).
fn open_once(addr: &str, id: &str) -> Result<Timings> {
    fn timed<T>(
        times: &mut Vec<(&'static str, f64)>,
        what: &'static str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let start = Instant::now();
        let value = f()?;
        times.push((what, start.elapsed().as_secs_f64()));
        Ok(value)
    }
    let mut client = Client::connect(addr)?;
    let mut times = Vec::new();
    let base = format!("/api/arenas/{id}");
    let info = timed(&mut times, "GET the arena", || client.get(&base))?;
    let last = info["last-seq"]
        .as_u64()
        .ok_or_else(|| anyhow!("no last-seq in {info}"))?;
    timed(&mut times, "GET its slots", || {
        client.get(&format!("{base}/slots"))
    })?;
    timed(&mut times, "GET its facts (1000 at most)", || {
        client.get(&format!("{base}/facts?limit=1000"))
    })?;
    let after = last.saturating_sub(NEWEST_PAGE);
    let page = timed(&mut times, "GET the newest 1000 events", || {
        client.get(&format!("{base}/events?after={after}&limit={NEWEST_PAGE}"))
    })?;
    let newest = page["events"]
        .as_array()
        .and_then(|events| events.last())
        .and_then(|e| e["seq"].as_u64());
    if newest != Some(last) {
        bail!("the newest page ends at {newest:?}, not at event {last}");
    }
    timed(&mut times, "start the live stream after the last", || {
        Client::connect(addr)?.stream_start(id, last)
    })?;
    // The page's opening, up to here: what stands between a click and the arena on screen.
    let total = times.iter().map(|(_, t)| t).sum();
    timed(&mut times, "GET the arena at event 1", || {
        client.get(&format!("{base}?at=1"))
    })?;
    timed(&mut times, "GET the arena at its middle", || {
        client.get(&format!("{base}?at={}", last.div_ceil(2)))
    })?;
    times.push(("the page's opening, request after request", total));
    Ok(times)
}

/// The whole log, a page of 1000 at a time from the end, as the page reads its history.
fn history(addr: &str, id: &str, last: u64) -> Result<f64> {
    let mut client = Client::connect(addr)?;
    let start = Instant::now();
    let mut first = last.saturating_sub(NEWEST_PAGE) + 1;
    while first > 1 {
        let after = first.saturating_sub(1 + NEWEST_PAGE);
        let limit = first - 1 - after;
        let page = client.get(&format!(
            "/api/arenas/{id}/events?after={after}&limit={limit}"
        ))?;
        let got = page["events"].as_array().map_or(0, Vec::len) as u64;
        if got != limit {
            bail!("a history page after {after} held {got} events, not {limit}");
        }
        first = after + 1;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// The rows: each request of the page's opening, the opening as a whole, the history read from
/// the end, and the live stream read from the start (the page's old way), large against small.
pub(super) fn console(config: &BenchConfig, exe: &Path, dir: &Path) -> Result<Vec<Row>> {
    let events = config.console_events;
    let large = fixture(&config.fixtures, events)?;
    let small = fixture(&config.fixtures, SMALL)?;
    // The servers write nothing, but each gets a copy: a fixture stays as it was built.
    let (large_copy, small_copy) = (dir.join("console-large.db"), dir.join("console-small.db"));
    std::fs::copy(&large, &large_copy)?;
    std::fs::copy(&small, &small_copy)?;
    let id_of = |db: &Path| -> Result<String> {
        let host = open_host(db, Durability::Normal, false)?;
        let list = host.list(None, 1)?;
        list.first()
            .map(|a| a.id.clone())
            .ok_or_else(|| anyhow!("no arena in {}", db.display()))
    };
    let (large_id, small_id) = (id_of(&large_copy)?, id_of(&small_copy)?);
    let (_large_server, large_addr) = serve(exe, &large_copy)?;
    let (_small_server, small_addr) = serve(exe, &small_copy)?;
    // Warm: each server has compiled the component and read its arena once.
    open_once(&large_addr, &large_id)?;
    open_once(&small_addr, &small_id)?;
    let mut samples: Vec<(Timings, Timings)> = Vec::new();
    for _ in 0..config.samples.max(3) {
        samples.push((
            open_once(&large_addr, &large_id)?,
            open_once(&small_addr, &small_id)?,
        ));
    }
    let names: Vec<&str> = samples[0].0.iter().map(|(what, _)| *what).collect();
    let mut rows = Vec::new();
    let ms = |s: f64| format!("{:.2} ms", s * 1e3);
    for (i, what) in names.iter().enumerate() {
        let l = median(samples.iter().map(|(l, _)| l[i].1).collect());
        let s = median(samples.iter().map(|(_, s)| s[i].1).collect());
        let whole = what.starts_with("the page's");
        rows.push(Row {
            case: format!("console ({events} events): {what}"),
            value: ms(l),
            baseline: format!("the same for a {SMALL}-event arena"),
            baseline_value: ms(s),
            ratio: l / s,
            higher_is_better: false,
            // Opening the page costs about the same however long the log is.
            target: whole.then_some(3.0),
        });
    }
    // The history read from the end, against the page's old way of reading it: every event
    // through the live stream, from the first.
    let (mut paged, mut streamed) = (Vec::new(), Vec::new());
    for _ in 0..config.samples.clamp(1, 3) {
        paged.push(history(&large_addr, &large_id, events)?);
        let start = Instant::now();
        Client::connect(&large_addr)?.stream_all(&large_id, events)?;
        streamed.push(start.elapsed().as_secs_f64());
    }
    let (p, s) = (median(paged), median(streamed));
    rows.push(Row {
        case: format!("console ({events} events): the history, 1000 a page from the end"),
        value: ms(p),
        baseline: "the live stream from event 1 (the page's old way)".into(),
        baseline_value: ms(s),
        ratio: p / s,
        higher_is_better: false,
        target: None,
    });
    Ok(rows)
}
