//! The model agent (`builtin:llm-agent`) against a scripted chat-completions server: a team that
//! works entirely through tool calls, and each way a model or its server can go wrong.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arena_host::ArenaHost;
use arena_host::plugin::{PluginEngine, TurnOutcome, TurnReport};
use arena_host::run::{self, Manifest, Observer, RunControl};
use arena_host::types::{ArenaStatus, SlotStatus};
use arena_tests::fresh_host;
use arena_tests::model::{
    Behaviour, ModelServer, Script, Scripted, agent_of, offered_tools, tool_results,
};
use serde_json::Value;

/// Each turn's agent and outcome.
#[derive(Default)]
struct Turns(Vec<(String, String)>);

impl Observer for Turns {
    fn turn_ended(&mut self, report: &TurnReport) {
        let outcome = match &report.outcome {
            TurnOutcome::Done(text) => format!("done: {text}"),
            TurnOutcome::Failed(text) => format!("failed: {text}"),
            TurnOutcome::Stopped(error) => format!("stopped: {error}"),
        };
        self.0.push((report.agent.clone(), outcome));
    }
}

impl Turns {
    fn of(&self, agent: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(a, _)| a == agent)
            .map(|(_, o)| o.as_str())
            .collect()
    }

    fn all(&self) -> String {
        self.0
            .iter()
            .map(|(a, o)| format!("{a}: {o}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn run_manifest(host: &ArenaHost, manifest: &str) -> (run::RunSummary, Turns) {
    let manifest = Manifest::parse(manifest).unwrap();
    let engine = PluginEngine::new().unwrap();
    let mut turns = Turns::default();
    let summary = run::run_with(
        host,
        &engine,
        &manifest,
        Path::new("."),
        &RunControl::new(),
        &mut turns,
    )
    .unwrap();
    (summary, turns)
}

/// A `[[plugin]]` entry for an llm-agent asking `model`, with extra config lines.
fn agent(name: &str, role: &str, model: &ModelServer, config: &str) -> String {
    format!(
        "[[plugin]]\nagent = \"{name}\"\nrole = \"{role}\"\ncomponent = \"builtin:llm-agent\"\n\
         idle_ms = 20\nallowed_outbound_hosts = [\"{endpoint}\"]\n\
         [plugin.config]\nendpoint = \"{endpoint}\"\nmodel = \"test-model\"\n{config}\n",
        endpoint = model.endpoint()
    )
}

/// The user message of a request: the context the agent built.
fn context(request: &Value) -> String {
    request["messages"][1]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The draft ids a context shows (`### draft ID`).
fn drafts(context: &str) -> Vec<String> {
    context
        .lines()
        .filter_map(|l| l.strip_prefix("### draft "))
        .map(str::to_string)
        .collect()
}

/// The script of a coordinator and workers that each own one step (`steps` maps agent to step).
fn team_script(steps: &'static [(&'static str, u32)]) -> Script {
    team_script_with(steps, false)
}

/// As [`team_script`]; with `settle_apart`, the coordinator settles in one turn and merges and
/// archives in a later one.
fn team_script_with(steps: &'static [(&'static str, u32)], settle_apart: bool) -> Script {
    Script::new(move |request| {
        let me = agent_of(request);
        let ctx = context(request);
        let answered = !tool_results(request).is_empty();
        if me == "lead" {
            if answered {
                return Scripted::text("done for now");
            }
            if ctx.contains("The arena is created") {
                return Scripted::calls(&[("activate", "{}")]);
            }
            let all = format!("{0} of {0} steps are completed", steps.len());
            if !ctx.contains(&all) {
                return Scripted::text("waiting for the workers");
            }
            let sources = serde_json::to_string(&drafts(&ctx)).unwrap();
            let merge = format!(
                r#"{{"kind": "result", "content": "THE MERGED GUIDE", "sources": {sources}}}"#
            );
            if settle_apart && ctx.contains("The arena is active") {
                return Scripted::calls(&[("settle", "{}")]);
            }
            if settle_apart {
                return Scripted::calls(&[("merge", &merge), ("archive", "{}")]);
            }
            return Scripted::calls(&[("settle", "{}"), ("merge", &merge), ("archive", "{}")]);
        }
        if answered {
            return Scripted::text("my part is in");
        }
        let step = steps.iter().find(|(a, _)| *a == me).map_or(0, |(_, s)| *s);
        let put = format!(r#"{{"kind": "draft", "content": "{me} wrote this"}}"#);
        let fact =
            format!(r#"{{"content": "{me} was here", "confidence": 0.9, "tags": ["{me}"]}}"#);
        let complete = format!(r#"{{"step": {step}}}"#);
        Scripted::calls(&[
            ("put_artifact", &put),
            ("add_fact", &fact),
            ("complete_step", &complete),
            ("set_slot_status", r#"{"status": "done"}"#),
        ])
    })
}

#[test]
fn an_llm_agent_team_finishes_a_pipeline_through_tool_calls_alone() {
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: team_script(&[("researcher", 1), ("writer", 2)]),
        latency: Duration::ZERO,
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 2\nstrategy = \"pipeline\"\n\
         [[arena.stage]]\nagent = \"researcher\"\nsteps = \"1\"\n\
         [[arena.stage]]\nagent = \"writer\"\nsteps = \"2\"\ndepends_on = [\"researcher\"]\n\
         [run]\nschedule = \"concurrent\"\nmax_turns = 40\ndeadline_ms = 120000\n{}{}{}",
        agent("lead", "coordinator", &model, ""),
        agent("researcher", "worker", &model, ""),
        agent("writer", "worker", &model, ""),
    );
    let (summary, turns) = run_manifest(&host, &manifest);
    assert_eq!(summary.status, ArenaStatus::Archived, "{}", turns.all());
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);

    // Each agent's writes are exactly its script's calls, in order.
    let events = host.events(&summary.arena, 0, 1000).unwrap();
    let kinds = |agent: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.actor == agent)
            .map(|e| e.kind.clone())
            .collect()
    };
    for worker in ["researcher", "writer"] {
        assert_eq!(
            kinds(worker),
            [
                "artifact-put",
                "fact-added",
                "step-completed",
                "slot-updated"
            ],
            "{worker}\n{}",
            turns.all()
        );
    }
    assert_eq!(
        kinds("lead"),
        [
            "arena-activated",
            "arena-settling",
            "artifact-merged",
            "arena-archived"
        ],
        "{}",
        turns.all()
    );
    // The merge records the workers' drafts as its sources.
    let slots = host.slots(&summary.arena).unwrap();
    let lead = slots.iter().find(|s| s.agent == "lead").unwrap();
    let merged = &lead.artifacts[0];
    assert_eq!(merged.content, "THE MERGED GUIDE");
    assert_eq!(merged.sources.len(), 2);
    // The workers were offered their grant's tools and nothing of the coordinator's.
    let bodies: Vec<Value> = model
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let worker_tools = offered_tools(bodies.iter().find(|b| agent_of(b) == "writer").unwrap());
    assert!(worker_tools.contains(&"complete_step".to_string()));
    assert!(!worker_tools.contains(&"settle".to_string()));
    let lead_tools = offered_tools(bodies.iter().find(|b| agent_of(b) == "lead").unwrap());
    assert!(lead_tools.contains(&"merge".to_string()));
    // Each turn line names its tool calls and the model's tokens.
    let line = turns
        .of("researcher")
        .into_iter()
        .find(|t| t.contains("asked"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("4 tool calls (put_artifact, add_fact, complete_step, set_slot_status)")
            && line.contains("tokens"),
        "{line}"
    );
}

/// Runs one llm-agent worker (`config` lines added) under the sample coordinator, in rounds, for
/// `turns` turns; returns the summary, the turns and what the model saw.
fn solo(
    script: Script,
    config: &str,
    turns: u32,
) -> (
    ArenaHost,
    tempfile::TempDir,
    run::RunSummary,
    Turns,
    Vec<Value>,
) {
    let (dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script,
        latency: Duration::ZERO,
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 1\n[run]\nschedule = \"rounds\"\nmax_turns = {turns}\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n{}",
        agent("solo", "worker", &model, config)
    );
    let (summary, log) = run_manifest(&host, &manifest);
    let bodies = model
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    (host, dir, summary, log, bodies)
}

/// A script that calls `call` once, records the results it gets back, then stops.
fn once(call: (&'static str, &'static str), seen: Arc<Mutex<Vec<Value>>>) -> Script {
    Script::new(move |request| {
        let results = tool_results(request);
        if results.is_empty() {
            Scripted::calls(&[call])
        } else {
            seen.lock().unwrap().extend(results);
            Scripted::text("understood")
        }
    })
}

#[test]
fn a_worker_model_calling_settle_gets_an_error_result_and_the_arena_is_unchanged() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (host, _dir, summary, turns, bodies) = solo(once(("settle", "{}"), seen.clone()), "", 3);
    assert_eq!(
        *seen.lock().unwrap(),
        [serde_json::json!({"error":
            "settle is not granted to this agent: it needs the coordinate permission"})],
        "{}",
        turns.all()
    );
    assert!(!offered_tools(&bodies[0]).contains(&"settle".to_string()));
    assert_eq!(
        host.get(&summary.arena).unwrap().status,
        ArenaStatus::Active
    );
    let events = host.events(&summary.arena, 0, 1000).unwrap();
    assert!(events.iter().all(|e| e.actor != "solo"), "{events:?}");
}

