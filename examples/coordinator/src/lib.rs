//! A coordinator plugin: activates the arena, watches progress, and once every step is done (and, in a
//! pipeline, every stage has marked its slot `done`) settles it. While settling it merges what the
//! others handed in into one artifact that records its sources, then archives the arena.
//! Imports `observe`, `read-slots` and `coordinate`.

// `generate_all` also generates the wasi:config bindings the world names; unused, they are no import.
wit_bindgen::generate!({ world: "agent", path: "../../wit", generate_all });

use arena::core::types::{ArenaStatus, MergeRequest, SlotStatus, Strategy};
use arena::core::{coordinate, observe, read_slots};

/// Sources one merge may name (the arena's bound).
const MERGE_SOURCES: usize = 64;

struct Coordinator;

impl exports::arena::core::plugin::Guest for Coordinator {
    fn turn(_turn: u32) -> Result<String, String> {
        let info = observe::info().map_err(|e| format!("reading the arena: {e:?}"))?;
        let (done, total) = (info.aggregate.completed_steps, info.aggregate.total_steps);
        let report = match info.status {
            ArenaStatus::Created => {
                coordinate::activate().map_err(|e| format!("activating: {e:?}"))?;
                format!(
                    "activated the arena ({} participants)",
                    info.participants.len()
                )
            }
            ArenaStatus::Active if done >= total => match unfinished_stage(&info.strategy)? {
                Some(stage) => format!("all {total} steps done; waiting for stage {stage}"),
                None => {
                    coordinate::settle().map_err(|e| format!("settling: {e:?}"))?;
                    format!("all {total} steps done: settling")
                }
            },
            ArenaStatus::Active => format!("watching: {done}/{total} steps done"),
            ArenaStatus::Settling => settle_down()?,
            ArenaStatus::Archived => "the arena is archived".to_string(),
        };
        Ok(report)
    }
}

/// In a pipeline, the first stage whose slot is not `done` yet.
fn unfinished_stage(strategy: &Strategy) -> Result<Option<String>, String> {
    let Strategy::Pipeline(pipeline) = strategy else {
        return Ok(None);
    };
    let slots = read_slots::list_slots().map_err(|e| format!("reading the slots: {e:?}"))?;
    Ok(pipeline
        .stages
        .iter()
        .find(|stage| {
            !slots
                .iter()
                .any(|s| s.agent == stage.agent && s.status == SlotStatus::Done)
        })
        .map(|stage| stage.agent.clone()))
}

/// While settling: merge the others' artifacts once, then archive.
fn settle_down() -> Result<String, String> {
    let slots = read_slots::list_slots().map_err(|e| format!("reading the slots: {e:?}"))?;
    let me = observe::participants()
        .map_err(|e| format!("reading the participants: {e:?}"))?
        .into_iter()
        .filter(|p| {
            p.permissions
                .contains(&arena::core::types::Permission::Coordinate)
        })
        .map(|p| p.agent)
        .collect::<Vec<_>>();
    let merged_already = slots
        .iter()
        .any(|s| me.contains(&s.agent) && !s.artifacts.is_empty());
    let sources: Vec<String> = slots
        .iter()
        .filter(|s| !me.contains(&s.agent))
        .flat_map(|s| s.artifacts.iter().cloned())
        .take(MERGE_SOURCES)
        .collect();
    if merged_already || sources.is_empty() {
        coordinate::archive().map_err(|e| format!("archiving: {e:?}"))?;
        return Ok("archived the arena".to_string());
    }
    let mut content = String::from("# The field guide, merged\n");
    for id in &sources {
        let artifact = read_slots::read_artifact(id).map_err(|e| format!("reading {id}: {e:?}"))?;
        content.push_str(&format!(
            "\n## {} by {}\n{}\n",
            artifact.id, artifact.author, artifact.content
        ));
    }
    let merged = coordinate::merge(&MergeRequest {
        kind: "text".into(),
        content,
        sources: sources.clone(),
        metadata: vec![("title".into(), "field guide".into())],
    })
    .map_err(|e| format!("merging: {e:?}"))?;
    Ok(format!(
        "merged {} artifacts into {}",
        sources.len(),
        merged.id
    ))
}

export!(Coordinator);
