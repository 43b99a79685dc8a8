//! Whether an SQLite file is whole: SQLite's full integrity check, for `arena check`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, file_uri, refuse_unread_wal};
use crate::db::DbError;

/// What SQLite's `PRAGMA integrity_check` says of the database file at `path`: an empty list when it
/// finds the file whole, else its findings, one a line, as SQLite words them. The full check (every
/// page, every index entry against its table), not `quick_check`: its cost grows with the file, so it
/// runs when an operator asks (`arena check`), never when a database is opened.
///
/// The file is opened read-only: nothing is created, migrated or written.
///
/// # Failure
/// [`DbError::Missing`] when there is no file; SQLite's error when the file cannot be opened or the
/// check cannot run at all (a file so damaged that SQLite does not take it for a database).
pub fn integrity_check(path: &Path) -> Result<Vec<String>, DbError> {
    if !path.exists() {
        return Err(DbError::Missing);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let check = |uri: &str| -> Result<Vec<String>, rusqlite::Error> {
        let conn = Connection::open_with_flags(uri, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect()
    };
    // As for a read-only open: a folder the process may not write cannot hold the `-shm` file a WAL
    // database is read with, and nobody can be writing there, so it is read as immutable.
    let findings = match check(&file_uri(path, "mode=ro")) {
        Ok(findings) => findings,
        Err(first) => {
            refuse_unread_wal(path)?;
            check(&file_uri(path, "immutable=1")).map_err(|_| first)?
        }
    };
    // A finding may span lines, under a header naming the schema (`*** in database main ***`).
    Ok(findings
        .iter()
        .flat_map(|finding| finding.lines())
        .filter(|line| *line != "ok" && !line.starts_with("*** "))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(super::super::SqliteStorage::open(&path, crate::db::Durability::Normal).unwrap());
        assert_eq!(integrity_check(&path).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.db");
        assert!(matches!(integrity_check(&path), Err(DbError::Missing)));
        assert!(!path.exists());
    }
}
