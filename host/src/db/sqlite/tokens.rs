//! Agent tokens on SQLite: the rows behind `arena token` and the MCP server's bearer tokens (only
//! each token's hash is stored).

use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use super::damage::failure;
use crate::db::TokenRecord;
use arena_bindings::types::ArenaError;

/// The columns [`token_row`] reads, in its order.
const TOKEN_COLUMNS: &str =
    "id, arena_id, agent, label, created_at, expires_at, last_used_at, revoked_at";

fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        arena: row.get(1)?,
        agent: row.get(2)?,
        label: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        last_used_at: row.get(6)?,
        revoked_at: row.get(7)?,
    })
}

impl SqliteStorage {
    pub(super) fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &str,
    ) -> Result<(), ArenaError> {
        let fail = failure(&self.file);
        self.writable()?;
        self.conn
            .prepare_cached(
                "INSERT INTO tokens (id, hash, arena_id, agent, label, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    token.id,
                    hash,
                    token.arena,
                    token.agent,
                    token.label,
                    token.created_at,
                    token.expires_at
                ])
            })
            .map(drop)
            .map_err(fail)
    }

    pub(super) fn find_token(&mut self, hash: &str) -> Result<Option<TokenRecord>, ArenaError> {
        let fail = failure(&self.file);
        self.conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row(params![hash], token_row).optional())
            .map_err(fail)
    }

    pub(super) fn list_tokens(
        &mut self,
        arena: Option<&str>,
    ) -> Result<Vec<TokenRecord>, ArenaError> {
        let fail = failure(&self.file);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ?1 IS NULL OR arena_id = ?1
                 ORDER BY created_at, id"
            ))
            .map_err(fail)?;
        let rows = stmt.query_map(params![arena], token_row).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    pub(super) fn revoke(&mut self, id: &str, at: i64) -> Result<bool, ArenaError> {
        let fail = failure(&self.file);
        self.writable()?;
        self.conn
            .prepare_cached("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![id, at]))
            .map(|changed| changed > 0)
            .map_err(fail)
    }

    pub(super) fn mark_token_used(&mut self, id: &str, at: i64) -> Result<(), ArenaError> {
        let fail = failure(&self.file);
        self.writable()?;
        self.conn
            .prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![id, at]))
            .map(drop)
            .map_err(fail)
    }
}
