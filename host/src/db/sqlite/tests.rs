//! The SQLite storage against a file of its own per test.

use super::*;

fn event(seq: u64) -> Event {
    Event {
        seq,
        at: "2026-01-01T00:00:00.000000Z".into(),
        actor: "a".into(),
        kind: "k".into(),
        payload: "{\"v\":1}".into(),
        hash: format!("h{seq}"),
    }
}

fn record(status: ArenaStatus, participants: &[&str]) -> ArenaRecord {
    ArenaRecord {
        status,
        participants: participants.iter().map(|p| p.to_string()).collect(),
        tags: Vec::new(),
    }
}

fn open() -> (tempfile::TempDir, SqliteStorage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(&dir.path().join("t.db"), Durability::Normal).unwrap();
    (dir, storage)
}

#[test]
fn append_with_a_stale_expected_sequence_writes_nothing() {
    let (_dir, mut s) = open();
    s.append(
        "x",
        0,
        &[event(1), event(2)],
        Some(&record(ArenaStatus::Created, &["a"])),
        None,
    )
    .unwrap();
    let stale = s.append(
        "x",
        1,
        &[event(2)],
        Some(&record(ArenaStatus::Active, &["b"])),
        None,
    );
    assert_eq!(stale, Err(ArenaError::Conflict));
    assert_eq!(s.conflicts(), 1);
    assert_eq!(s.head("x").unwrap().unwrap().seq, 2);
    assert_eq!(s.read_events("x", 0, 10).unwrap().len(), 2);
    assert_eq!(s.participating("a").unwrap(), vec!["x".to_string()]);
    assert!(s.participating("b").unwrap().is_empty());
}

#[test]
fn creating_an_existing_arena_is_a_conflict() {
    let (_dir, mut s) = open();
    s.append(
        "x",
        0,
        &[event(1)],
        Some(&record(ArenaStatus::Created, &[])),
        None,
    )
    .unwrap();
    assert_eq!(
        s.append(
            "x",
            0,
            &[event(1)],
            Some(&record(ArenaStatus::Created, &[])),
            None
        ),
        Err(ArenaError::Conflict)
    );
}

#[test]
fn appended_events_must_continue_the_sequence() {
    let (_dir, mut s) = open();
    assert!(matches!(
        s.append(
            "x",
            0,
            &[event(2)],
            Some(&record(ArenaStatus::Created, &[])),
            None
        ),
        Err(ArenaError::InvalidInput(_))
    ));
    assert!(s.head("x").unwrap().is_none());
}

#[test]
fn snapshots_are_found_at_or_before_the_asked_event_and_the_record_kept_when_not_sent() {
    let (_dir, mut s) = open();
    let created = record(ArenaStatus::Created, &["a"]);
    s.append("x", 0, &[event(1)], Some(&created), Some("one"))
        .unwrap();
    s.append("x", 1, &[event(2), event(3)], None, Some("three"))
        .unwrap();
    s.append("x", 3, &[event(4)], None, None).unwrap();
    let kept = |s: &mut SqliteStorage, at| s.snapshot("x", at).unwrap().map(|k| (k.seq, k.state));
    assert_eq!(kept(&mut s, 0), None);
    assert_eq!(kept(&mut s, 2), Some((1, "one".into())));
    assert_eq!(kept(&mut s, u64::MAX), Some((3, "three".into())));
    assert_eq!(
        s.head("x").unwrap().map(|h| (h.seq, h.hash)),
        Some((4, "h4".into()))
    );
    assert_eq!(s.participating("a").unwrap(), ["x"]);
    assert_eq!(
        s.append("y", 0, &[event(1)], None, None),
        Err(ArenaError::InvalidInput(
            "an append that creates an arena needs its record".into()
        ))
    );
    assert!(s.head("y").unwrap().is_none());
}

#[test]
fn archived_arenas_are_not_participated_in() {
    let (_dir, mut s) = open();
    s.append(
        "x",
        0,
        &[event(1)],
        Some(&record(ArenaStatus::Archived, &["a"])),
        None,
    )
    .unwrap();
    assert!(s.participating("a").unwrap().is_empty());
}

#[test]
fn the_database_refuses_to_edit_or_delete_events() {
    let (_dir, mut s) = open();
    s.append(
        "x",
        0,
        &[event(1)],
        Some(&record(ArenaStatus::Created, &[])),
        None,
    )
    .unwrap();
    assert!(
        s.conn
            .execute("UPDATE events SET actor = 'evil'", [])
            .is_err()
    );
    assert!(s.conn.execute("DELETE FROM events", []).is_err());
    assert_eq!(s.read_events("x", 0, 10).unwrap()[0].actor, "a");
}

