//! Checks on free text, labels and counts, against the bounds in [`limits`](super::limits).

use super::error::ArenaError;
use super::limits;

/// `limit-exceeded(what, limit)`.
pub(super) fn exceeded(what: &str, limit: usize) -> ArenaError {
    ArenaError::LimitExceeded {
        what: what.to_string(),
        limit: limit as u64,
    }
}

/// Checks free text (`what` names it in errors): 1 to `max` bytes, not only whitespace, and no control
/// characters other than tab and line breaks.
pub fn check_text(what: &str, text: &str, max: usize) -> Result<(), ArenaError> {
    if text.len() > max {
        return Err(exceeded(&format!("{what} bytes"), max));
    }
    if text.trim().is_empty() {
        return Err(ArenaError::InvalidInput(format!("{what} is empty")));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ArenaError::InvalidInput(format!(
            "{what} contains a control character"
        )));
    }
    Ok(())
}

/// At most `max` characters of `text`, cut on a character boundary, for quoting input in errors.
pub fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Checks the participant count against the bound.
pub fn check_participant_count(count: usize) -> Result<(), ArenaError> {
    check_count("participants", count, limits::PARTICIPANTS)
}

/// `limit-exceeded(what, max)` when `count` passes `max`.
pub fn check_count(what: &str, count: usize, max: usize) -> Result<(), ArenaError> {
    if count > max {
        Err(exceeded(what, max))
    } else {
        Ok(())
    }
}

/// Checks a short label (`what` names it): 1 to `max` bytes, no control characters, no surrounding
/// whitespace.
pub fn check_label(what: &str, text: &str, max: usize) -> Result<(), ArenaError> {
    if text.len() > max {
        return Err(exceeded(&format!("{what} bytes"), max));
    }
    if text.is_empty() || text.trim() != text || text.chars().any(char::is_control) {
        return Err(ArenaError::InvalidInput(format!(
            "{what} {:?} must be 1 to {max} bytes without control characters or surrounding spaces",
            truncate_chars(text, 64)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bounds_count_bytes_not_characters() {
        let four_byte_chars = "😀".repeat(1025); // 4100 bytes, 1025 characters
        assert_eq!(
            check_text("goal", &four_byte_chars, limits::GOAL_BYTES),
            Err(ArenaError::LimitExceeded {
                what: "goal bytes".into(),
                limit: 4096
            })
        );
        assert!(check_text("goal", &"😀".repeat(1024), limits::GOAL_BYTES).is_ok());
    }
}
