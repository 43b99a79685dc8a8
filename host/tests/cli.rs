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
