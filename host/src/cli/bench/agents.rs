//! The cases about whole runs of agents through `arena run`'s library: model-calling workers under
//! the concurrent and the rounds schedule, and the resident memory of many plugins running at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use arena_host::ArenaHost;
use arena_host::plugin::{PluginEngine, PluginErrorKind, TurnOutcome, TurnReport};
use arena_host::run::{Manifest, Observer, RunControl, RunSummary, run_with};
use arena_host::types::ArenaStatus;

use super::{BenchConfig, Row, active_arena, median, open_host};

/// How long the simulated model takes to answer each request.
const MODEL_LATENCY: Duration = Duration::from_millis(50);

/// Model-calling workers, each with one independent step, run once concurrently and once in
/// rounds: the rounds schedule queues the model calls one behind another, the concurrent one
/// overlaps them.
pub(super) fn concurrent_vs_rounds(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let workers = config.llm_workers;
    let host = open_host(&dir.join("agents-llm.db"), config.durability, true)?;
    let engine = PluginEngine::new()?;
    let model = ModelServer::start(MODEL_LATENCY)?;
    let concurrent = Manifest::parse(&llm_team(workers, "concurrent", &model.endpoint()))?;
    let rounds = Manifest::parse(&llm_team(workers, "rounds", &model.endpoint()))?;
    // Compiles and links both components once; the timed runs find them cached.
    llm_run(&host, &engine, &concurrent, &model, workers).context("warming up")?;
    let (mut c, mut r) = (Vec::new(), Vec::new());
    for _ in 0..config.samples {
        c.push(llm_run(&host, &engine, &concurrent, &model, workers).context("concurrent")?);
        r.push(llm_run(&host, &engine, &rounds, &model, workers).context("rounds")?);
    }
    let (c, r) = (median(c), median(r));
    Ok(vec![Row {
        case: format!(
            "{workers} agents with {} ms model latency: concurrent vs rounds",
            MODEL_LATENCY.as_millis()
        ),
        value: millis(c),
        baseline: "the same run, schedule = \"rounds\"".into(),
        baseline_value: millis(r),
        ratio: r / c,
        higher_is_better: true,
        target: config.llm_target,
    }])
}

/// A pipeline of `workers` independent one-step stages, each an llm-worker asking the model at
/// `endpoint`, and a coordinator.
fn llm_team(workers: usize, schedule: &str, endpoint: &str) -> String {
    let stages: String = (1..=workers)
        .map(|n| format!("[[arena.stage]]\nagent = \"llm{n}\"\nsteps = \"{n}\"\n"))
        .collect();
    let plugins: String = (1..=workers)
        .map(|n| {
            format!(
                "[[plugin]]\nagent = \"llm{n}\"\nrole = \"worker\"\ncomponent = \"builtin:llm-worker\"\n\
                 allowed_outbound_hosts = [\"{endpoint}\"]\n\
                 [plugin.config]\nendpoint = \"{endpoint}\"\nmodel = \"bench\"\n"
            )
        })
        .collect();
    format!(
        "[arena]\ngoal = \"write independent sections\"\nsteps = {workers}\nstrategy = \"pipeline\"\n\
         {stages}[run]\nschedule = \"{schedule}\"\nmax_turns = 40\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
         {plugins}"
    )
}

/// One run of an llm team, in seconds; an error unless it archived its arena with no plugin
/// stopped and asked the model once per worker.
fn llm_run(
    host: &ArenaHost,
    engine: &PluginEngine,
    manifest: &Manifest,
    model: &ModelServer,
    workers: usize,
) -> Result<f64> {
    let asked = model.requests();
    let start = Instant::now();
    let summary = run(host, engine, manifest)?;
    let elapsed = start.elapsed().as_secs_f64();
    finished(&summary)?;
    let asked = model.requests() - asked;
    if asked != workers {
        bail!("the model was asked {asked} times by {workers} workers");
    }
    Ok(elapsed)
}

/// Runs `manifest`, watching only for turns that failed; an error if any did, or if a plugin was
/// stopped other than by the run's deadline.
fn run(host: &ArenaHost, engine: &PluginEngine, manifest: &Manifest) -> Result<RunSummary> {
    let mut turns = Turns::default();
    let summary = run_with(
        host,
        engine,
        manifest,
        Path::new("."),
        &RunControl::new(),
        &mut turns,
    )?;
    if let Some(failure) = turns.first_failure {
        bail!("a turn failed: {failure}");
    }
    Ok(summary)
}

