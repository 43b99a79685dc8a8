//! Identifiers: of arenas, of agents, and the idempotency keys of operations.

use super::checks::{exceeded, truncate_chars};
use super::error::ArenaError;
use super::limits;

/// An arena's id: a UUIDv7 in canonical lowercase text.
pub type ArenaId = String;
/// An agent's id.
pub type AgentId = String;

/// Checks an idempotency key: 1 to 128 bytes, no control characters.
pub fn check_key(key: &str) -> Result<(), ArenaError> {
    if key.len() > limits::KEY_BYTES {
        return Err(exceeded("idempotency key bytes", limits::KEY_BYTES));
    }
    if key.is_empty() || key.chars().any(char::is_control) {
        return Err(ArenaError::InvalidInput(
            "an idempotency key is 1 to 128 bytes without control characters".into(),
        ));
    }
    Ok(())
}

/// Checks an agent id: 1 to 128 bytes, no control characters, not only whitespace.
pub fn check_agent_id(agent: &str) -> Result<(), ArenaError> {
    if agent.len() > limits::AGENT_ID_BYTES {
        return Err(exceeded("agent id bytes", limits::AGENT_ID_BYTES));
    }
    if agent.trim().is_empty() {
        return Err(ArenaError::InvalidInput("agent id is empty".into()));
    }
    if agent.chars().any(char::is_control) {
        return Err(ArenaError::InvalidInput(format!(
            "agent id {agent:?} contains a control character"
        )));
    }
    Ok(())
}

/// Checks an arena id: a UUID in canonical lowercase text form.
pub fn check_arena_id(id: &str) -> Result<(), ArenaError> {
    let canonical = id.len() == 36
        && uuid::Uuid::try_parse(id)
            .map(|u| u.hyphenated().to_string() == id)
            .unwrap_or(false);
    if canonical {
        Ok(())
    } else {
        Err(ArenaError::InvalidInput(format!(
            "arena id {:?} is not a canonical lowercase UUID",
            truncate_chars(id, 64)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_refuse_empty_and_control_characters() {
        assert!(matches!(
            check_agent_id(""),
            Err(ArenaError::InvalidInput(_))
        ));
        assert!(matches!(
            check_agent_id("a\u{0}b"),
            Err(ArenaError::InvalidInput(_))
        ));
        assert!(check_agent_id("agent-ü").is_ok());
    }

    #[test]
    fn arena_ids_must_be_canonical_uuids() {
        assert!(check_arena_id("0192f0c8-7c1a-7c3e-8a4b-1234567890ab").is_ok());
        assert!(check_arena_id("0192F0C8-7C1A-7C3E-8A4B-1234567890AB").is_err());
        assert!(check_arena_id("nope").is_err());
        assert!(check_arena_id(&"é".repeat(100)).is_err());
    }
}
