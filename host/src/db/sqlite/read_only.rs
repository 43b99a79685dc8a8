//! Opening an arena database for reading only: `SQLITE_OPEN_READ_ONLY`, nothing migrated or set,
//! and a WAL database whose `-shm` cannot be taken read as immutable only when no `-wal` beside it
//! holds changes (it never shows stale data as current).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::damage::file_key;
use super::schema::check_read_only;
use super::{BUSY_TIMEOUT, SqliteStorage};
use crate::db::DbError;

impl SqliteStorage {
    /// Opens the database at `path` for reading only: SQLite opens it with
    /// `SQLITE_OPEN_READ_ONLY`, nothing is migrated or set, and every write is refused. Works on a
    /// file or folder the process may not write (a WAL database whose `-shm` file cannot be created
    /// is opened as immutable, which is what read-only media are).
    ///
    /// # Failure
    /// [`DbError::Missing`] when there is no file, [`DbError::Empty`] for a file without arenas,
    /// [`DbError::SchemaTooOld`] or [`DbError::SchemaTooNew`] unless the schema is exactly this
    /// program's, [`DbError::Unversioned`] for a file that is not an arena database.
    pub fn open_read_only(path: &Path) -> Result<Self, DbError> {
        if !path.exists() {
            return Err(DbError::Missing);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |uri: &str| -> Result<Connection, DbError> {
            let conn = Connection::open_with_flags(uri, flags)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.set_prepared_statement_cache_capacity(64);
            check_read_only(&conn)?;
            Ok(conn)
        };
        let conn = match open(&file_uri(path, "mode=ro")) {
            Ok(conn) => conn,
            // Reading a WAL database takes its `-shm` file, which a folder the process may not
            // write cannot get: nobody can be writing there, so it can be read as immutable.
            Err(DbError::Sqlite(first)) => {
                refuse_unread_wal(path)?;
                open(&file_uri(path, "immutable=1")).map_err(|_| DbError::Sqlite(first))?
            }
            Err(other) => return Err(other),
        };
        Ok(SqliteStorage {
            conn,
            conflicts: 0,
            read_only: true,
            file: file_key(path).into(),
        })
    }
}

/// Refuses to read the file at `path` as immutable (without its write-ahead log) when a `-wal` file
/// beside it holds anything: those are acknowledged changes the file alone does not show.
pub(super) fn refuse_unread_wal(path: &Path) -> Result<(), DbError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    match std::fs::metadata(&wal) {
        Ok(meta) if meta.len() > 0 => Err(DbError::UnreadableWal(wal)),
        _ => Ok(()),
    }
}

/// An SQLite `file:` URI for `path` with `query`, its bytes percent-encoded where a URI needs it.
pub(super) fn file_uri(path: &Path, query: &str) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(char::from(*byte))
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}
