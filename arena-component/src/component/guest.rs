//! The `manager` interface the component exports: each function converts its arguments, runs the
//! domain operation, and converts the answer.

use super::bindings::arena::core::types as wit;
use super::bindings::exports::arena::core::manager::{self as wit_manager, Guest, VerifyReport};
use super::convert::{
    aggregate_out, artifact_out, draft_in, error_out, event_out, fact_draft_in, fact_out, info_out,
    merge_in, operation_in, participant_out, query_in, slot_out, slot_status_in, slot_status_out,
    spec_in, status_out, strategy_in,
};
use super::host_storage::HostStorage;
use crate::clock::SystemClock;
use crate::handle::{Handle, invited, shared_fact};
use crate::manager::ArenaManager;
use crate::types::{self as domain, Operation};

/// The component's one manager: it lives as long as the instance, and with it its cache of parsed
/// arena states.
fn manager() -> &'static ArenaManager<HostStorage, SystemClock> {
    static MANAGER: std::sync::LazyLock<ArenaManager<HostStorage, SystemClock>> =
        std::sync::LazyLock::new(|| ArenaManager::new(HostStorage, SystemClock));
    &MANAGER
}

type WitResult<T> = Result<T, wit::ArenaError>;

type ArenaHandle<'a> = Handle<'a, HostStorage, SystemClock>;

