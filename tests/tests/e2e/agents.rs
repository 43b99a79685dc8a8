//! Real agents side by side: concurrent runs, wall-clock turn limits, configuration and secrets,
//! write quotas and the other limits a hostile plugin runs into — through `arena run`'s library.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arena_host::plugin::{PluginEngine, PluginErrorKind, TurnOutcome};
use arena_host::run::{self, Manifest, Observer, RunControl};
use arena_host::types::{ArenaStatus, FactQuery};
use arena_host::{ArenaHost, plugin::TurnReport};
use arena_tests::fresh_host;
use arena_tests::model::{Behaviour, Gate, ModelServer};

fn guest(name: &str) -> String {
    PathBuf::from(env!("TEST_GUEST_DIR"))
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

/// What a run reported, kept as text: each turn's agent and outcome, each stop as a short tag
/// (`turn-timeout 800`, `output-full`, `fuel`, `interrupted`, `other: …`), and all output.
#[derive(Default)]
struct Log {
    /// The agents whose turns have started, in order, shared with the gates of [`Log::started`].
    starts: Arc<Mutex<Vec<String>>>,
    turns: Vec<(String, String)>,
    stops: Vec<(String, String)>,
    output: String,
}

impl Observer for Log {
    fn turn_started(&mut self, _plugin: &str, agent: &str, _turn: u32) {
        self.starts.lock().unwrap().push(agent.to_string());
    }

    fn turn_ended(&mut self, report: &TurnReport) {
        let outcome = match &report.outcome {
            TurnOutcome::Done(text) => format!("done: {text}"),
            TurnOutcome::Failed(text) => format!("failed: {text}"),
            TurnOutcome::Stopped(error) => {
                let tag = match &error.kind {
                    PluginErrorKind::TurnTimeout { limit_ms } => format!("turn-timeout {limit_ms}"),
                    PluginErrorKind::OutputFull { .. } => "output-full".into(),
                    PluginErrorKind::Deadline { .. } => "fuel".into(),
                    PluginErrorKind::Interrupted => "interrupted".into(),
                    other => format!("other: {other}"),
                };
                self.stops.push((report.agent.clone(), tag));
                format!("stopped: {error}")
            }
        };
        self.output.push_str(&report.output);
        self.turns.push((report.agent.clone(), outcome));
    }
}

impl Log {
    /// A gate that opens when a turn of `agent` has started.
    fn started(&self, agent: &str) -> Gate {
        let (starts, agent) = (self.starts.clone(), agent.to_string());
        Gate::new(move || starts.lock().unwrap().contains(&agent))
    }

    fn of(&self, agent: &str) -> Vec<&str> {
        self.turns
            .iter()
            .filter(|(a, _)| a == agent)
            .map(|(_, o)| o.as_str())
            .collect()
    }

    fn everything(&self) -> String {
        let turns: Vec<String> = self
            .turns
            .iter()
            .map(|(a, o)| format!("{a}: {o}"))
            .collect();
        format!("{}\n{}", turns.join("\n"), self.output)
    }
}

/// Runs `manifest` on `host`, returning the summary and the log.
fn run_manifest(host: &ArenaHost, manifest: &str) -> (run::RunSummary, Log) {
    run_logged(host, manifest, Log::default())
}

/// Runs `manifest` on `host` into `log`, returning the summary and the log.
fn run_logged(host: &ArenaHost, manifest: &str, mut log: Log) -> (run::RunSummary, Log) {
    let manifest = Manifest::parse(manifest).unwrap();
    let engine = PluginEngine::new().unwrap();
    let summary = run::run_with(
        host,
        &engine,
        &manifest,
        Path::new("."),
        &RunControl::new(),
        &mut log,
    )
    .unwrap();
    (summary, log)
}

/// A coordinator and a well-behaved worker finishing `steps` steps, plus `extra` plugin entries.
fn team(steps: u32, schedule: &str, extra: &str) -> String {
    format!(
        r#"
        [arena]
        goal = "finish beside a neighbour"
        steps = {steps}
        [run]
        schedule = "{schedule}"
        max_turns = 60
        [[plugin]]
        agent = "lead"
        role = "coordinator"
        component = "builtin:coordinator"
        idle_ms = 20
        [[plugin]]
        agent = "wendy"
        role = "worker"
        component = "builtin:worker"
        idle_ms = 20
        {extra}
        "#
    )
}

fn rogue(mode: &str, limits: &str) -> String {
    rogue_as("rogue", mode, limits)
}

/// The rogue plugin acting as `agent`.
fn rogue_as(agent: &str, mode: &str, limits: &str) -> String {
    format!(
        r#"
        [[plugin]]
        agent = "{agent}"
        role = "worker"
        component = {path:?}
        idle_ms = 20
        {limits}
        [plugin.config]
        mode = "{mode}"
        "#,
        path = guest("guest_rogue"),
    )
}

/// A concurrent team that cannot finish before `gate` opens, plus `extra` plugin entries: a
/// coordinator and one llm-worker whose model answers only then. (A team that may finish first
/// could archive the arena before the plugin under test even starts its turn.)
fn gated_team(gate: Gate, extra: &str) -> (ModelServer, String) {
    let model = ModelServer::start(Behaviour::Gated {
        content: ANSWER.into(),
        gate,
    });
    let manifest = format!("{}\n{extra}", llm_team(1, "concurrent", &model));
    (model, manifest)
}

/// What the test models answer the llm-worker.
const ANSWER: &str = r#"{"content": "a section", "fact": "sections are short", "confidence": 0.8}"#;

fn assert_finished_and_verified(host: &ArenaHost, summary: &run::RunSummary) {
    assert_eq!(
        summary.status,
        ArenaStatus::Archived,
        "the others did not finish"
    );
    let report = host.verify(&summary.arena).unwrap();
    assert_eq!(report.problem, None);
}

#[test]
fn a_model_that_never_answers_stops_its_plugin_at_the_turn_limit_and_the_others_finish() {
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Hang);
    // The fetcher asks the URL its arena's goal names: here, the model that never answers. The
    // others finish once it has asked.
    let (_team_model, manifest) = gated_team(
        model.requested(),
        &format!(
            r#"
        [[plugin]]
        agent = "asker"
        role = "observer"
        component = {path:?}
        turn_timeout_ms = 800
        allowed_outbound_hosts = ["{endpoint}"]
        "#,
            path = guest("guest_fetcher"),
            endpoint = model.endpoint(),
        ),
    );
    let manifest = manifest.replace(
        "write four independent sections",
        &format!("{}/v1/chat/completions", model.endpoint()),
    );
    let started = Instant::now();
    let (summary, log) = run_manifest(&host, &manifest);
    assert!(model.requests() >= 1, "the plugin never reached the model");
    assert_eq!(
        log.stops,
        vec![("asker".to_string(), "turn-timeout 800".to_string())],
        "{}",
        log.everything()
    );
    let text = log.everything();
    assert!(
        text.contains("turn_timeout_ms") && text.contains("800 ms"),
        "{text}"
    );
    assert!(summary.stopped.iter().any(|s| s.contains("asker")));
    assert_finished_and_verified(&host, &summary);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_sleeping_plugin_in_concurrent_is_stopped_at_its_turn_limit_and_the_others_finish() {
    let (_dir, host) = fresh_host();
    let log = Log::default();
    let agent = "slp-clim";
    let (_model, manifest) =
        gated_team(log.started(agent), &sleeper(agent, "turn_timeout_ms = 300"));
    let (summary, log) = run_logged(&host, &manifest, log);
    assert_eq!(
        log.stops,
        vec![(agent.to_string(), "turn-timeout 300".to_string())],
        "{}",
        log.everything()
    );
    assert_finished_and_verified(&host, &summary);
    assert_no_thread_left(agent);
}

#[test]
fn a_plugin_looping_on_host_calls_runs_out_of_fuel_they_are_charged() {
    let (_dir, host) = fresh_host();
    // 100 M fuel is 5,000 host calls at their price; uncharged, the loop would run until the
    // wall-clock limit (an hour here).
    let limits = "fuel = 100000000\nturn_timeout_ms = 3600000";
    let log = Log::default();
    let (_model, manifest) = gated_team(log.started("rogue"), &rogue("spin", limits));
    let (summary, log) = run_logged(&host, &manifest, log);
    assert_eq!(
        log.stops,
        vec![("rogue".to_string(), "fuel".to_string())],
        "{}",
        log.everything()
    );
    assert_finished_and_verified(&host, &summary);
}

#[test]
fn writes_past_the_turn_quota_are_refused_with_the_limit_named() {
    let (_dir, host) = fresh_host();
    let manifest = team(2, "rounds", &rogue("flood", "max_writes_per_turn = 50"));
    let (summary, log) = run_manifest(&host, &manifest);
    let rogue_turns = log.of("rogue");
    let first = rogue_turns
        .iter()
        .find(|t| t.contains("writes, then"))
        .unwrap_or_else(|| panic!("{}", log.everything()));
    assert!(
        first.starts_with("done: 50 writes, then ") && first.contains("LimitExceeded"),
        "{first}"
    );
    assert!(
        first.contains("max_writes_per_turn") && first.contains("limit: 50"),
        "{first}"
    );
    assert_finished_and_verified(&host, &summary);
}

#[test]
fn bytes_past_the_turn_quota_are_refused_with_the_limit_named() {
    let (_dir, host) = fresh_host();
    let manifest = team(
        2,
        "rounds",
        &rogue("flood", "max_write_bytes_per_turn = 40960"),
    );
    let (_summary, log) = run_manifest(&host, &manifest);
    let first = log
        .of("rogue")
        .into_iter()
        .find(|t| t.contains("writes, then"))
        .unwrap_or_else(|| panic!("{}", log.everything()));
    assert!(
        first.starts_with("done: 10 writes, then ") && first.contains("LimitExceeded"),
        "{first}"
    );
    assert!(first.contains("max_write_bytes_per_turn"), "{first}");
}

#[test]
fn an_oversized_turn_report_is_truncated_with_a_note_naming_the_cap() {
    let (_dir, host) = fresh_host();
    let (summary, log) = run_manifest(&host, &team(2, "rounds", &rogue("big-report", "")));
    let report = log.of("rogue")[0];
    assert!(report.len() < 70 << 10, "{} bytes kept", report.len());
    assert!(
        report.contains("report_bytes") && report.contains("1048576 bytes"),
        "…{}",
        &report[report.len() - 200..]
    );
    assert_finished_and_verified(&host, &summary);
}

#[test]
fn a_plugin_that_ignores_a_full_stdout_is_stopped_with_the_cap_named() {
    let (_dir, host) = fresh_host();
    let (summary, log) = run_manifest(
        &host,
        &team(2, "rounds", &rogue("spam", "output_bytes = 4096")),
    );
    assert_eq!(
        log.stops,
        vec![("rogue".to_string(), "output-full".to_string())],
        "{}",
        log.turns
            .iter()
            .map(|(a, o)| format!("{a}: {o}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let stop = log
        .of("rogue")
        .into_iter()
        .find(|t| t.starts_with("stopped"))
        .unwrap();
    assert!(
        stop.contains("output_bytes") && stop.contains("4096"),
        "{stop}"
    );
    assert_finished_and_verified(&host, &summary);
}

#[test]
fn a_secret_from_the_environment_appears_nowhere_even_when_the_plugin_leaks_it() {
    const SECRET: &str = "sk-test-4f1c9a7e2b";
    // SAFETY-free: the variable is unique to this test, and read only by this run.
    unsafe_free_set_env("ARENA_TEST_LEAKED_KEY", SECRET);
    let (dir, host) = fresh_host();
    let manifest = team(2, "rounds", &rogue("leak", "")).replace(
        "mode = \"leak\"",
        "mode = \"leak\"\n        api_key = { env = \"ARENA_TEST_LEAKED_KEY\" }",
    );
    let (summary, log) = run_manifest(&host, &manifest);
    let text = log.everything();
    assert!(
        text.contains("[redacted]"),
        "the plugin did not leak as planned: {text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    // Its writes carrying the secret were refused, with the reason, and changed nothing.
    assert!(
        text.contains("secret from the plugin's configuration"),
        "{text}"
    );
    let events = host.all_events(&summary.arena, 0).unwrap();
    assert!(events.iter().all(|e| !e.payload.contains(SECRET)));
    let facts = host
        .all_facts(
            Some(&summary.arena),
            &FactQuery {
                tag: None,
                text: None,
            },
        )
        .unwrap();
    assert!(facts.iter().all(|f| !f.content.contains(SECRET)));
    drop(host);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret reached the database files"
        );
    }
}

/// Sets a process environment variable the test alone reads (tests run in threads of one process,
/// so each uses a name of its own).
fn unsafe_free_set_env(name: &str, value: &str) {
    // Setting the environment is unsafe since edition 2024 because other threads may read it;
    // the run reads it through `std::env::var`, which takes the same lock.
    unsafe { std::env::set_var(name, value) }
}

#[test]
fn a_component_whose_exports_are_wrong_is_refused_before_any_arena_exists() {
    let (dir, host) = fresh_host();
    let truncated = dir.path().join("truncated.wasm");
    // The preamble of a component and nothing else: no `turn` export.
    std::fs::write(&truncated, [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]).unwrap();
    let manifest = Manifest::parse(&team(
        1,
        "rounds",
        &format!(
            "[[plugin]]\nagent = \"x\"\nrole = \"worker\"\ncomponent = {:?}",
            truncated.display().to_string()
        ),
    ))
    .unwrap();
    let engine = PluginEngine::new().unwrap();
    let error = run::run(&host, &engine, &manifest, Path::new("."), |_| {}).unwrap_err();
    assert!(error.to_string().contains("cannot be loaded"), "{error}");
    assert!(
        host.list(None, 10).unwrap().is_empty(),
        "an orphan arena was created"
    );
}

#[test]
fn sixty_four_plugins_run_side_by_side_with_no_step_lost_or_done_twice() {
    let (_dir, host) = fresh_host();
    let workers: String = (1..64)
        .map(|n| {
            format!(
                "[[plugin]]\nagent = \"w{n:02}\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\nidle_ms = 10\n"
            )
        })
        .collect();
    let manifest = format!(
        "[arena]\ngoal = \"many hands\"\nsteps = 200\n[run]\nmax_turns = 400\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\nidle_ms = 10\n{workers}"
    );
    let (summary, log) = run_manifest(&host, &manifest);
    assert!(log.stops.is_empty(), "{:?}", log.stops);
    assert_finished_and_verified(&host, &summary);
    let events = host.all_events(&summary.arena, 0).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "the log has a gap"
    );
    let mut steps: Vec<u64> = events
        .iter()
        .filter(|e| e.kind == "step-completed")
        .map(|e| {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            find_step(&payload).unwrap_or_else(|| panic!("no step in {}", e.payload))
        })
        .collect();
    steps.sort_unstable();
    assert_eq!(steps, (1..=200).collect::<Vec<_>>());
    let agents: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|e| e.kind == "step-completed")
        .map(|e| e.actor.as_str())
        .collect();
    assert!(
        agents.len() > 8,
        "only {} workers completed steps: no overlap",
        agents.len()
    );
}

/// The `step` number in a `step-completed` payload, wherever the envelope keeps it.
fn find_step(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Object(map) => map
            .get("step")
            .and_then(serde_json::Value::as_u64)
            .or_else(|| map.values().find_map(find_step)),
        _ => None,
    }
}

