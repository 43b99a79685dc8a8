//! Several hosts share arenas through one PostgreSQL database: `arena` processes, as an operator runs
//! them on several machines, each running plugins or following the log.
//!
//! Needs `ARENA_TEST_POSTGRES`, so every test is `#[ignore]`d under a plain `cargo test` (reported as
//! ignored, never as passed): `.ci/run` starts a throwaway cluster with
//! `tests/postgres/with-postgres.sh` and runs them with `--include-ignored`. Run without a database,
//! they fail.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A database of its own for one test: a fresh schema in the test database.
fn database(test: &str) -> String {
    let Ok(base) = std::env::var("ARENA_TEST_POSTGRES") else {
        panic!(
            "{test}: ARENA_TEST_POSTGRES is not set: run it through \
             tests/postgres/with-postgres.sh"
        );
    };
    let schema = format!(
        "h_{test}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

fn program(db: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_arena"));
    command.arg("--db").arg(db).env(
        "ARENA_CACHE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
    );
    command
}

fn ok(db: &str, args: &[&str]) -> String {
    let out = program(db).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "arena {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A new active arena of `steps` steps with a coordinator and workers `w1`…`w{workers}`.
fn shared_arena(db: &str, steps: u32, workers: usize) -> String {
    let mut args = vec![
        "create".to_string(),
        "--goal".into(),
        "count the delta's birds".into(),
        "--steps".into(),
        steps.to_string(),
        "--participant".into(),
        "lead:coordinator".into(),
    ];
    for w in 1..=workers {
        args.push("--participant".into());
        args.push(format!("w{w}:worker"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = ok(db, &args).trim().to_string();
    ok(db, &["activate", &id, "--as", "lead"]);
    id
}

/// A manifest that resumes `arena` with the sample worker acting as `agent`.
fn worker_manifest(dir: &Path, arena: &str, agent: &str, rounds: u32) -> PathBuf {
    let path = dir.join(format!("{arena}-{agent}.toml"));
    std::fs::write(
        &path,
        format!(
            "[arena]\nid = \"{arena}\"\n\n[run]\nmax_rounds = {rounds}\n\n\
             [[plugin]]\nagent = \"{agent}\"\nrole = \"worker\"\ncomponent = \"builtin:worker\"\n"
        ),
    )
    .unwrap();
    path
}

fn run(db: &str, manifest: &Path) -> Child {
    program(db)
        .arg("run")
        .arg(manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn follow(db: &str, arena: &str) -> Child {
    program(db)
        .args(["--json", "events", arena, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn info(db: &str, arena: &str) -> Value {
    serde_json::from_str(&ok(db, &["--json", "show", arena])).unwrap()
}

fn events(db: &str, arena: &str) -> Vec<Value> {
    ok(db, &["--json", "events", arena])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The steps completed in `events`, by agent (all agents for `None`).
fn steps(events: &[Value], agent: Option<&str>) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e["kind"] == "step-completed")
        .filter(|e| agent.is_none_or(|a| e["actor"] == a))
        .map(|e| e["payload"]["step"].as_u64().unwrap())
        .collect()
}

/// What a follower printed until it was stopped, as events.
fn stop_following(mut follower: Child) -> Vec<Value> {
    follower.kill().unwrap();
    let mut out = String::new();
    follower
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    follower.wait().unwrap();
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Three hosts run worker plugins on two shared arenas at once while three other hosts follow one
/// of them: every step is completed exactly once, every log is gapless and verifies from each host,
/// and each follower saw every event of the log, in order.
#[test]
#[ignore = "needs PostgreSQL: run via tests/postgres/with-postgres.sh"]
fn three_hosts_complete_shared_arenas_without_losing_or_repeating_a_step() {
    let db = database("three_hosts");
    const STEPS: u32 = 36;
    let dir = tempfile::tempdir().unwrap();
    let arenas = [shared_arena(&db, STEPS, 3), shared_arena(&db, STEPS, 3)];
    let followers: Vec<Child> = (0..3).map(|_| follow(&db, &arenas[0])).collect();
    let runs: Vec<Child> = arenas
        .iter()
        .flat_map(|arena| (1..=3).map(|w| worker_manifest(dir.path(), arena, &format!("w{w}"), 40)))
        .map(|manifest| run(&db, &manifest))
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a host failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for arena in &arenas {
        let log = events(&db, arena);
        let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=log.len() as u64).collect::<Vec<_>>(), "a gap");
        let mut done = steps(&log, None);
        done.sort_unstable();
        assert_eq!(
            done,
            (1..=u64::from(STEPS)).collect::<Vec<_>>(),
            "steps lost or repeated"
        );
        assert_eq!(info(&db, arena)["aggregate"]["completed-steps"], STEPS);
        // `verify` from each host.
        for _ in 0..3 {
            assert!(ok(&db, &["verify", arena]).starts_with("ok:"));
        }
    }
    // The followers catch up (a notification wakes them; the log is read in any case).
    let expected = events(&db, &arenas[0]);
    std::thread::sleep(Duration::from_millis(2500));
    for follower in followers {
        let seen = stop_following(follower);
        assert_eq!(seen, expected, "a follower missed or reordered events");
    }
}

/// A host killed with SIGKILL in the middle of a run loses nothing it acknowledged, and the hosts
/// still running finish the arena.
#[test]
#[ignore = "needs PostgreSQL: run via tests/postgres/with-postgres.sh"]
fn a_host_killed_mid_run_loses_no_acknowledged_step_and_the_others_carry_on() {
    let db = database("killed_host");
    // Enough steps that the victim acknowledges a few long before the others could finish alone.
    const STEPS: u32 = 150;
    let dir = tempfile::tempdir().unwrap();
    let arena = shared_arena(&db, STEPS, 3);
    let mut victim = run(&db, &worker_manifest(dir.path(), &arena, "w1", 200));
    let others: Vec<Child> = (2..=3)
        .map(|w| {
            run(
                &db,
                &worker_manifest(dir.path(), &arena, &format!("w{w}"), 200),
            )
        })
        .collect();
    // Kill the victim once it has acknowledged a few steps.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let by_victim = steps(&events(&db, &arena), Some("w1")).len();
        if by_victim >= 3 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    victim.kill().unwrap(); // SIGKILL
    let out = victim.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    // Every step the victim's plugin was told was done (and printed) is in the log, as the victim's.
    let acknowledged: Vec<u64> = printed
        .lines()
        .filter_map(|l| l.split("completed step ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "the victim acknowledged nothing:\n{printed}"
    );
    for other in others {
        let out = other.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = events(&db, &arena);
    let by_victim = steps(&log, Some("w1"));
    for step in &acknowledged {
        assert!(
            by_victim.contains(step),
            "acknowledged step {step} was lost"
        );
    }
    let mut done = steps(&log, None);
    done.sort_unstable();
    assert_eq!(done, (1..=u64::from(STEPS)).collect::<Vec<_>>());
    assert!(ok(&db, &["verify", &arena]).starts_with("ok:"));
}