/// How every mutating export runs: `op` by `caller` on `arena` (with idempotency `key`, if any)
/// through the handle's one mutation path, answered with what `answer` takes from the arena right
/// after it.
fn perform<T>(
    arena: &str,
    caller: &str,
    key: Option<&str>,
    op: &Operation,
    answer: impl FnOnce(&ArenaHandle<'_>, &domain::Arena) -> Result<T, domain::ArenaError>,
) -> WitResult<T> {
    let handle = manager().handle(arena, caller);
    let handle = match key {
        Some(key) => handle.with_key(key),
        None => handle,
    };
    handle
        .perform_with(op, |after| answer(&handle, after))
        .and_then(|answered| answered)
        .map_err(error_out)
}

fn aggregate_after(
    _: &ArenaHandle<'_>,
    after: &domain::Arena,
) -> Result<wit::Aggregate, domain::ArenaError> {
    Ok(aggregate_out(
        &after.aggregate,
        after.participants.keys().cloned().collect(),
    ))
}

fn status_after(
    _: &ArenaHandle<'_>,
    after: &domain::Arena,
) -> Result<wit::ArenaStatus, domain::ArenaError> {
    Ok(status_out(after.status))
}

fn artifact_after(
    handle: &ArenaHandle<'_>,
    after: &domain::Arena,
) -> Result<wit::Artifact, domain::ArenaError> {
    handle.stored_artifact(after).map(artifact_out)
}

pub(super) struct Component;

impl Guest for Component {
    fn create(config: wit::ArenaConfig) -> WitResult<String> {
        manager().create(&config_in(config)).map_err(error_out)
    }

    fn create_keyed(config: wit::ArenaConfig, key: String) -> WitResult<String> {
        manager()
            .create_keyed(&config_in(config), &key)
            .map_err(error_out)
    }

    fn fork(parent: String, at: u64, created_by: String) -> WitResult<String> {
        manager().fork(&parent, at, &created_by).map_err(error_out)
    }

    fn get(arena: String) -> WitResult<wit::ArenaInfo> {
        manager().get(&arena).map(info_out).map_err(error_out)
    }

    fn get_at(arena: String, seq: u64) -> WitResult<wit::ArenaInfo> {
        manager()
            .get_at(&arena, seq)
            .map(info_out)
            .map_err(error_out)
    }

    fn list_arenas(after: Option<String>, limit: u32) -> WitResult<Vec<wit::ArenaInfo>> {
        manager()
            .list(after.as_deref(), limit)
            .map(|list| list.into_iter().map(info_out).collect())
            .map_err(error_out)
    }

    fn events(arena: String, after: u64, limit: u32) -> WitResult<Vec<wit::Event>> {
        manager()
            .events(&arena, after, limit)
            .map(|list| list.into_iter().map(event_out).collect())
            .map_err(error_out)
    }

    fn active_arenas_for(agent: String) -> WitResult<Vec<String>> {
        manager().active_arenas_for(&agent).map_err(error_out)
    }

    fn verify(arena: String) -> WitResult<VerifyReport> {
        manager()
            .verify(&arena)
            .map(|r| VerifyReport {
                events: r.events,
                problem: r.problem,
            })
            .map_err(error_out)
    }

    fn observe(arena: String, caller: String) -> WitResult<wit::ArenaInfo> {
        manager()
            .handle(&arena, &caller)
            .info()
            .map(info_out)
            .map_err(error_out)
    }

    fn observe_events(
        arena: String,
        caller: String,
        after: u64,
        limit: u32,
    ) -> WitResult<Vec<wit::Event>> {
        manager()
            .handle(&arena, &caller)
            .events(after, limit)
            .map(|list| list.into_iter().map(event_out).collect())
            .map_err(error_out)
    }

    fn leave(arena: String, caller: String) -> WitResult<()> {
        perform(&arena, &caller, None, &Operation::Leave, |_, _| Ok(()))
    }

    fn complete_step(arena: String, caller: String, step: u32) -> WitResult<wit::Aggregate> {
        perform(
            &arena,
            &caller,
            None,
            &Operation::CompleteStep(step),
            aggregate_after,
        )
    }

    fn report_progress(arena: String, caller: String, note: String) -> WitResult<wit::Aggregate> {
        perform(
            &arena,
            &caller,
            None,
            &Operation::ReportProgress(note),
            aggregate_after,
        )
    }

    fn update_goal(arena: String, caller: String, goal: String) -> WitResult<()> {
        perform(
            &arena,
            &caller,
            None,
            &Operation::UpdateGoal(goal),
            |_, _| Ok(()),
        )
    }

    fn activate(arena: String, caller: String) -> WitResult<wit::ArenaStatus> {
        perform(&arena, &caller, None, &Operation::Activate, status_after)
    }

    fn settle(arena: String, caller: String) -> WitResult<wit::ArenaStatus> {
        perform(&arena, &caller, None, &Operation::Settle, status_after)
    }

    fn archive(arena: String, caller: String) -> WitResult<wit::ArenaStatus> {
        perform(&arena, &caller, None, &Operation::Archive, status_after)
    }

    fn abort(arena: String, caller: String, reason: String) -> WitResult<wit::ArenaStatus> {
        perform(
            &arena,
            &caller,
            None,
            &Operation::Abort(reason),
            status_after,
        )
    }

    fn perform(
        arena: String,
        caller: String,
        key: Option<String>,
        op: wit_manager::Operation,
    ) -> WitResult<wit::ArenaInfo> {
        let op = operation_in(op);
        perform(&arena, &caller, key.as_deref(), &op, |_, after| {
            Ok(info_out(after.clone()))
        })
    }

    fn invite(
        arena: String,
        caller: String,
        participant: wit::ParticipantSpec,
    ) -> WitResult<wit::Participant> {
        let agent = participant.agent.clone();
        let op = Operation::Invite(spec_in(participant));
        perform(&arena, &caller, None, &op, |_, after| {
            invited(after, &agent).map(participant_out)
        })
    }

    fn slots(arena: String) -> WitResult<Vec<wit::Slot>> {
        manager()
            .slots(&arena)
            .map(|list| list.into_iter().map(slot_out).collect())
            .map_err(error_out)
    }

    fn query_facts(
        arena: Option<String>,
        query: wit::FactQuery,
        after: Option<wit::FactCursor>,
        limit: u32,
    ) -> WitResult<Vec<wit::Fact>> {
        manager()
            .query_facts(
                arena.as_deref(),
                &query_in(query),
                after.as_ref().map(|c| (c.arena.as_str(), c.seq)),
                limit,
            )
            .map(|list| {
                list.into_iter()
                    .map(|(arena, fact)| fact_out(&arena, fact))
                    .collect()
            })
            .map_err(error_out)
    }

    fn observe_facts(
        arena: String,
        caller: String,
        query: wit::FactQuery,
    ) -> WitResult<Vec<wit::Fact>> {
        manager()
            .handle(&arena, &caller)
            .facts(&query_in(query))
            .map(|list| list.into_iter().map(|f| fact_out(&arena, f)).collect())
            .map_err(error_out)
    }

    fn list_slots(arena: String, caller: String) -> WitResult<Vec<wit::SlotInfo>> {
        manager()
            .handle(&arena, &caller)
            .list_slots()
            .map(|list| {
                list.into_iter()
                    .map(|(agent, slot)| wit::SlotInfo {
                        agent,
                        status: slot_status_out(slot.status),
                        artifacts: slot.artifacts.into_iter().map(|a| a.id).collect(),
                    })
                    .collect()
            })
            .map_err(error_out)
    }

    fn read_slot(arena: String, caller: String, agent: String) -> WitResult<wit::Slot> {
        manager()
            .handle(&arena, &caller)
            .read_slot(&agent)
            .map(slot_out)
            .map_err(error_out)
    }

    fn read_artifact(arena: String, caller: String, id: String) -> WitResult<wit::Artifact> {
        manager()
            .handle(&arena, &caller)
            .read_artifact(&id)
            .map(artifact_out)
            .map_err(error_out)
    }

    fn own_slot(arena: String, caller: String) -> WitResult<wit::Slot> {
        manager()
            .handle(&arena, &caller)
            .own_slot()
            .map(slot_out)
            .map_err(error_out)
    }

    fn put_artifact(
        arena: String,
        caller: String,
        draft: wit::ArtifactDraft,
    ) -> WitResult<wit::Artifact> {
        let op = Operation::PutArtifact(draft_in(draft));
        perform(&arena, &caller, None, &op, artifact_after)
    }

    fn set_slot_status(arena: String, caller: String, status: wit::SlotStatus) -> WitResult<()> {
        let op = Operation::SetSlotStatus(slot_status_in(status));
        perform(&arena, &caller, None, &op, |_, _| Ok(()))
    }

    fn add_fact(arena: String, caller: String, draft: wit::FactDraft) -> WitResult<wit::Fact> {
        let op = Operation::AddFact(fact_draft_in(draft));
        perform(&arena, &caller, None, &op, |_, after| {
            shared_fact(after).map(|fact| fact_out(&arena, fact))
        })
    }

    fn merge(
        arena: String,
        caller: String,
        request: wit::MergeRequest,
    ) -> WitResult<wit::Artifact> {
        let op = Operation::Merge(merge_in(request));
        perform(&arena, &caller, None, &op, artifact_after)
    }
}

fn config_in(config: wit::ArenaConfig) -> domain::ArenaConfig {
    domain::ArenaConfig {
        goal: config.goal,
        total_steps: config.total_steps,
        strategy: strategy_in(config.strategy),
        participants: config.participants.into_iter().map(spec_in).collect(),
        created_by: config.created_by,
    }
}
