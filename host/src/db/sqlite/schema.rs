//! The SQLite schema: its migrations, and how an opened file is checked against them.

use rusqlite::Connection;

use super::super::DbError;

/// The schema, one migration per version; `PRAGMA user_version` records how many have run.
pub const MIGRATIONS: &[&str] = &[
    // 1: arenas with their head and snapshot, the event log, and who participates where.
    "CREATE TABLE arenas (
         id        TEXT PRIMARY KEY NOT NULL,
         status    TEXT NOT NULL,
         head_seq  INTEGER NOT NULL,
         head_hash TEXT NOT NULL,
         snapshot  TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE events (
         arena_id TEXT NOT NULL,
         seq      INTEGER NOT NULL,
         at       TEXT NOT NULL,
         actor    TEXT NOT NULL,
         kind     TEXT NOT NULL,
         payload  TEXT NOT NULL,
         hash     TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     ) WITHOUT ROWID;
     CREATE TABLE members (
         agent    TEXT NOT NULL,
         arena_id TEXT NOT NULL,
         PRIMARY KEY (agent, arena_id)
     ) WITHOUT ROWID;",
    // 2: the log is append-only in the database itself, and members can be found by arena.
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
     CREATE TRIGGER events_no_delete BEFORE DELETE ON events
     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
     CREATE INDEX members_by_arena ON members (arena_id);",
    // 3: durable cursors of event subscribers: the last event each has accepted.
    "CREATE TABLE cursors (
         arena_id   TEXT NOT NULL,
         subscriber TEXT NOT NULL,
         seq        INTEGER NOT NULL,
         PRIMARY KEY (arena_id, subscriber)
     ) WITHOUT ROWID;",
    // 4: the tags of each arena's facts, to find facts across arenas by tag.
    "CREATE TABLE arena_tags (
         tag      TEXT NOT NULL,
         arena_id TEXT NOT NULL,
         PRIMARY KEY (tag, arena_id)
     ) WITHOUT ROWID;
     CREATE INDEX arena_tags_by_arena ON arena_tags (arena_id);",
    // 5: snapshots kept apart, now and then, instead of the whole state rewritten with every append;
    // an arena's row keeps its status and the head its log must end at. Each arena's latest state
    // becomes its first kept snapshot.
    "CREATE TABLE snapshots (
         arena_id TEXT NOT NULL,
         seq      INTEGER NOT NULL,
         state    TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     );
     INSERT INTO snapshots (arena_id, seq, state) SELECT id, head_seq, snapshot FROM arenas;
     CREATE TABLE arenas_v5 (
         id        TEXT PRIMARY KEY NOT NULL,
         status    TEXT NOT NULL,
         head_seq  INTEGER NOT NULL,
         head_hash TEXT NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO arenas_v5 (id, status, head_seq, head_hash)
         SELECT id, status, head_seq, head_hash FROM arenas;
     DROP TABLE arenas;
     ALTER TABLE arenas_v5 RENAME TO arenas;
     CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots
     BEGIN SELECT RAISE(ABORT, 'snapshots are never altered'); END;",
    // 6: agent tokens: only each token's SHA-256 is kept, with the arena and agent it acts as, its
    // label, and its times (unix seconds).
    "CREATE TABLE tokens (
         id           TEXT PRIMARY KEY NOT NULL,
         hash         TEXT NOT NULL UNIQUE,
         arena_id     TEXT NOT NULL,
         agent        TEXT NOT NULL,
         label        TEXT,
         created_at   INTEGER NOT NULL,
         expires_at   INTEGER,
         last_used_at INTEGER,
         revoked_at   INTEGER
     ) WITHOUT ROWID;
     CREATE INDEX tokens_by_arena ON tokens (arena_id);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The schema version the file records, once it is known to be one this program can read or
/// migrate: refuses a newer version, and a file that holds tables but no version (not an arena
/// database, or one made by hand), leaving both untouched.
fn checked_version(conn: &Connection) -> Result<usize, DbError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(DbError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if !tables.is_empty() {
            return Err(DbError::Unversioned { tables });
        }
    }
    Ok(version)
}

/// Checks a database opened read-only: it must be an arena database at exactly this program's
/// schema version, since a read-only open migrates nothing.
pub(super) fn check_read_only(conn: &Connection) -> Result<(), DbError> {
    match checked_version(conn)? {
        0 => Err(DbError::Empty),
        SCHEMA_VERSION => Ok(()),
        found => Err(DbError::SchemaTooOld {
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}

/// Runs the migrations the database has not seen, each in its own transaction.
pub(super) fn migrate(conn: &Connection) -> Result<(), DbError> {
    let version = checked_version(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}