/// An error unless the run archived its arena.
fn finished(summary: &RunSummary) -> Result<()> {
    if summary.status != ArenaStatus::Archived {
        bail!(
            "the run ended after {} turns with its arena {:?}, not archived",
            summary.rounds,
            summary.status
        );
    }
    Ok(())
}

/// The observer of a timed run: remembers the first turn that failed or stopped its plugin, but for
/// turns interrupted when the run's deadline passed.
#[derive(Default)]
struct Turns {
    first_failure: Option<String>,
}

impl Observer for Turns {
    fn turn_ended(&mut self, report: &TurnReport) {
        if self.first_failure.is_some() {
            return;
        }
        let failure = match &report.outcome {
            TurnOutcome::Done(_) => return,
            TurnOutcome::Failed(text) => text.clone(),
            TurnOutcome::Stopped(error) if matches!(error.kind, PluginErrorKind::Interrupted) => {
                return;
            }
            TurnOutcome::Stopped(error) => error.to_string(),
        };
        self.first_failure = Some(format!("{}: {failure}", report.agent));
    }
}

fn millis(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1e3)
}

/// A chat-completions server in this process: every request, on a thread of its own, is answered
/// after the latency with a one-choice completion, and its connection closed.
struct ModelServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

/// The four tools the tool-loop case's model calls in one reply, all reads (so every sample makes
/// the same calls on the same arena).
const FOUR_TOOLS: [&str; 4] = ["info", "own_slot", "list_slots", "events"];

