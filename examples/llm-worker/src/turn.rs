//! One turn: find this agent's steps, wait for the stages it depends on, ask the model once, and
//! hand the answer in (draft, fact, steps, slot `done`).

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::arena::core::types::{
    ArenaError, ArenaInfo, ArenaStatus, ArtifactDraft, FactDraft, Permission, Slot, SlotInfo,
    SlotStatus, Strategy,
};
use crate::arena::core::{contribute, observe, read_slots, share_facts};
use crate::model::{self, Answer};
use crate::plan::asked_report;
use crate::prompt::{self, PromptInput, SlotView};
use example_llm_common::plan;
use example_llm_common::settings::Settings;
use example_llm_common::text::clip_bytes;

/// The kind of the artifacts the worker writes.
const DRAFT_KIND: &str = "draft";
/// The arena's bound on an artifact's content.
const ARTIFACT_MAX_BYTES: usize = 64 * 1024;
/// The arena's bound on a fact's content.
const FACT_MAX_BYTES: usize = 4096;
/// Events read per call while following the log.
const EVENT_PAGE: u32 = 1000;

/// The steps seen completed so far, and the last event read to learn them.
#[derive(Default)]
struct StepLog {
    after: u64,
    done: BTreeSet<u32>,
}

thread_local! {
    static STEP_LOG: RefCell<StepLog> = RefCell::new(StepLog::default());
}

/// Runs one turn and returns its report.
pub fn run() -> Result<String, String> {
    let status = observe::status().map_err(|e| arena("reading the status", e))?;
    if status != ArenaStatus::Active {
        return Ok(format!("waiting: the arena is {}", status_name(status)));
    }
    let slot = contribute::own_slot().map_err(|e| arena("reading my slot", e))?;
    let me = slot.agent.clone();
    let info = observe::info().map_err(|e| arena("reading the arena", e))?;
    let permissions = info
        .participants
        .iter()
        .find(|p| p.agent == me)
        .map(|p| p.permissions.clone())
        .unwrap_or_default();
    let slots = if permissions.contains(&Permission::ReadSlots) {
        Some(read_slots::list_slots().map_err(|e| arena("reading the slots", e))?)
    } else {
        None
    };

    let done = completed_steps(&info)?;
    let (steps, depends_on) = match &info.strategy {
        Strategy::Pipeline(pipeline) => {
            let stage = pipeline
                .stages
                .iter()
                .find(|stage| stage.agent == me)
                .ok_or_else(|| format!("{me} works no stage of this pipeline"))?;
            let ranges: Vec<(u32, u32)> = stage.steps.iter().map(|r| (r.first, r.last)).collect();
            let open = plan::range_steps(&ranges)
                .into_iter()
                .filter(|step| !done.contains(step))
                .collect();
            (open, stage.depends_on.clone())
        }
        Strategy::Peer(_) => {
            let open = plan::lowest_open(info.aggregate.total_steps, &done);
            (open.into_iter().collect::<Vec<_>>(), Vec::new())
        }
    };

    if steps.is_empty() {
        if slot.status == SlotStatus::Done {
            return Ok("done".into());
        }
        if has_draft(&slot) {
            // An earlier turn handed its answer in but did not get to mark the slot.
            mark_done()?;
            return Ok("done".into());
        }
    }
    if let Some(slots) = &slots
        && let Some(agent) = depends_on.iter().find(|agent| !slot_done(slots, agent))
    {
        return Ok(format!("waiting for {agent}"));
    }

    let settings =
        Settings::read(|key| crate::wasi::config::store::get(key).map_err(|e| format!("{e:?}")))?;
    let input = PromptInput {
        agent: me.clone(),
        goal: info.goal.clone(),
        steps: steps.clone(),
        total_steps: info.aggregate.total_steps,
        others: match &slots {
            Some(slots) => Some(others(slots, &me)?),
            None => None,
        },
    };
    let system = prompt::system_message(&me, settings.system_prompt.as_deref());
    let user = prompt::user_message(&input);
    let failed = |what: String| format!("model {}: {what}", settings.model);
    let body = model::request_body(&settings.model, &system, &user, settings.temperature);
    let reply = example_llm_common::http::post(&settings, &body)
        .map_err(|failure| failed(failure.what))
        .and_then(|bytes| model::completion_text(&bytes).map_err(failed))?;
    let answer = model::parse_answer(&reply);
    if carries_key(&answer, &settings) {
        return Err(failed(
            "the reply contains the API key; nothing stored".into(),
        ));
    }

    let artifact = contribute::put_artifact(&ArtifactDraft {
        kind: DRAFT_KIND.into(),
        content: clip_bytes(&answer.content, ARTIFACT_MAX_BYTES).to_string(),
        metadata: vec![("model".into(), settings.model.clone())],
    })
    .map_err(|e| arena("storing the draft", e))?;
    let fact = match &answer.fact {
        Some(content) if permissions.contains(&Permission::ShareFacts) => {
            let mut tags = vec!["llm".to_string()];
            if me != "llm" {
                tags.push(me.clone());
            }
            let fact = share_facts::add_fact(&FactDraft {
                content: clip_bytes(content, FACT_MAX_BYTES).to_string(),
                confidence: model::clamp_confidence(answer.confidence),
                tags,
            })
            .map_err(|e| arena("sharing the fact", e))?;
            Some(fact.id)
        }
        _ => None,
    };
    for &step in &steps {
        match contribute::complete_step(step) {
            Ok(_) | Err(ArenaError::AlreadyDone) => {}
            Err(e) => return Err(arena(&format!("completing step {step}"), e)),
        }
    }
    mark_done()?;
    Ok(asked_report(
        &settings.model,
        &artifact.id,
        fact.as_deref(),
        &steps,
    ))
}

