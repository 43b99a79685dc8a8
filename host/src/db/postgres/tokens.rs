//! Agent tokens in PostgreSQL: the rows behind `arena token` and the MCP server's bearer tokens
//! (only each token's hash is stored).

use super::PgStorage;
use crate::db::TokenRecord;
use arena_bindings::types::ArenaError;

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

impl PgStorage {
    pub(super) fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &str,
    ) -> Result<(), ArenaError> {
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

    pub(super) fn find_token(&mut self, hash: &str) -> Result<Option<TokenRecord>, ArenaError> {
        Ok(self
            .query(
                concat!("SELECT ", token_columns!(), " FROM tokens WHERE hash = $1"),
                &[&hash],
            )?
            .first()
            .map(token_row))
    }

    pub(super) fn list_tokens(
        &mut self,
        arena: Option<&str>,
    ) -> Result<Vec<TokenRecord>, ArenaError> {
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

    pub(super) fn revoke(&mut self, id: &str, at: i64) -> Result<bool, ArenaError> {
        self.execute(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &at],
        )
        .map(|changed| changed > 0)
    }

    pub(super) fn mark_token_used(&mut self, id: &str, at: i64) -> Result<(), ArenaError> {
        self.execute(
            "UPDATE tokens SET last_used_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .map(drop)
    }
}
