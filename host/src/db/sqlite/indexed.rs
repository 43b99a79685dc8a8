//! The indexed record of an arena (its members and its fact tags), rewritten by an append that
//! carries one.

use rusqlite::{Connection, params};

use arena_bindings::storage::ArenaRecord;
use arena_bindings::types::ArenaError;

pub(super) fn write_members(
    fail: impl Fn(rusqlite::Error) -> ArenaError + Copy,
    tx: &Connection,
    arena: &str,
    record: &ArenaRecord,
) -> Result<(), ArenaError> {
    tx.prepare_cached("DELETE FROM members WHERE arena_id = ?1")
        .and_then(|mut stmt| stmt.execute(params![arena]))
        .map_err(fail)?;
    let mut member = tx
        .prepare_cached("INSERT OR IGNORE INTO members (agent, arena_id) VALUES (?1, ?2)")
        .map_err(fail)?;
    for agent in &record.participants {
        member.execute(params![agent, arena]).map_err(fail)?;
    }
    Ok(())
}

pub(super) fn write_tags(
    fail: impl Fn(rusqlite::Error) -> ArenaError + Copy,
    tx: &Connection,
    arena: &str,
    record: &ArenaRecord,
) -> Result<(), ArenaError> {
    tx.prepare_cached("DELETE FROM arena_tags WHERE arena_id = ?1")
        .and_then(|mut stmt| stmt.execute(params![arena]))
        .map_err(fail)?;
    let mut tagged = tx
        .prepare_cached("INSERT OR IGNORE INTO arena_tags (tag, arena_id) VALUES (?1, ?2)")
        .map_err(fail)?;
    for tag in &record.tags {
        tagged.execute(params![tag, arena]).map_err(fail)?;
    }
    Ok(())
}
