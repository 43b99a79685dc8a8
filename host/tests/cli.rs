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
        let mut writer = Command::new(env!("CARGO_BIN_EXE_arena"))
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
