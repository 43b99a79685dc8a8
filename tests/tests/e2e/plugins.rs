//! Real plugin components, linked with exactly their grant, in sandboxes of their own.

use std::path::PathBuf;
use std::sync::Arc;

use arena_host::ArenaHost;
use arena_host::plugin::{
    PluginEngine, PluginError, PluginErrorKind, PluginSpec, TurnOutcome, TurnReport,
};
use arena_host::run::{self, BUILTIN_PLUGINS, Manifest, RunError};
use arena_host::types::{ArenaStatus, Permission};
use arena_tests::{arena_in, event_count, fresh_host};

fn builtin(name: &str) -> Arc<[u8]> {
    let (_, bytes) = BUILTIN_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("built-in plugin");
    Arc::from(*bytes)
}

fn guest_path(name: &str) -> PathBuf {
    PathBuf::from(env!("TEST_GUEST_DIR")).join(format!("{name}.wasm"))
}

fn spec(name: &str, agent: &str, component: Arc<[u8]>) -> PluginSpec {
    PluginSpec::new(name, agent, component)
}

#[test]
fn a_worker_plugin_completes_steps_as_the_agent_it_is_bound_to() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let engine = PluginEngine::new().unwrap();
    let mut worker = engine
        .load(
            &spec("worker", "wendy", builtin("worker")),
            host.handle(&id, "wendy").unwrap(),
        )
        .unwrap();
    for turn in 1..=2 {
        match worker.turn(turn).outcome {
            TurnOutcome::Done(report) => assert!(
                report.starts_with(&format!("completed step {turn}")),
                "{report}"
            ),
            other => panic!("turn {turn}: {other:?}"),
        }
    }
    assert_eq!(host.get(&id).unwrap().aggregate.completed_steps, 2);
    let steps: Vec<_> = host
        .all_events(&id, 0)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "step-completed")
        .collect();
    assert_eq!(steps.len(), 2);
    assert!(
        steps.iter().all(|e| e.actor == "wendy"),
        "a plugin acted as someone else"
    );
}

#[test]
fn a_worker_plugin_under_an_observer_grant_is_refused_before_it_is_compiled() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let before = event_count(&host, &id);
    let engine = PluginEngine::new().unwrap();
    let error = engine
        .load(
            &spec("worker.wasm", "otto", builtin("worker")),
            host.handle(&id, "otto").unwrap(),
        )
        .err()
        .expect("an observer grant must not run a worker");
    match &error {
        PluginError {
            agent,
            kind:
                PluginErrorKind::NotGranted {
                    interface,
                    permission,
                },
            ..
        } => {
            assert_eq!(agent, "otto");
            assert_eq!(interface, "arena:core/contribute@0.1.0");
            assert_eq!(*permission, Permission::Contribute);
        }
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("otto")
            && message.contains("contribute")
            && message.contains("worker.wasm"),
        "{message}"
    );
    assert_eq!(
        engine.compiled_components(),
        0,
        "the refused plugin was compiled"
    );
    assert_eq!(event_count(&host, &id), before);
}

#[test]
fn a_plugin_of_the_full_agent_world_that_only_observes_loads_under_an_observer_grant() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let engine = PluginEngine::new().unwrap();
    let handle = host.handle(&id, "otto").unwrap();
    assert_eq!(
        handle.grant(),
        &[Permission::Observe, Permission::ReadSlots]
    );
    let mut observer = engine
        .load(&spec("observer", "otto", builtin("observer")), handle)
        .unwrap();
    match observer.turn(1).outcome {
        TurnOutcome::Done(report) => assert!(report.starts_with("active, 0/5 steps"), "{report}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_component_is_compiled_once_and_instantiated_from_the_cached_pre() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let engine = PluginEngine::new().unwrap();
    for agent in ["wendy", "lead", "wendy"] {
        engine
            .load(
                &spec("worker", agent, builtin("worker")),
                host.handle(&id, agent).unwrap(),
            )
            .unwrap();
    }
    assert_eq!(engine.compiled_components(), 1);
}

#[test]
fn an_import_of_an_ungranted_interface_is_refused() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let bytes: Arc<[u8]> = std::fs::read(guest_path("guest_usurper")).unwrap().into();
    let error = PluginEngine::new()
        .unwrap()
        .load(
            &spec("usurper", "wendy", bytes),
            host.handle(&id, "wendy").unwrap(),
        )
        .err()
        .unwrap();
    assert!(
        matches!(&error.kind, PluginErrorKind::NotGranted { permission: Permission::Coordinate, interface } if interface == "arena:core/coordinate@0.1.0"),
        "{error:?}"
    );
}