#[test]
fn malformed_tool_arguments_go_back_to_the_model_as_errors() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = {
        let seen = seen.clone();
        Script::new(move |request| {
            let results = tool_results(request);
            if results.is_empty() {
                Scripted::calls(&[
                    ("complete_step", "{not json"),
                    ("complete_step", r#"{"step": "one"}"#),
                ])
            } else {
                seen.lock().unwrap().extend(results);
                Scripted::text("sorry")
            }
        })
    };
    let (host, _dir, summary, turns, _) = solo(script, "", 2);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{}", turns.all());
    let first = seen[0]["error"].as_str().unwrap();
    assert!(
        first.starts_with("the arguments of complete_step are not JSON"),
        "{first}"
    );
    let second = seen[1]["error"].as_str().unwrap();
    assert!(
        second.contains("complete_step") && second.contains("step"),
        "{second}"
    );
    assert_eq!(
        host.get(&summary.arena).unwrap().aggregate.completed_steps,
        0
    );
}

#[test]
fn the_tool_loop_stops_at_max_tool_calls() {
    let (_host, _dir, _summary, turns, bodies) = solo(
        Script::new(|_| Scripted::calls(&[("goal", "{}")])),
        "max_tool_calls = \"3\"",
        2,
    );
    let first = turns
        .of("solo")
        .into_iter()
        .find(|t| t.contains("asked"))
        .unwrap()
        .to_string();
    assert!(
        first.contains("stopped at max_tool_calls (3)"),
        "{}",
        turns.all()
    );
    assert!(first.contains("3 tool calls (goal, goal, goal)"), "{first}");
    // Three answered calls, then the fourth reply's call was not run: four requests a turn.
    assert_eq!(bodies.len() % 4, 0, "{}", bodies.len());
}

