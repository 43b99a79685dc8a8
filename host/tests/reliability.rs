//! What the `arena` program trusts and what it checks: idempotency keys, read-only databases,
//! damaged logs and files, and the messages for each.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{fails, ok};

const CREATE: &[&str] = &[
    "create",
    "--goal",
    "survey the reef",
    "--steps",
    "10",
    "--participant",
    "lead:coordinator",
    "--participant",
    "w1:worker",
];

/// An active arena with `lead` and `w1`.
fn active(db: &Path) -> String {
    let id = ok(db, CREATE).trim().to_string();
    ok(db, &["activate", &id, "--as", "lead"]);
    id
}

fn event_count(db: &Path, id: &str) -> usize {
    ok(db, &["--json", "events", id]).lines().count()
}

// ---- idempotency -------------------------------------------------------------------------------

#[test]
fn a_key_reused_for_another_step_is_refused_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let first = ok(&db, &["--key", "K1", "step", &id, "1", "--as", "w1"]);
    assert_eq!(first.trim(), "step 1 done: 1/10");
    let retried = ok(&db, &["--key", "K1", "step", &id, "1", "--as", "w1"]);
    assert_eq!(retried, first, "a retry prints the original result");
    let events = event_count(&db, &id);

    let refused = fails(&db, &["--key", "K1", "step", &id, "7", "--as", "w1"]);
    assert!(refused.contains("idempotency key \"K1\""), "{refused}");
    assert!(refused.contains("different operation"), "{refused}");
    assert_eq!(event_count(&db, &id), events, "nothing was written");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&db, &["--json", "show", &id])).unwrap();
    assert_eq!(shown["aggregate"]["completed-steps"], 1);
}

#[test]
fn a_key_reused_for_another_slot_status_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let set = ok(&db, &["--key", "K4", "slot", &id, "failed", "--as", "w1"]);
    assert_eq!(set.trim(), "slot of w1: failed");
    let refused = fails(&db, &["--key", "K4", "slot", &id, "done", "--as", "w1"]);
    assert!(refused.contains("\"K4\""), "{refused}");
    let slots = ok(&db, &["artifacts", &id]);
    assert!(slots.contains("failed"), "{slots}");
}

#[test]
fn a_keyed_create_retried_returns_the_same_arena() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let keyed = [&["--key", "C1"], CREATE].concat();
    let first = ok(&db, &keyed);
    let again = ok(&db, &keyed);
    assert_eq!(first, again);
    assert_eq!(ok(&db, &["list"]).lines().count(), 1);

    let mut other = keyed.clone();
    other[4] = "another goal";
    let refused = fails(&db, &other);
    assert!(
        refused.contains("\"C1\"") && refused.contains(first.trim()),
        "{refused}"
    );
    assert_eq!(ok(&db, &["list"]).lines().count(), 1);
}

// ---- read-only databases -----------------------------------------------------------------------

/// Runs the program as a user who may not write `db` or its folder: as root, permission bits do not
/// apply, so it drops to `nobody` (uid 65534) with `setpriv`; as anyone else, the bits apply as set.
fn as_reader(db: &Path, args: &[&str]) -> Output {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_arena"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_arena"))
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

