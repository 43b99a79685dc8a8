//! Where the host keeps arenas: one storage contract, two databases.
//!
//! [`Backend`] is the host side of the WIT `storage` interface plus what the host itself keeps
//! (subscriber cursors) and the batch control group commit needs. SQLite ([`sqlite`]) is the
//! embedded default; PostgreSQL ([`postgres`]) lets hosts on several machines share arenas. Both
//! honour the same contract — one atomic append guarded by the arena's expected last sequence
//! number — so the component needs no change to move between them.
//!
//! The two databases are leaves: they import this module, never each other, and nothing above.

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use arena_bindings::storage::{ArenaRecord, LogHead, StateSnapshot};
use arena_bindings::types::{ArenaError, Event};

/// How hard a commit holds on to its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: nothing acknowledged is lost when the process dies; a power
    /// loss may lose the last commits. The default.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: acknowledged commits survive power loss too.
    Full,
}

impl Durability {
    /// The setting's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Normal => "normal",
            Durability::Full => "full",
        }
    }
}

/// Why a database could not be opened or brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused (the file is unreadable, not a database, locked…).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused, or could not be reached.
    #[error("postgresql: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// No connection could be taken from the pool in time.
    #[error("connecting to postgresql: {0}")]
    Pool(#[from] r2d2::Error),
    /// The database was written by a newer version of this program; it is left untouched.
    #[error(
        "its schema version {found} is newer than this program's {supported}: \
         use a newer `arena` (the database was left untouched)"
    )]
    SchemaTooNew {
        /// The version the database records.
        found: usize,
        /// The newest version this program knows.
        supported: usize,
    },
    /// A read-only open found an older schema, which only a writable open migrates.
    #[error(
        "its schema version {found} is older than this program's {supported}, and a read-only \
         open migrates nothing: open it once with write access to migrate it"
    )]
    SchemaTooOld {
        /// The version the database records.
        found: usize,
        /// The version this program reads.
        supported: usize,
    },
    /// The file holds tables but records no schema version: not an arena database.
    #[error(
        "it is not an arena database: it holds tables ({}) but no arena schema version; \
         it was left untouched",
        .tables.join(", ")
    )]
    Unversioned {
        /// The tables it holds.
        tables: Vec<String>,
    },
    /// A read-write open of a file (or folder) this process may not write.
    #[error(
        "this user may not write it (or its folder); read commands and `--read-only` still work"
    )]
    NotWritable,
    /// SQLite finds the file damaged: it is opened for nothing but reading.
    #[error(
        "the file is damaged ({0}): nothing is written to it; `arena check` names the damage, \
         and read commands still show what can be read"
    )]
    Damaged(String),
    /// A read-only open that cannot take the WAL's index (a folder it may not write, without the
    /// `-shm` file) found a write-ahead log holding changes: reading the file without it would show
    /// an older state as current, so nothing is read.
    #[error(
        "its write-ahead log {} holds changes that cannot be read here (the `-shm` index is \
         missing and cannot be made in a folder this user may not write), and the file alone is \
         an older state: nothing was read. Copy the database with its `-wal` to a folder this \
         user may write, or open it once with write access to checkpoint it",
        .0.display()
    )]
    UnreadableWal(PathBuf),
    /// A read-only open found no file.
    #[error("there is no such file (a read-only open creates nothing)")]
    Missing,
    /// A read-only open found a file without arenas.
    #[error("it holds no arena database yet (a read-only open creates nothing)")]
    Empty,
}

/// A database location: a file for SQLite, or a `postgres://` (or `postgresql://`) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

impl Location {
    /// `postgres://…` and `postgresql://…` name a PostgreSQL database; anything else is a file.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            // The URL may carry a password: show where, not how.
            Location::Postgres(url) => {
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(scheme), Some(at)) if at > scheme => {
                        format!("{}://…@{}", &url[..scheme], &url[at + 1..])
                    }
                    _ => url.clone(),
                };
                f.write_str(&shown)
            }
        }
    }
}

