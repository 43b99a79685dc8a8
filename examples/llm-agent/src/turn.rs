//! One turn: read the arena, decide whether the model has anything to do, and run the tool loop.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use arena_catalogue::{Call, Permission as Granted};
use serde_json::{Value, json};

use crate::arena::core::types::{
    ArenaError, ArenaInfo, ArenaStatus, ArtifactDraft, SlotStatus, Strategy,
};
use crate::arena::core::{contribute, observe, read_slots};
use crate::chat::{self, Reply};
use crate::config::AgentSettings;
use crate::context::{self, ArtifactView, Context, SlotView};
use crate::tools::{self, error_text, slot_status_name, status_name};

/// The kind of the draft a model without tool calling hands in.
const DRAFT_KIND: &str = "draft";
/// The kind of the team's result a coordinator without tool calling merges.
const RESULT_KIND: &str = "result";
/// The most sources one merge may name.
const MERGE_SOURCES_MAX: usize = 64;
/// The arena's bound on an artifact's content.
const ARTIFACT_MAX_BYTES: usize = 64 * 1024;
/// Events read per call.
const EVENT_PAGE: u32 = 1000;
/// Characters of the model's closing text quoted in the report.
const REPORT_TEXT_CHARS: usize = 120;

/// What the agent remembers between turns of one run.
#[derive(Default)]
struct Memory {
    /// The last event seen: events after it are new.
    seen: u64,
    /// Whether the model has been asked this run.
    asked: bool,
    /// Turns that failed for good in a row, and the last reason.
    failures: u32,
    /// The server refused the `tools` parameter: the model is asked without tools from then on.
    without_tools: bool,
    /// Why the agent gave up after `max_failures` turns: it asks the model no more this run.
    gave_up: Option<String>,
}

thread_local! {
    static MEMORY: RefCell<Memory> = RefCell::new(Memory::default());
}

