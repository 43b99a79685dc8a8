//! People in the loop: a `[[person]]` of the manifest is a participant the runner runs no plugin
//! for. A person acts from the console (or any HTTP client) with a token of their agent
//! (`arena token issue ARENA AGENT`), through the same handle as every agent.
//!
//! ```toml
//! [[person]]
//! agent = "rita"          # the participant's agent
//! role = "worker"         # coordinator, worker or observer
//! permissions = ["observe", "read-slots", "contribute"]   # optional: narrows the role
//! ```
//!
//! While a person's slot is neither `done` nor `failed` (a pipeline stage they have not approved
//! or rejected yet), the run waits for them: the plugins' turns that only wait do not count against
//! `max_turns`. The deadline and Ctrl-C still end the run, and the arena archived ends it too.

use serde::Deserialize;

use super::RunError;
use crate::ArenaHost;
use crate::types::{ArenaStatus, ParticipantSpec, Permission, SlotStatus};

/// One `[[person]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonEntry {
    /// The agent the person acts as.
    pub agent: String,
    /// `coordinator`, `worker` or `observer`.
    pub role: String,
    /// Narrows the role's permissions.
    pub permissions: Option<Vec<String>>,
}

impl PersonEntry {
    fn manifest_error(&self, what: impl std::fmt::Display) -> RunError {
        RunError::Manifest(format!("person {}: {what}", self.agent))
    }

    /// The participant a new arena declares for this person.
    pub fn participant(&self) -> Result<ParticipantSpec, RunError> {
        let role = self.role.parse().map_err(|_| {
            self.manifest_error(format_args!(
                "unknown role {:?} (coordinator, worker or observer)",
                self.role
            ))
        })?;
        let permissions = self
            .permissions
            .as_ref()
            .map(|names| {
                names
                    .iter()
                    .map(|name| {
                        name.parse::<Permission>().map_err(|_| {
                            self.manifest_error(format_args!("unknown permission {name:?}"))
                        })
                    })
                    .collect::<Result<Vec<Permission>, RunError>>()
            })
            .transpose()?;
        Ok(ParticipantSpec {
            agent: self.agent.clone(),
            role,
            permissions,
        })
    }
}

/// Whether the run waits for a person: the arena is not archived and some person's slot is
/// neither `done` nor `failed`.
pub(super) fn waiting_for_person(
    host: &ArenaHost,
    arena: &str,
    persons: &[String],
) -> Result<bool, RunError> {
    if persons.is_empty() || host.get(arena)?.status == ArenaStatus::Archived {
        return Ok(false);
    }
    Ok(host.slots(arena)?.iter().any(|slot| {
        persons.contains(&slot.agent)
            && !matches!(slot.status, SlotStatus::Done | SlotStatus::Failed)
    }))
}

/// What `arena run` tells a person so they can join: the token command and the console's address.
pub fn how_to_join(arena: &str, agent: &str) -> String {
    format!(
        "{agent} is a person: the run waits for them. To act as {agent}:\n  \
         arena token issue {arena} {agent} --label console\n  \
         arena serve     # then open http://127.0.0.1:7070/#/arenas/{arena} and paste the token \
         under \"Act as an agent\""
    )
}
