//! The lifecycle state machine: which move leads where, and which moves are refused.

use super::error::ArenaError;
use super::status::ArenaStatus;

/// The four lifecycle moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// `created → active`.
    Activate,
    /// `active → settling`.
    Settle,
    /// `settling → archived`, outcome `completed`.
    Archive,
    /// Any state but archived `→ archived`, outcome `aborted(reason)`.
    Abort,
}

impl ArenaStatus {
    /// The state a lifecycle move leads to from `self`, or `invalid-transition(self, target)`.
    ///
    /// `activate`, `settle` and `archive` each lead one step forward; `abort` leads from any state
    /// but `archived` to `archived`.
    pub fn transition(self, action: Lifecycle) -> Result<ArenaStatus, ArenaError> {
        use ArenaStatus::*;
        let (legal_from, to): (&[ArenaStatus], ArenaStatus) = match action {
            Lifecycle::Activate => (&[Created], Active),
            Lifecycle::Settle => (&[Active], Settling),
            Lifecycle::Archive => (&[Settling], Archived),
            Lifecycle::Abort => (&[Created, Active, Settling], Archived),
        };
        if legal_from.contains(&self) {
            Ok(to)
        } else {
            Err(ArenaError::InvalidTransition { from: self, to })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArenaStatus::*;
    use Lifecycle::*;

    #[test]
    fn lifecycle_moves_forward_one_step_at_a_time() {
        assert_eq!(Created.transition(Activate), Ok(Active));
        assert_eq!(Active.transition(Settle), Ok(Settling));
        assert_eq!(Settling.transition(Archive), Ok(Archived));
    }

    #[test]
    fn abort_leads_to_archived_from_every_live_state() {
        for from in [Created, Active, Settling] {
            assert_eq!(from.transition(Abort), Ok(Archived));
        }
        assert_eq!(
            Archived.transition(Abort),
            Err(ArenaError::InvalidTransition {
                from: Archived,
                to: Archived
            })
        );
    }

    #[test]
    fn skipping_a_state_is_an_invalid_transition() {
        assert_eq!(
            Created.transition(Settle),
            Err(ArenaError::InvalidTransition {
                from: Created,
                to: Settling
            })
        );
        assert_eq!(
            Active.transition(Archive),
            Err(ArenaError::InvalidTransition {
                from: Active,
                to: Archived
            })
        );
        assert_eq!(
            Archived.transition(Activate),
            Err(ArenaError::InvalidTransition {
                from: Archived,
                to: Active
            })
        );
    }
}
