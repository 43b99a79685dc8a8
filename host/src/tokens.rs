//! Agent tokens: a bearer secret that acts as one agent on one arena, for clients that reach the
//! arena from outside the process (MCP over HTTP).
//!
//! A token is drawn from the operating system's random source (256 bits) and shown once, when it is
//! issued; the database keeps only its SHA-256 ([`TokenRecord`]). A token carries no permissions of
//! its own: [`ArenaHost::resolve_token`] answers the agent's handle with the permissions it holds in
//! the arena *now* ([`ArenaHost::handle`]), so an agent that leaves, or an arena that is gone, takes
//! its tokens' power with it. Every reason a token is not honoured is one error, [`TokenError::Refused`],
//! which does not say which reason it was. Neither the token nor its hash is ever part of a message.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::db::TokenRecord;
use crate::types::ArenaError;
use crate::{AgentHandle, ArenaHost, HostError};

/// What every token starts with, so that a secret scanner (and a person) can tell one.
pub const TOKEN_PREFIX: &str = "arena_";

/// Random bytes in a token: 256 bits.
const SECRET_BYTES: usize = 32;

/// Random bytes in a token's public id.
const ID_BYTES: usize = 6;

/// The longest label a token may carry, in bytes.
pub const MAX_LABEL_BYTES: usize = 200;

/// How seldom a token's last-used time is written: once per this many seconds at most, so that
/// honouring a token is a read, not a write, on almost every request.
const USED_RESOLUTION_SECS: i64 = 60;

/// A token's text. Neither `Debug` nor `Display` shows it; only [`TokenSecret::expose`] does, for
/// the one place that prints it.
pub struct TokenSecret(String);

impl TokenSecret {
    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

/// A token just issued: the secret, shown once, and what the database keeps of it.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token.
    pub secret: TokenSecret,
    /// Its record (no secret in it).
    pub record: TokenRecord,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is not honoured: unknown, revoked, expired, for another arena, or its agent no
    /// longer takes part. Deliberately one error that does not say which.
    #[error(
        "the token is not honoured (it may be unknown, revoked or expired, be for another arena, \
         or its agent may have left)"
    )]
    Refused,
    /// `issue`: the agent does not take part in the arena (or holds no permission there).
    #[error(
        "agent {agent:?} does not take part in arena {arena}: a token can only act as a participant"
    )]
    NotParticipant {
        /// The arena.
        arena: String,
        /// The agent.
        agent: String,
    },
    /// `issue`: the label is longer than [`MAX_LABEL_BYTES`].
    #[error("the label is {0} bytes; at most {MAX_LABEL_BYTES} are kept (limit {MAX_LABEL_BYTES})")]
    LabelTooLong(usize),
    /// `revoke`: no token has this id.
    #[error("no token has the id {0:?} (`arena token list` shows the ids)")]
    NoSuchToken(String),
    /// The operating system's random source failed.
    #[error("drawing a random token: {0}")]
    Random(String),
    /// The host or the database failed.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// The hex SHA-256 of `token`: what the database keys a token by.
fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String, TokenError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl ArenaHost {
    /// Issues a token that acts as `agent` on `arena`, valid for `ttl` (for ever if `None`), and
    /// returns it: the only time the token can be seen.
    ///
    /// # Failure
    /// [`TokenError::NotParticipant`] unless `agent` holds a permission in `arena` now (the arena's
    /// `not-found` if there is no such arena); [`TokenError::LabelTooLong`].
    pub fn issue_token(
        &self,
        arena: &str,
        agent: &str,
        ttl: Option<Duration>,
        label: Option<&str>,
    ) -> Result<IssuedToken, TokenError> {
        if let Some(label) = label
            && label.len() > MAX_LABEL_BYTES
        {
            return Err(TokenError::LabelTooLong(label.len()));
        }
        if self.handle(arena, agent)?.grant().is_empty() {
            return Err(TokenError::NotParticipant {
                arena: arena.to_string(),
                agent: agent.to_string(),
            });
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_hex(SECRET_BYTES)?);
        let now = unix_now();
        let record = TokenRecord {
            id: format!("tok-{}", random_hex(ID_BYTES)?),
            arena: arena.to_string(),
            agent: agent.to_string(),
            label: label.map(str::to_string),
            created_at: now,
            expires_at: ttl
                .map(|ttl| now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))),
            last_used_at: None,
            revoked_at: None,
        };
        let hash = digest(&secret);
        self.with_backend(|db| db.add_token(&record, &hash))?;
        Ok(IssuedToken {
            secret: TokenSecret(secret),
            record,
        })
    }

    /// The records of `arena`'s tokens (every arena's for `None`), oldest first; never a token.
    pub fn tokens(&self, arena: Option<&str>) -> Result<Vec<TokenRecord>, HostError> {
        self.with_backend(|db| db.tokens(arena))
    }

    /// Revokes token `id`: from now on it is refused. Revoking a revoked token changes nothing.
    ///
    /// # Failure
    /// [`TokenError::NoSuchToken`].
    pub fn revoke_token(&self, id: &str) -> Result<(), TokenError> {
        if self.with_backend(|db| db.revoke_token(id, unix_now()))? {
            Ok(())
        } else {
            Err(TokenError::NoSuchToken(id.to_string()))
        }
    }

    /// The handle of the agent `token` acts as, with the permissions the agent holds now. With
    /// `arena`, the token must be for that arena.
    ///
    /// # Failure
    /// [`TokenError::Refused`] for an unknown, revoked or expired token, one for another arena than
    /// `arena`, one whose arena is gone, or whose agent holds no permission there now (it left);
    /// [`TokenError::Host`] only when the database fails.
    pub fn resolve_token(
        &self,
        token: &str,
        arena: Option<&str>,
    ) -> Result<AgentHandle, TokenError> {
        let hash = digest(token);
        let Some(record) = self.with_backend(|db| db.token_by_hash(&hash))? else {
            return Err(TokenError::Refused);
        };
        let now = unix_now();
        let honoured = record.revoked_at.is_none()
            && record.expires_at.is_none_or(|expires| now < expires)
            && arena.is_none_or(|arena| arena == record.arena);
        if !honoured {
            return Err(TokenError::Refused);
        }
        let handle = match self.handle(&record.arena, &record.agent) {
            Ok(handle) => handle,
            Err(HostError::Arena(ArenaError::NotFound)) => return Err(TokenError::Refused),
            Err(e) => return Err(e.into()),
        };
        if handle.grant().is_empty() {
            return Err(TokenError::Refused);
        }
        if record
            .last_used_at
            .is_none_or(|used| now.saturating_sub(used) >= USED_RESOLUTION_SECS)
            && let Err(e) = self.with_backend(|db| db.token_used(&record.id, now))
        {
            // Honouring the token does not depend on noting its use (a read-only replica, say).
            tracing::warn!(token = %record.id, "noting a token's use: {e}");
        }
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_the_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_secret_never_shows_in_debug() {
        let secret = TokenSecret("arena_0123".into());
        assert_eq!(format!("{secret:?}"), "TokenSecret(…)");
    }
}
