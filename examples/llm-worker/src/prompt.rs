//! The messages sent to the model: who the agent is, the goal, its steps, and what the other agents
//! have written. Pure, so it is tested natively.

/// Characters of each artifact's content shown to the model.
pub const ARTIFACT_EXCERPT_CHARS: usize = 2000;

/// Another participant's slot as the prompt shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotView {
    /// The slot's owner.
    pub agent: String,
    /// Its status as the WIT spells it (`idle`, `working`, `done`, `failed`).
    pub status: String,
    /// Its artifacts in creation order: kind and content.
    pub artifacts: Vec<(String, String)>,
}

/// Everything the prompt is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptInput {
    /// This agent.
    pub agent: String,
    /// The arena's goal.
    pub goal: String,
    /// The steps this turn works on.
    pub steps: Vec<u32>,
    /// Steps in the goal.
    pub total_steps: u32,
    /// The other slots, or `None` when the agent may not read them.
    pub others: Option<Vec<SlotView>>,
}

/// The system message: `custom` when configured, else a short description of the agent's place.
pub fn system_message(agent: &str, custom: Option<&str>) -> String {
    match custom {
        Some(text) => text.to_string(),
        None => format!(
            "You are {agent}, one of several agents working together towards one shared goal. Each \
             agent writes its own part of the work; the others read it and build on it. Write your \
             part carefully, building on what the others have written."
        ),
    }
}

/// The user message: the goal, the agent's steps, the others' work, and the answer's format.
pub fn user_message(input: &PromptInput) -> String {
    let mut text = format!("Goal: {}\n\n", input.goal);
    if input.steps.is_empty() {
        text.push_str(&format!(
            "The goal has {} steps and none is left for you: add what the work still lacks.\n",
            input.total_steps
        ));
    } else {
        text.push_str(&format!(
            "Your steps: {} (of {} in the goal).\n",
            example_llm_common::plan::step_list(&input.steps),
            input.total_steps
        ));
    }
    match &input.others {
        None => text.push_str("\nYou cannot read the other agents' work.\n"),
        Some(slots) if slots.iter().all(|s| s.artifacts.is_empty()) => {
            text.push_str("\nThe other agents have written nothing yet.\n")
        }
        Some(slots) => {
            text.push_str("\nWhat the other agents have written so far:\n");
            for slot in slots.iter().filter(|s| !s.artifacts.is_empty()) {
                text.push_str(&format!("\n## {} ({})\n", slot.agent, slot.status));
                for (kind, content) in &slot.artifacts {
                    text.push_str(&format!(
                        "\n### {kind}\n{}\n",
                        example_llm_common::text::excerpt(content, ARTIFACT_EXCERPT_CHARS)
                    ));
                }
            }
        }
    }
    text.push_str(
        "\nAnswer with one JSON object and nothing else:\n\
         {\"content\": \"...\", \"fact\": \"...\", \"confidence\": 0.0}\n\
         - content: your contribution for your steps, complete and ready to hand in;\n\
         - fact: one short piece of knowledge the team should share, or \"\" if none;\n\
         - confidence: how sure you are of the fact, from 0.0 to 1.0.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(others: Option<Vec<SlotView>>) -> PromptInput {
        PromptInput {
            agent: "writer".into(),
            goal: "A guide to herons".into(),
            steps: vec![2, 3],
            total_steps: 4,
            others,
        }
    }

    #[test]
    fn the_user_message_names_goal_steps_and_format() {
        let text = user_message(&input(None));
        assert!(text.starts_with("Goal: A guide to herons\n"));
        assert!(text.contains("Your steps: 2, 3 (of 4 in the goal)."));
        assert!(text.contains("You cannot read the other agents' work."));
        assert!(text.contains(r#"{"content": "...", "fact": "...", "confidence": 0.0}"#));
    }

    #[test]
    fn the_others_work_is_shown_in_excerpts() {
        let long = "ü".repeat(ARTIFACT_EXCERPT_CHARS + 10);
        let text = user_message(&input(Some(vec![
            SlotView {
                agent: "researcher".into(),
                status: "done".into(),
                artifacts: vec![("draft".into(), "notes".into()), ("text".into(), long)],
            },
            SlotView {
                agent: "editor".into(),
                status: "idle".into(),
                artifacts: vec![],
            },
        ])));
        assert!(text.contains("## researcher (done)\n\n### draft\nnotes\n"));
        assert!(text.contains(&format!(
            "### text\n{}…\n",
            "ü".repeat(ARTIFACT_EXCERPT_CHARS)
        )));
        assert!(!text.contains("editor"));
        let empty = user_message(&input(Some(vec![])));
        assert!(empty.contains("written nothing yet"));
    }

    #[test]
    fn no_steps_left_is_said() {
        let mut i = input(None);
        i.steps.clear();
        assert!(user_message(&i).contains("none is left for you"));
    }

    #[test]
    fn system_message_is_replaceable() {
        assert!(system_message("writer", None).starts_with("You are writer,"));
        assert_eq!(system_message("writer", Some("Be terse.")), "Be terse.");
    }
}
