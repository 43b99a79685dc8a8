//! The arena component's `storage` imports, on SQLite.
//!
//! Parameterized statements only. Each `append` is one `BEGIN IMMEDIATE` transaction that checks the
//! expected sequence number first, so any number of hosts can share one database file: the loser of a
//! race gets `conflict`, writes nothing, and the component retries.
//!
//! An arena's row holds its status and its head (the sequence number and hash its log must end at);
//! snapshots live in a table of their own and are written only when the component keeps one. An
//! append that changes no index and keeps no snapshot writes its event rows and moves the head.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Backend, DbError, Durability, Storage, TokenRecord, check_append};
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

/// A file at most this large gets `PRAGMA quick_check` when it is opened for writing (a few
/// milliseconds); a larger one is not checked on open.
pub const CHECKED_ON_OPEN_BYTES: u64 = 4 << 20;

mod damage;
mod indexed;
mod integrity;
mod read_only;
mod schema;
mod tokens;

pub use damage::{Damaged, damaged};
use damage::{failure, file_key, is_damage};
use indexed::{write_members, write_tags};
pub use integrity::integrity_check;
use read_only::{file_uri, refuse_unread_wal};
use schema::migrate;
pub use schema::{MIGRATIONS, SCHEMA_VERSION};

/// One connection to an arena database.
pub struct SqliteStorage {
    conn: Connection,
    conflicts: u64,
    /// Opened read-only: every write is refused before SQLite sees it.
    read_only: bool,
    /// The database file, as [`damaged`] knows it.
    file: Arc<Path>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` in WAL mode with the given durability, and
    /// brings its schema up to date. Refuses a database written by a newer version.
    ///
    /// # Failure
    /// [`DbError::SchemaTooNew`] for a database from a newer version, SQLite's error otherwise.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Self::open_writable(path, durability).map_err(|e| match e {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ReadOnly =>
            {
                DbError::NotWritable
            }
            DbError::Sqlite(e) if is_damage(&e) => DbError::Damaged(e.to_string()),
            other => other,
        })
    }

    fn open_writable(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Every statement this module runs stays prepared (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous(durability))?;
        migrate(&conn)?;
        // A check reads every page: on every open for writing it cost 90 ms for 54 MiB. Only a
        // small file, where it costs a few milliseconds, is checked before anything is written. On
        // a larger one, damage SQLite meets on the way stops every later write (see `damage`), and
        // `arena check` runs the full check.
        if std::fs::metadata(path).is_ok_and(|m| m.len() <= CHECKED_ON_OPEN_BYTES) {
            let verdict: String = conn.pragma_query_value(None, "quick_check", |row| row.get(0))?;
            if verdict != "ok" {
                return Err(DbError::Damaged(verdict));
            }
        }
        Ok(SqliteStorage {
            conn,
            conflicts: 0,
            read_only: false,
            file: file_key(path).into(),
        })
    }

    /// Refuses a write on a read-only connection, or to a file SQLite reported damaged in this
    /// process, before SQLite is asked.
    fn writable(&self) -> Result<(), ArenaError> {
        if let Some(damaged) = damaged(&self.file) {
            return Err(damaged.into());
        }
        if self.read_only {
            Err(ArenaError::Storage(
                "the arena database is open read-only (--read-only, or a read command): \
                 nothing was written"
                    .into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl Storage for SqliteStorage {
    /// The head of the arena's log, as its row records it.
    fn head(&mut self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        let fail = failure(&self.file);
        self.conn
            .prepare_cached("SELECT head_seq, head_hash FROM arenas WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row(params![arena], |row| {
                    Ok(LogHead {
                        seq: row.get(0)?,
                        hash: row.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(fail)
    }

    /// The arena's latest snapshot at or before event `at_most`.
    fn snapshot(&mut self, arena: &str, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError> {
        let fail = failure(&self.file);
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
            .map_err(fail)
    }

    /// Up to `limit` events of `arena` after `after`, in order.
    fn read_events(
        &mut self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        let fail = failure(&self.file);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, at, actor, kind, payload, hash FROM events
                 WHERE arena_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(fail)?;
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
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Appends `events` (with the record when it changes, and the snapshot when one is kept) in one
    /// `BEGIN IMMEDIATE` transaction, only if the arena's head is still `expected_seq` and its log
    /// really ends there; otherwise `conflict` (or `storage` for a broken log) and nothing is written.
    fn append(
        &mut self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        let fail = failure(&self.file);
        self.writable()?;
        let last = check_append(expected_seq, events, record)?;
        let append = Append {
            file: &self.file,
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
                .map_err(fail)?;
            let written = append.write(&tx)?;
            if written {
                tx.commit().map_err(fail)?;
            }
            written
        } else {
            let sp = self.conn.savepoint().map_err(fail)?;
            let written = append.write(&sp)?;
            if written {
                sp.commit().map_err(fail)?;
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
        let fail = failure(&self.file);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.arena_id FROM members m JOIN arenas a ON a.id = m.arena_id
                 WHERE m.agent = ?1 AND a.status <> ?2 ORDER BY m.arena_id",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![agent, ArenaStatus::Archived.name()], |row| {
                row.get(0)
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Up to `limit` arena ids after `after`, ascending.
    fn list_arenas(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError> {
        let fail = failure(&self.file);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM arenas WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![after.unwrap_or(""), limit], |row| row.get(0))
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Up to `limit` ids of arenas whose facts carry `tag`, after `after`, ascending.
    fn tagged(
        &mut self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        let fail = failure(&self.file);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT arena_id FROM arena_tags WHERE tag = ?1 AND arena_id > ?2
                 ORDER BY arena_id LIMIT ?3",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![tag, after.unwrap_or(""), limit], |row| row.get(0))
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }
}

impl Backend for SqliteStorage {
    /// Opens the transaction a group commit's appends join (`BEGIN IMMEDIATE`: the write lock is
    /// taken now, so no other writer can slip in between the batch's appends).
    fn begin_batch(&mut self) -> Result<(), ArenaError> {
        let fail = failure(&self.file);
        self.writable()?;
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)
    }

    /// Commits the open batch; on failure it is rolled back and nothing of it is stored.
    fn commit_batch(&mut self) -> Result<(), ArenaError> {
        // The error is converted after the rollback, which needs the whole storage.
        let file = Arc::clone(&self.file);
        let fail = failure(&file);
        self.conn.execute_batch("COMMIT").map_err(|e| {
            self.rollback_batch();
            fail(e)
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
        let fail = failure(&self.file);
        self.conn
            .prepare_cached("SELECT seq FROM cursors WHERE arena_id = ?1 AND subscriber = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![arena, subscriber], |row| row.get(0))
                    .optional()
            })
            .map(Option::unwrap_or_default)
            .map_err(fail)
    }

    /// Moves `subscriber`'s cursor on `arena` forward to `seq` (never backward), durably.
    fn advance_cursor(
        &mut self,
        arena: &str,
        subscriber: &str,
        seq: u64,
    ) -> Result<(), ArenaError> {
        let fail = failure(&self.file);
        self.writable()?;
        self.conn
            .prepare_cached(
                "INSERT INTO cursors (arena_id, subscriber, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (arena_id, subscriber) DO UPDATE SET seq = max(seq, excluded.seq)",
            )
            .and_then(|mut stmt| stmt.execute(params![arena, subscriber, seq]))
            .map(drop)
            .map_err(fail)
    }

    fn add_token(&mut self, token: &TokenRecord, hash: &str) -> Result<(), ArenaError> {
        self.insert_token(token, hash)
    }

    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRecord>, ArenaError> {
        self.find_token(hash)
    }

    fn tokens(&mut self, arena: Option<&str>) -> Result<Vec<TokenRecord>, ArenaError> {
        self.list_tokens(arena)
    }

    fn revoke_token(&mut self, id: &str, at: i64) -> Result<bool, ArenaError> {
        self.revoke(id, at)
    }

    fn token_used(&mut self, id: &str, at: i64) -> Result<(), ArenaError> {
        self.mark_token_used(id, at)
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

/// One checked append, ready to be written.
struct Append<'a> {
    file: &'a Path,
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
        let fail = failure(self.file);
        let (arena, last) = (self.arena, self.last);
        // Move the head first, only from `expected_seq` (a new arena's row must not exist yet): no
        // row changed means another writer got there first, and nothing has been written.
        let moved = if self.expected_seq == 0 {
            let Some(record) = self.record else {
                unreachable!("check_append requires a record to create an arena")
            };
            tx.prepare_cached(
                "INSERT INTO arenas (id, status, head_seq, head_hash)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![arena, record.status.name(), last.seq, last.hash])
            })
        } else {
            if let LogEnd::Moved = check_log_end(fail, tx, arena, self.expected_seq)? {
                return Ok(false);
            }
            match self.record {
                Some(record) => tx
                    .prepare_cached(
                        "UPDATE arenas SET status = ?2, head_seq = ?3, head_hash = ?4
                         WHERE id = ?1 AND head_seq = ?5",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            arena,
                            record.status.name(),
                            last.seq,
                            last.hash,
                            self.expected_seq
                        ])
                    }),
                None => tx
                    .prepare_cached(
                        "UPDATE arenas SET head_seq = ?2, head_hash = ?3
                         WHERE id = ?1 AND head_seq = ?4",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![arena, last.seq, last.hash, self.expected_seq])
                    }),
            }
        }
        .map_err(fail)?;
        if moved == 0 {
            return Ok(false);
        }
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (arena_id, seq, at, actor, kind, payload, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(fail)?;
        for e in self.events {
            insert
                .execute(params![
                    arena, e.seq, e.at, e.actor, e.kind, e.payload, e.hash
                ])
                .map_err(fail)?;
        }
        if let Some(record) = self.record {
            write_members(fail, tx, arena, record)?;
            write_tags(fail, tx, arena, record)?;
        }
        if let Some(state) = self.snapshot {
            tx.prepare_cached("INSERT INTO snapshots (arena_id, seq, state) VALUES (?1, ?2, ?3)")
                .and_then(|mut stmt| stmt.execute(params![arena, last.seq, state]))
                .map_err(fail)?;
        }
        Ok(true)
    }
}

/// Where an append finds the arena it extends.
enum LogEnd {
    /// Its head is no longer the expected one: another writer got there first.
    Moved,
    /// Its head is the expected one, and its log's last event is that head.
    AtHead,
}

/// Checks, inside the append's transaction, that `arena`'s stored head is `expected_seq` and that
/// its log really ends there: the last event row has the head's sequence number and hash. Two
/// lookups on primary keys, no scan.
///
/// # Failure
/// `storage` naming the arena and both sequence numbers when the log and the head disagree (a
/// deleted or added event row): nothing is written over a broken log.
fn check_log_end(
    fail: impl Fn(rusqlite::Error) -> ArenaError + Copy,
    tx: &Connection,
    arena: &str,
    expected_seq: u64,
) -> Result<LogEnd, ArenaError> {
    let head: Option<(u64, String)> = tx
        .prepare_cached("SELECT head_seq, head_hash FROM arenas WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![arena], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(fail)?;
    let Some((head_seq, head_hash)) = head.filter(|(seq, _)| *seq == expected_seq) else {
        return Ok(LogEnd::Moved);
    };
    let last: Option<(u64, String)> = tx
        .prepare_cached(
            "SELECT seq, hash FROM events WHERE arena_id = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![arena], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(fail)?;
    super::check_log_end(arena, head_seq, &head_hash, last)?;
    Ok(LogEnd::AtHead)
}

#[cfg(test)]
mod tests;
