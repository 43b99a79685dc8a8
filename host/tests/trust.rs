//! What the log guarantees against a database changed behind the program's back: kept snapshots
//! checked against the chain, a log cut back refused or caught by an anchor kept elsewhere.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

mod common;

use arena_host::types::{ArenaConfig, ParticipantSpec, Role, Strategy};
use arena_host::{ArenaHost, HostOptions};

use common::{arena, fails, ok};

/// An active arena of a lead and a worker.
fn active(db: &Path) -> String {
    let id = ok(
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
        ],
    )
    .trim()
    .to_string();
    ok(db, &["activate", &id, "--as", "lead"]);
    id
}

/// Puts an artifact large enough that the append keeps a snapshot; returns the snapshot's event.
fn keep_a_snapshot(db: &Path, id: &str) -> u64 {
    let content = db.with_file_name("large.txt");
    std::fs::write(&content, "r".repeat(65_000)).unwrap();
    ok(
        db,
        &[
            "put",
            id,
            "--kind",
            "text",
            "--file",
            content.to_str().unwrap(),
            "--as",
            "wendy",
        ],
    );
    let conn = rusqlite::Connection::open(db).unwrap();
    let (kept, head): (u64, u64) = conn
        .query_row(
            "SELECT (SELECT max(seq) FROM snapshots WHERE arena_id = ?1),
                    (SELECT head_seq FROM arenas WHERE id = ?1)",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(kept, head, "the large append keeps a snapshot");
    kept
}

/// Cuts the log and its head back to event `seq`, consistently, as someone holding the file could.
fn cut_to(db: &Path, id: &str, seq: u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_delete").unwrap();
    conn.execute(
        "DELETE FROM events WHERE arena_id = ?1 AND seq > ?2",
        rusqlite::params![id, seq],
    )
    .unwrap();
    conn.execute(
        "UPDATE arenas SET (head_seq, head_hash) =
             (SELECT seq, hash FROM events WHERE arena_id = ?1 AND seq = ?2)
         WHERE id = ?1",
        rusqlite::params![id, seq],
    )
    .unwrap();
}

/// Rewrites event `seq` of arena `id` with `from` replaced by `to` in its payload, and re-hashes the
/// events from it through event `through`, short of the head: a forgery that chains as far as it
/// goes, as someone with write access to the file would leave it.
fn forge_rehashed(db: &Path, id: &str, seq: u64, (from, to): (&str, &str), through: u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    let hash_of = |seq: u64| -> String {
        conn.query_row(
            "SELECT hash FROM events WHERE arena_id = ?1 AND seq = ?2",
            rusqlite::params![id, seq],
            |row| row.get(0),
        )
        .unwrap()
    };
    let mut prev = if seq == 1 {
        String::new()
    } else {
        hash_of(seq - 1)
    };
    for at_seq in seq..=through {
        let (at, actor, kind, mut payload): (String, String, String, String) = conn
            .query_row(
                "SELECT at, actor, kind, payload FROM events WHERE arena_id = ?1 AND seq = ?2",
                rusqlite::params![id, at_seq],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .unwrap();
        if at_seq == seq {
            assert!(payload.contains(from), "{payload}");
            payload = payload.replace(from, to);
        }
        let hash = arena_component::events::chain_hash(&prev, at_seq, &kind, &actor, &at, &payload);
        conn.execute(
            "UPDATE events SET payload = ?3, hash = ?4 WHERE arena_id = ?1 AND seq = ?2",
            rusqlite::params![id, at_seq, payload, hash],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn a_past_forged_and_rehashed_short_of_the_head_is_refused_by_show_at_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    for step in ["1", "2", "3"] {
        ok(&db, &["step", &id, step, "--as", "wendy"]);
    }
    let seq: u64 = head(&db, &id).split_once(':').unwrap().0.parse().unwrap();
    let worker: serde_json::Value =
        serde_json::from_str(&ok(&db, &["--json", "show", &id, "--at", "3"])).unwrap();
    assert!(worker.to_string().contains("wendy"), "{worker}");
    // Event 3 is wendy joining as a worker: forged into a coordinator, re-hashed through the event
    // before the last, so only the last event no longer follows.
    forge_rehashed(
        &db,
        &id,
        3,
        (r#""role":"worker""#, r#""role":"coordinator""#),
        seq - 1,
    );
    let refused = format!(
        "arena {id}: event {seq} does not chain to the event before: the log was altered \
         (`arena verify {id}` names the damage)"
    );
    let shown = fails(&db, &["show", &id, "--at", "3"]);
    assert!(shown.contains(&refused), "{shown}");
    let page = fails(&db, &["events", &id, "--after", "2", "--limit", "2"]);
    assert!(page.contains(&refused), "{page}");
    let verified = fails(&db, &["verify", &id]);
    assert!(verified.contains(&format!("event {seq}")), "{verified}");
}

/// `arena head`: `SEQ:HASH`.
fn head(db: &Path, id: &str) -> String {
    let head = ok(db, &["head", id]).trim().to_string();
    let (seq, hash) = head.split_once(':').expect("SEQ:HASH");
    assert!(seq.parse::<u64>().is_ok(), "{head}");
    assert_eq!(hash.len(), 64, "{head}");
    head
}

#[test]
fn a_one_byte_edit_of_a_snapshot_on_disk_is_dropped_with_a_warning_and_never_built_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let kept = keep_a_snapshot(&db, &id);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER snapshots_no_update")
        .unwrap();
    let edited = conn
        .execute(
            "UPDATE snapshots SET state = replace(state, '\"completed_steps\":0', '\"completed_steps\":2')
             WHERE arena_id = ?1 AND seq = ?2",
            rusqlite::params![id, kept],
        )
        .unwrap();
    assert_eq!(edited, 1);
    drop(conn);

    let shown = arena(&db, &["--json", "show", &id]);
    assert!(shown.status.success());
    let state: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(state["aggregate"]["completed-steps"], 0, "the log's count");
    let warning = String::from_utf8_lossy(&shown.stderr);
    assert!(
        warning.contains(&format!(
            "warning: arena {id}: the snapshot at event {kept} does not have the digest its \
             event records; it is not used"
        )),
        "{warning}"
    );
    // A write builds on the state the log holds: the log still replays to the end.
    assert!(ok(&db, &["step", &id, "1", "--as", "wendy"]).contains("1/3"));
    let refused = fails(&db, &["verify", &id]);
    assert!(
        refused.contains(&format!(
            "the snapshot at event {kept} does not have the digest its event records"
        )),
        "{refused}"
    );
}

#[test]
fn a_log_truncated_below_a_snapshot_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let kept = keep_a_snapshot(&db, &id);
    cut_to(&db, &id, kept - 1);
    let refused = fails(&db, &["step", &id, "1", "--as", "wendy"]);
    assert!(
        refused.contains(&format!(
            "a snapshot is kept at event {kept}, after the log's head at event {}: the log was \
             cut back, so nothing was written",
            kept - 1
        )),
        "{refused}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let events: u64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE arena_id = ?1",
            [&id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(events, kept - 1, "nothing written");
    let verified = fails(&db, &["verify", &id]);
    assert!(
        verified.contains(&format!("a snapshot is kept at event {kept}")),
        "{verified}"
    );
}

#[test]
fn a_consistent_truncation_is_caught_by_verify_expect() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let early = head(&db, &id);
    ok(&db, &["step", &id, "1", "--as", "wendy"]);
    let anchor = head(&db, &id);
    assert!(ok(&db, &["verify", &id, "--expect", &anchor]).contains("has the expected hash"));
    let seq: u64 = anchor.split_once(':').unwrap().0.parse().unwrap();

    cut_to(&db, &id, seq - 1);
    // The chain and the head agree: only the anchor shows the cut.
    ok(&db, &["verify", &id]);
    ok(&db, &["verify", &id, "--expect", &early]);
    let refused = fails(&db, &["verify", &id, "--expect", &anchor]);
    let hash = anchor.split_once(':').unwrap().1;
    assert!(
        refused.contains(&format!(
            "the log no longer holds event {seq}, which had hash {hash}: it was cut back (it now \
             ends at event {})",
            seq - 1
        )),
        "{refused}"
    );
}

#[test]
fn verify_expect_names_a_hash_that_differs_and_refuses_a_malformed_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let anchor = head(&db, &id);
    let (seq, _) = anchor.split_once(':').unwrap();
    let other = format!("{seq}:{}", "0".repeat(64));
    let refused = fails(&db, &["verify", &id, "--expect", &other]);
    assert!(
        refused.contains(&format!("event {seq} has hash")) && refused.contains("not the expected"),
        "{refused}"
    );
    let malformed = fails(&db, &["verify", &id, "--expect", "12"]);
    assert!(malformed.contains("is not SEQ:HASH"), "{malformed}");
}

/// A host on `db`, as another process on the same file would be.
fn host(db: &Path) -> ArenaHost {
    let options = HostOptions {
        component_cache: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..HostOptions::default()
    };
    ArenaHost::open(db, options).expect("open the database")
}

#[test]
fn verify_while_three_writers_append_reports_no_damage_in_100_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let writers = ["w1", "w2", "w3"];
    let reader = host(&db);
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
                let host = host(&db);
                let handle = host.handle(&id, &agent).unwrap();
                // Notes large enough that snapshots are kept while verify reads.
                let note = "n".repeat(1000);
                while !stop.load(Ordering::Relaxed) {
                    handle.report_progress(&note).unwrap();
                    written.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
        })
        .collect();
    // A log of some length, so that each run reads several pages while the writers append.
    while written.load(Ordering::Relaxed) < 300 {
        std::thread::yield_now();
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
    assert_eq!(reader.verify(&id).unwrap().problem, None);
}

/// Runs the program as a user who may not write `db` or its folder: as root, permission bits do not
/// apply, so it drops to `nobody` (uid 65534) with `setpriv`.
fn as_reader(db: &Path, args: &[&str]) -> std::process::Output {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut command = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_arena"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_arena"))
    };
    command
        .env("HOME", "/nonexistent")
        .arg("--no-cache")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run arena as a reader (setpriv is part of util-linux)")
}

