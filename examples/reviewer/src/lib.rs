//! A reviewer plugin: a later stage of a pipeline. It waits until every stage it depends on is done,
//! then, one owned step per turn, reads their artifacts from their slots and writes a review of them
//! into its own slot. When its steps are done it shares a fact and marks its slot `done`.
//! Imports `observe`, `read-slots`, `contribute` and `share-facts`.

// `generate_all` also generates the wasi:config bindings the world names; unused, they are no import.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

use arena::core::types::{
    ArenaError, ArenaStatus, Artifact, ArtifactDraft, FactDraft, SlotStatus, Stage, Strategy,
};
use arena::core::{contribute, observe, read_slots, share_facts};

struct Reviewer;

impl exports::arena::core::plugin::Guest for Reviewer {
    fn turn(_turn: u32) -> Result<String, String> {
        let info = observe::info().map_err(|e| format!("reading the arena: {e:?}"))?;
        if info.status != ArenaStatus::Active {
            return Ok("waiting for the arena to be active".into());
        }
        let slot = contribute::own_slot().map_err(|e| format!("reading my slot: {e:?}"))?;
        if slot.status == SlotStatus::Done {
            return Ok("my stage is done".into());
        }
        let Strategy::Pipeline(pipeline) = &info.strategy else {
            return Err("the reviewer works in pipeline arenas only".into());
        };
        let me: &Stage = pipeline
            .stages
            .iter()
            .find(|stage| stage.agent == slot.agent)
            .ok_or_else(|| format!("{} works no stage of this pipeline", slot.agent))?;
        // Read what the stages before this one handed over; wait while any of them is unfinished.
        let mut drafts: Vec<Artifact> = Vec::new();
        for dep in &me.depends_on {
            let theirs = read_slots::read_slot(dep).map_err(|e| format!("reading {dep}: {e:?}"))?;
            if theirs.status != SlotStatus::Done {
                return Ok(format!("waiting for stage {dep}"));
            }
            drafts.extend(theirs.artifacts);
        }
        if slot.status == SlotStatus::Idle {
            contribute::set_slot_status(SlotStatus::Working)
                .map_err(|e| format!("starting: {e:?}"))?;
        }
        for step in me.steps.iter().flat_map(|r| r.first..=r.last) {
            match contribute::complete_step(step) {
                Ok(_) => {}
                Err(ArenaError::AlreadyDone) => continue,
                Err(e) => return Err(format!("completing step {step}: {e:?}")),
            }
            let reviewed: Vec<&str> = drafts.iter().map(|a| a.id.as_str()).collect();
            let words: usize = drafts
                .iter()
                .map(|a| a.content.split_whitespace().count())
                .sum();
            let review = format!(
                "Review {step}: read {} ({words} words). The sections agree on the herons; \
                 add the tide times to each dawn walk.",
                reviewed.join(", ")
            );
            let artifact = contribute::put_artifact(&ArtifactDraft {
                kind: "text".into(),
                content: review,
                metadata: vec![("reviews".into(), reviewed.join(","))],
            })
            .map_err(|e| format!("storing review {step}: {e:?}"))?;
            return Ok(format!(
                "reviewed {} drafts for step {step} as {}",
                drafts.len(),
                artifact.id
            ));
        }
        share_facts::add_fact(&FactDraft {
            content: format!(
                "After reading {} artifacts of {}: dawn walks on the delta need the tide times",
                drafts.len(),
                me.depends_on.join(" and ")
            ),
            confidence: 0.9,
            tags: vec!["delta".into(), "tides".into()],
        })
        .map_err(|e| format!("sharing a fact: {e:?}"))?;
        contribute::set_slot_status(SlotStatus::Done)
            .map_err(|e| format!("finishing my stage: {e:?}"))?;
        Ok("reviews written: stage done".into())
    }
}

export!(Reviewer);
