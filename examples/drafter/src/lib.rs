//! A drafter plugin: the first stage of a pipeline. Each turn it drafts the next step it owns as an
//! artifact in its own slot and completes that step; when its steps are done it shares what it learnt
//! as a fact and marks its slot `done`, which releases the stages that depend on it.
//! Imports `observe`, `contribute` and `share-facts`.

// `generate_all` also generates the wasi:config bindings the world names; unused, they are no import.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

use arena::core::types::{
    ArenaError, ArenaStatus, ArtifactDraft, FactDraft, SlotStatus, Stage, Strategy,
};
use arena::core::{contribute, observe, share_facts};

struct Drafter;

impl exports::arena::core::plugin::Guest for Drafter {
    fn turn(_turn: u32) -> Result<String, String> {
        let info = observe::info().map_err(|e| format!("reading the arena: {e:?}"))?;
        if info.status != ArenaStatus::Active {
            return Ok("waiting for the arena to be active".into());
        }
        let slot = contribute::own_slot().map_err(|e| format!("reading my slot: {e:?}"))?;
        let me = own_stage(&info.strategy, &slot.agent)?;
        if slot.status == SlotStatus::Done {
            return Ok("my stage is done".into());
        }
        if slot.status == SlotStatus::Idle {
            contribute::set_slot_status(SlotStatus::Working)
                .map_err(|e| format!("starting: {e:?}"))?;
        }
        for step in steps(&me) {
            let section = format!(
                "Section {step} of \"{}\": the birds seen at dawn on the delta's {} bank, with where \
                 and when to look for them.",
                info.goal,
                if step % 2 == 1 { "north" } else { "south" }
            );
            // Complete first: a step another turn already did is skipped without a second draft.
            match contribute::complete_step(step) {
                Ok(_) => {}
                Err(ArenaError::AlreadyDone) => continue,
                Err(e) => return Err(format!("completing step {step}: {e:?}")),
            }
            let artifact = contribute::put_artifact(&ArtifactDraft {
                kind: "text".into(),
                content: section,
                metadata: vec![("step".into(), step.to_string())],
            })
            .map_err(|e| format!("storing the draft of step {step}: {e:?}"))?;
            return Ok(format!("drafted step {step} as {}", artifact.id));
        }
        share_facts::add_fact(&FactDraft {
            content: "Herons feed on the delta's north bank at dawn".into(),
            confidence: 0.8,
            tags: vec!["birds".into(), "delta".into()],
        })
        .map_err(|e| format!("sharing a fact: {e:?}"))?;
        contribute::set_slot_status(SlotStatus::Done)
            .map_err(|e| format!("finishing my stage: {e:?}"))?;
        Ok(format!(
            "all {} drafts written: stage done",
            slot.artifacts.len()
        ))
    }
}

/// The stage `agent` (this plugin's own agent) works in the arena's pipeline.
fn own_stage(strategy: &Strategy, agent: &str) -> Result<Stage, String> {
    let Strategy::Pipeline(pipeline) = strategy else {
        return Err("the drafter works in pipeline arenas only".into());
    };
    pipeline
        .stages
        .iter()
        .find(|stage| stage.agent == agent)
        .cloned()
        .ok_or_else(|| format!("{agent} works no stage of this pipeline"))
}

/// The steps a stage owns, in order.
fn steps(stage: &Stage) -> impl Iterator<Item = u32> + '_ {
    stage.steps.iter().flat_map(|r| r.first..=r.last)
}

export!(Drafter);
