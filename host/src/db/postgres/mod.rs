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
//! Connections come from a pool per database URL, shared by every host in the process.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use arena_bindings::storage::{ArenaRecord, LogHead, StateSnapshot};

use arena_bindings::types::{ArenaError, ArenaStatus, Event};

use super::{Backend, DbError, Storage, TokenRecord, check_append};

type Manager = PostgresConnectionManager<NoTls>;

/// The schema, one migration per version, in the same order as SQLite's.
pub const MIGRATIONS: &[&str] = &[
    // 1: arenas with their head and snapshot, the event log, and who participates where.
    "CREATE TABLE arenas (
         id        TEXT PRIMARY KEY,
         status    TEXT NOT NULL,
         head_seq  BIGINT NOT NULL,
         head_hash TEXT NOT NULL,
         snapshot  TEXT NOT NULL
     );
     CREATE TABLE events (
         arena_id TEXT NOT NULL,
         seq      BIGINT NOT NULL,
         at       TEXT NOT NULL,
         actor    TEXT NOT NULL,
         kind     TEXT NOT NULL,
         payload  TEXT NOT NULL,
         hash     TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     );
     CREATE TABLE members (
         agent    TEXT NOT NULL,
         arena_id TEXT NOT NULL,
         PRIMARY KEY (agent, arena_id)
     );",
    // 2: the log is append-only in the database itself, and members can be found by arena.
    "CREATE FUNCTION arena_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
     CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
         FOR EACH ROW EXECUTE FUNCTION arena_events_append_only();
     CREATE INDEX members_by_arena ON members (arena_id);",
    // 3: durable cursors of event subscribers: the last event each has accepted.
    "CREATE TABLE cursors (
         arena_id   TEXT NOT NULL,
         subscriber TEXT NOT NULL,
         seq        BIGINT NOT NULL,
         PRIMARY KEY (arena_id, subscriber)
     );",
    // 4: the tags of each arena's facts, to find facts across arenas by tag.
    "CREATE TABLE arena_tags (
         tag      TEXT NOT NULL,
         arena_id TEXT NOT NULL,
         PRIMARY KEY (tag, arena_id)
     );
     CREATE INDEX arena_tags_by_arena ON arena_tags (arena_id);",
    // 5: snapshots kept apart, now and then, instead of the whole state rewritten with every
    // append; an arena's row keeps its status and the head its log must end at; an append is one
    // call of a server-side function.
    "CREATE TABLE snapshots (
         arena_id TEXT NOT NULL,
         seq      BIGINT NOT NULL,
         state    TEXT NOT NULL,
         PRIMARY KEY (arena_id, seq)
     );
     INSERT INTO snapshots (arena_id, seq, state) SELECT id, head_seq, snapshot FROM arenas;
     ALTER TABLE arenas DROP COLUMN snapshot;
     CREATE FUNCTION arena_snapshots_never_altered() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'snapshots are never altered'; END $$;
     CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots
         FOR EACH ROW EXECUTE FUNCTION arena_snapshots_never_altered();
     CREATE FUNCTION arena_append(
         p_arena TEXT, p_expected BIGINT,
         p_seqs BIGINT[], p_ats TEXT[], p_actors TEXT[], p_kinds TEXT[], p_payloads TEXT[],
         p_hashes TEXT[],
         p_status TEXT, p_participants TEXT[], p_tags TEXT[], p_snapshot TEXT,
         OUT written BOOLEAN, OUT head_hash TEXT, OUT log_seq BIGINT, OUT log_hash TEXT
     ) LANGUAGE plpgsql AS $$
     DECLARE
         last_seq BIGINT := p_seqs[array_upper(p_seqs, 1)];
         last_hash TEXT := p_hashes[array_upper(p_hashes, 1)];
     BEGIN
         written := FALSE;
         IF p_expected = 0 THEN
             INSERT INTO arenas (id, status, head_seq, head_hash)
                 VALUES (p_arena, p_status, last_seq, last_hash) ON CONFLICT (id) DO NOTHING;
             IF NOT FOUND THEN RETURN; END IF;
         ELSE
             -- Lock the arena's row at the expected head (a racing writer waits here, then finds
             -- the head moved), and check that its log really ends there.
             SELECT a.head_hash INTO head_hash FROM arenas a
                 WHERE a.id = p_arena AND a.head_seq = p_expected FOR UPDATE;
             IF NOT FOUND THEN RETURN; END IF;
             SELECT e.seq, e.hash INTO log_seq, log_hash FROM events e
                 WHERE e.arena_id = p_arena ORDER BY e.seq DESC LIMIT 1;
             IF log_seq IS DISTINCT FROM p_expected OR log_hash IS DISTINCT FROM head_hash THEN
                 RETURN;
             END IF;
             UPDATE arenas SET head_seq = last_seq, head_hash = last_hash,
                               status = COALESCE(p_status, status)
                 WHERE id = p_arena;
         END IF;
         INSERT INTO events (arena_id, seq, at, actor, kind, payload, hash)
             SELECT p_arena, e.* FROM unnest(p_seqs, p_ats, p_actors, p_kinds, p_payloads, p_hashes) AS e;
         IF p_status IS NOT NULL THEN
             DELETE FROM members WHERE arena_id = p_arena;
             INSERT INTO members (agent, arena_id)
                 SELECT DISTINCT a, p_arena FROM unnest(p_participants) AS a;
             DELETE FROM arena_tags WHERE arena_id = p_arena;
             INSERT INTO arena_tags (tag, arena_id)
                 SELECT DISTINCT t, p_arena FROM unnest(p_tags) AS t;
         END IF;
         IF p_snapshot IS NOT NULL THEN
             INSERT INTO snapshots (arena_id, seq, state) VALUES (p_arena, last_seq, p_snapshot);
         END IF;
         PERFORM pg_notify('arena_events', p_arena);
         written := TRUE;
         head_hash := NULL;
     EXCEPTION WHEN unique_violation THEN
         -- Another writer appended the same sequence number first: nothing of this is kept.
         written := FALSE;
         head_hash := NULL;
     END $$;",
    // 6: agent tokens: only each token's SHA-256 is kept, with the arena and agent it acts as, its
    // label, and its times (unix seconds).
    "CREATE TABLE tokens (
         id           TEXT PRIMARY KEY,
         hash         TEXT NOT NULL UNIQUE,
         arena_id     TEXT NOT NULL,
         agent        TEXT NOT NULL,
         label        TEXT,
         created_at   BIGINT NOT NULL,
         expires_at   BIGINT,
         last_used_at BIGINT,
         revoked_at   BIGINT
     );
     CREATE INDEX tokens_by_arena ON tokens (arena_id);",
];