#[test]
fn a_cut_off_reply_is_not_stored_as_done_and_a_model_always_cut_off_fails_the_slot() {
    let (host, _dir, summary, turns, bodies) = solo(
        Script::new(|_| Scripted::cut_off("The guide begins with herons and")),
        "max_tokens = 16",
        5,
    );
    assert_eq!(bodies[0]["max_tokens"], 16);
    // The model was asked for a shorter answer once, then the turn gave up storing nothing.
    let last = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["content"].as_str().unwrap().contains("cut off"),
        "{last}"
    );
    assert!(
        turns
            .all()
            .contains("cut off at the token limit twice; nothing stored"),
        "{}",
        turns.all()
    );
    // A turn that did nothing but get cut off fails; after max_failures (3) of them the slot is
    // marked failed, saying what to raise, and the model is not asked again.
    let outcomes = turns.of("solo");
    assert!(
        outcomes[0].starts_with("failed: ") && outcomes[0].contains("(failure 1 of 3)"),
        "{}",
        turns.all()
    );
    assert!(
        outcomes[2].contains("slot marked failed")
            && outcomes[2].contains("raise max_tokens (16) or the server's own cap"),
        "{}",
        turns.all()
    );
    assert_eq!(bodies.len(), 6, "{}", turns.all());
    let slots = host.slots(&summary.arena).unwrap();
    let solo = slots.iter().find(|s| s.agent == "solo").unwrap();
    assert!(solo.artifacts.is_empty());
    assert_eq!(solo.status, SlotStatus::Failed);
}

