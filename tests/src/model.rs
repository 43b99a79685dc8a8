//! A chat-completions server in the test process: speaks the OpenAI-compatible
//! `POST /v1/chat/completions` protocol with canned answers, a configurable latency, error codes,
//! and a mode that accepts requests and never answers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the server answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// `200` with this message content, after `latency`.
    Answer { content: String, latency: Duration },
    /// These status codes for the first requests (in order), then `Answer`.
    FailFirst { statuses: Vec<u16>, content: String },
    /// Accepts every request and never answers.
    Hang,
    /// `200` with this message content once `gate` opens (or after [`GATE_LIMIT`], so that a test
    /// whose gate never opens fails on its own assertions instead of hanging).
    Gated { content: String, gate: Gate },
    /// Each request answered as the script says, after `latency`.
    Scripted { script: Script, latency: Duration },
}

/// What a scripted server answers one request with.
#[derive(Clone, Debug, PartialEq)]
pub enum Scripted {
    /// This error status.
    Status(u16),
    /// This error status with this body.
    Error(u16, String),
    /// `200` with an assistant message: text, tool calls `(name, arguments as JSON text)`, and a
    /// `finish_reason`.
    Reply {
        text: Option<String>,
        calls: Vec<(String, String)>,
        finish: String,
    },
}

impl Scripted {
    /// A reply calling these tools.
    pub fn calls(calls: &[(&str, &str)]) -> Scripted {
        Scripted::Reply {
            text: None,
            calls: calls
                .iter()
                .map(|(n, a)| (n.to_string(), a.to_string()))
                .collect(),
            finish: "tool_calls".into(),
        }
    }

    /// A reply with text and no tool call.
    pub fn text(text: &str) -> Scripted {
        Scripted::Reply {
            text: Some(text.into()),
            calls: Vec::new(),
            finish: "stop".into(),
        }
    }

    /// A reply cut off at the token cap (`finish_reason: "length"`).
    pub fn cut_off(text: &str) -> Scripted {
        Scripted::Reply {
            text: Some(text.into()),
            calls: Vec::new(),
            finish: "length".into(),
        }
    }
}

/// A script: from a request's body (JSON) to its answer.
#[derive(Clone)]
pub struct Script(pub Arc<dyn Fn(&serde_json::Value) -> Scripted + Send + Sync>);

impl Script {
    pub fn new(f: impl Fn(&serde_json::Value) -> Scripted + Send + Sync + 'static) -> Script {
        Script(Arc::new(f))
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Script")
    }
}