/// A pipeline of `workers` independent llm-worker stages (one step each) and a coordinator,
/// asking `model`.
fn llm_team(workers: usize, schedule: &str, model: &ModelServer) -> String {
    let stages: String = (1..=workers)
        .map(|n| format!("[[arena.stage]]\nagent = \"llm{n}\"\nsteps = \"{n}\"\n"))
        .collect();
    let plugins: String = (1..=workers)
        .map(|n| {
            format!(
                "[[plugin]]\nagent = \"llm{n}\"\nrole = \"worker\"\ncomponent = \"builtin:llm-worker\"\n\
                 idle_ms = 20\nallowed_outbound_hosts = [\"{endpoint}\"]\n\
                 [plugin.config]\nendpoint = \"{endpoint}\"\nmodel = \"test-model\"\n",
                endpoint = model.endpoint()
            )
        })
        .collect();
    format!(
        "[arena]\ngoal = \"write four independent sections\"\nsteps = {workers}\nstrategy = \"pipeline\"\n{stages}\
         [run]\nschedule = \"{schedule}\"\nmax_turns = 40\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\nidle_ms = 20\n{plugins}"
    )
}

/// Runs an llm team against a model answering after 300 ms; the model's busy span.
fn llm_run(engine: &PluginEngine, workers: usize, schedule: &str) -> Duration {
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Answer {
        content: ANSWER.into(),
        latency: Duration::from_millis(300),
    });
    let manifest = Manifest::parse(&llm_team(workers, schedule, &model)).unwrap();
    let mut log = Log::default();
    let summary = run::run_with(
        &host,
        engine,
        &manifest,
        Path::new("."),
        &RunControl::new(),
        &mut log,
    )
    .unwrap();
    assert_finished_and_verified(&host, &summary);
    assert_eq!(model.requests(), workers, "{}", log.everything());
    let facts = host
        .all_facts(
            Some(&summary.arena),
            &FactQuery {
                tag: None,
                text: None,
            },
        )
        .unwrap();
    assert_eq!(facts.len(), workers, "every worker shares its fact");
    model.busy_span().unwrap()
}