/// The tool-loop case's model: four tool calls, then (once they are answered) a closing text.
fn tool_reply(request: &[u8]) -> String {
    let answered = String::from_utf8_lossy(request).contains(r#""role":"tool""#);
    let message = if answered {
        serde_json::json!({"role": "assistant", "content": "looked around"})
    } else {
        let calls: Vec<serde_json::Value> = FOUR_TOOLS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                serde_json::json!({"id": format!("c{i}"), "type": "function",
                    "function": {"name": name, "arguments": "{}"}})
            })
            .collect();
        serde_json::json!({"role": "assistant", "content": null, "tool_calls": calls})
    };
    serde_json::json!({"id": "bench", "object": "chat.completion", "model": "bench",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    .to_string()
}

/// One llm-agent turn whose model (answering at once) calls four tools, against the same four
/// handle calls made by native code in one turn: what the tool loop costs inside the sandbox
/// (context, two model round trips over loopback, JSON both ways, the four calls).
pub(super) fn tool_loop(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    use arena_host::plugin::PluginSpec;
    let host = open_host(&dir.join("agents-tools.db"), config.durability, true)?;
    let id = active_arena(&host, 4, 1)?;
    let engine = PluginEngine::new()?;
    let model = ModelServer::start_with(Duration::ZERO, tool_reply)?;
    let bytes = arena_host::run::BUILTIN_PLUGINS
        .iter()
        .find(|(name, _)| *name == "llm-agent")
        .context("the built-in llm-agent")?
        .1;
    let mut spec = PluginSpec::new("builtin:llm-agent", "w0", Arc::from(bytes));
    spec.allowed_outbound_hosts = vec![model.endpoint()];
    spec.config
        .set("endpoint", model.endpoint())
        .set("model", "bench")
        .set("max_retries", "0");
    let (mut agent, mut native) = (Vec::new(), Vec::new());
    // The first sample compiles the plugin; it is not counted.
    for sample in 0..=config.samples {
        // A fresh instance each time: an agent that has seen nothing new does not ask its model.
        let mut plugin = engine.load(&spec, host.handle(&id, "w0")?)?;
        let started = Instant::now();
        let report = plugin.turn(1);
        let took = started.elapsed().as_secs_f64();
        match &report.outcome {
            TurnOutcome::Done(text) if text.contains("4 tool calls") => {}
            other => bail!("the llm-agent's turn: {other:?}"),
        }
        let handle = host.handle(&id, "w0")?;
        let started = Instant::now();
        handle.info()?;
        handle.own_slot()?;
        handle.list_slots()?;
        handle.events(0, 100)?;
        let natively = started.elapsed().as_secs_f64();
        if sample > 0 {
            agent.push(took);
            native.push(natively);
        }
    }
    let (a, n) = (median(agent), median(native));
    Ok(vec![Row {
        case: "llm-agent turn, 4 tool calls, model answering at once".into(),
        value: millis(a),
        baseline: "the same 4 handle calls in native code".into(),
        baseline_value: millis(n),
        ratio: n / a,
        higher_is_better: true,
        target: None,
    }])
}

/// What the model says, as a chat-completions response body.
const COMPLETION: &str = r#"{"id":"bench","object":"chat.completion","model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"{\"content\": \"a section\", \"fact\": \"sections are short\", \"confidence\": 0.8}"},"finish_reason":"stop"}]}"#;

impl ModelServer {
    fn start(latency: Duration) -> Result<Self> {
        Self::start_with(latency, |_| COMPLETION.to_string())
    }

    /// A server answering each request's body with `reply`'s response body.
    fn start_with(latency: Duration, reply: fn(&[u8]) -> String) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the model server")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (requests.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || {
                    if answer(stream, latency, reply).is_ok() {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Ok(ModelServer {
            port,
            requests,
            stop,
            acceptor: Some(acceptor),
        })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests answered so far.
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Reads one request (head and `Content-Length` body), waits `latency`, and answers it.
fn answer(stream: TcpStream, latency: Duration, reply: fn(&[u8]) -> String) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    std::thread::sleep(latency);
    let content = reply(&body);
    // In one write: a response in pieces would wait on Nagle's algorithm and delayed ACKs.
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{content}",
        content.len()
    );
    let mut stream = stream;
    stream.set_nodelay(true)?;
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// The growth of resident memory while `resident_plugins` plugins run at once, per plugin, against
/// the same for a coordinator and one worker.
pub(super) fn resident_memory(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let plugins = config.resident_plugins;
    let host = open_host(&dir.join("agents-memory.db"), config.durability, true)?;
    let engine = PluginEngine::new()?;
    let deadline = config.resident_ms;
    let many = Manifest::parse(&busy_team(plugins, deadline))?;
    let two = Manifest::parse(&busy_team(2, deadline))?;
    // Compiles and links both components once.
    run(&host, &engine, &Manifest::parse(&busy_team(2, 100))?).context("warming up")?;
    let (mut m, mut t) = (Vec::new(), Vec::new());
    for _ in 0..config.samples {
        t.push(growth_per_plugin(&host, &engine, &two, 2).context("two plugins")?);
        m.push(growth_per_plugin(&host, &engine, &many, plugins).context("many plugins")?);
    }
    let (m, t) = (median(m), median(t));
    Ok(vec![Row {
        case: format!("resident memory per plugin, {plugins} running concurrently"),
        value: kib(m),
        baseline: "the same, a coordinator and one worker".into(),
        baseline_value: kib(t),
        ratio: t / m,
        higher_is_better: true,
        target: None,
    }])
}

/// A peer arena of a coordinator and `plugins - 1` workers, with more steps than they finish before
/// the run's deadline of `deadline_ms`.
fn busy_team(plugins: usize, deadline_ms: u64) -> String {
    let workers: String = (1..plugins)
        .map(|n| {
            format!(
                "[[plugin]]\nagent = \"w{n}\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n\
                 idle_ms = 50\n"
            )
        })
        .collect();
    format!(
        "[arena]\ngoal = \"stay busy\"\nsteps = 10000\n\
         [run]\nschedule = \"concurrent\"\nmax_turns = 100000\ndeadline_ms = {deadline_ms}\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
         idle_ms = 50\n{workers}"
    )
}

/// Peak resident memory during one run of `manifest` less that just before it, per plugin, in
/// bytes.
fn growth_per_plugin(
    host: &ArenaHost,
    engine: &PluginEngine,
    manifest: &Manifest,
    plugins: usize,
) -> Result<f64> {
    let before = resident()?;
    let sampler = PeakSampler::start(before);
    let outcome = run(host, engine, manifest);
    let peak = sampler.finish();
    outcome?;
    Ok(peak.saturating_sub(before) as f64 / plugins as f64)
}

/// Reads resident memory every 20 ms on a thread of its own, keeping the highest reading.
struct PeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl PeakSampler {
    fn start(first: u64) -> Self {
        let peak = Arc::new(AtomicU64::new(first));
        let stop = Arc::new(AtomicBool::new(false));
        let (high, halt) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            loop {
                if let Ok(now) = resident() {
                    high.fetch_max(now, Ordering::Relaxed);
                }
                if halt.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        PeakSampler { peak, stop, thread }
    }

    /// Stops sampling (after one last reading); the peak, in bytes.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Resident memory of this process (`VmRSS`), in bytes.
fn resident() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib * 1024)
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}
