//! The `arena` program, run as a user runs it.

use std::path::Path;
use std::process::Command;

mod common;

use common::{arena, fails, ok, program};

fn create(db: &Path) -> String {
    ok(
        db,
        &[
            "create",
            "--goal",
            "survey the reef",
            "--steps",
            "3",
            "--participant",
            "lead:coordinator",
            "--participant",
            "wendy:worker",
            "--participant",
            "otto:observer",
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn create_then_act_through_handles_then_show() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = create(&db);
    assert_eq!(id.len(), 36);
    ok(&db, &["activate", &id, "--as", "lead"]);
    assert!(ok(&db, &["step", &id, "2", "--as", "wendy"]).contains("1/3"));
    ok(
        &db,
        &["progress", &id, "reef mapped north", "--as", "wendy"],
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&db, &["--json", "show", &id])).unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["aggregate"]["completed-steps"], 1);
    assert_eq!(shown["participants"].as_array().unwrap().len(), 3);
    assert_eq!(ok(&db, &["list", "--agent", "otto"]).trim(), id);
}

#[test]
fn refusals_go_to_stderr_with_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = create(&db);
    let denied = arena(&db, &["step", &id, "1", "--as", "otto"]);
    assert!(!denied.status.success());
    assert!(denied.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("permission denied: needs contribute"),
        "{stderr}"
    );

    let illegal = arena(&db, &["archive", &id, "--as", "lead"]);
    assert!(!illegal.status.success());
    assert!(
        String::from_utf8_lossy(&illegal.stderr)
            .contains("invalid transition from created to archived")
    );

    let unknown = arena(&db, &["show", "01934b5e-0000-7000-8000-000000000000"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not found"));
}

#[test]
fn events_as_json_lines_have_stable_fields() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = create(&db);
    let out = ok(&db, &["--json", "events", &id]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], n as u64 + 1);
        for field in ["ts", "actor", "kind", "payload", "hash"] {
            assert!(!line[field].is_null(), "missing {field}");
        }
        assert_eq!(line["payload"]["v"], 1);
    }
    assert!(ok(&db, &["verify", &id]).starts_with("ok: 4 events"));
}

#[test]
fn demo_runs_a_full_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = ok(&db, &["demo"]);
    for expected in [
        "arena-created",
        "agent-joined",
        "arena-activated",
        "step-completed",
        "artifact-put",
        "arena-settling",
        "arena-archived",
        "activated the arena",
        "all 6 steps done: settling",
        "archived the arena",
        "hash chain intact",
        "archived (completed)",
        "report\n  outcome    completed\n  result     art-",
        "\n  steps      6/6 complete\n",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
}

/// The demo's pipeline (a drafter, two reviewers, an observer, the sample coordinator) in a file,
/// taking at most `turns` turns.
fn pipeline_manifest(dir: &Path, turns: u32) -> std::path::PathBuf {
    let manifest = dir.join(format!("pipeline-{turns}.toml"));
    std::fs::write(
        &manifest,
        format!(
            "[arena]\ngoal = \"a field guide\"\nsteps = 5\nstrategy = \"pipeline\"\n\
             [[arena.stage]]\nagent = \"ada\"\nsteps = \"1-3\"\n\
             [[arena.stage]]\nagent = \"bob\"\nsteps = \"4-5\"\ndepends_on = [\"ada\"]\n\
             [run]\nschedule = \"rounds\"\nmax_turns = {turns}\n\
             [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
             [[plugin]]\nagent = \"ada\"\nrole = \"worker\"\ncomponent = \"builtin:drafter\"\n\
             [[plugin]]\nagent = \"bob\"\nrole = \"worker\"\ncomponent = \"builtin:reviewer\"\n"
        ),
    )
    .unwrap();
    manifest
}

/// The arena id a run's closing `arena result ID` line names.
fn result_id(out: &str) -> String {
    out.split("arena result ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no result line in:\n{out}"))
        .to_string()
}

