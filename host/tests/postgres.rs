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

/// Copies every row of the SQLite database `sqlite` into the same tables of the PostgreSQL client.
fn copy_rows(sqlite: &rusqlite::Connection, pg: &mut postgres::Client) {
    let mut arenas = sqlite
        .prepare("SELECT id, status, head_seq, head_hash, snapshot FROM arenas")
        .unwrap();
    let rows = arenas
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, status, seq, hash, snapshot) = row.unwrap();
        pg.execute(
            "INSERT INTO arenas (id, status, head_seq, head_hash, snapshot) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &status, &seq, &hash, &snapshot],
        )
        .unwrap();
    }
    let mut events = sqlite
        .prepare("SELECT arena_id, seq, at, actor, kind, payload, hash FROM events")
        .unwrap();
    let rows = events
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                [
                    r.get::<_, String>(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ],
            ))
        })
        .unwrap();
    for row in rows {
        let (arena, seq, [at, actor, kind, payload, hash]) = row.unwrap();
        pg.execute(
            "INSERT INTO events (arena_id, seq, at, actor, kind, payload, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&arena, &seq, &at, &actor, &kind, &payload, &hash],
        )
        .unwrap();
    }
    for (table, first) in [("members", "agent"), ("arena_tags", "tag")] {
        let mut pairs = sqlite
            .prepare(&format!("SELECT {first}, arena_id FROM {table}"))
            .unwrap();
        let rows = pairs
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        for row in rows {
            let (value, arena) = row.unwrap();
            pg.execute(
                &format!("INSERT INTO {table} ({first}, arena_id) VALUES ($1, $2)"),
                &[&value, &arena],
            )
            .unwrap();
        }
    }
}

