//! The model's context: the system message (who the agent is and how it works) and the user message
//! built each turn from the arena. Pure, so it is tested natively.

use example_llm_common::text::excerpt;

/// Characters of each artifact, fact or event payload shown.
pub const EXCERPT_CHARS: usize = 1500;
/// The most recent events shown.
pub const SHOWN_EVENTS: usize = 30;

/// An artifact as the context shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactView {
    pub id: String,
    pub kind: String,
    pub content: String,
}

/// A slot as the context shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotView {
    pub agent: String,
    pub status: String,
    pub artifacts: Vec<ArtifactView>,
}

/// Everything the user message is made of.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    pub agent: String,
    pub role: String,
    pub goal: String,
    pub status: String,
    pub completed_steps: u32,
    pub total_steps: u32,
    /// This agent's steps and the stages it waits for (pipeline), if any.
    pub steps: Vec<u32>,
    pub depends_on: Vec<String>,
    /// The own slot (its notes are its `note` artifacts).
    pub own: Option<SlotView>,
    /// The other slots, `None` without `read-slots`.
    pub others: Option<Vec<SlotView>>,
    /// The facts as `source: content`, `None` without `observe`.
    pub facts: Option<Vec<String>>,
    /// Events since the last turn as `seq actor kind payload`, and how many there were in all.
    pub events: Vec<String>,
    pub new_events: usize,
    /// The model is asked without tools (the server refused them): its text is handed in.
    pub without_tools: bool,
}

/// The system message: `custom` when configured, put before how this role works: through its tools,
/// or, `without_tools`, by writing its part (a worker) or the team's result (a coordinator).
pub fn system_message(
    agent: &str,
    coordinator: bool,
    without_tools: bool,
    custom: Option<&str>,
) -> String {
    if without_tools {
        let how = if coordinator {
            "You coordinate the team. Once the workers are done, you write the team's result: one \
             piece that combines their drafts and serves the goal."
        } else {
            "Write your part of the work for your steps; your answer is handed in as your draft, as \
             it stands."
        };
        let base = format!(
            "You are {agent}, one of several agents working together towards one shared goal. {how} \
             Answer with the text only, complete and brief."
        );
        return match custom {
            Some(text) => format!("{text}\n\n{base}"),
            None => base,
        };
    }
    let how = if coordinator {
        "You coordinate the team: activate the arena if it is created; while workers still have \
         steps open, wait (answer with a short text and no tool call). Once every step is \
         completed: settle, then write the team's result with merge (kind \"result\"), combining \
         the workers' drafts into one piece that serves the goal and naming their artifact ids as \
         sources, then archive."
    } else {
        "Do your steps: write your work with put_artifact (kind \"draft\"), call complete_step for \
         each of your steps, then set_slot_status to \"done\". Share what the team should know with \
         add_fact. Keep notes for your later turns with put_artifact (kind \"note\")."
    };
    let base = format!(
        "You are {agent}, one of several agents working together towards one shared goal in an \
         arena. You act only through the tools you are given; each answers with JSON or an error. \
         {how} When there is nothing for you to do now, answer with a short text and no tool call."
    );
    match custom {
        Some(text) => format!("{text}\n\n{base}"),
        None => base,
    }
}

fn slot_text(text: &mut String, slot: &SlotView) {
    text.push_str(&format!("\n## {} ({})\n", slot.agent, slot.status));
    if slot.artifacts.is_empty() {
        text.push_str("(no artifacts)\n");
    }
    for a in &slot.artifacts {
        text.push_str(&format!(
            "\n### {} {}\n{}\n",
            a.kind,
            a.id,
            excerpt(&a.content, EXCERPT_CHARS)
        ));
    }
}

