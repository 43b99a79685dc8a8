//! The `arena` program, run as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn arena(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arena"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run arena")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = arena(db, args);
    assert!(
        out.status.success(),
        "arena {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

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
        "arena-settling",
        "arena-archived",
        "activated the arena",
        "completed step 6",
        "all 6 steps done: settling",
        "archived the arena",
        "hash chain intact",
        "archived (completed)",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
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
    let mut follower = Command::new(env!("CARGO_BIN_EXE_arena"))
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

#[test]
fn a_killed_writer_loses_nothing_it_acknowledged() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let manifest = dir.path().join("long.toml");
    std::fs::write(
        &manifest,
        "[arena]\ngoal = \"a long haul\"\nsteps = 100000\n[run]\nmax_rounds = 100000\n\
         [[plugin]]\nagent = \"lead\"\nrole = \"coordinator\"\ncomponent = \"builtin:coordinator\"\n\
         [[plugin]]\nagent = \"ada\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n\
         [[plugin]]\nagent = \"bob\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n",
    )
    .unwrap();
    let mut writer = Command::new(env!("CARGO_BIN_EXE_arena"))
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
        if let Some(rest) = line.split("completed step ").nth(1) {
            acknowledged.push(rest.split(' ').next().unwrap().parse::<u32>().unwrap());
        }
    }
    writer.kill().unwrap(); // SIGKILL: no destructor, no flush, no rollback of our own
    writer.wait().unwrap();
    // Whatever reached the pipe before the kill was acknowledged too.
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.split("completed step ").nth(1) {
            acknowledged.push(rest.split(' ').next().unwrap().parse::<u32>().unwrap());
        }
    }

    let listed = ok(&db, &["list"]);
    let id = listed.split_whitespace().next().unwrap().to_string();
    assert!(ok(&db, &["verify", &id]).starts_with("ok:"));
    let events = ok(&db, &["--json", "events", &id]);
    let done: std::collections::BTreeSet<u64> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "step-completed")
        .map(|e| e["payload"]["step"].as_u64().unwrap())
        .collect();
    for step in acknowledged {
        assert!(
            done.contains(&u64::from(step)),
            "acknowledged step {step} was lost"
        );
    }
}