#[test]
fn idle_time_is_sat_out_only_when_nothing_happened_and_finished_workers_skip_the_others_writes() {
    // Every plugin may idle for ten minutes; the run's deadline is five (generous for a loaded
    // machine, short of ten). The coordinator settles,
    // merges and archives on three turns of its own in a row, with nobody else writing between
    // them: only a turn that wrote being followed by another at once lets it finish in time.
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Answer {
        content: ANSWER.into(),
        latency: Duration::from_millis(50),
    });
    let manifest = llm_team(4, "concurrent", &model)
        .replace("idle_ms = 20", "idle_ms = 600000")
        .replace("max_turns = 40", "max_turns = 40\ndeadline_ms = 300000");
    let (summary, log) = run_manifest(&host, &manifest);
    assert_finished_and_verified(&host, &summary);
    for n in 1..=4 {
        let agent = format!("llm{n}");
        let turns = log.of(&agent);
        let asked = turns
            .iter()
            .position(|t| t.contains("asked test-model"))
            .unwrap_or_else(|| panic!("{agent} never asked the model:\n{}", log.everything()));
        // After its slot is done, a worker is woken only by the arena's settling (its archiving
        // ends the run instead): one more turn at most, however many writes the others made. The
        // coordinator may archive while that turn starts.
        let after: Vec<&&str> = turns[asked + 1..].iter().collect();
        let lifecycle = |t: &&&str| t.contains("settling") || t.contains("archived");
        assert!(
            after.len() <= 1 && after.iter().all(lifecycle),
            "{agent} took turns after finishing: {after:?}\n{}",
            log.everything()
        );
    }
}