/// The WIT `storage` contract, as the host serves it to the arena component: every storage
/// implements it, and the conformance suite drives it (the in-memory storage component included).
pub trait Storage: Send {
    /// The head of the arena's log, or `None` if there is no such arena.
    fn head(&mut self, arena: &str) -> Result<Option<LogHead>, ArenaError>;
    /// The arena's latest snapshot at or before event `at_most`, or `None`.
    fn snapshot(&mut self, arena: &str, at_most: u64) -> Result<Option<StateSnapshot>, ArenaError>;
    /// Up to `limit` events of `arena` with `seq > after`, in order.
    fn read_events(
        &mut self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError>;
    /// Appends `events`, with the record when it changes and a snapshot of the state after them
    /// when one is kept, all or nothing; `conflict`, writing nothing, when the arena's last sequence
    /// number is not `expected_seq`.
    fn append(
        &mut self,
        arena: &str,
        expected_seq: u64,
        events: &[Event],
        record: Option<&ArenaRecord>,
        snapshot: Option<&str>,
    ) -> Result<(), ArenaError>;
    /// Ids of non-archived arenas where `agent` currently participates.
    fn participating(&mut self, agent: &str) -> Result<Vec<String>, ArenaError>;
    /// Up to `limit` arena ids after `after`, ascending.
    fn list_arenas(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ArenaError>;
    /// Up to `limit` ids of arenas whose facts carry `tag`, after `after`, ascending.
    fn tagged(
        &mut self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError>;
}

/// An agent token as the database keeps it: everything about it but the token itself, of which only
/// the SHA-256 is stored. Times are unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token's public id (`tok-…`): what `arena token list` shows and `revoke` takes.
    pub id: String,
    /// The arena it acts on.
    pub arena: String,
    /// The agent it acts as.
    pub agent: String,
    /// What the operator called it.
    pub label: Option<String>,
    /// When it was issued.
    pub created_at: i64,
    /// When it stops being honoured; `None` for never.
    pub expires_at: Option<i64>,
    /// When it was last honoured (kept to the minute); `None` if never.
    pub last_used_at: Option<i64>,
    /// When it was revoked; `None` while it is not.
    pub revoked_at: Option<i64>,
}

/// A database the host runs arenas on: the [`Storage`] contract, plus what the host itself keeps
/// (subscriber cursors, agent tokens) and the batch control group commit needs.
pub trait Backend: Storage {
    /// The last event of `arena` that `subscriber` accepted (0 for none).
    fn cursor(&mut self, arena: &str, subscriber: &str) -> Result<u64, ArenaError>;
    /// Moves `subscriber`'s cursor on `arena` forward to `seq` (never backward), durably.
    fn advance_cursor(&mut self, arena: &str, subscriber: &str, seq: u64)
    -> Result<(), ArenaError>;
    /// Stores a new token's record with the SHA-256 of the token (`hash`, hex); never the token.
    fn add_token(&mut self, token: &TokenRecord, hash: &str) -> Result<(), ArenaError>;
    /// The record of the token whose SHA-256 is `hash`, revoked or not; `None` for no such token.
    fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenRecord>, ArenaError>;
    /// The records of `arena`'s tokens (of every arena's, for `None`), oldest first.
    fn tokens(&mut self, arena: Option<&str>) -> Result<Vec<TokenRecord>, ArenaError>;
    /// Marks token `id` revoked at `at` (a revoked token stays revoked); `false` for no such token.
    fn revoke_token(&mut self, id: &str, at: i64) -> Result<bool, ArenaError>;
    /// Records that token `id` was honoured at `at`.
    fn token_used(&mut self, id: &str, at: i64) -> Result<(), ArenaError>;
    /// How many appends this connection refused with `conflict`.
    fn conflicts(&self) -> u64;
    /// Opens the transaction a group commit's appends join, taking the write lock now. Each append
    /// inside it is a savepoint, so a failed append leaves the batch as it was. Callers hold it
    /// through a guard that rolls it back unless committed (the runtime's `Batch`).
    fn begin_batch(&mut self) -> Result<(), ArenaError>;
    /// Commits the open batch; on failure it is rolled back and nothing of it is stored.
    fn commit_batch(&mut self) -> Result<(), ArenaError>;
    /// Rolls the open batch back: nothing of it is stored.
    fn rollback_batch(&mut self);
    /// Whether a batch is open.
    fn in_batch(&self) -> bool;
    /// Waits until another writer may have appended (a notification, where the database has them)
    /// or `timeout` passes; the log stays the source of truth, so a reader reads it either way.
    fn wait_for_appends(&mut self, timeout: Duration);
}

/// Whether a database is opened to read and write, or only to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Reads and writes; the schema is brought up to date. The default.
    #[default]
    ReadWrite,
    /// Reads only: nothing is created, migrated or written, so a file the process may not write
    /// (or a read-only medium) can be read; every write fails with one `storage` error.
    ReadOnly,
}

/// Opens the database at `location` with `access` (see [`open`] and [`Access::ReadOnly`]).
///
/// # Failure
/// As [`open`]; read-only, also the [`DbError`]s of [`sqlite::SqliteStorage::open_read_only`].
pub fn open_with(
    location: &Location,
    durability: Durability,
    access: Access,
) -> Result<Box<dyn Backend>, DbError> {
    match (access, location) {
        (Access::ReadOnly, Location::Sqlite(path)) => {
            Ok(Box::new(sqlite::SqliteStorage::open_read_only(path)?))
        }
        _ => open(location, durability),
    }
}

/// Opens the database at `location`, bringing its schema up to date.
///
/// # Failure
/// [`DbError::SchemaTooNew`] for a database written by a newer version; the database's own error
/// when it cannot be reached, read or migrated.
pub fn open(location: &Location, durability: Durability) -> Result<Box<dyn Backend>, DbError> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(sqlite::SqliteStorage::open(path, durability)?),
        Location::Postgres(url) => Box::new(postgres::PgStorage::open(url)?),
    })
}

