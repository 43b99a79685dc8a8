//! Files SQLite has reported damaged in this process. Opening checks nothing (a check reads the
//! whole file: `arena check` runs it on request); instead, the first SQLite error that says the file
//! is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) marks it, and from then on every connection of this
//! process refuses to write to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arena_bindings::types::ArenaError;

/// SQLite reported the database file damaged: this process writes nothing more to it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: the file is damaged ({reason}): this process writes nothing more to it; \
     `arena check` names the damage",
    .file.display()
)]
pub struct Damaged {
    /// The database file.
    pub file: PathBuf,
    /// What SQLite said when it found the damage.
    pub reason: String,
}

impl From<Damaged> for ArenaError {
    fn from(damaged: Damaged) -> Self {
        ArenaError::Storage(damaged.to_string())
    }
}

/// The damaged files, each with the first report of its damage.
static DAMAGED: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

/// Whether SQLite reported `file` damaged earlier in this process, and what it said.
pub fn damaged(file: &Path) -> Option<Damaged> {
    let damaged = DAMAGED.lock().unwrap_or_else(|e| e.into_inner());
    damaged.get(file).map(|reason| Damaged {
        file: file.to_path_buf(),
        reason: reason.clone(),
    })
}

/// Whether SQLite's error says the file is damaged.
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// An SQLite error on `file` as a `storage` error; one that reports damage marks the file first.
pub(super) fn storage_error(file: &Path, e: rusqlite::Error) -> ArenaError {
    if !is_damage(&e) {
        return ArenaError::Storage(e.to_string());
    }
    let mut damaged = DAMAGED.lock().unwrap_or_else(|e| e.into_inner());
    let reason = damaged
        .entry(file.to_path_buf())
        .or_insert_with(|| e.to_string())
        .clone();
    Damaged {
        file: file.to_path_buf(),
        reason,
    }
    .into()
}

/// The conversion of SQLite errors on `file`, for `map_err`.
pub(super) fn failure(file: &Path) -> impl Fn(rusqlite::Error) -> ArenaError + Copy + '_ {
    move |e| storage_error(file, e)
}

/// The path a file is known by in [`DAMAGED`]: canonical when it exists, else absolute.
pub(super) fn file_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