#[test]
fn four_model_calling_agents_overlap_when_concurrent_and_queue_in_rounds() {
    let engine = PluginEngine::new().unwrap();
    let one = llm_run(&engine, 1, "concurrent");
    let concurrent = llm_run(&engine, 4, "concurrent");
    let rounds = llm_run(&engine, 4, "rounds");
    let (c, r) = (
        concurrent.as_secs_f64() / one.as_secs_f64(),
        rounds.as_secs_f64() / one.as_secs_f64(),
    );
    eprintln!(
        "model busy span: one worker {one:?}; four concurrent {concurrent:?} ({c:.2}×); \
         four in rounds {rounds:?} ({r:.2}×)"
    );
    assert!(
        c <= 1.5,
        "concurrent took {c:.2}× one worker's time ({concurrent:?} vs {one:?})"
    );
    assert!(
        r >= 3.5,
        "rounds took only {r:.2}× one worker's time ({rounds:?} vs {one:?})"
    );
}

#[test]
fn the_llm_worker_retries_a_busy_model_and_sends_its_key_only_to_the_model() {
    const KEY: &str = "sk-llm-key-5e1d";
    unsafe_free_set_env("ARENA_TEST_LLM_KEY", KEY);
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::FailFirst {
        statuses: vec![429, 503],
        content: "plain text, not JSON".into(),
    });
    let manifest = llm_team(1, "rounds", &model).replace(
        "model = \"test-model\"",
        "model = \"test-model\"\napi_key = { env = \"ARENA_TEST_LLM_KEY\" }",
    );
    let (summary, log) = run_manifest(&host, &manifest);
    assert_finished_and_verified(&host, &summary);
    assert_eq!(model.requests(), 3, "{}", log.everything());
    assert!(
        model
            .authorizations()
            .iter()
            .all(|a| a == &format!("Bearer {KEY}"))
    );
    assert!(!log.everything().contains(KEY));
    let slots = host.slots(&summary.arena).unwrap();
    let drafted = slots.iter().find(|s| s.agent == "llm1").unwrap();
    assert_eq!(drafted.artifacts[0].content, "plain text, not JSON");
}