/// Checks an append before anything is written: at least one event, numbered `expected_seq + 1`
/// onwards without gaps, and a record when it creates the arena (the checks every storage shares
/// with the component). Returns the last event (the arena's new head).
pub fn check_append<'a>(
    expected_seq: u64,
    events: &'a [Event],
    record: Option<&ArenaRecord>,
) -> Result<&'a Event, ArenaError> {
    arena_component::storage::check_append(
        expected_seq,
        events.iter().map(|e| e.seq),
        record.is_some(),
    )
    .map_err(|e| match e {
        arena_component::ArenaError::InvalidInput(what) => ArenaError::InvalidInput(what),
        other => ArenaError::Storage(other.to_string()),
    })?;
    Ok(events
        .last()
        .expect("check_append refuses an append without events"))
}

/// Checks that the last event row of `arena`'s log (`last`: its sequence number and hash) is the
/// stored head (`head_seq`, `head_hash`): the check every storage runs inside an append before it
/// writes anything.
///
/// # Failure
/// `storage` naming the arena and both sequence numbers.
pub fn check_log_end(
    arena: &str,
    head_seq: u64,
    head_hash: &str,
    last: Option<(u64, String)>,
) -> Result<(), ArenaError> {
    let (log_seq, log_hash) = last.unwrap_or_default();
    if log_seq == head_seq && log_hash == head_hash {
        return Ok(());
    }
    let how = if log_seq == head_seq {
        "with another hash".to_string()
    } else {
        format!("at event {log_seq}")
    };
    Err(ArenaError::Storage(format!(
        "arena {arena}: the log ends {how} but the stored head is event {head_seq}: \
         refusing to append over a broken log (nothing was written; `arena verify {arena}` \
         names the damage)"
    )))
}