#[test]
fn a_copy_of_a_wal_database_without_its_shm_in_a_read_only_folder_is_refused_not_shown_stale() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let copy = dir.path().join("copy");
    std::fs::create_dir(&live).unwrap();
    std::fs::create_dir(&copy).unwrap();
    let db = live.join("a.db");
    let writer = host(&db);
    let id = writer
        .create(&ArenaConfig {
            goal: "survey the reef".into(),
            total_steps: 5,
            strategy: Strategy::Peer("lead".into()),
            participants: vec![
                ParticipantSpec {
                    agent: "lead".into(),
                    role: Role::Coordinator,
                    permissions: None,
                },
                ParticipantSpec {
                    agent: "wendy".into(),
                    role: Role::Worker,
                    permissions: None,
                },
            ],
            created_by: "operator".into(),
        })
        .unwrap();
    writer.handle(&id, "lead").unwrap().activate().unwrap();
    let wendy = writer.handle(&id, "wendy").unwrap();
    for step in 1..=5 {
        wendy.complete_step(step).unwrap();
    }
    // Copied while the writer is open: the acknowledged steps are in the `-wal`, not yet in the file.
    for name in ["a.db", "a.db-wal"] {
        std::fs::copy(live.join(name), copy.join(name)).unwrap();
    }
    drop(wendy);
    drop(writer);
    let copied = copy.join("a.db");
    assert!(
        std::fs::metadata(copy.join("a.db-wal")).unwrap().len() > 0,
        "the copy's write-ahead log holds the steps"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["a.db", "a.db-wal"] {
        std::fs::set_permissions(copy.join(name), std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o555)).unwrap();

    for args in [&["--json", "show", &id][..], &["verify", &id], &["check"]] {
        let out = as_reader(&copied, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "arena {args:?} read the file alone: {stdout}"
        );
        assert!(
            format!("{stdout}{stderr}").contains("holds changes that cannot be read here"),
            "arena {args:?}: {stdout}{stderr}"
        );
    }
}