#[test]
fn the_run_deadline_interrupts_the_turn_in_flight_in_either_schedule() {
    for schedule in ["rounds", "concurrent"] {
        let (_dir, host) = fresh_host();
        let limits = "fuel = 1000000000000\nturn_timeout_ms = 3600000";
        let rogue = rogue("spin", limits);
        let log = Log::default();
        // In rounds the rogue takes its turn in the first round; a concurrent team must wait for it.
        let (_model, manifest) = match schedule {
            "rounds" => (None, team(2, schedule, &rogue)),
            _ => {
                let (model, manifest) = gated_team(log.started("rogue"), &rogue);
                (Some(model), manifest)
            }
        };
        let manifest = manifest.replace("[run]", "[run]\ndeadline_ms = 1500");
        let started = Instant::now();
        let (summary, log) = run_logged(&host, &manifest, log);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{schedule}: the deadline did not hold"
        );
        assert!(
            log.stops
                .contains(&("rogue".to_string(), "interrupted".to_string())),
            "{schedule}: {}",
            log.everything()
        );
        assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
    }
}

/// A plugin acting as `agent` that sleeps in WASI for an hour, with the limits `limits`.
fn sleeper(agent: &str, limits: &str) -> String {
    rogue_as(agent, "sleep", limits)
}