#[test]
fn a_run_ends_with_the_last_twenty_events_and_names_its_result_which_result_prints_raw() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let manifest = pipeline_manifest(dir.path(), 20);
    let out = ok(&db, &["run", manifest.to_str().unwrap()]);
    let id = result_id(&out);
    let total = ok(&db, &["events", &id]).lines().count();
    assert!(total > 20, "{total} events");
    assert!(
        out.contains(&format!("the last 20 of {total} events of arena {id}")),
        "{out}"
    );
    assert!(!out.contains("arena-created"), "{out}");
    let result = ok(&db, &["result", &id]);
    assert!(
        result.starts_with("# The field guide, merged\n"),
        "{result}"
    );
    assert!(!result.contains("arena-"), "{result}");
    // The summary's report names that result and ends at the head `arena head` prints.
    let head = ok(&db, &["head", &id]);
    assert!(
        out.contains(&format!("\n  head       {head}")),
        "{out}\nhead {head}"
    );
    let merged = json(&db, &["artifacts", &id, "--agent", "lead"])["artifacts"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .rfind(|a| a["sources"].as_array().is_some_and(|s| !s.is_empty()))
                .cloned()
        })
        .expect("the coordinator merged");
    assert!(
        out.contains(&format!("\n  result     {}\n", field(&merged, "id"))),
        "{out}"
    );
    let lines = ok(
        &db,
        &["--json", "run", "--quiet", manifest.to_str().unwrap()],
    );
    let summary: serde_json::Value =
        serde_json::from_str(lines.lines().last().unwrap_or_default()).expect("a JSON summary");
    assert_eq!(
        field(&summary, "head"),
        ok(&db, &["head", field(&summary, "arena")]).trim()
    );
    assert!(field(&summary, "result").starts_with("art-"), "{summary}");
}

#[test]
fn a_quiet_run_prints_only_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let manifest = pipeline_manifest(dir.path(), 20);
    let out = ok(&db, &["run", "--quiet", manifest.to_str().unwrap()]);
    assert!(!out.contains("turn 1"), "{out}");
    assert!(!out.contains("events of arena"), "{out}");
    assert!(out.contains("hash chain intact"), "{out}");
    let all = ok(&db, &["run", "--events", manifest.to_str().unwrap()]);
    assert!(all.contains("arena-created"), "{all}");
}

#[test]
fn a_run_cut_short_names_who_is_still_working_and_resume_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let short = pipeline_manifest(dir.path(), 1);
    let cut = arena(&db, &["run", short.to_str().unwrap()]);
    assert!(cut.status.success());
    let err = String::from_utf8_lossy(&cut.stderr).to_string();
    assert!(
        // ada and the lead act in round 1; bob only waits, and has his turn left for round 2.
        err.contains("note: the arena is still active after 2 turns"),
        "{err}"
    );
    assert!(err.contains("  bob (idle): "), "{err}");
    let id = err
        .split("arena run --resume ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no resume line in:\n{err}"))
        .to_string();
    let full = pipeline_manifest(dir.path(), 20);
    let out = ok(&db, &["run", "--resume", &id, full.to_str().unwrap()]);
    assert_eq!(result_id(&out), id);
    assert!(out.contains("archived (completed)"), "{out}");
}

#[test]
fn show_at_replays_the_arena_up_to_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = create(&db);
    ok(&db, &["activate", &id, "--as", "lead"]);
    let at: serde_json::Value =
        serde_json::from_str(&ok(&db, &["--json", "show", &id, "--at", "4"])).unwrap();
    assert_eq!(at["status"], "created");
    assert_eq!(at["last-seq"], 4);
    let bad = arena(&db, &["show", &id, "--at", "99"]);
    assert!(!bad.status.success());
}

#[test]
fn events_follow_prints_events_as_they_commit() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = create(&db);
    let mut follower = program()
        .arg("--db")
        .arg(&db)
        .args(["--json", "events", &id, "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    for seq in 1..=4 {
        let line: serde_json::Value =
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(line["seq"], seq);
    }
    ok(&db, &["activate", &id, "--as", "lead"]);
    ok(&db, &["step", &id, "3", "--as", "wendy"]);
    let kinds: Vec<String> = (5..=6)
        .map(|seq| {
            let line: serde_json::Value =
                serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            assert_eq!(line["seq"], seq);
            line["kind"].as_str().unwrap().to_string()
        })
        .collect();
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(kinds, ["arena-activated", "step-completed"]);
}