#[test]
fn a_rejected_key_marks_the_slot_failed_after_three_turns_and_the_run_finishes() {
    let (host, _dir, summary, turns, bodies) = solo(Script::new(|_| Scripted::Status(401)), "", 6);
    assert_eq!(bodies.len(), 3, "{}", turns.all());
    let outcomes = turns.of("solo");
    assert!(outcomes[0].contains("failure 1 of 3"), "{}", turns.all());
    assert!(outcomes[1].contains("failure 2 of 3"), "{}", turns.all());
    assert!(
        outcomes[2].contains("slot marked failed") && outcomes[2].contains("401"),
        "{}",
        turns.all()
    );
    let slots = host.slots(&summary.arena).unwrap();
    assert_eq!(
        slots.iter().find(|s| s.agent == "solo").unwrap().status,
        SlotStatus::Failed
    );
}

#[test]
fn a_coordinator_rejected_before_activating_gives_up_after_three_turns_and_asks_no_more() {
    // Its slot cannot be marked failed while the arena is created; it still stops asking.
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: Script::new(|_| Scripted::Status(401)),
        latency: Duration::ZERO,
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 1\n[run]\nschedule = \"rounds\"\nmax_turns = 6\n{}",
        agent("lead", "coordinator", &model, "")
    );
    let (summary, turns) = run_manifest(&host, &manifest);
    assert_eq!(summary.status, ArenaStatus::Created, "{}", turns.all());
    assert_eq!(model.requests(), 3, "{}", turns.all());
    let outcomes = turns.of("lead");
    assert!(
        outcomes[2].contains("failed after 3 turns, gave up (the slot cannot be marked failed")
            && outcomes[2].contains("401"),
        "{}",
        turns.all()
    );
    assert!(
        outcomes[3..]
            .iter()
            .all(|o| o.starts_with("done: failed: ")),
        "{}",
        turns.all()
    );
}

#[test]
fn a_model_without_tool_calling_still_hands_its_text_in_as_the_draft() {
    let (host, _dir, summary, turns, _) = solo(
        Script::new(|_| Scripted::text("A plain guide to herons.")),
        "",
        8,
    );
    assert_eq!(summary.status, ArenaStatus::Archived, "{}", turns.all());
    let slots = host.slots(&summary.arena).unwrap();
    let solo = slots.iter().find(|s| s.agent == "solo").unwrap();
    assert_eq!(solo.artifacts[0].content, "A plain guide to herons.");
    assert_eq!(solo.status, SlotStatus::Done);
}