/// How many threads of this process run `agent`'s plugin: its turn threads and its lane are named
/// `plugin AGENT`, of which the kernel keeps the first 15 bytes.
fn plugin_threads(agent: &str) -> usize {
    let name: String = format!("plugin {agent}").chars().take(15).collect();
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Asserts that the run left nothing of `agent`'s plugin running: its sleep was ended, not given
/// up on (a plugin given up on keeps its thread, and its Store, until it wakes).
fn assert_no_thread_left(agent: &str) {
    if cfg!(target_os = "linux") {
        assert_eq!(
            plugin_threads(agent),
            0,
            "{agent}'s plugin is still running"
        );
    }
}

/// Runs `manifest` with a control a thread stops once `agent`'s turn has started.
fn run_stopped_when_started(
    host: &ArenaHost,
    manifest: &str,
    agent: &str,
    log: Log,
) -> (Duration, Log) {
    let manifest = Manifest::parse(manifest).unwrap();
    let engine = PluginEngine::new().unwrap();
    let control = RunControl::new();
    let (stopper, starts, agent) = (control.clone(), log.starts.clone(), agent.to_string());
    let watcher = std::thread::spawn(move || {
        while !starts.lock().unwrap().contains(&agent) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Well inside the sleep: the turn is blocked in WASI, not on its way there.
        std::thread::sleep(Duration::from_millis(300));
        stopper.stop();
    });
    let mut log = log;
    let started = Instant::now();
    let summary =
        run::run_with(host, &engine, &manifest, Path::new("."), &control, &mut log).unwrap();
    let elapsed = started.elapsed();
    watcher.join().unwrap();
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
    (elapsed, log)
}

#[test]
fn a_sleeping_plugin_in_rounds_is_stopped_at_its_turn_limit_and_the_others_finish() {
    let (_dir, host) = fresh_host();
    let agent = "slp-rlim";
    let manifest = team(2, "rounds", &sleeper(agent, "turn_timeout_ms = 300"));
    let (summary, log) = run_manifest(&host, &manifest);
    assert_eq!(
        log.stops,
        vec![(agent.to_string(), "turn-timeout 300".to_string())],
        "{}",
        log.everything()
    );
    assert!(summary.stopped.iter().any(|s| s.contains(agent)));
    assert_finished_and_verified(&host, &summary);
    assert_no_thread_left(agent);
}

#[test]
fn a_sleeping_plugin_in_rounds_is_cut_at_the_run_deadline() {
    let (_dir, host) = fresh_host();
    let agent = "slp-rdl";
    let manifest = team(2, "rounds", &sleeper(agent, "turn_timeout_ms = 3600000"))
        .replace("[run]", "[run]\ndeadline_ms = 1500");
    let started = Instant::now();
    let (summary, log) = run_manifest(&host, &manifest);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the deadline did not hold: {:?}",
        started.elapsed()
    );
    assert_eq!(
        log.stops,
        vec![(agent.to_string(), "interrupted".to_string())],
        "{}",
        log.everything()
    );
    assert!(summary.stopped.iter().any(|s| s.contains(agent)));
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
    assert_no_thread_left(agent);
}

