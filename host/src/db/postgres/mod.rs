//! Arenas in PostgreSQL, shared by hosts on several machines.
//!
//! The same tables and migrations as the SQLite storage, in PostgreSQL's dialect, behind the same
//! [`Backend`] contract. An append is one statement, one round trip: `SELECT arena_append(…)`, a
//! server-side function that checks the arena's head (its last event) is the expected one, inserts
//! the events, and — when the append carries them — the record and the snapshot. Of two hosts racing
//! on one arena, the second waits for the first's lock on the arena's row, then finds the head
//! moved: the function writes nothing and answers `false`, the host returns `conflict`, and the
//! component reloads and retries. The unique key on `(arena_id, seq)` backs this up in the log
//! itself: an insert that breaks it undoes everything the call wrote and answers `false` too. Every append also sends a
//! notification (`arena_events`, the arena id) that wakes readers on other hosts; the log stays the
//! source of truth, so a reader that misses one still reads everything.
//!
//! Connections come from a pool per database URL, shared by every host in the process (`pool`);
//! the schema and its migrations are in `migrations`, agent tokens in `tokens`.

use std::collections::HashMap;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use r2d2::PooledConnection;

use arena_bindings::storage::{ArenaRecord, LogHead, StateSnapshot};

use arena_bindings::types::{ArenaError, ArenaStatus, Event};

use super::{Backend, DbError, Storage, TokenRecord, check_append};

mod migrations;
mod pool;
mod tokens;

pub use migrations::MIGRATIONS;
use pool::{Manager, pool};

/// The channel every append notifies, with the arena id as payload.
pub const CHANNEL: &str = "arena_events";

fn storage_error(e: postgres::Error) -> ArenaError {
    ArenaError::Storage(format!("postgresql: {e}"))
}

