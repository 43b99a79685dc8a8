//! Participants: as declared, and as they stand in an arena.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::ArenaError;
use super::ids::{AgentId, check_agent_id};
use super::permissions::{Permission, Role};

/// A participant as declared at creation or by an invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParticipantSpec {
    /// The agent.
    pub agent: AgentId,
    /// Its role, whose preset the permissions narrow.
    pub role: Role,
    /// Narrows the role's permissions when given.
    pub permissions: Option<Vec<Permission>>,
}

impl ParticipantSpec {
    /// Checks the spec and resolves it into a participant: a valid agent id, and permissions that
    /// narrow the role's preset without widening it.
    pub fn resolve(&self) -> Result<Participant, ArenaError> {
        check_agent_id(&self.agent)?;
        let preset = self.role.permissions();
        let permissions = match &self.permissions {
            None => preset,
            Some(list) => {
                let narrowed: BTreeSet<Permission> = list.iter().copied().collect();
                if narrowed.is_empty() {
                    return Err(ArenaError::InvalidInput(format!(
                        "participant {:?}: an empty permission list grants nothing",
                        self.agent
                    )));
                }
                if let Some(extra) = narrowed.difference(&preset).next() {
                    return Err(ArenaError::InvalidInput(format!(
                        "participant {:?}: permission {extra} is beyond the {} role",
                        self.agent, self.role
                    )));
                }
                narrowed
            }
        };
        Ok(Participant {
            agent: self.agent.clone(),
            role: self.role,
            permissions,
        })
    }
}

/// A current participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The agent.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// What it may do in this arena: its role's preset, possibly narrowed.
    pub permissions: BTreeSet<Permission>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_keeps_a_subset_of_the_role() {
        let spec = ParticipantSpec {
            agent: "w".into(),
            role: Role::Worker,
            permissions: Some(vec![Permission::Observe]),
        };
        let p = spec.resolve().unwrap();
        assert_eq!(p.permissions, BTreeSet::from([Permission::Observe]));
    }

    #[test]
    fn narrowing_cannot_widen_a_role() {
        let spec = ParticipantSpec {
            agent: "w".into(),
            role: Role::Observer,
            permissions: Some(vec![Permission::Observe, Permission::Steer]),
        };
        assert!(matches!(spec.resolve(), Err(ArenaError::InvalidInput(m)) if m.contains("steer")));
    }
}