/// Runs one turn and returns its report.
pub fn run() -> Result<String, String> {
    if let Some(reason) = MEMORY.with_borrow(|m| m.gave_up.clone()) {
        return Ok(format!("failed: {reason}"));
    }
    let slot = contribute::own_slot().map_err(|e| arena("reading my slot", e))?;
    if slot.status == SlotStatus::Failed {
        return Ok("failed: this slot was marked failed".into());
    }
    let info = observe::info().map_err(|e| arena("reading the arena", e))?;
    if info.status == ArenaStatus::Archived {
        return Ok("archived".into());
    }
    let me = slot.agent.clone();
    let participant = info.participants.iter().find(|p| p.agent == me);
    let grant: Vec<Granted> = participant
        .map(|p| {
            p.permissions
                .iter()
                .map(|p| tools::from_permission(*p))
                .collect()
        })
        .unwrap_or_default();
    let coordinator = grant.contains(&Granted::Coordinate);
    let role = participant.map_or("worker", |p| tools::role_name(p.role));

    let (steps, depends_on) = own_stage(&info, &me);
    let can_read = grant.contains(&Granted::ReadSlots);
    let slots = if can_read {
        Some(read_slots::list_slots().map_err(|e| arena("reading the slots", e))?)
    } else {
        None
    };
    // The next turn reads on from here, this turn's own writes included: only others' events make
    // a turn worth a model call, so none written while the model thinks is missed.
    let (new_events, shown, by_others) = new_events(&me)?;
    // A coordinator with lifecycle work in hand (activate, settle, merge and archive) is asked
    // again even when nothing new happened: its model may have stopped short last time.
    let lifecycle_due = coordinator
        && match info.status {
            ArenaStatus::Created | ArenaStatus::Settling => true,
            ArenaStatus::Active => info.aggregate.completed_steps >= info.aggregate.total_steps,
            ArenaStatus::Archived => false,
        };
    let fresh = MEMORY.with_borrow(|m| !m.asked) || by_others || lifecycle_due;

    if !coordinator {
        if info.status != ArenaStatus::Active {
            return Ok(format!(
                "waiting: the arena is {}",
                status_name(info.status)
            ));
        }
        if slot.status == SlotStatus::Done {
            return Ok("done".into());
        }
        if let Some(slots) = &slots
            && let Some(agent) = depends_on.iter().find(|agent| {
                !slots
                    .iter()
                    .any(|s| &s.agent == *agent && s.status == SlotStatus::Done)
            })
        {
            let failed = slots
                .iter()
                .any(|s| &s.agent == agent && s.status == SlotStatus::Failed);
            return Ok(if failed {
                format!("waiting for {agent}, whose slot is failed")
            } else {
                format!("waiting for {agent}")
            });
        }
    }
    if !fresh {
        return Ok("waiting: nothing new since the last turn".into());
    }

    let settings = match AgentSettings::read(|key| {
        crate::wasi::config::store::get(key).map_err(|e| format!("{e:?}"))
    }) {
        Ok(settings) => settings,
        Err(reason) => return fail_for_good(reason, crate::config::DEFAULT_MAX_FAILURES),
    };

    let others = match &slots {
        Some(slots) => Some(
            slots
                .iter()
                .filter(|s| s.agent != me)
                .map(|s| {
                    let slot = read_slots::read_slot(&s.agent)
                        .map_err(|e| arena(&format!("reading {}'s slot", s.agent), e))?;
                    Ok(view(&slot))
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
        None => None,
    };
    let facts = if grant.contains(&Granted::Observe) {
        Some(
            observe::facts(&crate::arena::core::types::FactQuery {
                tag: None,
                text: None,
            })
            .map_err(|e| arena("reading the facts", e))?
            .into_iter()
            .map(|f| format!("{}: {}", f.source, f.content))
            .collect(),
        )
    } else {
        None
    };
    let mut ctx = Context {
        agent: me.clone(),
        role: role.into(),
        goal: info.goal.clone(),
        status: status_name(info.status).into(),
        completed_steps: info.aggregate.completed_steps,
        total_steps: info.aggregate.total_steps,
        steps: steps.clone(),
        depends_on,
        own: Some(view(&slot)),
        others,
        facts,
        events: shown,
        new_events,
        without_tools: MEMORY.with_borrow(|m| m.without_tools),
    };
    if coordinator && ctx.without_tools {
        return lead_without_tools(&settings, &grant, &info, &ctx);
    }
    let model_failed = |failure: example_llm_common::http::Failure| {
        let reason = format!("model {}: {}", settings.model.model, failure.what);
        if failure.permanent {
            fail_for_good(reason, settings.max_failures)
        } else {
            Err(reason)
        }
    };
    let mut outcome = match ask(&settings, &grant, &ctx) {
        Ok(outcome) => outcome,
        Err(failure) => return model_failed(failure),
    };
    if outcome.tools_refused {
        // Asked again, in the same turn, as a model without tool calling.
        ctx.without_tools = true;
        if coordinator {
            return lead_without_tools(&settings, &grant, &info, &ctx);
        }
        let first = outcome;
        outcome = match ask(&settings, &grant, &ctx) {
            Ok(outcome) => outcome,
            Err(failure) => return model_failed(failure),
        };
        outcome.requests += first.requests;
    }
    // A turn the model ended itself waits for news; a failed, cut-off or stopped one asks again.
    MEMORY.with_borrow_mut(|m| m.asked = outcome.ended_by_model);
    if outcome.cut_off && outcome.calls.is_empty() {
        // Nothing done: a model that always runs to the token cap fails like a bad setting.
        let report = cut_off_report(&settings, &ctx, &outcome);
        return fail_for_good(report, settings.max_failures);
    }
    MEMORY.with_borrow_mut(|m| m.failures = 0);

    let mut report = outcome.ending.clone();
    if outcome.calls.is_empty()
        && !coordinator
        && !outcome.cut_off
        && let Some(text) = &outcome.text
    {
        // A model that does not call tools: its text is the draft, as the llm-worker hands it in.
        report = hand_in_text(text, &steps, peer_total(&info), &settings.model.model)?;
    }
    if ctx.without_tools {
        report = format!("without tools (the server refuses them): {report}");
    }
    Ok(asked_report(&settings, &outcome, &report))
}

/// The report of a turn that asked the model: its requests, the tools called, how the turn ended,
/// the model's time and tokens.
fn asked_report(settings: &AgentSettings, outcome: &Outcome, report: &str) -> String {
    let names = if outcome.calls.is_empty() {
        "no tool calls".to_string()
    } else {
        format!(
            "{} tool call{} ({})",
            outcome.calls.len(),
            if outcome.calls.len() == 1 { "" } else { "s" },
            outcome.calls.join(", ")
        )
    };
    let tokens = match outcome.tokens {
        Some((prompt, completion)) => format!(", {prompt}+{completion} tokens"),
        None => String::new(),
    };
    format!(
        "asked {} {}×: {names}; {report} [model {:.1}s{tokens}]",
        settings.model.model,
        outcome.requests,
        outcome.model_time.as_secs_f64()
    )
}

/// The report of a turn whose every reply was cut off at the token cap, saying what to raise.
fn cut_off_report(settings: &AgentSettings, ctx: &Context, outcome: &Outcome) -> String {
    let cap = match settings.max_tokens {
        Some(n) => format!("max_tokens ({n}) or the server's own cap"),
        None => "max_tokens or the server's own cap".into(),
    };
    let how = if ctx.without_tools {
        "without tools (the server refuses them): "
    } else {
        ""
    };
    asked_report(
        settings,
        outcome,
        &format!("{how}{}; raise {cap}", outcome.ending),
    )
}

/// Builds the messages from `ctx` and runs the tool loop (no tools when `ctx.without_tools`).
fn ask(
    settings: &AgentSettings,
    grant: &[Granted],
    ctx: &Context,
) -> Result<Outcome, example_llm_common::http::Failure> {
    let coordinator = grant.contains(&Granted::Coordinate);
    let mut messages = vec![
        json!({"role": "system", "content": context::system_message(
            &ctx.agent, coordinator, ctx.without_tools, settings.model.system_prompt.as_deref())}),
        json!({"role": "user", "content": context::user_message(ctx)}),
    ];
    let tools = if ctx.without_tools { &[][..] } else { grant };
    tool_loop(settings, tools, grant, &mut messages)
}

/// A coordinator whose model cannot call tools: the agent runs the lifecycle itself — it activates
/// the arena, settles it once every step is completed — and its model writes the team's result, which
/// the agent merges (kind `result`, the workers' drafts as its sources) before archiving. A result
/// cut off at the token cap is not merged; the next turn asks again.
fn lead_without_tools(
    settings: &AgentSettings,
    grant: &[Granted],
    info: &ArenaInfo,
    ctx: &Context,
) -> Result<String, String> {
    let prefix = "without tools (the server refuses them)";
    let lifecycle =
        |call: Call, doing: &str| tools::run(call).map_err(|e| format!("{prefix}: {doing}: {e}"));
    match info.status {
        ArenaStatus::Created => {
            lifecycle(Call::Activate, "activating the arena")?;
            return Ok(format!("{prefix}: activated the arena"));
        }
        ArenaStatus::Active if info.aggregate.completed_steps < info.aggregate.total_steps => {
            let failed: Vec<&str> = ctx
                .others
                .iter()
                .flatten()
                .filter(|slot| slot.status == "failed")
                .map(|slot| slot.agent.as_str())
                .collect();
            let failed = if failed.is_empty() {
                String::new()
            } else {
                format!("; failed: {}", failed.join(", "))
            };
            return Ok(format!(
                "waiting: {} of {} steps completed{failed}",
                info.aggregate.completed_steps, info.aggregate.total_steps
            ));
        }
        ArenaStatus::Active => {
            lifecycle(Call::Settle, "settling the arena")?;
        }
        ArenaStatus::Settling => {}
        ArenaStatus::Archived => return Ok("archived".into()),
    }
    let sources: Vec<String> = ctx
        .others
        .iter()
        .flatten()
        .flat_map(|slot| &slot.artifacts)
        .filter(|a| a.kind == DRAFT_KIND)
        .map(|a| a.id.clone())
        .take(MERGE_SOURCES_MAX)
        .collect();
    if sources.is_empty() {
        return Err(format!(
            "{prefix}: the arena is settling and no worker's draft is there to merge"
        ));
    }
    let mut ctx = ctx.clone();
    ctx.status = "settling".into();
    let outcome = match ask(settings, grant, &ctx) {
        Ok(outcome) => outcome,
        Err(failure) => {
            let reason = format!("model {}: {}", settings.model.model, failure.what);
            return if failure.permanent {
                fail_for_good(reason, settings.max_failures)
            } else {
                Err(reason)
            };
        }
    };
    if outcome.cut_off {
        return fail_for_good(
            cut_off_report(settings, &ctx, &outcome),
            settings.max_failures,
        );
    }
    MEMORY.with_borrow_mut(|m| m.failures = 0);
    let report = match (&outcome.text, outcome.cut_off) {
        (Some(text), false) => {
            let merged = lifecycle(
                Call::Merge {
                    kind: RESULT_KIND.into(),
                    content: example_llm_common::text::clip_bytes(text, ARTIFACT_MAX_BYTES)
                        .to_string(),
                    sources: sources.clone(),
                    metadata: vec![("model".into(), settings.model.model.clone())],
                },
                "merging the result",
            )?;
            lifecycle(Call::Archive, "archiving the arena")?;
            format!(
                "{prefix}: merged the result {} from {} and archived",
                merged["id"].as_str().unwrap_or("?"),
                sources.join(", ")
            )
        }
        _ => format!("{prefix}: {}; nothing merged", outcome.ending),
    };
    Ok(asked_report(settings, &outcome, &report))
}

/// How a tool loop ended.
struct Outcome {
    /// The tools called, in order.
    calls: Vec<String>,
    /// The model's last text.
    text: Option<String>,
    /// The last reply stopped at the token cap.
    cut_off: bool,
    /// Why the loop ended, for the report.
    ending: String,
    /// The model ended the loop itself, with a whole reply and no tool call.
    ended_by_model: bool,
    /// The server refused the `tools` parameter; the model was not asked.
    tools_refused: bool,
    requests: u32,
    model_time: Duration,
    tokens: Option<(u64, u64)>,
}

/// Asks the model and runs its tool calls until it stops calling tools, the call cap, a repeated
/// failing call, or the turn's time budget.
/// `offered` are the grants whose tools the model is offered (none for a model without tool
/// calling); every call is checked against `grant`.
fn tool_loop(
    settings: &AgentSettings,
    offered: &[Granted],
    grant: &[Granted],
    messages: &mut Vec<Value>,
) -> Result<Outcome, example_llm_common::http::Failure> {
    let tool_list = chat::tools(offered);
    let started = Instant::now();
    let budget = Duration::from_millis(settings.turn_budget_ms);
    let mut out = Outcome {
        calls: Vec::new(),
        text: None,
        cut_off: false,
        ending: String::new(),
        ended_by_model: false,
        tools_refused: false,
        requests: 0,
        model_time: Duration::ZERO,
        tokens: None,
    };
    let mut last_failure: Option<(String, String)> = None;
    let mut cut_offs = 0;
    loop {
        if started.elapsed() >= budget {
            out.ending = "stopped: the turn's time ran out".into();
            return Ok(out);
        }
        let body = chat::request_body(
            &settings.model.model,
            messages,
            &tool_list,
            settings.model.temperature,
            settings.max_tokens,
        );
        let asked = Instant::now();
        let bytes = match example_llm_common::http::post(&settings.model, &body) {
            Ok(bytes) => bytes,
            Err(failure) if !tool_list.is_empty() && chat::refuses_tools(&failure.what) => {
                // A server or model without tool calling: from now on it is asked without tools.
                MEMORY.with_borrow_mut(|m| m.without_tools = true);
                out.requests += 1;
                out.model_time += asked.elapsed();
                out.tools_refused = true;
                out.ending = format!("the server refuses tools: {}", failure.what);
                return Ok(out);
            }
            Err(failure) => return Err(failure),
        };
        out.model_time += asked.elapsed();
        out.requests += 1;
        let reply: Reply =
            chat::parse_reply(&bytes).map_err(|what| example_llm_common::http::Failure {
                permanent: false,
                what,
            })?;
        if let Some((p, c)) = reply.tokens {
            let (tp, tc) = out.tokens.unwrap_or((0, 0));
            out.tokens = Some((tp + p, tc + c));
        }
        out.text = reply.text.clone();
        out.cut_off = reply.cut_off();
        if reply.cut_off() && reply.calls.is_empty() {
            cut_offs += 1;
            if cut_offs > 1 {
                out.ending = "cut off at the token limit twice; nothing stored".into();
                return Ok(out);
            }
            messages.push(reply.message.clone());
            messages.push(json!({"role": "user", "content":
                "Your reply was cut off at the token limit. Answer again, shorter."}));
            continue;
        }
        if reply.calls.is_empty() {
            out.ending = match &reply.text {
                Some(text) => format!(
                    "said \"{}\"",
                    example_llm_common::text::excerpt(text.trim(), REPORT_TEXT_CHARS)
                ),
                None => "said nothing".into(),
            };
            out.ended_by_model = true;
            return Ok(out);
        }
        messages.push(reply.message.clone());
        for call in &reply.calls {
            if out.calls.len() as u32 >= settings.max_tool_calls {
                out.ending = format!("stopped at max_tool_calls ({})", settings.max_tool_calls);
                return Ok(out);
            }
            out.calls.push(call.name.clone());
            let result = call_tool(&call.name, &call.arguments, grant);
            let content = match &result {
                Ok(value) => value.clone(),
                Err(error) => json!({ "error": error }),
            };
            messages.push(chat::tool_message(&call.id, &content));
            if let Err(error) = result {
                let this = (call.name.clone(), call.arguments.clone());
                if last_failure.as_ref() == Some(&this) {
                    out.ending =
                        format!("stopped: {} failed twice the same way: {error}", call.name);
                    return Ok(out);
                }
                last_failure = Some(this);
            }
        }
    }
}

/// Decodes and runs one tool call; `Err` is the error the model reads.
fn call_tool(name: &str, arguments: &str, grant: &[Granted]) -> Result<Value, String> {
    let arguments: Value = if arguments.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(arguments)
            .map_err(|e| format!("the arguments of {name} are not JSON: {e}"))?
    };
    let invocation = arena_catalogue::decode(name, &arguments).map_err(|e| e.to_string())?;
    let tool = invocation.call.tool();
    if !grant.contains(&tool.permission) {
        return Err(format!(
            "{} is not granted to this agent: it needs the {} permission",
            tool.name,
            tool.permission.name()
        ));
    }
    tools::run(invocation.call)
}

/// Counts a permanent failure; after `max_failures` of them the slot is marked `failed` with the
/// reason as its progress note, and the turn reports it.
fn fail_for_good(reason: String, max_failures: u32) -> Result<String, String> {
    let failures = MEMORY.with_borrow_mut(|m| {
        m.failures += 1;
        m.failures
    });
    if failures < max_failures {
        return Err(format!("{reason} (failure {failures} of {max_failures})"));
    }
    // Given up for this run, whether or not the slot can be marked: the model is not asked again.
    MEMORY.with_borrow_mut(|m| m.gave_up = Some(reason.clone()));
    let note = example_llm_common::text::clip_bytes(&format!("failed: {reason}"), 4096).to_string();
    // Best effort for the note: the status is what the others read.
    let _ = contribute::report_progress(&note);
    match contribute::set_slot_status(SlotStatus::Failed) {
        Ok(()) => Ok(format!(
            "failed after {failures} turns, slot marked failed: {reason}"
        )),
        // A slot is marked only while the arena is active: a coordinator failing in a created
        // arena says so, and the run's end names it.
        Err(e) => Ok(format!(
            "failed after {failures} turns, gave up (the slot cannot be marked failed: {}): \
             {reason}",
            error_text(&e)
        )),
    }
}

/// In a peer arena, its step count: a tool-less worker completes the lowest open step there.
fn peer_total(info: &ArenaInfo) -> Option<u32> {
    match info.strategy {
        Strategy::Peer(_) => Some(info.aggregate.total_steps),
        Strategy::Pipeline(_) => None,
    }
}

/// Stores a tool-less model's text as the draft, completes the agent's steps (in a peer arena of
/// `peer_total` steps, the lowest open one) and marks it done.
fn hand_in_text(
    text: &str,
    steps: &[u32],
    peer_total: Option<u32>,
    model: &str,
) -> Result<String, String> {
    let artifact = contribute::put_artifact(&ArtifactDraft {
        kind: DRAFT_KIND.into(),
        content: example_llm_common::text::clip_bytes(text, ARTIFACT_MAX_BYTES).to_string(),
        metadata: vec![("model".into(), model.into())],
    })
    .map_err(|e| arena("storing the draft", e))?;
    let mut done = Vec::new();
    for &step in steps {
        match contribute::complete_step(step) {
            Ok(_) => done.push(step),
            Err(ArenaError::AlreadyDone) => {}
            Err(e) => return Err(arena(&format!("completing step {step}"), e)),
        }
    }
    if let Some(total) = peer_total {
        for step in 1..=total {
            match contribute::complete_step(step) {
                Ok(_) => {
                    done.push(step);
                    break;
                }
                Err(ArenaError::AlreadyDone) => {}
                Err(e) => return Err(arena(&format!("completing step {step}"), e)),
            }
        }
    }
    match contribute::set_slot_status(SlotStatus::Done) {
        Ok(()) | Err(ArenaError::AlreadyDone) => {}
        Err(e) => return Err(arena("marking my slot done", e)),
    }
    Ok(format!(
        "no tool calling: the text is the draft {}, steps {}",
        artifact.id,
        example_llm_common::plan::step_list(&done)
    ))
}

/// This agent's steps and the stages it waits for, in a pipeline.
fn own_stage(info: &ArenaInfo, me: &str) -> (Vec<u32>, Vec<String>) {
    match &info.strategy {
        Strategy::Pipeline(p) => p
            .stages
            .iter()
            .find(|s| s.agent == me)
            .map(|s| {
                let ranges: Vec<(u32, u32)> = s.steps.iter().map(|r| (r.first, r.last)).collect();
                (
                    example_llm_common::plan::range_steps(&ranges),
                    s.depends_on.clone(),
                )
            })
            .unwrap_or_default(),
        Strategy::Peer(_) => (Vec::new(), Vec::new()),
    }
}

/// The events since the last turn: how many, the last few as lines, and whether anyone else caused
/// one.
fn new_events(me: &str) -> Result<(usize, Vec<String>, bool), String> {
    let mut count = 0;
    let mut by_others = false;
    let mut lines: Vec<String> = Vec::new();
    MEMORY.with_borrow_mut(|m| {
        loop {
            let events =
                observe::events(m.seen, EVENT_PAGE).map_err(|e| arena("reading events", e))?;
            for e in &events {
                m.seen = e.seq;
                count += 1;
                by_others |= e.actor != me;
                lines.push(format!(
                    "{} {} {} {}",
                    e.seq,
                    e.actor,
                    e.kind,
                    example_llm_common::text::excerpt(&e.payload, context::EXCERPT_CHARS)
                ));
                if lines.len() > context::SHOWN_EVENTS {
                    lines.remove(0);
                }
            }
            if events.len() < EVENT_PAGE as usize {
                return Ok((count, lines, by_others));
            }
        }
    })
}

fn view(slot: &crate::arena::core::types::Slot) -> SlotView {
    SlotView {
        agent: slot.agent.clone(),
        status: slot_status_name(slot.status).into(),
        artifacts: slot
            .artifacts
            .iter()
            .map(|a| ArtifactView {
                id: a.id.clone(),
                kind: a.kind.clone(),
                content: a.content.clone(),
            })
            .collect(),
    }
}

fn arena(doing: &str, e: ArenaError) -> String {
    format!("{doing}: {}", error_text(&e))
}