#[test]
fn an_import_of_our_interface_at_another_version_is_refused() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let bytes: Arc<[u8]> = std::fs::read(guest_path("guest_other_version"))
        .unwrap()
        .into();
    let error = PluginEngine::new()
        .unwrap()
        .load(
            &spec("future", "lead", bytes),
            host.handle(&id, "lead").unwrap(),
        )
        .err()
        .unwrap();
    match &error.kind {
        PluginErrorKind::UnknownImport { interface, reason } => {
            assert_eq!(interface, "arena:core/observe@0.2.0");
            assert!(reason.contains("0.1.0"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_turn_export_with_the_wrong_signature_is_refused_before_the_arena_is_created() {
    let (_dir, host) = fresh_host();
    let manifest = Manifest::parse(&format!(
        "[arena]\ngoal = \"g\"\nsteps = 1\n[run]\nschedule = \"rounds\"\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
         [[plugin]]\nagent = \"w\"\nrole = \"worker\"\ncomponent = {:?}\n",
        guest_path("guest_wrong_turn").display().to_string()
    ))
    .unwrap();
    let engine = PluginEngine::new().unwrap();
    let error = run::run(&host, &engine, &manifest, std::path::Path::new("."), |_| {})
        .err()
        .unwrap();
    let RunError::Plugin(error) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(error.agent, "w");
    let PluginErrorKind::Invalid { message } = &error.kind else {
        panic!("{error:?}")
    };
    assert_eq!(
        message,
        "its export `arena:core/plugin@0.1.0#turn` is `func(string) -> result<string, string>`, \
         not `func(u32) -> result<string, string>`"
    );
    assert!(!error.to_string().contains("trapped"), "{error}");
    assert_eq!(
        host.list(None, 10).unwrap().len(),
        0,
        "an arena was created"
    );
}

/// Runs a coordinator, the hostile plugin as worker `hostile`, and a well-behaved worker together.
fn run_beside_a_worker(
    host: &ArenaHost,
    hostile: &str,
    limits: &str,
) -> (run::RunSummary, Vec<TurnReport>) {
    let manifest = Manifest::parse(&format!(
        r#"
        [arena]
        goal = "survive a hostile neighbour"
        steps = 4
        [run]
        # Lockstep: each hostile guest acts on the turn number, which only rounds make repeatable.
        schedule = "rounds"
        max_rounds = 10
        [[plugin]]
        agent = "lead"
        role = "coordinator"
        component = "builtin:coordinator"
        [[plugin]]
        agent = "hostile"
        role = "worker"
        component = {path:?}
        {limits}
        [[plugin]]
        agent = "wendy"
        role = "worker"
        component = "builtin:worker"
        "#,
        path = guest_path(hostile).display().to_string(),
    ))
    .unwrap();
    let engine = PluginEngine::new().unwrap();
    let mut reports = Vec::new();
    let summary = run::run(host, &engine, &manifest, std::path::Path::new("."), |r| {
        reports.push(TurnReport {
            plugin: r.plugin.clone(),
            agent: r.agent.clone(),
            turn: r.turn,
            outcome: match &r.outcome {
                TurnOutcome::Done(s) => TurnOutcome::Done(s.clone()),
                TurnOutcome::Failed(s) => TurnOutcome::Failed(s.clone()),
                TurnOutcome::Stopped(e) => TurnOutcome::Failed(format!("STOPPED {e}")),
            },
            output: r.output.clone(),
            fuel: r.fuel,
        })
    })
    .unwrap();
    (summary, reports)
}

fn hostile_stop(reports: &[TurnReport]) -> String {
    let stops: Vec<&TurnReport> = reports
        .iter()
        .filter(|r| {
            r.agent == "hostile"
                && matches!(&r.outcome, TurnOutcome::Failed(t) if t.starts_with("STOPPED"))
        })
        .collect();
    assert_eq!(
        stops.len(),
        1,
        "the hostile plugin must be stopped exactly once"
    );
    match &stops[0].outcome {
        TurnOutcome::Failed(text) => text.clone(),
        _ => unreachable!(),
    }
}

fn assert_others_finished(host: &ArenaHost, summary: &run::RunSummary) {
    assert_eq!(
        summary.status,
        ArenaStatus::Archived,
        "the well-behaved plugins did not finish"
    );
    assert_eq!(summary.stopped.len(), 1);
    let info = host.get(&summary.arena).unwrap();
    assert_eq!(info.aggregate.completed_steps, 4);
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
}

fn hostile_events(host: &ArenaHost, arena: &str) -> Vec<String> {
    host.all_events(arena, 0)
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "hostile")
        .map(|e| e.kind)
        .collect()
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline() {
    let (_dir, host) = fresh_host();
    let (summary, reports) = run_beside_a_worker(&host, "guest_looper", "fuel = 20_000_000");
    let stop = hostile_stop(&reports);
    assert!(
        stop.contains("hostile") && stop.contains("guest_looper") && stop.contains("20000000 fuel"),
        "{stop}"
    );
    assert!(hostile_events(&host, &summary.arena).is_empty());
    assert_others_finished(&host, &summary);
}

#[test]
fn unbounded_memory_growth_is_stopped_at_the_cap() {
    let (_dir, host) = fresh_host();
    let (summary, reports) = run_beside_a_worker(&host, "guest_memory_hog", "memory_mb = 16");
    let stop = hostile_stop(&reports);
    assert!(
        stop.contains("hostile") && stop.contains("over the cap of 16777216 bytes"),
        "{stop}"
    );
    assert!(hostile_events(&host, &summary.arena).is_empty());
    assert_others_finished(&host, &summary);
}

#[test]
fn a_trap_mid_turn_keeps_what_was_acknowledged_and_nothing_after() {
    let (_dir, host) = fresh_host();
    let (summary, reports) = run_beside_a_worker(&host, "guest_trapper", "");
    let stop = hostile_stop(&reports);
    assert!(
        stop.contains("hostile") && stop.contains("trapped"),
        "{stop}"
    );
    assert!(
        stop.contains("wasm backtrace"),
        "the trap report lacks its backtrace: {stop}"
    );
    // The turn that trapped (in a concurrent run, earlier turns may have found the arena not yet
    // active).
    let trap_turn = reports
        .iter()
        .find(|r| {
            r.agent == "hostile"
                && matches!(&r.outcome, TurnOutcome::Failed(t) if t.starts_with("STOPPED"))
        })
        .unwrap();
    assert!(
        trap_turn.output.contains("the trapper traps here"),
        "panic message not captured: {:?}",
        trap_turn.output
    );
    // The step it completed before trapping was acknowledged; the progress it never reached is absent.
    assert_eq!(hostile_events(&host, &summary.arena), ["step-completed"]);
    assert_others_finished(&host, &summary);
}

#[test]
fn a_multi_megabyte_argument_is_stopped_at_the_host() {
    let (_dir, host) = fresh_host();
    let (summary, reports) = run_beside_a_worker(&host, "guest_big_arg", "");
    let stop = hostile_stop(&reports);
    assert!(
        stop.contains("hostile")
            && stop.contains("8388608 bytes to `report-progress`")
            && stop.contains("131072"),
        "{stop}"
    );
    assert!(hostile_events(&host, &summary.arena).is_empty());
    assert_others_finished(&host, &summary);
}

#[test]
fn a_run_with_an_ungranted_plugin_is_refused_before_any_arena_exists() {
    let (_dir, host) = fresh_host();
    let manifest = Manifest::parse(&format!(
        "[arena]\ngoal = \"g\"\nsteps = 2\n[[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n[[plugin]]\nagent = \"otto\"\nrole = \"observer\"\ncomponent = {:?}\n",
        guest_path("guest_usurper").display().to_string()
    ))
    .unwrap();
    let error = run::run(
        &host,
        &PluginEngine::new().unwrap(),
        &manifest,
        std::path::Path::new("."),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            RunError::Plugin(PluginError {
                kind: PluginErrorKind::NotGranted { .. },
                ..
            })
        ),
        "{error:?}"
    );
    assert!(
        host.list(None, 10).unwrap().is_empty(),
        "a refused run created an arena"
    );
}

#[test]
fn resuming_a_run_never_recreates_the_arena() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let manifest = Manifest::parse(&format!(
        "[arena]\nid = {id:?}\n[run]\nmax_rounds = 20\n[[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n[[plugin]]\nagent = \"wendy\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n"
    ))
    .unwrap();
    let summary = run_quietly(&host, &manifest);
    assert_eq!(summary.arena, id);
    assert_eq!(summary.status, ArenaStatus::Archived);
    assert_eq!(host.list(None, 10).unwrap().len(), 1);
}

/// A one-shot HTTP server on 127.0.0.1 that answers the first connection with `body`.
struct LocalServer {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl LocalServer {
    /// Stops the server and returns how many connections it accepted.
    fn connections(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Starts a [`LocalServer`]; it stops by itself after one connection or ten seconds.
fn local_server(body: &'static str) -> LocalServer {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut accepted = 0;
        while std::time::Instant::now() < deadline
            && accepted == 0
            && !stopped.load(std::sync::atomic::Ordering::Relaxed)
        {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    accepted += 1;
                    stream.set_nonblocking(false).unwrap();
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        accepted
    });
    LocalServer { port, stop, thread }
}

fn fetcher_in(
    host: &ArenaHost,
    url: &str,
    allowed: Vec<String>,
) -> Result<arena_host::plugin::Plugin, PluginError> {
    let mut config = arena_tests::config(1);
    config.goal = url.to_string();
    let id = host.create(&config).unwrap();
    let bytes: Arc<[u8]> = std::fs::read(guest_path("guest_fetcher")).unwrap().into();
    let mut spec = spec("fetcher", "otto", bytes);
    spec.allowed_outbound_hosts = allowed;
    PluginEngine::new()
        .unwrap()
        .load(&spec, host.handle(&id, "otto").unwrap())
}

#[test]
fn an_allowed_outbound_host_is_reachable() {
    let (_dir, host) = fresh_host();
    let server = local_server("hello from the test server");
    let port = server.port;
    let allowed = vec![format!("http://127.0.0.1:{port}")];
    let mut fetcher =
        fetcher_in(&host, &format!("http://127.0.0.1:{port}/hello"), allowed).unwrap();
    match fetcher.turn(1).outcome {
        TurnOutcome::Done(report) => assert_eq!(report, "200 hello from the test server"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn any_other_outbound_host_is_refused_before_connecting() {
    let (_dir, host) = fresh_host();
    let allowed_server = local_server("allowed");
    let other_server = local_server("must not be reached");
    let allowed = vec![format!("http://127.0.0.1:{}", allowed_server.port)];
    let url = format!("http://127.0.0.1:{}/secret", other_server.port);
    let mut fetcher = fetcher_in(&host, &url, allowed).unwrap();
    match fetcher.turn(1).outcome {
        TurnOutcome::Failed(text) => assert!(text.contains("HttpRequestDenied"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        other_server.connections(),
        0,
        "a refused request reached the server"
    );
    assert_eq!(allowed_server.connections(), 0);
}

#[test]
fn a_plugin_without_outbound_hosts_cannot_import_wasi_http() {
    let (_dir, host) = fresh_host();
    let error = fetcher_in(&host, "http://127.0.0.1:9/", Vec::new())
        .err()
        .unwrap();
    match &error.kind {
        PluginErrorKind::UnknownImport { interface, reason } => {
            assert!(interface.starts_with("wasi:http/"), "{interface}");
            assert!(reason.contains("outbound"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// Runs `manifest` on `host` with a fresh plugin engine, ignoring the turn reports.
fn run_quietly(host: &ArenaHost, manifest: &Manifest) -> run::RunSummary {
    run::run(
        host,
        &PluginEngine::new().unwrap(),
        manifest,
        std::path::Path::new("."),
        |_| {},
    )
    .unwrap()
}

fn subscriber_manifest(arena: &str, extra: &str, rounds: u32) -> Manifest {
    Manifest::parse(&format!(
        r#"
        [arena]
        {arena}
        [run]
        max_rounds = {rounds}
        [[plugin]]
        agent = "lead"
        role = "coordinator"
        component = "builtin:coordinator"
        [[plugin]]
        agent = "wendy"
        role = "worker"
        component = "builtin:worker"
        [[plugin]]
        agent = "eve"
        role = "observer"
        component = {good:?}
        {extra}
        "#,
        good = guest_path("guest_subscriber").display().to_string(),
    ))
    .unwrap()
}

/// Asserts that `agent`'s accepted batches cover events 1..=head exactly once, in order.
fn assert_exactly_once(batches: &[&run::Delivered], head: u64) {
    let mut next = 1;
    for batch in batches {
        assert_eq!(
            batch.first, next,
            "a gap or a duplicate before event {next}: {batches:?}"
        );
        assert!(
            batch.last >= batch.first && batch.last - batch.first < u64::from(run::DELIVERY_BATCH)
        );
        next = batch.last + 1;
    }
    assert_eq!(
        next,
        head + 1,
        "the subscriber did not catch up with the log"
    );
}

#[test]
fn a_subscriber_receives_every_event_exactly_once_in_order_across_a_restart() {
    let (_dir, host) = fresh_host();
    let first = run_quietly(
        &host,
        &subscriber_manifest("goal = \"g\"\nsteps = 6", "", 2),
    );
    assert_eq!(
        first.status,
        ArenaStatus::Active,
        "the first run must stop half-way"
    );
    let resumed = subscriber_manifest(&format!("id = {:?}", first.arena), "", 20);
    // A new run: a new engine and new plugin instances; only the database carries over.
    let second = run_quietly(&host, &resumed);
    assert_eq!(second.status, ArenaStatus::Archived);
    let head = host.get(&first.arena).unwrap().last_seq;
    let batches: Vec<&run::Delivered> = first
        .delivered
        .iter()
        .chain(&second.delivered)
        .filter(|d| d.agent == "eve")
        .collect();
    assert!(
        first.delivered.iter().any(|d| d.agent == "eve"),
        "nothing was delivered before the restart"
    );
    assert_exactly_once(&batches, head);
    assert_eq!(host.cursor(&first.arena, "eve").unwrap(), head);
}

#[test]
fn a_trapping_subscriber_does_not_disturb_the_others() {
    let (_dir, host) = fresh_host();
    let bad = format!(
        "[[plugin]]\nagent = \"mallet\"\nrole = \"observer\"\ncomponent = {:?}\n",
        guest_path("guest_bad_subscriber").display().to_string()
    );
    let summary = run_quietly(
        &host,
        &subscriber_manifest("goal = \"g\"\nsteps = 4", &bad, 20),
    );
    assert_eq!(summary.status, ArenaStatus::Archived);
    assert_eq!(summary.stopped.len(), 1);
    assert!(summary.stopped[0].contains("mallet"));
    let head = host.get(&summary.arena).unwrap().last_seq;
    let eve: Vec<&run::Delivered> = summary
        .delivered
        .iter()
        .filter(|d| d.agent == "eve")
        .collect();
    assert_exactly_once(&eve, head);
    assert_eq!(
        host.cursor(&summary.arena, "mallet").unwrap(),
        0,
        "a trapped batch moved the cursor"
    );
}

#[test]
fn a_plugin_without_observe_receives_no_events() {
    let (_dir, host) = fresh_host();
    let blind = format!(
        "[[plugin]]\nagent = \"blind\"\nrole = \"observer\"\npermissions = [\"read-slots\"]\ncomponent = {:?}\n",
        guest_path("guest_subscriber").display().to_string()
    );
    let summary = run_quietly(
        &host,
        &subscriber_manifest("goal = \"g\"\nsteps = 2", &blind, 20),
    );
    assert_eq!(summary.status, ArenaStatus::Archived);
    assert!(summary.delivered.iter().all(|d| d.agent != "blind"));
    assert!(summary.delivered.iter().any(|d| d.agent == "eve"));
    assert_eq!(host.cursor(&summary.arena, "blind").unwrap(), 0);
}

#[test]
fn a_tampered_compilation_cache_is_ignored_and_rewritten() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let cache = tempfile::tempdir().unwrap();
    let load = || {
        let engine = PluginEngine::new().unwrap().with_cache(cache.path());
        let mut worker = engine
            .load(
                &spec("worker", "wendy", builtin("worker")),
                host.handle(&id, "wendy").unwrap(),
            )
            .unwrap();
        assert!(matches!(worker.turn(1).outcome, TurnOutcome::Done(_)));
    };
    load();
    let artifact = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("the compiled worker was cached");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    load(); // must not deserialize the tampered file
    assert_ne!(
        std::fs::read(&artifact).unwrap(),
        bytes,
        "the tampered artifact was not replaced"
    );
}

/// The demo's three-stage pipeline, run by the sample plugins: ada drafts, bob reviews after her, cy
/// signs off after both, lead merges and archives.
#[test]
fn a_three_stage_pipeline_of_plugins_hands_work_over_and_archives() {
    let (_dir, host) = fresh_host();
    let manifest = Manifest::parse(run::DEMO_MANIFEST).unwrap();
    let mut failures = Vec::new();
    let summary = run::run(
        &host,
        &PluginEngine::new().unwrap(),
        &manifest,
        std::path::Path::new("."),
        |r| {
            if !matches!(r.outcome, TurnOutcome::Done(_)) {
                failures.push(format!("{} turn {}: {:?}", r.agent, r.turn, r.outcome));
            }
        },
    )
    .unwrap();
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(summary.status, ArenaStatus::Archived);
    let info = host.get(&summary.arena).unwrap();
    let report = info.report.expect("an archived arena has its report");
    assert_eq!(report.outcome, arena_host::types::Outcome::Completed);
    assert_eq!((report.completed_steps, report.total_steps), (6, 6));
    // 3 drafts, 2 reviews, 1 sign-off and the merge; one fact per stage.
    assert_eq!((report.artifacts, report.merges, report.facts), (7, 1, 3));
    assert_eq!(report.events, info.last_seq);
    let shares: Vec<(&str, u32, u32, u32)> = report
        .contributions
        .iter()
        .map(|c| (c.agent.as_str(), c.steps, c.artifacts, c.facts))
        .collect();
    assert_eq!(
        shares,
        [
            ("ada", 3, 3, 1),
            ("bob", 2, 2, 1),
            ("cy", 1, 1, 1),
            ("eve", 0, 0, 0),
            ("lead", 0, 1, 0)
        ]
    );

    // No stage worked ahead of the stages it depends on.
    let events = host.all_events(&summary.arena, 0).unwrap();
    let done_at = |agent: &str| {
        events
            .iter()
            .find(|e| e.actor == agent && e.kind == "slot-updated" && e.payload.contains("done"))
            .map(|e| e.seq)
            .unwrap_or_else(|| panic!("{agent} never finished its stage"))
    };
    let first_step = |agent: &str| {
        events
            .iter()
            .find(|e| e.actor == agent && e.kind == "step-completed")
            .map(|e| e.seq)
            .unwrap()
    };
    assert!(done_at("ada") < first_step("bob"));
    assert!(done_at("bob") < first_step("cy"));

    // What was handed over: the sign-off read both earlier stages, and the merge names every source.
    let slots = host.slots(&summary.arena).unwrap();
    let ids = |agent: &str| -> Vec<String> {
        let slot = slots.iter().find(|s| s.agent == agent).unwrap();
        slot.artifacts.iter().map(|a| a.id.clone()).collect()
    };
    let cy = &slots.iter().find(|s| s.agent == "cy").unwrap().artifacts[0];
    let reviewed: Vec<String> = [ids("ada"), ids("bob")].concat();
    assert_eq!(
        cy.metadata,
        [("reviews".to_string(), reviewed.join(","))],
        "cy's sign-off names what it read"
    );
    let merge = &slots.iter().find(|s| s.agent == "lead").unwrap().artifacts[0];
    assert_eq!(merge.sources, [ids("ada"), ids("bob"), ids("cy")].concat());
    assert!(merge.content.contains(&cy.content));
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
}