#[test]
fn a_server_refusing_tools_is_asked_without_them_and_the_team_still_archives() {
    // llama.cpp's llama-server without --jinja answers any request carrying `tools` so.
    const REFUSAL: &str = r#"{"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}}"#;
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: Script::new(|request| {
            if !offered_tools(request).is_empty() {
                return Scripted::Error(500, REFUSAL.into());
            }
            match agent_of(request).as_str() {
                "lead" => Scripted::text("THE MERGED GUIDE"),
                me => Scripted::text(&format!("{me}'s part")),
            }
        }),
        latency: Duration::ZERO,
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 2\nstrategy = \"pipeline\"\n\
         [[arena.stage]]\nagent = \"researcher\"\nsteps = \"1\"\n\
         [[arena.stage]]\nagent = \"writer\"\nsteps = \"2\"\ndepends_on = [\"researcher\"]\n\
         [run]\nschedule = \"concurrent\"\nmax_turns = 20\ndeadline_ms = 120000\n{}{}{}",
        agent("lead", "coordinator", &model, "max_retries = 0"),
        agent("researcher", "worker", &model, "max_retries = 0"),
        agent("writer", "worker", &model, "max_retries = 0"),
    );
    let (summary, turns) = run_manifest(&host, &manifest);
    assert_eq!(summary.status, ArenaStatus::Archived, "{}", turns.all());
    // Each agent offered tools once; refused, it never offers them again.
    let bodies: Vec<Value> = model
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    for me in ["lead", "researcher", "writer"] {
        let offered = bodies
            .iter()
            .filter(|b| agent_of(b) == me && !offered_tools(b).is_empty())
            .count();
        assert_eq!(offered, 1, "{me}:\n{}", turns.all());
    }
    // The workers' texts are their drafts; the coordinator activated, settled, merged its model's
    // result from both drafts and archived.
    let slots = host.slots(&summary.arena).unwrap();
    let slot = |agent: &str| slots.iter().find(|s| s.agent == agent).unwrap();
    assert_eq!(slot("researcher").artifacts[0].content, "researcher's part");
    assert_eq!(slot("writer").artifacts[0].content, "writer's part");
    let merged = &slot("lead").artifacts[0];
    assert_eq!(
        (merged.kind.as_str(), merged.content.as_str()),
        ("result", "THE MERGED GUIDE")
    );
    let mut sources = merged.sources.clone();
    sources.sort();
    let mut drafts = vec![
        slot("researcher").artifacts[0].id.clone(),
        slot("writer").artifacts[0].id.clone(),
    ];
    drafts.sort();
    assert_eq!(sources, drafts);
    assert!(
        turns
            .of("lead")
            .iter()
            .any(|t| t.contains("without tools (the server refuses them): activated the arena")),
        "{}",
        turns.all()
    );
}

#[test]
fn a_slow_model_team_still_archives_when_max_turns_is_small() {
    // The issue's case, scaled down: a model answering in 40 s with max_turns = 10 and idle
    // wake-ups every second is a model answering in 400 ms with wake-ups every 20 ms and
    // max_turns = 3. The writer waits for the researcher's stage through many more wake-ups
    // than three; waiting turns do not count, acting ones do.
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: team_script(&[("researcher", 1), ("writer", 2)]),
        latency: Duration::from_millis(400),
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 2\nstrategy = \"pipeline\"\n\
         [[arena.stage]]\nagent = \"researcher\"\nsteps = \"1\"\n\
         [[arena.stage]]\nagent = \"writer\"\nsteps = \"2\"\ndepends_on = [\"researcher\"]\n\
         [run]\nschedule = \"concurrent\"\nmax_turns = 3\ndeadline_ms = 120000\n{}{}{}",
        agent("lead", "coordinator", &model, ""),
        agent("researcher", "worker", &model, ""),
        agent("writer", "worker", &model, ""),
    );
    let (summary, turns) = run_manifest(&host, &manifest);
    assert_eq!(summary.status, ArenaStatus::Archived, "{}", turns.all());
    let waited = turns
        .of("writer")
        .iter()
        .filter(|t| t.contains("waiting for researcher"))
        .count();
    assert!(
        waited > 3,
        "the writer waited only {waited} turns:\n{}",
        turns.all()
    );
}