/// A long run: a coordinator and two workers on 100000 steps, printing each turn after its commit.
fn long_run_manifest(dir: &Path) -> std::path::PathBuf {
    let manifest = dir.join("long.toml");
    std::fs::write(
        &manifest,
        "[arena]\ngoal = \"a long haul\"\nsteps = 100000\n[run]\nmax_rounds = 100000\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
         [[plugin]]\nagent = \"ada\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n\
         [[plugin]]\nagent = \"bob\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n",
    )
    .unwrap();
    manifest
}

/// The steps a run's output says were completed: each line is printed only after its commit.
fn acknowledged_steps(line: &str) -> Option<u64> {
    line.split("completed step ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Checks the database after a kill: the file is intact, the newest arena verifies, and every
/// acknowledged step is in its log.
fn assert_survived(db: &Path, acknowledged: &[u64]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);
    let host = arena_host::ArenaHost::open(db, Default::default()).unwrap();
    let mut arenas = host.list(None, 1000).unwrap();
    let Some(newest) = arenas.pop() else {
        assert!(
            acknowledged.is_empty(),
            "steps acknowledged but no arena stored"
        );
        return;
    };
    for arena in arenas.iter().chain([&newest]) {
        assert_eq!(
            host.verify(&arena.id).unwrap().problem,
            None,
            "arena {}",
            arena.id
        );
    }
    let done: std::collections::BTreeSet<u64> = host
        .all_events(&newest.id, 0)
        .unwrap()
        .iter()
        .filter(|e| e.kind == "step-completed")
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.payload).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    for step in acknowledged {
        assert!(done.contains(step), "acknowledged step {step} was lost");
    }
}

#[test]
fn a_killed_writer_loses_nothing_it_acknowledged() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let manifest = long_run_manifest(dir.path());
    let mut writer = program()
        .arg("--db")
        .arg(&db)
        .arg("run")
        .arg(&manifest)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 40 {
        let line = lines.next().expect("the run ended early").unwrap();
        acknowledged.extend(acknowledged_steps(&line));
    }
    writer.kill().unwrap(); // SIGKILL: no destructor, no flush, no rollback of our own
    writer.wait().unwrap();
    // Whatever reached the pipe before the kill was acknowledged too.
    acknowledged.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| acknowledged_steps(&l)),
    );
    assert_survived(&db, &acknowledged);
}

/// Kills a writer 20 times over one database, each time at a uniformly random moment of its write
/// phase (between commits and inside them); after each kill the database must hold every
/// acknowledged step.
#[test]
fn a_crash_loop_of_twenty_sigkills_loses_nothing_acknowledged() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let manifest = long_run_manifest(dir.path());
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    eprintln!("crash loop seed {seed}");
    for round in 0..20 {
        // xorshift: a uniform delay in 0..500 ms once the writer has acknowledged its first step.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = std::time::Duration::from_millis(seed % 500);
        let mut writer = program()
            .arg("--db")
            .arg(&db)
            .arg("run")
            .arg(&manifest)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = writer.stdout.take().unwrap();
        let (sender, steps) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(step) = acknowledged_steps(&line) {
                    let _ = sender.send(step);
                }
            }
        });
        let mut acknowledged = vec![
            steps
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the writer acknowledged nothing"),
        ];
        std::thread::sleep(delay);
        writer.kill().unwrap();
        writer.wait().unwrap();
        reader.join().unwrap();
        acknowledged.extend(steps.try_iter());
        eprintln!(
            "round {round}: killed {delay:?} into the writes, {} steps acknowledged",
            acknowledged.len()
        );
        assert_survived(&db, &acknowledged);
    }
}

/// Runs `arena --json ARGS` and parses its one line of output.
fn json(db: &Path, args: &[&str]) -> serde_json::Value {
    let out = ok(db, &[&["--json"], args].concat());
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn field<'a>(value: &'a serde_json::Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {value}"))
}

