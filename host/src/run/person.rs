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
use crate::types::{ArenaStatus, ParticipantSpec, SlotStatus};

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
        super::manifest::participant_spec(
            &self.agent,
            &self.role,
            self.permissions.as_deref(),
            |what| self.manifest_error(what),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Manifest, check};

    #[test]
    fn the_human_review_example_puts_a_person_stage_between_two_model_agents() {
        let manifest =
            Manifest::parse(include_str!("../../../examples/human-review.toml")).unwrap();
        check(&manifest, std::path::Path::new(".")).unwrap();
        let persons: Vec<&str> = manifest.persons.iter().map(|p| p.agent.as_str()).collect();
        assert_eq!(persons, ["rita"]);
        let stages: Vec<(&str, &str)> = manifest
            .arena
            .stages
            .iter()
            .map(|s| {
                let who = manifest
                    .plugins
                    .iter()
                    .find(|p| p.agent == s.agent)
                    .map_or("person", |p| p.component.as_str());
                (s.agent.as_str(), who)
            })
            .collect();
        assert_eq!(
            stages,
            [
                ("writer", "builtin:llm-agent"),
                ("rita", "person"),
                ("editor", "builtin:llm-agent")
            ]
        );
    }

    #[test]
    fn a_person_with_an_unknown_role_is_named() {
        let person = PersonEntry {
            agent: "rita".into(),
            role: "boss".into(),
            permissions: None,
        };
        assert_eq!(
            person.participant().unwrap_err().to_string(),
            "manifest: person rita: unknown role \"boss\" (coordinator, worker or observer)"
        );
    }

    #[test]
    fn a_person_with_an_unknown_permission_is_named() {
        let person = PersonEntry {
            agent: "rita".into(),
            role: "worker".into(),
            permissions: Some(vec!["observe".into(), "rule".into()]),
        };
        assert_eq!(
            person.participant().unwrap_err().to_string(),
            "manifest: person rita: unknown permission \"rule\""
        );
    }

    #[test]
    fn joining_names_the_token_command_and_the_console() {
        let text = how_to_join("A1", "rita");
        assert!(text.contains("arena token issue A1 rita"), "{text}");
        assert!(text.contains("http://127.0.0.1:7070/#/arenas/A1"), "{text}");
    }
}