/// The agent a request comes from: the name in its system message's `You are NAME,`.
pub fn agent_of(request: &serde_json::Value) -> String {
    let system = request["messages"][0]["content"].as_str().unwrap_or("");
    system
        .split("You are ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("")
        .to_string()
}

/// The `tool` messages of a request, in order: what each earlier call of this turn answered.
pub fn tool_results(request: &serde_json::Value) -> Vec<serde_json::Value> {
    request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|m| m["role"] == "tool")
                .map(|m| {
                    let text = m["content"].as_str().unwrap_or("");
                    serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.into()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The tool names a request offers.
pub fn offered_tools(request: &serde_json::Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// How long a gated answer waits for its gate at most.
pub const GATE_LIMIT: Duration = Duration::from_secs(60);

/// A condition a gated answer waits for: something the test saw happen.
#[derive(Clone)]
pub struct Gate(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl Gate {
    pub fn new(open: impl Fn() -> bool + Send + Sync + 'static) -> Gate {
        Gate(Arc::new(open))
    }

    /// Waits until the gate opens, for [`GATE_LIMIT`] at most.
    fn wait(&self) {
        let until = Instant::now() + GATE_LIMIT;
        while !(self.0)() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

/// A running model server; stops when dropped.
pub struct ModelServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
    authorizations: Arc<Mutex<Vec<String>>>,
    /// When each request arrived, and when each answer had been sent.
    times: Arc<Mutex<(Vec<Instant>, Vec<Instant>)>>,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
}

impl ModelServer {
    /// Starts a server answering as `behaviour`.
    pub fn start(behaviour: Behaviour) -> ModelServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind a model server"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let times = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let (srv, count, kept, auth, halt, clock) = (
            server.clone(),
            requests.clone(),
            bodies.clone(),
            authorizations.clone(),
            stop.clone(),
            times.clone(),
        );
        std::thread::spawn(move || {
            // Requests held unanswered in `Hang`, until the server stops.
            let mut held = Vec::new();
            while !halt.load(Ordering::Relaxed) {
                let Ok(Some(mut request)) = srv.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let n = count.fetch_add(1, Ordering::SeqCst);
                clock.lock().unwrap().0.push(Instant::now());
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                kept.lock().unwrap().push(body);
                if let Some(h) = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                {
                    auth.lock().unwrap().push(h.value.to_string());
                }
                let scripted = match &behaviour {
                    Behaviour::Scripted { script, latency } => {
                        let last = kept.lock().unwrap().last().cloned().unwrap_or_default();
                        let request = serde_json::from_str(&last).unwrap_or_default();
                        Some(((script.0)(&request), *latency))
                    }
                    _ => None,
                };
                let (status, content, latency, gate) = match &behaviour {
                    Behaviour::Scripted { .. } => {
                        let (answer, latency) = scripted.clone().expect("a scripted answer");
                        let (status, body) = match answer {
                            Scripted::Status(status) => (status, String::new()),
                            Scripted::Error(status, body) => (status, body),
                            reply => (200, scripted_completion(&reply)),
                        };
                        (status, body, latency, None)
                    }
                    Behaviour::Hang => {
                        held.push(request);
                        continue;
                    }
                    Behaviour::Answer { content, latency } => {
                        (200, content.clone(), *latency, None)
                    }
                    Behaviour::FailFirst { statuses, content } => (
                        statuses.get(n).copied().unwrap_or(200),
                        content.clone(),
                        Duration::ZERO,
                        None,
                    ),
                    Behaviour::Gated { content, gate } => {
                        (200, content.clone(), Duration::ZERO, Some(gate.clone()))
                    }
                };
                // Each answer on a thread of its own, so that slow answers overlap.
                let clock = clock.clone();
                let scripted = scripted.is_some();
                std::thread::spawn(move || {
                    if let Some(gate) = gate {
                        gate.wait();
                    }
                    std::thread::sleep(latency);
                    let body = if scripted && (status == 200 || !content.is_empty()) {
                        // A scripted reply, or a scripted error's own body.
                        content
                    } else if status == 200 {
                        completion(&content)
                    } else {
                        format!("{{\"error\":{{\"message\":\"status {status}\"}}}}")
                    };
                    let response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .expect("a header"),
                        );
                    let _ = request.respond(response);
                    clock.lock().unwrap().1.push(Instant::now());
                });
            }
            drop(held);
        });
        ModelServer {
            port,
            requests,
            bodies,
            authorizations,
            times,
            server,
            stop,
        }
    }

    /// From the first request's arrival to the last answer sent: how long the model was busy
    /// with the run, however its requests overlapped. `None` before any answer.
    pub fn busy_span(&self) -> Option<Duration> {
        let times = self.times.lock().unwrap();
        let first = times.0.iter().min()?;
        let last = times.1.iter().max()?;
        Some(last.saturating_duration_since(*first))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// A gate that opens at this server's first request.
    pub fn requested(&self) -> Gate {
        let requests = self.requests.clone();
        Gate::new(move || requests.load(Ordering::SeqCst) > 0)
    }

    /// The bodies of the requests received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// The `Authorization` headers received so far.
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().unwrap().clone()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
    }
}

/// A chat-completions response whose one choice says `content`.
pub fn completion(content: &str) -> String {
    let content = serde_json::to_string(content).expect("a JSON string");
    format!(
        r#"{{"id":"chatcmpl-test","object":"chat.completion","model":"test","choices":[{{"index":0,"message":{{"role":"assistant","content":{content}}},"finish_reason":"stop"}}]}}"#
    )
}

/// A chat-completions response carrying a scripted reply, with a `usage`.
pub fn scripted_completion(reply: &Scripted) -> String {
    let Scripted::Reply {
        text,
        calls,
        finish,
    } = reply
    else {
        return String::new();
    };
    let calls: Vec<serde_json::Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            serde_json::json!({"id": format!("call_{i}"), "type": "function",
                "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    let mut message = serde_json::json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = serde_json::Value::Array(calls);
    }
    serde_json::json!({"id": "chatcmpl-test", "object": "chat.completion", "model": "test",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}})
    .to_string()
}