/// A database holding one active arena with a step done, closed cleanly, then made read-only: the
/// file 444 in a folder 555.
fn read_only_database() -> (tempfile::TempDir, std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("archive");
    std::fs::create_dir(&folder).unwrap();
    let db = folder.join("a.db");
    let id = active(&db);
    ok(&db, &["step", &id, "3", "--as", "w1"]);
    ok(
        &db,
        &[
            "fact",
            &id,
            "--content",
            "reef is north",
            "--confidence",
            "0.9",
            "--tag",
            "reef",
            "--as",
            "w1",
        ],
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    (dir, db, id)
}

fn files_in(folder: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_read_command_works_on_a_database_the_user_may_not_write() {
    let (_dir, db, id) = read_only_database();
    let folder = db.parent().unwrap();
    let before = files_in(folder);
    let reads: [&[&str]; 7] = [
        &["list"],
        &["show", &id],
        &["events", &id],
        &["verify", &id],
        &["facts", "--tag", "reef"],
        &["artifacts", &id],
        &["show", &id, "--at", "2"],
    ];
    for args in reads {
        let out = as_reader(&db, args);
        assert!(
            out.status.success(),
            "arena {args:?} on a read-only database failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shown = String::from_utf8(as_reader(&db, &["--json", "show", &id]).stdout).unwrap();
    assert!(shown.contains("\"completed-steps\":1"), "{shown}");
    assert_eq!(files_in(folder), before, "reading wrote nothing");
}

#[test]
fn a_write_on_a_database_the_user_may_not_write_fails_with_one_clear_error() {
    let (_dir, db, id) = read_only_database();
    let out = as_reader(&db, &["step", &id, "4", "--as", "w1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("this user may not write it"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn read_only_forces_every_command_to_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    let events = event_count(&db, &id);
    let refused = fails(&db, &["--read-only", "step", &id, "1", "--as", "w1"]);
    assert!(refused.contains("open read-only"), "{refused}");
    assert!(refused.contains("nothing was written"), "{refused}");
    assert_eq!(event_count(&db, &id), events);
}

#[test]
fn a_read_command_on_a_missing_file_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.db");
    let refused = fails(&db, &["list"]);
    assert_eq!(
        refused.trim(),
        format!(
            "error: opening the arena database {}: there is no such file (a read-only open \
             creates nothing)",
            db.display()
        )
    );
    assert!(!db.exists());
}

// ---- writes refuse a broken log ----------------------------------------------------------------

#[test]
fn a_step_after_the_last_event_row_was_deleted_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    ok(&db, &["step", &id, "1", "--as", "w1"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The triggers keep the log append-only; someone with the file can still drop them.
    conn.execute_batch(&format!(
        "DROP TRIGGER events_no_delete;
         DELETE FROM events WHERE arena_id = '{id}'
           AND seq = (SELECT max(seq) FROM events WHERE arena_id = '{id}');"
    ))
    .unwrap();
    let count = |conn: &rusqlite::Connection| -> u64 {
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    let before = count(&conn);
    let refused = fails(&db, &["step", &id, "2", "--as", "w1"]);
    assert!(
        refused.contains(&format!(
            "arena {id}: the log ends at event {before} but the stored head is event {}",
            before + 1
        )),
        "{refused}"
    );
    assert!(refused.contains("nothing was written"), "{refused}");
    assert_eq!(count(&conn), before);
}

/// An active arena in a file of several pages (ten long progress notes and ten steps), then 4 KiB of
/// noise written over a page in the middle of the file. Returns the arena.
fn damaged_database(db: &Path) -> String {
    use std::io::{Seek, SeekFrom, Write};
    let id = active(db);
    for step in 1..=10 {
        let note = "n".repeat(3000);
        ok(db, &["progress", &id, &note, "--as", "w1"]);
        ok(db, &["step", &id, &step.to_string(), "--as", "w1"]);
    }
    let len = std::fs::metadata(db).unwrap().len();
    assert!(len > 32 * 1024, "a file of several pages: {len}");
    let mut file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    file.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    file.write_all(&noise).unwrap();
    id
}

#[test]
fn a_damaged_file_is_refused_for_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = damaged_database(&db);
    let damaged = std::fs::read(&db).unwrap();
    for args in [&["step", &id, "1", "--as", "w1"][..], CREATE] {
        let refused = fails(&db, args);
        assert!(refused.contains("the file is damaged"), "{refused}");
        assert_eq!(std::fs::read(&db).unwrap(), damaged, "nothing was written");
    }
}

// ---- arena check -------------------------------------------------------------------------------

/// Runs `arena check ARGS` on `db`: its exit status, stdout and stderr.
fn check(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::arena(db, &[&["check"], args].concat());
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[test]
fn check_passes_a_whole_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    ok(&db, &["step", &id, "1", "--as", "w1"]);
    ok(&db, CREATE);
    let (status, stdout, stderr) = check(&db, &[]);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("integrity: ok"), "{stdout}");
    assert!(
        stdout.ends_with("ok: 2 arenas verified, 0 with problems\n"),
        "{stdout}"
    );

    let (status, stdout, _) = check(&db, &["--json", &id]);
    assert_eq!(status, Some(0));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["integrity"]["ok"], true);
    assert_eq!(report["checked"], 1);
    assert_eq!(report["arenas"][0]["id"], id.as_str());
    assert_eq!(report["arenas"][0]["events"], 5);
}

#[test]
fn check_names_a_tampered_event_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active(&db);
    ok(&db, &["step", &id, "3", "--as", "w1"]);
    let untouched = ok(&db, CREATE).trim().to_string();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    conn.execute(
        "UPDATE events SET payload = ?1 WHERE arena_id = ?2 AND seq = 5",
        rusqlite::params![r#"{"step":4,"v":1}"#, id],
    )
    .unwrap();
    drop(conn);
    let (status, stdout, stderr) = check(&db, &[]);
    assert_eq!(status, Some(1), "problems found: {stdout}{stderr}");
    assert!(
        stdout.contains("integrity: ok"),
        "the file itself is whole: {stdout}"
    );
    assert!(stdout.contains(&format!("arena {id}: ")), "{stdout}");
    assert!(stdout.contains("event 5"), "{stdout}");
    assert!(!stdout.contains(&format!("arena {untouched}")), "{stdout}");
    assert!(
        stdout.contains("2 arenas verified, 1 with problems"),
        "{stdout}"
    );
    assert!(
        stderr.contains("check found problems") && stderr.contains("event 5"),
        "{stderr}"
    );

    let (status, stdout, _) = check(&db, &["--json"]);
    assert_eq!(status, Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["failed"], 1);
    let failed = report["arenas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ok"] == false)
        .unwrap();
    assert_eq!(failed["id"], id.as_str());
    assert!(failed["problem"].as_str().unwrap().contains("event 5"));
}

#[test]
fn check_names_a_damaged_file_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    damaged_database(&db);
    let damaged = std::fs::read(&db).unwrap();
    let (status, stdout, stderr) = check(&db, &[]);
    assert_eq!(status, Some(1), "problems found: {stdout}{stderr}");
    assert!(stdout.contains("integrity: DAMAGED"), "{stdout}");
    assert!(
        stderr.contains("check found problems: the database file is damaged"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        damaged,
        "a check writes nothing"
    );

    let (status, stdout, _) = check(&db, &["--json"]);
    assert_eq!(status, Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["integrity"]["ran"], true);
    assert_eq!(report["integrity"]["ok"], false);
    assert!(
        !report["integrity"]["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn check_tells_a_usage_error_from_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    ok(&db, CREATE);
    let (status, _, _) = check(&db, &["one", "two"]);
    assert_eq!(status, Some(2), "a usage error");
}

// ---- messages ----------------------------------------------------------------------------------

#[test]
fn a_newer_schema_is_refused_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    for args in [&["list"][..], CREATE] {
        let refused = fails(&db, args);
        assert_eq!(
            refused.trim(),
            format!(
                "error: opening the arena database {}: its schema version 99 is newer than this \
                 program's 6: use a newer `arena` (the database was left untouched)",
                db.display()
            )
        );
    }
}

#[test]
fn a_file_with_tables_but_no_schema_version_is_not_taken_for_an_arena_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE arenas (id TEXT); CREATE TABLE notes (body TEXT);")
        .unwrap();
    for args in [&["list"][..], CREATE] {
        let refused = fails(&db, args);
        assert_eq!(
            refused.trim(),
            format!(
                "error: opening the arena database {}: it is not an arena database: it holds \
                 tables (arenas, notes) but no arena schema version; it was left untouched",
                db.display()
            )
        );
        assert!(!refused.contains("CREATE TABLE"), "{refused}");
    }
}

#[test]
fn an_older_schema_opened_read_only_says_how_to_migrate_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(arena_host::db::sqlite::MIGRATIONS[0])
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    drop(conn);
    let refused = fails(&db, &["list"]);
    assert!(
        refused.contains("its schema version 1 is older than this program's 6"),
        "{refused}"
    );
    assert!(
        refused.contains("open it once with write access"),
        "{refused}"
    );
    ok(&db, &[&["--key", "M1"], CREATE].concat());
    assert_eq!(ok(&db, &["list"]).lines().count(), 1);
}