#[test]
fn a_slow_model_team_in_rounds_still_archives_when_max_turns_is_small() {
    // Three stages in rounds, listed last to first, so that each waits a round for the one before
    // it: the editor acts in round 3 and the lead archives in round 4. With max_turns = 2, only
    // the turns that acted count: the lead's two, each worker's one.
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: team_script(&[("researcher", 1), ("writer", 2), ("editor", 3)]),
        latency: Duration::from_millis(50),
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 3\nstrategy = \"pipeline\"\n\
         [[arena.stage]]\nagent = \"researcher\"\nsteps = \"1\"\n\
         [[arena.stage]]\nagent = \"writer\"\nsteps = \"2\"\ndepends_on = [\"researcher\"]\n\
         [[arena.stage]]\nagent = \"editor\"\nsteps = \"3\"\ndepends_on = [\"writer\"]\n\
         [run]\nschedule = \"rounds\"\nmax_turns = 2\ndeadline_ms = 120000\n{}{}{}{}",
        agent("lead", "coordinator", &model, ""),
        agent("editor", "worker", &model, ""),
        agent("writer", "worker", &model, ""),
        agent("researcher", "worker", &model, ""),
    );
    let (summary, turns) = run_manifest(&host, &manifest);
    assert_eq!(summary.status, ArenaStatus::Archived, "{}", turns.all());
    assert_eq!(host.verify(&summary.arena).unwrap().problem, None);
    // The lead took more turns than max_turns; its waiting ones did not count.
    assert!(turns.of("lead").len() > 2, "{}", turns.all());
    let waited = turns
        .of("editor")
        .iter()
        .filter(|t| t.contains("waiting for writer"))
        .count();
    assert_eq!(waited, 2, "{}", turns.all());
}

#[test]
fn a_bad_setting_fails_the_run_before_any_model_is_called() {
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: team_script(&[("researcher", 1)]),
        latency: Duration::ZERO,
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 1\n[run]\nschedule = \"concurrent\"\n{}{}",
        agent("lead", "coordinator", &model, ""),
        agent("researcher", "worker", &model, "temperature = \"warm\""),
    );
    let manifest = Manifest::parse(&manifest).unwrap();
    let engine = PluginEngine::new().unwrap();
    let error = run::run_with(
        &host,
        &engine,
        &manifest,
        Path::new("."),
        &RunControl::new(),
        &mut Turns::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "manifest: plugin researcher (builtin:llm-agent): config key \"temperature\": expected a \
         number of 0 or more, found \"warm\""
    );
    assert_eq!(model.requests(), 0);
    assert!(
        host.list(None, 10).unwrap().is_empty(),
        "an arena was created"
    );
}

#[test]
fn a_coordinator_whose_model_stops_after_settling_is_asked_again_and_archives() {
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: team_script_with(&[("solo", 1)], true),
        latency: Duration::ZERO,
    });
    let manifest = format!(
        "[arena]\ngoal = \"a guide\"\nsteps = 1\n[run]\nschedule = \"rounds\"\nmax_turns = 8\n{}{}",
        agent("lead", "coordinator", &model, ""),
        agent("solo", "worker", &model, ""),
    );
    let (summary, turns) = run_manifest(&host, &manifest);
    assert_eq!(summary.status, ArenaStatus::Archived, "{}", turns.all());
    let lead = turns.of("lead");
    let settled = lead.iter().position(|t| t.contains("(settle)")).unwrap();
    assert!(
        lead[settled + 1..]
            .iter()
            .any(|t| t.contains("(merge, archive)")),
        "{}",
        turns.all()
    );
}

#[test]
fn a_busy_model_is_retried_with_backoff_and_the_turn_goes_on() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = Arc::new(AtomicUsize::new(0));
    let script = {
        let asked = asked.clone();
        Script::new(move |_| match asked.fetch_add(1, Ordering::SeqCst) {
            0 => Scripted::Status(503),
            1 => Scripted::Status(429),
            _ => Scripted::text("A plain guide to herons."),
        })
    };
    let (host, _dir, summary, turns, bodies) = solo(script, "max_retries = 2", 4);
    assert_eq!(bodies.len(), 3, "{}", turns.all());
    let first = turns.of("solo")[0].to_string();
    assert!(
        first.starts_with("done: asked test-model 1×"),
        "{}",
        turns.all()
    );
    let slots = host.slots(&summary.arena).unwrap();
    let solo = slots.iter().find(|s| s.agent == "solo").unwrap();
    assert_eq!(solo.artifacts[0].content, "A plain guide to herons.");
}