/// The steps completed in the arena: all of them once the aggregate says so, else those the log's
/// `step-completed` events name (read from where the last turn stopped).
fn completed_steps(info: &ArenaInfo) -> Result<BTreeSet<u32>, String> {
    let total = info.aggregate.total_steps;
    if info.aggregate.completed_steps >= total {
        return Ok((1..=total).collect());
    }
    STEP_LOG.with_borrow_mut(|log| {
        loop {
            let events =
                observe::events(log.after, EVENT_PAGE).map_err(|e| arena("reading events", e))?;
            for event in &events {
                log.after = event.seq;
                if event.kind == "step-completed"
                    && let Some(step) = plan::completed_step(&event.payload)
                {
                    log.done.insert(step);
                }
            }
            if events.len() < EVENT_PAGE as usize {
                return Ok(log.done.clone());
            }
        }
    })
}

/// The other slots holding artifacts, with their artifacts' kinds and content.
fn others(slots: &[SlotInfo], me: &str) -> Result<Vec<SlotView>, String> {
    slots
        .iter()
        .filter(|s| s.agent != me && !s.artifacts.is_empty())
        .map(|s| {
            let slot = read_slots::read_slot(&s.agent)
                .map_err(|e| arena(&format!("reading {}'s slot", s.agent), e))?;
            Ok(SlotView {
                agent: slot.agent,
                status: slot_status_name(slot.status).into(),
                artifacts: slot
                    .artifacts
                    .into_iter()
                    .map(|a| (a.kind, a.content))
                    .collect(),
            })
        })
        .collect()
}

/// Whether `agent`'s slot is marked `done`.
fn slot_done(slots: &[SlotInfo], agent: &str) -> bool {
    slots
        .iter()
        .any(|s| s.agent == agent && s.status == SlotStatus::Done)
}

/// Whether this worker already handed a draft in.
fn has_draft(slot: &Slot) -> bool {
    slot.artifacts.iter().any(|a| a.kind == DRAFT_KIND)
}

/// Marks the own slot `done` (already done is fine).
fn mark_done() -> Result<(), String> {
    match contribute::set_slot_status(SlotStatus::Done) {
        Ok(()) | Err(ArenaError::AlreadyDone) => Ok(()),
        Err(e) => Err(arena("marking my slot done", e)),
    }
}

/// Whether the answer would carry the API key into the arena.
fn carries_key(answer: &Answer, settings: &Settings) -> bool {
    settings.api_key.as_deref().is_some_and(|key| {
        answer.content.contains(key) || answer.fact.as_deref().is_some_and(|f| f.contains(key))
    })
}

/// An arena error, with what was being done.
fn arena(doing: &str, e: ArenaError) -> String {
    format!("{doing}: {e:?}")
}

example_llm_common::arena_names!(crate::arena::core::types);