/// The user message.
pub fn user_message(c: &Context) -> String {
    let mut text = format!(
        "Goal: {}\n\nYou are {} ({}). The arena is {}; {} of {} steps are completed.\n",
        c.goal, c.agent, c.role, c.status, c.completed_steps, c.total_steps
    );
    if !c.steps.is_empty() {
        text.push_str(&format!(
            "Your steps: {}.\n",
            example_llm_common::plan::step_list(&c.steps)
        ));
    }
    if !c.depends_on.is_empty() {
        text.push_str(&format!(
            "Your stage waits for: {}.\n",
            c.depends_on.join(", ")
        ));
    }
    if let Some(own) = &c.own {
        text.push_str("\n# Your slot");
        slot_text(&mut text, own);
    }
    match &c.others {
        None => text.push_str("\nYou cannot read the other agents' slots.\n"),
        Some(slots) => {
            text.push_str("\n# The other slots\n");
            if slots.is_empty() {
                text.push_str("(none)\n");
            }
            for slot in slots {
                slot_text(&mut text, slot);
            }
        }
    }
    if let Some(facts) = &c.facts {
        text.push_str("\n# Facts\n");
        if facts.is_empty() {
            text.push_str("(none)\n");
        }
        for f in facts {
            text.push_str(&format!("- {}\n", excerpt(f, EXCERPT_CHARS)));
        }
    }
    text.push_str(&format!(
        "\n# Events since your last turn ({} in all",
        c.new_events
    ));
    if c.new_events > c.events.len() {
        text.push_str(&format!(", the last {} shown", c.events.len()));
    }
    text.push_str(")\n");
    for e in &c.events {
        text.push_str(&format!("- {e}\n"));
    }
    text.push_str(if !c.without_tools {
        "\nAct now with your tools.\n"
    } else if c.role == "coordinator" {
        "\nWrite the team's result now.\n"
    } else {
        "\nWrite your part now.\n"
    });
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_shows_the_arena_as_the_agent_may_see_it() {
        let c = Context {
            agent: "writer".into(),
            role: "worker".into(),
            goal: "A guide".into(),
            status: "active".into(),
            completed_steps: 1,
            total_steps: 4,
            steps: vec![2, 3],
            depends_on: vec!["researcher".into()],
            own: Some(SlotView {
                agent: "writer".into(),
                status: "working".into(),
                artifacts: vec![ArtifactView {
                    id: "a1".into(),
                    kind: "note".into(),
                    content: "outline first".into(),
                }],
            }),
            others: None,
            facts: Some(vec!["researcher: herons fish at dawn".into()]),
            events: vec!["7 researcher step-completed {\"step\":1}".into()],
            new_events: 9,
            without_tools: false,
        };
        let text = user_message(&c);
        assert!(text.starts_with("Goal: A guide\n"));
        assert!(text.contains("1 of 4 steps are completed"));
        assert!(text.contains("Your steps: 2, 3."));
        assert!(text.contains("waits for: researcher"));
        assert!(text.contains("### note a1\noutline first"));
        assert!(text.contains("cannot read the other agents' slots"));
        assert!(text.contains("- researcher: herons fish at dawn"));
        assert!(text.contains("(9 in all, the last 1 shown)"));
        assert!(text.ends_with("Act now with your tools.\n"));
        let plain = user_message(&Context {
            without_tools: true,
            ..c
        });
        assert!(plain.ends_with("Write your part now.\n"));
    }

    #[test]
    fn the_system_message_keeps_the_role_guidance_under_a_custom_prompt() {
        let s = system_message("lead", true, false, Some("Be terse."));
        assert!(s.starts_with("Be terse.\n\nYou are lead,"));
        assert!(s.contains("settle"));
        assert!(system_message("w", false, false, None).contains("complete_step"));
    }

    #[test]
    fn without_tools_the_system_message_asks_for_text() {
        let s = system_message("lead", true, true, Some("Be terse."));
        assert!(s.starts_with("Be terse.\n\nYou are lead,"));
        assert!(s.contains("write the team's result"));
        assert!(!s.contains("settle"));
        let w = system_message("w", false, true, None);
        assert!(w.contains("handed in as your draft"));
        assert!(!w.contains("complete_step"));
    }
}