#[test]
#[ignore = "needs PostgreSQL: run via tests/postgres/with-postgres.sh"]
fn a_database_written_by_schema_version_4_migrates_verifies_and_goes_on_writing() {
    use arena_host::db::postgres::MIGRATIONS;
    use arena_host::{ArenaHost, HostOptions, Location};
    let db = database("schema4");
    // The fixture's rows, in the schema version 4 created, as the release before wrote them.
    let fixture = rusqlite::Connection::open_in_memory().unwrap();
    fixture
        .execute_batch(include_str!("../../tests/fixtures/schema-v4.sql"))
        .unwrap();
    let mut pg = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    for sql in &MIGRATIONS[..4] {
        pg.batch_execute(sql).unwrap();
    }
    pg.batch_execute(
        "CREATE TABLE arena_schema (version INTEGER NOT NULL);
         INSERT INTO arena_schema (version) VALUES (4);",
    )
    .unwrap();
    copy_rows(&fixture, &mut pg);

    let host = ArenaHost::open_at(Location::Postgres(db.clone()), HostOptions::default()).unwrap();
    let version: i32 = pg
        .query_one("SELECT version FROM arena_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version as usize, MIGRATIONS.len());
    let kept: i64 = pg
        .query_one("SELECT count(*) FROM snapshots", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 4, "each arena's stored state is its first snapshot");
    let arenas = host.list(None, 10).unwrap();
    let events: Vec<u64> = arenas
        .iter()
        .map(|a| {
            let report = host.verify(&a.id).unwrap();
            assert_eq!(report.problem, None, "arena {}", a.id);
            report.events
        })
        .collect();
    assert_eq!(events, [13, 14, 6, 2]);
    let active = &arenas[0].id;
    assert_eq!(
        host.active_arenas_for("wendy").unwrap(),
        std::slice::from_ref(active)
    );
    let wendy = host.handle(active, "wendy").unwrap();
    wendy.complete_step(3).unwrap();
    wendy.report_progress("south side next").unwrap();
    drop(wendy);
    drop(host);
    let host = ArenaHost::open_at(Location::Postgres(db), HostOptions::default()).unwrap();
    assert_eq!(host.get(active).unwrap().aggregate.completed_steps, 3);
    let report = host.verify(active).unwrap();
    assert_eq!((report.events, report.problem), (15, None));
}

#[test]
#[ignore = "needs PostgreSQL: run via tests/postgres/with-postgres.sh"]
fn a_database_at_schema_version_5_migrates_and_keeps_agent_tokens() {
    use arena_host::db::postgres::MIGRATIONS;
    use arena_host::{ArenaHost, HostOptions, Location};
    let db = database("schema5");
    // The schema-4 fixture's rows, brought to version 5 by its own migration.
    let fixture = rusqlite::Connection::open_in_memory().unwrap();
    fixture
        .execute_batch(include_str!("../../tests/fixtures/schema-v4.sql"))
        .unwrap();
    let mut pg = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    for sql in &MIGRATIONS[..4] {
        pg.batch_execute(sql).unwrap();
    }
    copy_rows(&fixture, &mut pg);
    pg.batch_execute(MIGRATIONS[4]).unwrap();
    pg.batch_execute(
        "CREATE TABLE arena_schema (version INTEGER NOT NULL);
         INSERT INTO arena_schema (version) VALUES (5);",
    )
    .unwrap();

    let host = ArenaHost::open_at(Location::Postgres(db.clone()), HostOptions::default()).unwrap();
    let version: i32 = pg
        .query_one("SELECT version FROM arena_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version as usize, MIGRATIONS.len());
    let active = host.list(None, 1).unwrap().remove(0).id;
    assert!(host.tokens(None).unwrap().is_empty());
    let issued = host.issue_token(&active, "wendy", None, None).unwrap();
    drop(host);
    let host = ArenaHost::open_at(Location::Postgres(db), HostOptions::default()).unwrap();
    let wendy = host
        .resolve_token(issued.secret.expose(), Some(&active))
        .unwrap();
    wendy.complete_step(3).unwrap();
    let hashes: i64 = pg
        .query_one(
            "SELECT count(*) FROM tokens WHERE hash <> $1",
            &[&issued.secret.expose()],
        )
        .unwrap()
        .get(0);
    assert_eq!(hashes, 1, "the token's row keeps its hash, not the token");
    let report = host.verify(&active).unwrap();
    assert_eq!((report.events, report.problem), (14, None));
}

/// A host on the PostgreSQL database `db`, as another machine would open it.
fn pg_host(db: &str) -> arena_host::ArenaHost {
    let options = arena_host::HostOptions {
        component_cache: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..arena_host::HostOptions::default()
    };
    arena_host::ArenaHost::open_at(arena_host::Location::Postgres(db.to_string()), options)
        .expect("open the PostgreSQL database")
}

/// `verify` (and `arena check`, which verifies every arena) reads one view of the log on
/// PostgreSQL too, where each statement sees whatever committed before it: three hosts appending
/// while they read are never reported as damage.
#[test]
#[ignore = "needs PostgreSQL: run via tests/postgres/with-postgres.sh"]
fn verify_while_three_writers_append_on_postgres_reports_no_damage_in_100_runs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use arena_host::types::{ArenaConfig, ParticipantSpec, Role, Strategy};

    let db = database("verify_writers");
    let writers = ["w1", "w2", "w3"];
    let reader = pg_host(&db);
    let mut participants = vec![ParticipantSpec {
        agent: "lead".into(),
        role: Role::Coordinator,
        permissions: None,
    }];
    participants.extend(writers.iter().map(|w| ParticipantSpec {
        agent: (*w).into(),
        role: Role::Worker,
        permissions: None,
    }));
    let id = reader
        .create(&ArenaConfig {
            goal: "survey the reef".into(),
            total_steps: 10,
            strategy: Strategy::Peer("lead".into()),
            participants,
            created_by: "operator".into(),
        })
        .unwrap();
    reader.handle(&id, "lead").unwrap().activate().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = writers
        .iter()
        .map(|agent| {
            let (db, id, stop, written) = (db.clone(), id.clone(), stop.clone(), written.clone());
            let agent = agent.to_string();
            std::thread::spawn(move || {
                let host = pg_host(&db);
                let handle = host.handle(&id, &agent).unwrap();
                // Notes large enough that snapshots are kept while verify reads.
                let note = "n".repeat(1000);
                while !stop.load(Ordering::Relaxed) {
                    handle.report_progress(&note).unwrap();
                    written.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    // A log of some length, so that each run reads several pages while the writers append.
    while written.load(Ordering::Relaxed) < 300 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut alarms = Vec::new();
    let mut raced = 0;
    for _ in 0..100 {
        let before = written.load(Ordering::Relaxed);
        let report = reader.verify(&id).unwrap();
        if let Some(problem) = report.problem {
            alarms.push(problem);
        }
        raced += u32::from(written.load(Ordering::Relaxed) != before);
    }
    // `arena check` from other processes, while the writers still append.
    let mut checks = Vec::new();
    for _ in 0..5 {
        let before = written.load(Ordering::Relaxed);
        let out = program(&db)
            .args(["check", &id, "--json"])
            .output()
            .unwrap();
        if !out.status.success() {
            checks.push(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        raced += u32::from(written.load(Ordering::Relaxed) != before);
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let written = written.load(Ordering::Relaxed);
    assert!(
        raced > 0,
        "no verify run overlapped a write ({written} writes): the test proves nothing"
    );
    assert_eq!(alarms, Vec::<String>::new(), "{written} writes");
    assert_eq!(checks, Vec::<String>::new(), "{written} writes");
    assert_eq!(reader.verify(&id).unwrap().problem, None);
}