#[test]
fn a_sleeping_plugin_in_rounds_is_cut_when_the_run_is_stopped() {
    let (_dir, host) = fresh_host();
    let agent = "slp-rstp";
    let manifest = team(2, "rounds", &sleeper(agent, "turn_timeout_ms = 3600000"));
    let (elapsed, log) = run_stopped_when_started(&host, &manifest, agent, Log::default());
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert_eq!(
        log.stops,
        vec![(agent.to_string(), "interrupted".to_string())],
        "{}",
        log.everything()
    );
    assert_no_thread_left(agent);
}

#[test]
fn a_sleeping_plugin_in_concurrent_is_cut_at_the_run_deadline() {
    let (_dir, host) = fresh_host();
    let log = Log::default();
    let agent = "slp-cdl";
    let (_model, manifest) = gated_team(
        log.started(agent),
        &sleeper(agent, "turn_timeout_ms = 3600000"),
    );
    let manifest = manifest.replace("[run]", "[run]\ndeadline_ms = 1500");
    let started = Instant::now();
    let (summary, log) = run_logged(&host, &manifest, log);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the deadline did not hold: {:?}",
        started.elapsed()
    );
    assert_eq!(
        log.stops,
        vec![(agent.to_string(), "interrupted".to_string())],
        "{}",
        log.everything()
    );
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
    assert_no_thread_left(agent);
}

#[test]
fn a_sleeping_plugin_in_concurrent_is_cut_when_the_run_is_stopped() {
    let (_dir, host) = fresh_host();
    let log = Log::default();
    let agent = "slp-cstp";
    let (_model, manifest) = gated_team(
        log.started(agent),
        &sleeper(agent, "turn_timeout_ms = 3600000"),
    );
    let (elapsed, log) = run_stopped_when_started(&host, &manifest, agent, log);
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert!(
        log.stops
            .contains(&(agent.to_string(), "interrupted".to_string())),
        "{}",
        log.everything()
    );
    assert_no_thread_left(agent);
}

#[test]
fn a_team_whose_memory_caps_sum_past_the_run_memory_cap_runs_while_what_it_holds_fits() {
    let (_dir, host) = fresh_host();
    // Three plugins at the default 64 MiB each may hold 192 MiB; they hold a few.
    let extra = r#"
        [[plugin]]
        agent = "walt"
        role = "worker"
        component = "builtin:worker"
        idle_ms = 20
        "#;
    let manifest = team(2, "rounds", extra).replace("[run]", "[run]\nmemory_mb = 100");
    let (summary, log) = run_manifest(&host, &manifest);
    assert!(log.stops.is_empty(), "{}", log.everything());
    assert_finished_and_verified(&host, &summary);
}

#[test]
fn memory_growth_past_the_team_cap_is_refused_naming_the_key_and_the_others_finish() {
    let (_dir, host) = fresh_host();
    // Far from its own cap, the hog runs into the team's.
    let hog = format!(
        r#"
        [[plugin]]
        agent = "hog"
        role = "worker"
        component = {path:?}
        memory_mb = 256
        "#,
        path = guest("guest_memory_hog"),
    );
    let manifest = team(2, "rounds", &hog).replace("[run]", "[run]\nmemory_mb = 48");
    let (summary, log) = run_manifest(&host, &manifest);
    let [(agent, stop)] = log.stops.as_slice() else {
        panic!("{}", log.everything());
    };
    assert_eq!(agent, "hog");
    assert!(
        stop.starts_with("other: was stopped: it tried to grow its memory by ")
            && stop.ends_with(", over the team's cap of 50331648 bytes ([run] memory_mb)"),
        "{stop}"
    );
    // Its Store went with it, and the memory it held back to the team: the others finish.
    assert_finished_and_verified(&host, &summary);
}

#[test]
fn a_subscriber_asleep_in_a_delivery_in_rounds_is_stopped_at_its_turn_limit() {
    let (_dir, host) = fresh_host();
    let watcher = format!(
        r#"
        [[plugin]]
        agent = "slp-sub"
        role = "observer"
        component = {path:?}
        turn_timeout_ms = 300
        [plugin.config]
        mode = "sleep"
        "#,
        path = guest("guest_bad_subscriber"),
    );
    let (summary, log) = run_manifest(&host, &team(2, "rounds", &watcher));
    assert_eq!(
        log.stops,
        vec![("slp-sub".to_string(), "turn-timeout 300".to_string())],
        "{}",
        log.everything()
    );
    assert!(summary.stopped.iter().any(|s| s.contains("slp-sub")));
    assert_finished_and_verified(&host, &summary);
    assert_no_thread_left("slp-sub");
}