/// A pipeline of three stages over five steps: drafter 1-2, reviewer 3 and 5 after drafter, editor 4
/// after both.
fn create_pipeline(db: &Path) -> String {
    ok(
        db,
        &[
            "create",
            "--goal",
            "write the field guide",
            "--steps",
            "5",
            "--participant",
            "lead:coordinator",
            "--participant",
            "drafter:worker",
            "--participant",
            "reviewer:worker",
            "--participant",
            "editor:worker",
            "--strategy",
            "pipeline",
            "--stage",
            "drafter:1-2",
            "--stage",
            "reviewer:3,5:drafter",
            "--stage",
            "editor:4:drafter,reviewer",
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn a_pipeline_arena_from_stages_to_the_settle_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = create_pipeline(&db);

    let shown = json(&db, &["show", &id]);
    assert_eq!(
        shown["strategy"],
        serde_json::json!({ "pipeline": { "coordinator": "lead", "stages": [
            { "agent": "drafter", "steps": [{ "first": 1, "last": 2 }], "depends-on": [] },
            { "agent": "reviewer", "steps": [{ "first": 3, "last": 3 }, { "first": 5, "last": 5 }],
              "depends-on": ["drafter"] },
            { "agent": "editor", "steps": [{ "first": 4, "last": 4 }], "depends-on": ["drafter", "reviewer"] },
        ]}})
    );
    assert_eq!(shown["report"], serde_json::Value::Null);
    assert!(ok(&db, &["show", &id]).contains(
        "strategy  pipeline, coordinated by lead; stages drafter:1-2; reviewer:3,5 after drafter; \
         editor:4 after drafter,reviewer\n"
    ));
    ok(&db, &["activate", &id, "--as", "lead"]);

    // Artifacts in the drafter's slot: one with metadata and two lines, one put with a key, retried.
    let first = json(
        &db,
        &[
            "put",
            &id,
            "--as",
            "drafter",
            "--kind",
            "text",
            "--content",
            "reefs\nare alive",
            "--meta",
            "lang=en",
            "--meta",
            "note=a=b",
        ],
    );
    assert_eq!(first["id"], "art-7");
    assert_eq!(first["author"], "drafter");
    assert_eq!(
        first["metadata"],
        serde_json::json!({ "lang": "en", "note": "a=b" })
    );
    let first_at = field(&first, "created-at");
    let file = dir.path().join("draft.txt");
    std::fs::write(&file, "second draft").unwrap();
    let put = [
        "--key", "k1", "put", &id, "--as", "drafter", "--kind", "text", "--file",
    ];
    let second = ok(&db, &[&put[..], &[file.to_str().unwrap()]].concat());
    assert!(second.starts_with("art-8 text by drafter at "), "{second}");
    assert_eq!(
        ok(&db, &[&put[..], &[file.to_str().unwrap()]].concat()),
        second
    );
    let second_at = second.trim().rsplit(' ').next().unwrap().to_string();

    // The pipeline refuses work ahead of its stage, naming the stage that blocks it.
    let early = fails(&db, &["step", &id, "3", "--as", "reviewer"]);
    assert!(
        early.contains(
            r#"stage "reviewer" cannot complete step 3: stage "drafter" it depends on is not done"#
        ),
        "{early}"
    );
    let early = fails(&db, &["slot", &id, "done", "--as", "reviewer"]);
    assert!(early.contains(r#"stage "drafter""#), "{early}");
    let foreign = fails(&db, &["step", &id, "1", "--as", "editor"]);
    assert!(
        foreign.contains(r#"step 1 belongs to stage "drafter""#),
        "{foreign}"
    );

    ok(&db, &["step", &id, "1", "--as", "drafter"]);
    ok(&db, &["step", &id, "2", "--as", "drafter"]);
    assert_eq!(
        ok(&db, &["slot", &id, "done", "--as", "drafter"]),
        "slot of drafter: done\n"
    );
    let blocked = fails(&db, &["step", &id, "4", "--as", "editor"]);
    assert!(
        blocked.contains(r#"stage "reviewer" it depends on"#),
        "{blocked}"
    );
    ok(&db, &["step", &id, "3", "--as", "reviewer"]);
    ok(&db, &["step", &id, "5", "--as", "reviewer"]);
    let review = json(
        &db,
        &[
            "put",
            &id,
            "--as",
            "reviewer",
            "--kind",
            "text",
            "--content",
            "tighten it",
        ],
    );
    assert_eq!(review["id"], "art-14");
    assert_eq!(
        json(&db, &["slot", &id, "done", "--as", "reviewer"]),
        serde_json::json!({ "agent": "reviewer", "status": "done" })
    );
    ok(&db, &["step", &id, "4", "--as", "editor"]);

    let fact = ok(
        &db,
        &[
            "fact",
            &id,
            "--as",
            "reviewer",
            "--content",
            "Write Straße, not Strasse",
            "--confidence",
            "0.8",
            "--tag",
            "style",
        ],
    );
    assert!(
        fact.starts_with("fact-17 by reviewer at ")
            && fact.ends_with(", confidence 0.8, tags style\n"),
        "{fact}"
    );
    assert_eq!(
        ok(&db, &["facts", &id, "--tag", "style", "--text", "STRASSE"]),
        format!("{fact}  | Write Straße, not Strasse\n")
    );

    // Every slot, as the operator and through a reader's handle.
    let listing =
        "drafter  done  art-7,art-8\neditor  idle  -\nlead  idle  -\nreviewer  done  art-14\n";
    assert_eq!(ok(&db, &["artifacts", &id]), listing);
    assert_eq!(ok(&db, &["artifacts", &id, "--as", "editor"]), listing);
    let lines: Vec<serde_json::Value> = ok(&db, &["--json", "artifacts", &id, "--as", "editor"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        serde_json::json!({ "agent": "drafter", "status": "done", "artifacts": ["art-7", "art-8"] })
    );
    assert_eq!(
        ok(
            &db,
            &["artifacts", &id, "--agent", "drafter", "--as", "editor"]
        ),
        format!(
            "drafter  done  2 artifacts\n\
             art-7 text by drafter at {first_at}\n  meta lang=en\n  meta note=a=b\n  | reefs\n  | are alive\n\
             art-8 text by drafter at {second_at}\n  | second draft\n"
        )
    );

    // A merge records its sources, in order; the coordinator merges while settling too.
    ok(&db, &["settle", &id, "--as", "lead"]);
    let merged = ok(
        &db,
        &[
            "merge",
            &id,
            "--from",
            "art-8",
            "art-14",
            "--content",
            "the guide",
            "--as",
            "lead",
        ],
    );
    assert!(merged.starts_with("art-19 text by lead at "), "{merged}");
    assert!(merged.ends_with(" from art-8,art-14\n"), "{merged}");
    let merge = json(&db, &["artifacts", &id, "--agent", "lead"]);
    let artifact = &merge["artifacts"][0];
    assert_eq!(artifact["sources"], serde_json::json!(["art-8", "art-14"]));
    assert_eq!(
        ok(
            &db,
            &["artifacts", &id, "--agent", "lead", "--as", "reviewer"]
        ),
        format!(
            "lead  idle  1 artifact\nart-19 text by lead at {} from art-8,art-14\n  | the guide\n",
            field(artifact, "created-at")
        )
    );
    let unknown = fails(
        &db,
        &[
            "merge",
            &id,
            "--from",
            "art-99",
            "--content",
            "x",
            "--as",
            "lead",
        ],
    );
    assert!(unknown.contains("art-99"), "{unknown}");

    // Facts are for active arenas: a settling one refuses them.
    let late = fails(
        &db,
        &[
            "fact",
            &id,
            "--as",
            "reviewer",
            "--content",
            "x",
            "--confidence",
            "0.5",
        ],
    );
    assert!(late.contains("invalid state"), "{late}");

    let archived = ok(&db, &["archive", &id, "--as", "lead"]);
    // The report ends at the archiving event, the head `arena head` prints.
    let head = ok(&db, &["head", &id]);
    let hash = head
        .trim()
        .strip_prefix("20:")
        .expect("the head is event 20");
    assert_eq!(
        archived,
        format!(
            "archived\n\
             report\n\
             \x20 outcome    completed\n\
             \x20 result     art-19\n\
             \x20 steps      5/5 complete\n\
             \x20 facts      1\n\
             \x20 artifacts  4 (1 merge)\n\
             \x20 events     20\n\
             \x20 head       20:{hash}\n\
             \x20 contributions\n\
             \x20   drafter  2 steps, 2 artifacts, 0 facts\n\
             \x20   editor  1 step, 0 artifacts, 0 facts\n\
             \x20   lead  0 steps, 1 artifact, 0 facts\n\
             \x20   reviewer  2 steps, 1 artifact, 1 fact\n"
        )
    );
    let shown = json(&db, &["show", &id]);
    assert_eq!(shown["status"], "archived");
    assert_eq!(
        shown["report"],
        serde_json::json!({
            "outcome": "completed", "completed-steps": 5, "total-steps": 5, "facts": 1,
            "artifacts": 4, "merges": 1, "events": 20,
            "contributions": [
                { "agent": "drafter", "steps": 2, "artifacts": 2, "facts": 0 },
                { "agent": "editor", "steps": 1, "artifacts": 0, "facts": 0 },
                { "agent": "lead", "steps": 0, "artifacts": 1, "facts": 0 },
                { "agent": "reviewer", "steps": 2, "artifacts": 1, "facts": 1 },
            ],
            "result": "art-19", "head-seq": 20, "head-hash": hash,
        })
    );
    assert_eq!(ok(&db, &["result", &id]), "the guide\n");
    // The report's head is an anchor `verify --expect` takes.
    let anchor = format!("20:{hash}");
    assert!(ok(&db, &["verify", &id, "--expect", &anchor]).starts_with("ok: 20 events"));
    let text = ok(&db, &["show", &id]);
    assert!(
        text.ends_with(&archived["archived\n".len()..]),
        "show lacks the report:\n{text}"
    );
    assert!(ok(&db, &["verify", &id]).starts_with("ok: 20 events"));
}

#[test]
fn facts_are_shared_then_queried_by_tag_and_text_within_and_across_arenas() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let north = create(&db);
    let south = create(&db);
    for id in [&north, &south] {
        ok(&db, &["activate", id, "--as", "lead"]);
    }
    let add = |id: &str, agent: &str, content: &str, confidence: &str, tags: &[&str]| {
        let mut args = vec![
            "fact",
            id,
            "--as",
            agent,
            "--content",
            content,
            "--confidence",
            confidence,
        ];
        for tag in tags {
            args.extend(["--tag", tag]);
        }
        json(&db, &args)
    };
    let street = add(
        &north,
        "wendy",
        "Die Straße zum Hafen ist nass",
        "0.9",
        &["harbour", "de"],
    );
    assert_eq!(street["id"], "fact-6");
    assert_eq!(street["source"], "wendy");
    assert_eq!(street["arena"], north.as_str());
    assert_eq!(street["tags"], serde_json::json!(["harbour", "de"]));
    let coral = add(
        &north,
        "lead",
        "Coral bleaching below 30 m",
        "0.75",
        &["reef"],
    );
    let sharks = add(
        &south,
        "wendy",
        "Reef sharks at the drop-off",
        "1",
        &["reef", "sharks"],
    );
    add(&south, "wendy", "The boat leaks", "0.5", &[]);

    // Human output: the fact's line, then its content; `fact` prints the line.
    let at = |fact: &serde_json::Value| field(fact, "created-at").to_string();
    let printed = ok(
        &db,
        &[
            "--key",
            "f1",
            "fact",
            &south,
            "--as",
            "lead",
            "--content",
            "Calm seas",
            "--confidence",
            "0.25",
        ],
    );
    assert!(printed.starts_with("fact-8 by lead at "), "{printed}");
    assert!(printed.ends_with(", confidence 0.25\n"), "{printed}");
    let retried = ok(
        &db,
        &[
            "--key",
            "f1",
            "fact",
            &south,
            "--as",
            "lead",
            "--content",
            "Calm seas",
            "--confidence",
            "0.25",
        ],
    );
    assert_eq!(retried, printed);

    // Text matching folds case the Unicode way: STRASSE finds Straße.
    assert_eq!(
        ok(&db, &["facts", &north, "--text", "STRASSE"]),
        format!(
            "fact-6 by wendy at {}, confidence 0.9, tags harbour,de\n  | Die Straße zum Hafen ist nass\n",
            at(&street)
        )
    );
    assert_eq!(
        ok(&db, &["facts", &north, "--tag", "reef"]),
        format!(
            "fact-7 by lead at {}, confidence 0.75, tags reef\n  | Coral bleaching below 30 m\n",
            at(&coral)
        )
    );
    assert_eq!(
        ok(
            &db,
            &["facts", &north, "--tag", "reef", "--text", "strasse"]
        ),
        ""
    );
    assert_eq!(ok(&db, &["--json", "facts", &south]).lines().count(), 3);

    // Across arenas the tag is required, and each fact names its arena, in arena order.
    let across = ok(&db, &["facts", "--tag", "reef"]);
    assert_eq!(
        across,
        format!(
            "{north} fact-7 by lead at {}, confidence 0.75, tags reef\n  | Coral bleaching below 30 m\n\
             {south} fact-6 by wendy at {}, confidence 1, tags reef,sharks\n  | Reef sharks at the drop-off\n",
            at(&coral),
            at(&sharks)
        )
    );
    let lines: Vec<serde_json::Value> = ok(
        &db,
        &["--json", "facts", "--tag", "reef", "--text", "SHARK"],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(lines, std::slice::from_ref(&sharks));
    let untagged = fails(&db, &["facts"]);
    assert!(untagged.contains("needs a tag"), "{untagged}");
    let observer = fails(
        &db,
        &[
            "fact",
            &north,
            "--as",
            "otto",
            "--content",
            "x",
            "--confidence",
            "0.5",
        ],
    );
    assert!(
        observer.contains("permission denied: needs share-facts"),
        "{observer}"
    );
    let bad = fails(
        &db,
        &[
            "fact",
            &north,
            "--as",
            "wendy",
            "--content",
            "x",
            "--confidence",
            "1.5",
        ],
    );
    assert!(bad.contains("confidence"), "{bad}");

    // Aborting prints the report too; the facts stay queryable afterwards.
    let aborted = json(&db, &["abort", &south, "--reason", "storm", "--as", "lead"]);
    assert_eq!(aborted["status"], "archived");
    let head = json(&db, &["head", &south]);
    assert_eq!(
        aborted["report"],
        serde_json::json!({
            "outcome": "aborted: storm", "completed-steps": 0, "total-steps": 3, "facts": 3,
            "artifacts": 0, "merges": 0, "events": 9,
            "contributions": [
                { "agent": "lead", "steps": 0, "artifacts": 0, "facts": 1 },
                { "agent": "otto", "steps": 0, "artifacts": 0, "facts": 0 },
                { "agent": "wendy", "steps": 0, "artifacts": 0, "facts": 2 },
            ],
            "result": null, "head-seq": 9, "head-hash": head["hash"],
        })
    );
    assert_eq!(head["seq"], 9);
    assert_eq!(
        fails(&db, &["result", &south]),
        format!(
            "error: arena {south} has no result: it was aborted (storm), and an abort accepts none \
             (its artifacts stay readable: arena artifacts {south})\n"
        )
    );
    assert_eq!(ok(&db, &["facts", "--tag", "reef"]), across);
}

#[test]
fn stages_and_strategies_are_checked_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let base = [
        "create",
        "--goal",
        "g",
        "--steps",
        "2",
        "--participant",
        "lead:coordinator",
        "--participant",
        "ada:worker",
    ];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    let stderr = fails(&db, &with(&["--stage", "ada:1-2"]));
    assert!(
        stderr.contains("--stage needs --strategy pipeline"),
        "{stderr}"
    );
    let stderr = fails(&db, &with(&["--strategy", "peer", "--stage", "ada:1-2"]));
    assert!(
        stderr.contains("--stage needs --strategy pipeline"),
        "{stderr}"
    );
    let stderr = fails(&db, &with(&["--strategy", "pipeline"]));
    assert!(stderr.contains("--stage"), "{stderr}");
    for (stage, complaint) in [
        ("ada", "is not AGENT:STEPS"),
        ("ada:", "owns no steps"),
        (":1-2", "names no agent"),
        ("ada:1-x", r#""x" is not a step number"#),
        ("ada:1,,2", r#""" is not a step number"#),
        ("ada:1-2:lead,", "an empty agent"),
    ] {
        let stderr = fails(&db, &with(&["--strategy", "pipeline", "--stage", stage]));
        assert!(stderr.contains(complaint), "{stage}: {stderr}");
    }
    // The arena itself checks what the stages mean.
    let stderr = fails(
        &db,
        &with(&[
            "--strategy",
            "pipeline",
            "--stage",
            "ada:1",
            "--stage",
            "lead:2:ada,lead",
        ]),
    );
    assert!(stderr.contains("invalid input"), "{stderr}");
    assert_eq!(ok(&db, &["list"]), "");

    // A pipeline's coordinator is --coordinator, or the first coordinator listed.
    let id = ok(
        &db,
        &with(&["--strategy", "pipeline", "--stage", "ada:1-2"]),
    );
    let shown = json(&db, &["show", id.trim()]);
    assert_eq!(shown["strategy"]["pipeline"]["coordinator"], "lead");
    let id = ok(
        &db,
        &with(&[
            "--participant",
            "boss:coordinator",
            "--coordinator",
            "boss",
            "--strategy",
            "pipeline",
            "--stage",
            "ada:1-2",
        ]),
    );
    let shown = json(&db, &["show", id.trim()]);
    assert_eq!(shown["strategy"]["pipeline"]["coordinator"], "boss");
}

#[test]
fn the_benchmark_runs_every_case_and_prints_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures");
    let out = program()
        .args(["bench", "--smoke", "--fixtures"])
        .arg(&fixtures)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("durability: normal"), "{table}");
    for case in [
        "durable complete-step",
        "worker turn",
        "group commit",
        "instantiate a plugin",
        "resident memory per live plugin instance",
        "llm-agent turn, 4 tool calls",
        "replay + verify",
        "cold start",
        "console (",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(case))
            .unwrap_or_else(|| panic!("no {case:?} row:\n{table}"));
        assert!(row.contains('×'), "{row}");
    }
    // The replay fixture is built once and kept, and so are the console's arenas.
    assert!(std::fs::read_dir(&fixtures).unwrap().count() >= 1);
    assert!(
        std::fs::read_dir(&fixtures)
            .unwrap()
            .filter_map(Result::ok)
            .any(|f| f
                .file_name()
                .to_string_lossy()
                .starts_with("console-1000-v")),
        "no console fixture in {}",
        fixtures.display()
    );
}

#[test]
fn ctrl_c_stops_a_run_cleanly_keeping_everything_acknowledged() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let manifest = long_run_manifest(dir.path());
    let mut run = program()
        .arg("--db")
        .arg(&db)
        .arg("run")
        .arg(&manifest)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 20 {
        let line = lines.next().expect("the run ended early").unwrap();
        acknowledged.extend(acknowledged_steps(&line));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    acknowledged.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| acknowledged_steps(&l)),
    );
    let mut stderr = String::new();
    run.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = run.wait().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_survived(&db, &acknowledged);
}

#[test]
fn a_reader_that_goes_away_ends_the_program_quietly() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let mut demo = program()
        .arg("--db")
        .arg(&db)
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(demo.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (as `| head -1` goes); the demo still has much to print.
    let mut stderr = String::new();
    demo.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = demo.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn a_refused_manifest_creates_no_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let plugins = "[[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
                   [[plugin]]\nagent = \"w\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n";
    let refusals = [
        // A team with no memory to run in.
        (
            format!("[arena]\ngoal = \"g\"\nsteps = 1\n[run]\nmemory_mb = 0\n{plugins}"),
            "[run] memory_mb is 0",
        ),
        // A component that is not there.
        (
            format!(
                "[arena]\ngoal = \"g\"\nsteps = 1\n{plugins}[[plugin]]\nagent = \"x\"\nrole = \"worker\"\ncomponent = \"missing.wasm\"\n"
            ),
            "missing.wasm",
        ),
        // A new arena without its steps.
        (
            format!("[arena]\ngoal = \"g\"\n{plugins}"),
            "needs `goal` and `steps`",
        ),
    ];
    for (text, expected) in refusals {
        let manifest = dir.path().join("team.toml");
        std::fs::write(&manifest, &text).unwrap();
        let stderr = fails(&db, &["run", manifest.to_str().unwrap()]);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!db.exists(), "a refused manifest created {}", db.display());
    }
}
