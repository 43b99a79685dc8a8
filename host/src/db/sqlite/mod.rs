//! The arena component's `storage` imports, on SQLite.
//!
//! Parameterized statements only. Each `append` is one `BEGIN IMMEDIATE` transaction that checks the
//! expected sequence number first, so any number of hosts can share one database file: the loser of a
//! race gets `conflict`, writes nothing, and the component retries.
//!
//! The head of an arena is its last event: an append that changes neither the indexed record nor
//! keeps a snapshot writes its event rows and nothing else (one page of the log, in the common case).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Backend, DbError, Durability, Storage, check_append};
use arena_bindings::storage::{ArenaRecord, LogHead, StateSnapshot};
use arena_bindings::types::{ArenaError, ArenaStatus, Event};

/// The `synchronous` pragma a durability asks for.
fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    }
}

/// How long a writer waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    // 5: snapshots kept apart, now and then, instead of the whole state with every append; the head
    // is the log's last event. Each arena's latest state becomes its first kept snapshot.
    "CREATE TABLE snapshots (
         arena_id TEXT NOT NULL,
         seq      INTEGER NOT NULL,
         state    TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     );
     INSERT INTO snapshots (arena_id, seq, state) SELECT id, head_seq, snapshot FROM arenas;
     CREATE TABLE arenas_v5 (
         id     TEXT PRIMARY KEY NOT NULL,
         status TEXT NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO arenas_v5 (id, status) SELECT id, status FROM arenas;
     DROP TABLE arenas;
     ALTER TABLE arenas_v5 RENAME TO arenas;
     CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots
     BEGIN SELECT RAISE(ABORT, 'snapshots are never altered'); END;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// One connection to an arena database.
pub struct SqliteStorage {
    conn: Connection,
    conflicts: u64,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` in WAL mode with the given durability, and
    /// brings its schema up to date. Refuses a database written by a newer version.
    ///
    /// # Failure
    /// [`DbError::SchemaTooNew`] for a database from a newer version, SQLite's error otherwise.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Every statement this module runs stays prepared (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous(durability))?;
        migrate(&conn)?;
        Ok(SqliteStorage { conn, conflicts: 0 })
    }
}

impl Storage for SqliteStorage {
    /// The head of the arena's log: its last event.
    fn head(&mut self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        read_head(&self.conn, arena)
    }

    /// The arena's latest snapshot at or before event `at_most`.
    fn snapshot(&mut self, arena: &str, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError> {
        self.conn
            .prepare_cached(
                "SELECT seq, state FROM snapshots WHERE arena_id = ?1 AND seq <= ?2
                 ORDER BY seq DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![arena, at_most.min(i64::MAX as u64)], |row| {
                    Ok(StateSnapshot {
                        seq: row.get(0)?,
                        state: row.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(storage_error)
    }

    /// Up to `limit` events of `arena` after `after`, in order.
    fn read_events(
        &mut self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, at, actor, kind, payload, hash FROM events
                 WHERE arena_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(storage_error)?;
        let rows = stmt
            .query_map(params![arena, after, limit], |row| {
                Ok(Event {
                    seq: row.get(0)?,
                    at: row.get(1)?,
                    actor: row.get(2)?,
                    kind: row.get(3)?,
                    payload: row.get(4)?,
                    hash: row.get(5)?,
                })
            })
            .map_err(storage_error)?;
        rows.collect::<Result<_, _>>().map_err(storage_error)
    }

    /// Appends `events` (with the record when it changes, and the snapshot when one is kept) in one
    /// `BEGIN IMMEDIATE` transaction, only if the arena's head is still `expected_seq`; otherwise
    /// `conflict` and nothing is written.
    fn append(
        &mut self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        let last = check_append(expected_seq, events, record)?;
        let append = Append {
            arena,
            expected_seq,
            events,
            last,
            record,
            snapshot,
        };
        // Alone, an append is its own `BEGIN IMMEDIATE` transaction; inside a group commit's open
        // transaction it is a savepoint, so a failed append leaves the batch as it was.
        let written = if self.conn.is_autocommit() {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage_error)?;
            let written = append.write(&tx)?;
            if written {
                tx.commit().map_err(storage_error)?;
            }
            written
        } else {
            let sp = self.conn.savepoint().map_err(storage_error)?;
            let written = append.write(&sp)?;
            if written {
                sp.commit().map_err(storage_error)?;
            }
            written
        };
        if !written {
            self.conflicts += 1;
            return Err(ArenaError::Conflict);
        }
        Ok(())
    }

    /// Ids of non-archived arenas where `agent` currently participates.
    fn participating(&mut self, agent: &str) -> Result<Vec<String>, ArenaError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.arena_id FROM members m JOIN arenas a ON a.id = m.arena_id
                 WHERE m.agent = ?1 AND a.status <> ?2 ORDER BY m.arena_id",
            )
            .map_err(storage_error)?;
        let rows = stmt
            .query_map(params![agent, ArenaStatus::Archived.name()], |row| {
                row.get(0)
            })
            .map_err(storage_error)?;
        rows.collect::<Result<_, _>>().map_err(storage_error)
    }

    /// Up to `limit` arena ids after `after`, ascending.
    fn list_arenas(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM arenas WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(storage_error)?;
        let rows = stmt
            .query_map(params![after.unwrap_or(""), limit], |row| row.get(0))
            .map_err(storage_error)?;
        rows.collect::<Result<_, _>>().map_err(storage_error)
    }

    /// Up to `limit` ids of arenas whose facts carry `tag`, after `after`, ascending.
    fn tagged(
        &mut self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT arena_id FROM arena_tags WHERE tag = ?1 AND arena_id > ?2
                 ORDER BY arena_id LIMIT ?3",
            )
            .map_err(storage_error)?;
        let rows = stmt
            .query_map(params![tag, after.unwrap_or(""), limit], |row| row.get(0))
            .map_err(storage_error)?;
        rows.collect::<Result<_, _>>().map_err(storage_error)
    }
}

impl Backend for SqliteStorage {
    /// Opens the transaction a group commit's appends join (`BEGIN IMMEDIATE`: the write lock is
    /// taken now, so no other writer can slip in between the batch's appends).
    fn begin_batch(&mut self) -> Result<(), ArenaError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(storage_error)
    }

    /// Commits the open batch; on failure it is rolled back and nothing of it is stored.
    fn commit_batch(&mut self) -> Result<(), ArenaError> {
        self.conn.execute_batch("COMMIT").map_err(|e| {
            self.rollback_batch();
            storage_error(e)
        })
    }

    fn rollback_batch(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            // SQLite rolls back by itself when it cannot; the connection stays usable.
            tracing::warn!("rolling back a group commit: {e}");
        }
    }

    /// Whether a batch's transaction is open on this connection.
    fn in_batch(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// The last event of `arena` that `subscriber` accepted (0 for none).
    fn cursor(&mut self, arena: &str, subscriber: &str) -> Result<u64, ArenaError> {
        self.conn
            .prepare_cached("SELECT seq FROM cursors WHERE arena_id = ?1 AND subscriber = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![arena, subscriber], |row| row.get(0))
                    .optional()
            })
            .map(Option::unwrap_or_default)
            .map_err(storage_error)
    }

    /// Moves `subscriber`'s cursor on `arena` forward to `seq` (never backward), durably.
    fn advance_cursor(
        &mut self,
        arena: &str,
        subscriber: &str,
        seq: u64,
    ) -> Result<(), ArenaError> {
        self.conn
            .prepare_cached(
                "INSERT INTO cursors (arena_id, subscriber, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (arena_id, subscriber) DO UPDATE SET seq = max(seq, excluded.seq)",
            )
            .and_then(|mut stmt| stmt.execute(params![arena, subscriber, seq]))
            .map(drop)
            .map_err(storage_error)
    }

    fn conflicts(&self) -> u64 {
        self.conflicts
    }

    fn wait_for_appends(&mut self, timeout: Duration) {
        // SQLite has no notifications: the reader polls the log.
        std::thread::sleep(timeout.min(POLL_INTERVAL));
    }
}

/// How often a reader of an SQLite database looks at the log for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The head of `arena`'s log: its last event.
fn read_head(conn: &Connection, arena: &str) -> Result<Option<LogHead>, ArenaError> {
    conn.prepare_cached(
        "SELECT seq, hash FROM events WHERE arena_id = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![arena], |row| {
            Ok(LogHead {
                seq: row.get(0)?,
                hash: row.get(1)?,
            })
        })
        .optional()
    })
    .map_err(storage_error)
}

/// One checked append, ready to be written.
struct Append<'a> {
    arena: &'a str,
    expected_seq: u64,
    events: &'a [Event],
    last: &'a Event,
    record: Option<&'a ArenaRecord>,
    snapshot: Option<&'a str>,
}

impl Append<'_> {
    /// Writes the append inside the caller's transaction or savepoint: `false`, writing nothing,
    /// when the arena's head is not `expected_seq`.
    fn write(&self, tx: &Connection) -> Result<bool, ArenaError> {
        let arena = self.arena;
        // Check the head first: a new arena's row must not exist yet (inserting it is the check),
        // an existing arena's last event must be the expected one.
        if self.expected_seq == 0 {
            let Some(record) = self.record else {
                unreachable!("check_append requires a record to create an arena")
            };
            let created = tx
                .prepare_cached(
                    "INSERT INTO arenas (id, status) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut stmt| stmt.execute(params![arena, record.status.name()]))
                .map_err(storage_error)?;
            if created == 0 {
                return Ok(false);
            }
        } else if read_head(tx, arena)?.map(|h| h.seq) != Some(self.expected_seq) {
            return Ok(false);
        }
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (arena_id, seq, at, actor, kind, payload, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(storage_error)?;
        for e in self.events {
            insert
                .execute(params![
                    arena, e.seq, e.at, e.actor, e.kind, e.payload, e.hash
                ])
                .map_err(storage_error)?;
        }
        if let Some(record) = self.record {
            tx.prepare_cached("UPDATE arenas SET status = ?2 WHERE id = ?1 AND status <> ?2")
                .and_then(|mut stmt| stmt.execute(params![arena, record.status.name()]))
                .map_err(storage_error)?;
            write_members(tx, arena, record)?;
            write_tags(tx, arena, record)?;
        }
        if let Some(state) = self.snapshot {
            tx.prepare_cached("INSERT INTO snapshots (arena_id, seq, state) VALUES (?1, ?2, ?3)")
                .and_then(|mut stmt| stmt.execute(params![arena, self.last.seq, state]))
                .map_err(storage_error)?;
        }
        Ok(true)
    }
}

fn write_members(tx: &Connection, arena: &str, record: &ArenaRecord) -> Result<(), ArenaError> {
    tx.prepare_cached("DELETE FROM members WHERE arena_id = ?1")
        .and_then(|mut stmt| stmt.execute(params![arena]))
        .map_err(storage_error)?;
    let mut member = tx
        .prepare_cached("INSERT OR IGNORE INTO members (agent, arena_id) VALUES (?1, ?2)")
        .map_err(storage_error)?;
    for agent in &record.participants {
        member
            .execute(params![agent, arena])
            .map_err(storage_error)?;
    }
    Ok(())
}

fn write_tags(tx: &Connection, arena: &str, record: &ArenaRecord) -> Result<(), ArenaError> {
    tx.prepare_cached("DELETE FROM arena_tags WHERE arena_id = ?1")
        .and_then(|mut stmt| stmt.execute(params![arena]))
        .map_err(storage_error)?;
    let mut tagged = tx
        .prepare_cached("INSERT OR IGNORE INTO arena_tags (tag, arena_id) VALUES (?1, ?2)")
        .map_err(storage_error)?;
    for tag in &record.tags {
        tagged.execute(params![tag, arena]).map_err(storage_error)?;
    }
    Ok(())
}

/// Runs the migrations the database has not seen, each in its own transaction.
fn migrate(conn: &Connection) -> Result<(), DbError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(DbError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn storage_error(e: rusqlite::Error) -> ArenaError {
    ArenaError::Storage(e.to_string())
}

#[cfg(test)]
mod tests;
