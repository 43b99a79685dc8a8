//! The SQLite storage against its contract, on files in a temporary folder.

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
        snapshot: "{}".into(),
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
        &record(ArenaStatus::Created, &["a"]),
    )
    .unwrap();
    let stale = s.append("x", 1, &[event(2)], &record(ArenaStatus::Active, &["b"]));
    assert_eq!(stale, Err(ArenaError::Conflict));
    assert_eq!(s.conflicts(), 1);
    assert_eq!(s.load("x").unwrap().unwrap().head_seq, 2);
    assert_eq!(s.read_events("x", 0, 10).unwrap().len(), 2);
    assert_eq!(s.participating("a").unwrap(), vec!["x".to_string()]);
    assert!(s.participating("b").unwrap().is_empty());
}

#[test]
fn creating_an_existing_arena_is_a_conflict() {
    let (_dir, mut s) = open();
    s.append("x", 0, &[event(1)], &record(ArenaStatus::Created, &[]))
        .unwrap();
    assert_eq!(
        s.append("x", 0, &[event(1)], &record(ArenaStatus::Created, &[])),
        Err(ArenaError::Conflict)
    );
}

#[test]
fn appended_events_must_continue_the_sequence() {
    let (_dir, mut s) = open();
    assert!(matches!(
        s.append("x", 0, &[event(2)], &record(ArenaStatus::Created, &[])),
        Err(ArenaError::InvalidInput(_))
    ));
    assert!(s.load("x").unwrap().is_none());
}

#[test]
fn archived_arenas_are_not_participated_in() {
    let (_dir, mut s) = open();
    s.append("x", 0, &[event(1)], &record(ArenaStatus::Archived, &["a"]))
        .unwrap();
    assert!(s.participating("a").unwrap().is_empty());
}

#[test]
fn the_database_refuses_to_edit_or_delete_events() {
    let (_dir, mut s) = open();
    s.append("x", 0, &[event(1)], &record(ArenaStatus::Created, &[]))
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
    s.append("x", 0, &[event(1)], &record(ArenaStatus::Created, &["a"]))
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
        .append("y", 0, &[event(1)], &record(ArenaStatus::Created, &["a"]))
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