fn seq(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// One pooled connection to an arena database in PostgreSQL.
pub struct PgStorage {
    url: String,
    conn: PooledConnection<Manager>,
    statements: HashMap<&'static str, Statement>,
    conflicts: u64,
    in_batch: bool,
    /// A connection of its own that LISTENs, opened on first wait.
    listener: Option<Client>,
}

impl PgStorage {
    /// Connects to the database at `url` (from the process's pool), migrating it on first use.
    ///
    /// # Failure
    /// [`DbError::SchemaTooNew`] for a database from a newer version; PostgreSQL's or the pool's
    /// error when it cannot be reached or migrated.
    pub fn open(url: &str) -> Result<Self, DbError> {
        let conn = pool(url)?.get()?;
        Ok(PgStorage {
            url: url.to_string(),
            conn,
            statements: HashMap::new(),
            conflicts: 0,
            in_batch: false,
            listener: None,
        })
    }

    /// The statement for `sql`, prepared once per connection.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, ArenaError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.conn.prepare(sql).map_err(storage_error)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, ArenaError> {
        let statement = self.statement(sql)?;
        self.conn.execute(&statement, params).map_err(storage_error)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, ArenaError> {
        let statement = self.statement(sql)?;
        self.conn.query(&statement, params).map_err(storage_error)
    }

    fn ids(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<String>, ArenaError> {
        Ok(self
            .query(sql, params)?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    /// The append, in one call of `arena_append`: `false`, writing nothing, when the arena's head
    /// is not `expected_seq`.
    fn call_append(
        &mut self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<bool, ArenaError> {
        let seqs: Vec<i64> = events.iter().map(|e| seq(e.seq)).collect();
        let column = |field: fn(&Event) -> &str| events.iter().map(field).collect::<Vec<&str>>();
        let (ats, actors, kinds) = (column(|e| &e.at), column(|e| &e.actor), column(|e| &e.kind));
        let (payloads, hashes) = (column(|e| &e.payload), column(|e| &e.hash));
        let status = record.map(|r| r.status.name());
        let participants = record.map(|r| r.participants.as_slice());
        let tags = record.map(|r| r.tags.as_slice());
        let statement = self.statement(
            "SELECT written, head_hash, log_seq, log_hash
             FROM arena_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )?;
        let row = self
            .conn
            .query_one(
                &statement,
                &[
                    &arena,
                    &seq(expected_seq),
                    &seqs,
                    &ats,
                    &actors,
                    &kinds,
                    &payloads,
                    &hashes,
                    &status,
                    &participants,
                    &tags,
                    &snapshot,
                ],
            )
            .map_err(storage_error)?;
        if row.get::<_, bool>(0) {
            return Ok(true);
        }
        // Not written: the head had moved (no hash is returned), or the log does not end at it.
        if let Some(head_hash) = row.get::<_, Option<String>>(1) {
            let log_seq: Option<i64> = row.get(2);
            let log_hash: Option<String> = row.get(3);
            let last = log_seq.zip(log_hash).map(|(s, h)| (s as u64, h));
            super::check_log_end(arena, expected_seq, &head_hash, last)?;
        }
        Ok(false)
    }
}

impl Storage for PgStorage {
    fn head(&mut self, arena: &str) -> Result<Option<LogHead>, ArenaError> {
        Ok(self
            .query(
                "SELECT head_seq, head_hash FROM arenas WHERE id = $1",
                &[&arena],
            )?
            .first()
            .map(|row| LogHead {
                seq: row.get::<_, i64>(0) as u64,
                hash: row.get(1),
            }))
    }

    fn snapshot(&mut self, arena: &str, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError> {
        Ok(self
            .query(
                "SELECT seq, state FROM snapshots WHERE arena_id = $1 AND seq <= $2
                 ORDER BY seq DESC LIMIT 1",
                &[&arena, &seq(at_most)],
            )?
            .first()
            .map(|row| StateSnapshot {
                seq: row.get::<_, i64>(0) as u64,
                state: row.get(1),
            }))
    }

    fn read_events(
        &mut self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        Ok(self
            .query(
                "SELECT seq, at, actor, kind, payload, hash FROM events
                 WHERE arena_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&arena, &seq(after), &i64::from(limit)],
            )?
            .iter()
            .map(|row| Event {
                seq: row.get::<_, i64>(0) as u64,
                at: row.get(1),
                actor: row.get(2),
                kind: row.get(3),
                payload: row.get(4),
                hash: row.get(5),
            })
            .collect())
    }

    fn append(
        &mut self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError> {
        check_append(expected_seq, events, record)?;
        // Alone, an append is one statement, atomic by itself; inside a group commit's transaction
        // it is a savepoint too, so a failed append leaves the batch usable and as it was.
        if !self.in_batch {
            return match self.call_append(arena, expected_seq, events, record, snapshot)? {
                true => Ok(()),
                false => {
                    self.conflicts += 1;
                    Err(ArenaError::Conflict)
                }
            };
        }
        self.conn
            .batch_execute("SAVEPOINT arena_append")
            .map_err(storage_error)?;
        let undo = "ROLLBACK TO SAVEPOINT arena_append; RELEASE SAVEPOINT arena_append";
        match self.call_append(arena, expected_seq, events, record, snapshot) {
            Ok(true) => self
                .conn
                .batch_execute("RELEASE SAVEPOINT arena_append")
                .map_err(storage_error),
            Ok(false) => {
                self.conn.batch_execute(undo).map_err(storage_error)?;
                self.conflicts += 1;
                Err(ArenaError::Conflict)
            }
            Err(e) => {
                if let Err(undo_failed) = self.conn.batch_execute(undo) {
                    tracing::warn!("undoing a failed append: {undo_failed}");
                }
                Err(e)
            }
        }
    }

    fn participating(&mut self, agent: &str) -> Result<Vec<String>, ArenaError> {
        self.ids(
            "SELECT m.arena_id FROM members m JOIN arenas a ON a.id = m.arena_id
             WHERE m.agent = $1 AND a.status <> $2 ORDER BY m.arena_id",
            &[&agent, &ArenaStatus::Archived.name()],
        )
    }

    fn list_arenas(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError> {
        self.ids(
            "SELECT id FROM arenas WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after.unwrap_or(""), &i64::from(limit)],
        )
    }

    fn tagged(
        &mut self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        self.ids(
            "SELECT arena_id FROM arena_tags WHERE tag = $1 AND arena_id > $2
             ORDER BY arena_id LIMIT $3",
            &[&tag, &after.unwrap_or(""), &i64::from(limit)],
        )
    }
}

impl Backend for PgStorage {
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

    fn cursor(&mut self, arena: &str, subscriber: &str) -> Result<u64, ArenaError> {
        Ok(self
            .query(
                "SELECT seq FROM cursors WHERE arena_id = $1 AND subscriber = $2",
                &[&arena, &subscriber],
            )?
            .first()
            .map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    fn advance_cursor(
        &mut self,
        arena: &str,
        subscriber: &str,
        seq_: u64,
    ) -> Result<(), ArenaError> {
        self.execute(
            "INSERT INTO cursors (arena_id, subscriber, seq) VALUES ($1, $2, $3)
             ON CONFLICT (arena_id, subscriber)
             DO UPDATE SET seq = GREATEST(cursors.seq, excluded.seq)",
            &[&arena, &subscriber, &seq(seq_)],
        )
        .map(drop)
    }

    fn conflicts(&self) -> u64 {
        self.conflicts
    }

    fn begin_batch(&mut self) -> Result<(), ArenaError> {
        self.conn.batch_execute("BEGIN").map_err(storage_error)?;
        self.in_batch = true;
        Ok(())
    }

    fn commit_batch(&mut self) -> Result<(), ArenaError> {
        self.conn.batch_execute("COMMIT").map_err(|e| {
            self.rollback_batch();
            storage_error(e)
        })?;
        self.in_batch = false;
        Ok(())
    }

    fn rollback_batch(&mut self) {
        if std::mem::take(&mut self.in_batch)
            && let Err(e) = self.conn.batch_execute("ROLLBACK")
        {
            tracing::warn!("rolling back a group commit: {e}");
        }
    }

    fn in_batch(&self) -> bool {
        self.in_batch
    }

    fn wait_for_appends(&mut self, timeout: Duration) {
        if self.listener.is_none() {
            match Client::connect(&self.url, NoTls)
                .and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANNEL}")).map(|()| c))
            {
                Ok(listener) => self.listener = Some(listener),
                Err(e) => {
                    tracing::warn!("listening for appends: {e}; polling instead");
                    std::thread::sleep(timeout);
                    return;
                }
            }
        }
        if let Some(listener) = &mut self.listener {
            let woken = listener.notifications().timeout_iter(timeout).next();
            if let Ok(Some(_)) = woken {
                // Drain what else arrived: one read of the log answers them all.
                let mut pending = listener.notifications();
                while let Ok(Some(_)) = pending.iter().next() {}
            }
        }
    }
}
