//! People in the loop: a pipeline stage worked by a person (`[[person]]`, no plugin) between two
//! model agents. The run waits for the person without using up `max_turns`, and the person acts
//! through the agent's handle, as the console's act API does.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use arena_host::plugin::{PluginEngine, TurnReport};
use arena_host::run::{self, Manifest, Observer, RunControl};
use arena_host::types::{ArenaStatus, SlotStatus};
use arena_tests::fresh_host;
use arena_tests::model::{Behaviour, ModelServer, Script, Scripted, agent_of, tool_results};

/// Tells the test the arena and its persons as soon as the run created it.
struct Joined(mpsc::Sender<(String, Vec<String>)>);

impl Observer for Joined {
    fn turn_ended(&mut self, _report: &TurnReport) {}
    fn persons(&mut self, arena: &str, persons: &[String]) {
        let _ = self.0.send((arena.to_string(), persons.to_vec()));
    }
}

/// The writer drafts step 1; the editor, once steps 1 and 2 are done, revises (step 3).
fn script() -> Script {
    Script::new(|request| {
        let me = agent_of(request);
        let context = request["messages"][1]["content"].as_str().unwrap_or("");
        if !tool_results(request).is_empty() {
            return Scripted::text("my part is in");
        }
        let step = match me.as_str() {
            "writer" => 1,
            "editor" if context.contains("2 of 3 steps are completed") => 3,
            _ => return Scripted::text("waiting"),
        };
        let put = format!(r#"{{"kind": "draft", "content": "{me} wrote this"}}"#);
        let complete = format!(r#"{{"step": {step}}}"#);
        Scripted::calls(&[
            ("put_artifact", &put),
            ("complete_step", &complete),
            ("set_slot_status", r#"{"status": "done"}"#),
        ])
    })
}

fn manifest(model: &ModelServer, schedule: &str) -> String {
    let agent = |name: &str| {
        format!(
            "[[plugin]]\nagent = \"{name}\"\nrole = \"worker\"\ncomponent = \"builtin:llm-agent\"\n\
             idle_ms = 20\nallowed_outbound_hosts = [\"{endpoint}\"]\n\
             [plugin.config]\nendpoint = \"{endpoint}\"\nmodel = \"test-model\"\n",
            endpoint = model.endpoint()
        )
    };
    format!(
        "[arena]\ngoal = \"a reviewed guide\"\nsteps = 3\nstrategy = \"pipeline\"\n\
         [[arena.stage]]\nagent = \"writer\"\nsteps = \"1\"\n\
         [[arena.stage]]\nagent = \"rita\"\nsteps = \"2\"\ndepends_on = [\"writer\"]\n\
         [[arena.stage]]\nagent = \"editor\"\nsteps = \"3\"\ndepends_on = [\"rita\"]\n\
         [run]\nschedule = \"{schedule}\"\nmax_turns = 8\ndeadline_ms = 60000\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
         idle_ms = 20\n{}{}\
         [[person]]\nagent = \"rita\"\nrole = \"worker\"\n",
        agent("writer"),
        agent("editor"),
    )
}

/// Runs the manifest on a thread; the test, as rita, approves her stage once the writer's is
/// done and a second more has passed — far longer than eight turns of 20 ms idle.
fn a_person_approves(schedule: &str) {
    let (_dir, host) = fresh_host();
    let model = ModelServer::start(Behaviour::Scripted {
        script: script(),
        latency: Duration::ZERO,
    });
    let manifest = Manifest::parse(&manifest(&model, schedule)).unwrap();
    let (tx, rx) = mpsc::channel();
    let runner = {
        let host = host.clone();
        std::thread::spawn(move || {
            let engine = PluginEngine::new().unwrap();
            run::run_with(
                &host,
                &engine,
                &manifest,
                Path::new("."),
                &RunControl::new(),
                &mut Joined(tx),
            )
        })
    };
    let (arena, persons) = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    assert_eq!(persons, ["rita"]);
    let slot = |agent: &str| {
        host.slots(&arena)
            .unwrap()
            .into_iter()
            .find(|s| s.agent == agent)
            .unwrap()
    };
    let waited = std::time::Instant::now();
    while slot("writer").status != SlotStatus::Done {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the writer never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    // The run is still waiting for rita: the editor has not started, nothing is settled.
    assert!(
        !runner.is_finished(),
        "the run ended before the person acted"
    );
    assert_eq!(host.get(&arena).unwrap().status, ArenaStatus::Active);
    assert!(slot("editor").artifacts.is_empty());

    let rita = host.handle(&arena, "rita").unwrap();
    rita.report_progress("approved: the draft reads well")
        .unwrap();
    rita.complete_step(2).unwrap();
    rita.set_slot_status(SlotStatus::Done).unwrap();

    let summary = runner.join().unwrap().unwrap();
    assert_eq!(summary.status, ArenaStatus::Archived);
    assert_eq!(host.verify(&arena).unwrap().problem, None);
    let events = host.events(&arena, 0, 1000).unwrap();
    let order: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "step-completed")
        .map(|e| e.actor.clone())
        .collect();
    assert_eq!(order, ["writer", "rita", "editor"]);
    assert_eq!(slot("editor").artifacts[0].content, "editor wrote this");
}

#[test]
fn a_person_stage_between_two_model_agents_waits_for_the_person_concurrently() {
    a_person_approves("concurrent");
}

#[test]
fn a_person_stage_between_two_model_agents_waits_for_the_person_in_rounds() {
    a_person_approves("rounds");
}

#[test]
fn a_person_declared_as_a_plugin_too_is_refused() {
    let text = "[arena]\ngoal = \"g\"\nsteps = 1\n[[plugin]]\nagent = \"rita\"\nrole = \"coordinator\"\n\
                component = \"builtin:coordinator\"\n[[person]]\nagent = \"rita\"\nrole = \"worker\"\n";
    let manifest = Manifest::parse(text).unwrap();
    let error = run::check(&manifest, Path::new("."))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "manifest: person rita: the agent is declared twice (a person runs no plugin)"
    );
}