/// The channel every append notifies, with the arena id as payload.
pub const CHANNEL: &str = "arena_events";

/// The advisory lock under which hosts starting at once migrate one after another.
const MIGRATION_LOCK: i64 = 727_274;

/// Connections each pool keeps at most.
const POOL_SIZE: u32 = 8;

/// Connections each pool keeps open while idle: a short command (`arena events`) opens one, not
/// [`POOL_SIZE`], so many hosts and commands at once stay within the server's `max_connections`.
const POOL_IDLE: u32 = 1;

fn pools() -> &'static Mutex<HashMap<String, Pool<Manager>>> {
    static POOLS: OnceLock<Mutex<HashMap<String, Pool<Manager>>>> = OnceLock::new();
    POOLS.get_or_init(Mutex::default)
}

/// The process's pool for `url`, created (and the schema migrated) on first use.
fn pool(url: &str) -> Result<Pool<Manager>, DbError> {
    let mut pools = pools().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = pools.get(url) {
        return Ok(pool.clone());
    }
    let config: postgres::Config = url.parse()?;
    let pool = Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(POOL_IDLE))
        .connection_timeout(Duration::from_secs(10))
        .build(PostgresConnectionManager::new(config, NoTls))?;
    migrate(&mut *pool.get()?)?;
    pools.insert(url.to_string(), pool.clone());
    Ok(pool)
}

/// Runs the migrations the database has not seen, under an advisory lock so that hosts starting at
/// once migrate one after another. Refuses a database from a newer version.
fn migrate(conn: &mut Client) -> Result<(), DbError> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS arena_schema (version INTEGER NOT NULL)")?;
    let version: i32 = tx
        .query_opt("SELECT version FROM arena_schema", &[])?
        .map_or(0, |row| row.get(0));
    let version = usize::try_from(version).unwrap_or(0);
    if version > MIGRATIONS.len() {
        return Err(DbError::SchemaTooNew {
            found: version,
            supported: MIGRATIONS.len(),
        });
    }
    for sql in &MIGRATIONS[version..] {
        tx.batch_execute(sql)?;
    }
    tx.execute("DELETE FROM arena_schema", &[])?;
    tx.execute(
        "INSERT INTO arena_schema (version) VALUES ($1)",
        &[&(MIGRATIONS.len() as i32)],
    )?;
    Ok(tx.commit()?)
}

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

/// The columns [`token_row`] reads, in its order.
macro_rules! token_columns {
    () => {
        "id, arena_id, agent, label, created_at, expires_at, last_used_at, revoked_at"
    };
}

fn token_row(row: &postgres::Row) -> TokenRecord {
    TokenRecord {
        id: row.get(0),
        arena: row.get(1),
        agent: row.get(2),
        label: row.get(3),
        created_at: row.get(4),
        expires_at: row.get(5),
        last_used_at: row.get(6),
        revoked_at: row.get(7),
    }
}

impl Backend for PgStorage {
    fn add_token(&mut self, token: &TokenRecord, hash: &str) -> Result<(), ArenaError> {
        self.execute(
            "INSERT INTO tokens (id, hash, arena_id, agent, label, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &token.id,
                &hash,
                &token.arena,
                &token.agent,
                &token.label,
                &token.created_at,
                &token.expires_at,
            ],
        )
        .map(drop)
    }

    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRecord>, ArenaError> {
        Ok(self
            .query(
                concat!("SELECT ", token_columns!(), " FROM tokens WHERE hash = $1"),
                &[&hash],
            )?
            .first()
            .map(token_row))
    }

    fn tokens(&mut self, arena: Option<&str>) -> Result<Vec<TokenRecord>, ArenaError> {
        Ok(self
            .query(
                concat!(
                    "SELECT ",
                    token_columns!(),
                    " FROM tokens WHERE $1::TEXT IS NULL OR arena_id = $1 ORDER BY created_at, id"
                ),
                &[&arena],
            )?
            .iter()
            .map(token_row)
            .collect())
    }

    fn revoke_token(&mut self, id: &str, at: i64) -> Result<bool, ArenaError> {
        self.execute(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &at],
        )
        .map(|changed| changed > 0)
    }

    fn token_used(&mut self, id: &str, at: i64) -> Result<(), ArenaError> {
        self.execute(
            "UPDATE tokens SET last_used_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .map(drop)
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