#[test]
fn an_older_schema_is_migrated_keeping_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO events VALUES ('x', 1, 't', 'a', 'k', '{}', 'h')",
            [],
        )
        .unwrap();
    }
    let mut s = SqliteStorage::open(&path, Durability::Normal).unwrap();
    let version: usize = s
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(s.read_events("x", 0, 10).unwrap().len(), 1);
    assert!(s.conn.execute("DELETE FROM events", []).is_err());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = SqliteStorage::open(&path, Durability::Normal)
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            DbError::SchemaTooNew {
                found: 99,
                supported: SCHEMA_VERSION
            }
        ),
        "{error}"
    );
}

#[test]
fn damage_met_by_a_write_stops_every_later_write_to_the_file() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let mut s = SqliteStorage::open(&path, Durability::Normal).unwrap();
    s.append(
        "x",
        0,
        &[event(1)],
        Some(&record(ArenaStatus::Created, &["a"])),
        None,
    )
    .unwrap();
    // Past the size checked on open, so that only the write itself can meet the damage.
    let pad = vec![0u8; CHECKED_ON_OPEN_BYTES as usize + (1 << 20)];
    s.conn
        .execute_batch("CREATE TABLE pad (b BLOB)")
        .and_then(|()| s.conn.execute("INSERT INTO pad VALUES (?1)", params![pad]))
        .unwrap();
    let root: u64 = s
        .conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'arenas'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(s);
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start((root - 1) * 4096)).unwrap();
    file.write_all(&[0xA5; 4096]).unwrap();
    drop(file);
    let damaged_bytes = std::fs::read(&path).unwrap();

    let mut s = SqliteStorage::open(&path, Durability::Normal).expect("not checked on open");
    let first = s
        .append(
            "y",
            0,
            &[event(1)],
            Some(&record(ArenaStatus::Created, &["a"])),
            None,
        )
        .unwrap_err();
    let ArenaError::Storage(message) = &first else {
        panic!("{first:?}")
    };
    let file = file_key(&path);
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("the file is damaged"), "{message}");
    assert!(message.contains("`arena check`"), "{message}");
    assert_eq!(damaged(&file).map(|d| d.file), Some(file.clone()));
    // Every later write is refused before SQLite is asked, on any connection of this process.
    let mut other = SqliteStorage::open(&path, Durability::Normal).unwrap();
    let refused = other.advance_cursor("x", "sub", 1).unwrap_err();
    assert_eq!(refused, ArenaError::from(damaged(&file).unwrap()));
    drop((s, other));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        damaged_bytes,
        "nothing written"
    );
}

#[test]
fn an_append_over_a_truncated_log_is_refused_and_writes_nothing() {
    let (_dir, mut s) = open();
    let created = record(ArenaStatus::Created, &["a"]);
    s.append("x", 0, &[event(1), event(2)], Some(&created), None)
        .unwrap();
    s.conn
        .execute_batch(
            "DROP TRIGGER events_no_delete;
             DELETE FROM events WHERE arena_id = 'x' AND seq = 2;",
        )
        .unwrap();
    assert_eq!(
        s.append("x", 2, &[event(3)], None, Some("three")),
        Err(ArenaError::Storage(
            "arena x: the log ends at event 1 but the stored head is event 2: refusing to append \
             over a broken log (nothing was written; `arena verify x` names the damage)"
                .into()
        ))
    );
    assert_eq!(s.read_events("x", 0, 10).unwrap().len(), 1);
    assert_eq!(s.snapshot("x", u64::MAX).unwrap(), None);
    assert_eq!(s.head("x").unwrap().map(|h| h.seq), Some(2));
}

#[test]
fn a_schema_4_arena_keeps_its_head_and_its_state_becomes_its_first_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute(
            "INSERT INTO arenas VALUES ('x', 'active', 1, 'h1', '{\"state\":1}')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO events VALUES ('x', 1, 't', 'a', 'k', '{}', 'h1')",
            [],
        )
        .unwrap();
    }
    let mut s = SqliteStorage::open(&path, Durability::Normal).unwrap();
    assert_eq!(
        s.head("x").unwrap().map(|h| (h.seq, h.hash)),
        Some((1, "h1".into()))
    );
    assert_eq!(
        s.snapshot("x", 1).unwrap().map(|k| (k.seq, k.state)),
        Some((1, "{\"state\":1}".into()))
    );
    s.append("x", 1, &[event(2)], None, None).unwrap();
    assert_eq!(s.head("x").unwrap().map(|h| h.seq), Some(2));
}
