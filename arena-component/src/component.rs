//! The thin adapter between the WIT `arena` world and the domain modules.

use crate::clock::SystemClock;
use crate::handle::{Handle, invited, shared_fact};
use crate::manager::ArenaManager;
use crate::storage::{ArenaRecord, Storage, StoredArena};
use crate::types::{self as domain, Operation};
use crate::{aggregate, events};

wit_bindgen::generate!({
    world: "arena",
    path: "../wit",
});

use arena::core::storage as host;
use arena::core::types as wit;
use exports::arena::core::manager::{self as wit_manager, Guest, VerifyReport};

/// The storage imports, seen through the domain's trait.
struct HostStorage;

impl Storage for HostStorage {
    fn load(&self, arena: &str) -> Result<Option<StoredArena>, domain::ArenaError> {
        Ok(host::load(arena).map_err(error_in)?.map(|s| StoredArena {
            snapshot: s.snapshot,
            head_seq: s.head_seq,
            head_hash: s.head_hash,
        }))
    }

    fn read_events(
        &self,
        arena: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<events::Event>, domain::ArenaError> {
        Ok(host::read_events(arena, after, limit)
            .map_err(error_in)?
            .into_iter()
            .map(event_in)
            .collect())
    }

    fn append(
        &self,
        arena: &str,
        expected_seq: u64,
        events: &[events::Event],
        record: &ArenaRecord,
    ) -> Result<(), domain::ArenaError> {
        let events: Vec<wit::Event> = events.iter().cloned().map(event_out).collect();
        let record = host::ArenaRecord {
            snapshot: record.snapshot.clone(),
            status: status_out(record.status),
            participants: record.participants.clone(),
            tags: record.tags.clone(),
        };
        host::append(arena, expected_seq, &events, &record).map_err(error_in)
    }

    fn participating(&self, agent: &str) -> Result<Vec<String>, domain::ArenaError> {
        host::participating(agent).map_err(error_in)
    }

    fn list_arenas(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, domain::ArenaError> {
        host::list_arenas(after, limit).map_err(error_in)
    }

    fn tagged(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, domain::ArenaError> {
        host::tagged(tag, after, limit).map_err(error_in)
    }
}

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
    answer: impl FnOnce(&ArenaHandle<'_>, domain::Arena) -> Result<T, domain::ArenaError>,
) -> WitResult<T> {
    let handle = manager().handle(arena, caller);
    let handle = match key {
        Some(key) => handle.with_key(key),
        None => handle,
    };
    handle
        .perform(op)
        .and_then(|after| answer(&handle, after))
        .map_err(error_out)
}

fn aggregate_after(
    _: &ArenaHandle<'_>,
    after: domain::Arena,
) -> Result<wit::Aggregate, domain::ArenaError> {
    Ok(aggregate_out(
        &after.aggregate,
        after.participants.keys().cloned().collect(),
    ))
}

fn status_after(
    _: &ArenaHandle<'_>,
    after: domain::Arena,
) -> Result<wit::ArenaStatus, domain::ArenaError> {
    Ok(status_out(after.status))
}

fn artifact_after(
    handle: &ArenaHandle<'_>,
    after: domain::Arena,
) -> Result<wit::Artifact, domain::ArenaError> {
    handle.stored_artifact(&after).map(artifact_out)
}

struct Component;

impl Guest for Component {
    fn create(config: wit::ArenaConfig) -> WitResult<String> {
        let config = domain::ArenaConfig {
            goal: config.goal,
            total_steps: config.total_steps,
            strategy: strategy_in(config.strategy),
            participants: config.participants.into_iter().map(spec_in).collect(),
            created_by: config.created_by,
        };
        manager().create(&config).map_err(error_out)
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
            Ok(info_out(after))
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

export!(Component);

fn operation_in(op: wit_manager::Operation) -> Operation {
    use wit_manager::Operation as Wit;
    match op {
        Wit::Leave => Operation::Leave,
        Wit::CompleteStep(step) => Operation::CompleteStep(step),
        Wit::ReportProgress(note) => Operation::ReportProgress(note),
        Wit::UpdateGoal(goal) => Operation::UpdateGoal(goal),
        Wit::Activate => Operation::Activate,
        Wit::Settle => Operation::Settle,
        Wit::Archive => Operation::Archive,
        Wit::Abort(reason) => Operation::Abort(reason),
        Wit::Invite(spec) => Operation::Invite(spec_in(spec)),
        Wit::PutArtifact(draft) => Operation::PutArtifact(draft_in(draft)),
        Wit::SetSlotStatus(status) => Operation::SetSlotStatus(slot_status_in(status)),
        Wit::Merge(request) => Operation::Merge(merge_in(request)),
        Wit::AddFact(draft) => Operation::AddFact(fact_draft_in(draft)),
    }
}

fn error_in(e: wit::ArenaError) -> domain::ArenaError {
    use domain::ArenaError as D;
    match e {
        wit::ArenaError::NotFound => D::NotFound,
        wit::ArenaError::InvalidTransition(t) => D::InvalidTransition {
            from: status_in(t.from),
            to: status_in(t.to),
        },
        wit::ArenaError::InvalidState(m) => D::InvalidState(m),
        wit::ArenaError::PermissionDenied(p) => D::PermissionDenied(permission_in(p)),
        wit::ArenaError::InvalidInput(m) => D::InvalidInput(m),
        wit::ArenaError::LimitExceeded(l) => D::LimitExceeded {
            what: l.what,
            limit: l.limit,
        },
        wit::ArenaError::AlreadyDone => D::AlreadyDone,
        wit::ArenaError::Conflict => D::Conflict,
        wit::ArenaError::Storage(m) => D::Storage(m),
    }
}

fn error_out(e: domain::ArenaError) -> wit::ArenaError {
    use domain::ArenaError as D;
    match e {
        D::NotFound => wit::ArenaError::NotFound,
        D::InvalidTransition { from, to } => wit::ArenaError::InvalidTransition(wit::Transition {
            from: status_out(from),
            to: status_out(to),
        }),
        D::InvalidState(m) => wit::ArenaError::InvalidState(m),
        D::PermissionDenied(p) => wit::ArenaError::PermissionDenied(permission_out(p)),
        D::InvalidInput(m) => wit::ArenaError::InvalidInput(m),
        D::LimitExceeded { what, limit } => {
            wit::ArenaError::LimitExceeded(wit::Limit { what, limit })
        }
        D::AlreadyDone => wit::ArenaError::AlreadyDone,
        D::Conflict => wit::ArenaError::Conflict,
        D::Storage(m) => wit::ArenaError::Storage(m),
    }
}

fn status_in(s: wit::ArenaStatus) -> domain::ArenaStatus {
    match s {
        wit::ArenaStatus::Created => domain::ArenaStatus::Created,
        wit::ArenaStatus::Active => domain::ArenaStatus::Active,
        wit::ArenaStatus::Settling => domain::ArenaStatus::Settling,
        wit::ArenaStatus::Archived => domain::ArenaStatus::Archived,
    }
}

fn status_out(s: domain::ArenaStatus) -> wit::ArenaStatus {
    match s {
        domain::ArenaStatus::Created => wit::ArenaStatus::Created,
        domain::ArenaStatus::Active => wit::ArenaStatus::Active,
        domain::ArenaStatus::Settling => wit::ArenaStatus::Settling,
        domain::ArenaStatus::Archived => wit::ArenaStatus::Archived,
    }
}

fn permission_in(p: wit::Permission) -> domain::Permission {
    match p {
        wit::Permission::Observe => domain::Permission::Observe,
        wit::Permission::ReadSlots => domain::Permission::ReadSlots,
        wit::Permission::Contribute => domain::Permission::Contribute,
        wit::Permission::ShareFacts => domain::Permission::ShareFacts,
        wit::Permission::Steer => domain::Permission::Steer,
        wit::Permission::Coordinate => domain::Permission::Coordinate,
    }
}

fn permission_out(p: domain::Permission) -> wit::Permission {
    match p {
        domain::Permission::Observe => wit::Permission::Observe,
        domain::Permission::ReadSlots => wit::Permission::ReadSlots,
        domain::Permission::Contribute => wit::Permission::Contribute,
        domain::Permission::ShareFacts => wit::Permission::ShareFacts,
        domain::Permission::Steer => wit::Permission::Steer,
        domain::Permission::Coordinate => wit::Permission::Coordinate,
    }
}

fn role_in(r: wit::Role) -> domain::Role {
    match r {
        wit::Role::Coordinator => domain::Role::Coordinator,
        wit::Role::Worker => domain::Role::Worker,
        wit::Role::Observer => domain::Role::Observer,
    }
}

fn role_out(r: domain::Role) -> wit::Role {
    match r {
        domain::Role::Coordinator => wit::Role::Coordinator,
        domain::Role::Worker => wit::Role::Worker,
        domain::Role::Observer => wit::Role::Observer,
    }
}

fn spec_in(s: wit::ParticipantSpec) -> domain::ParticipantSpec {
    domain::ParticipantSpec {
        agent: s.agent,
        role: role_in(s.role),
        permissions: s
            .permissions
            .map(|list| list.into_iter().map(permission_in).collect()),
    }
}

fn participant_out(p: domain::Participant) -> wit::Participant {
    wit::Participant {
        agent: p.agent,
        role: role_out(p.role),
        permissions: p.permissions.into_iter().map(permission_out).collect(),
    }
}

fn strategy_in(s: wit::Strategy) -> domain::Strategy {
    match s {
        wit::Strategy::Peer(agent) => domain::Strategy::Peer(agent),
        wit::Strategy::Pipeline(p) => domain::Strategy::Pipeline(domain::Pipeline {
            coordinator: p.coordinator,
            stages: p
                .stages
                .into_iter()
                .map(|s| domain::Stage {
                    agent: s.agent,
                    steps: s
                        .steps
                        .into_iter()
                        .map(|r| domain::StepRange {
                            first: r.first,
                            last: r.last,
                        })
                        .collect(),
                    depends_on: s.depends_on,
                })
                .collect(),
        }),
    }
}

fn strategy_out(s: domain::Strategy) -> wit::Strategy {
    match s {
        domain::Strategy::Peer(agent) => wit::Strategy::Peer(agent),
        domain::Strategy::Pipeline(p) => wit::Strategy::Pipeline(wit::Pipeline {
            coordinator: p.coordinator,
            stages: p
                .stages
                .into_iter()
                .map(|s| wit::Stage {
                    agent: s.agent,
                    steps: s
                        .steps
                        .into_iter()
                        .map(|r| wit::StepRange {
                            first: r.first,
                            last: r.last,
                        })
                        .collect(),
                    depends_on: s.depends_on,
                })
                .collect(),
        }),
    }
}

fn slot_status_in(s: wit::SlotStatus) -> domain::SlotStatus {
    match s {
        wit::SlotStatus::Idle => domain::SlotStatus::Idle,
        wit::SlotStatus::Working => domain::SlotStatus::Working,
        wit::SlotStatus::Done => domain::SlotStatus::Done,
        wit::SlotStatus::Failed => domain::SlotStatus::Failed,
    }
}

fn slot_status_out(s: domain::SlotStatus) -> wit::SlotStatus {
    match s {
        domain::SlotStatus::Idle => wit::SlotStatus::Idle,
        domain::SlotStatus::Working => wit::SlotStatus::Working,
        domain::SlotStatus::Done => wit::SlotStatus::Done,
        domain::SlotStatus::Failed => wit::SlotStatus::Failed,
    }
}

fn draft_in(d: wit::ArtifactDraft) -> domain::ArtifactDraft {
    domain::ArtifactDraft {
        kind: d.kind,
        content: d.content,
        metadata: d.metadata,
    }
}

fn merge_in(m: wit::MergeRequest) -> domain::MergeRequest {
    domain::MergeRequest {
        draft: domain::ArtifactDraft {
            kind: m.kind,
            content: m.content,
            metadata: m.metadata,
        },
        sources: m.sources,
    }
}

fn fact_draft_in(d: wit::FactDraft) -> domain::FactDraft {
    domain::FactDraft {
        content: d.content,
        confidence: d.confidence,
        tags: d.tags,
    }
}

fn query_in(q: wit::FactQuery) -> domain::FactQuery {
    domain::FactQuery {
        tag: q.tag,
        text: q.text,
    }
}

fn artifact_out(a: domain::Artifact) -> wit::Artifact {
    wit::Artifact {
        id: a.id,
        author: a.author,
        kind: a.kind,
        content: a.content,
        metadata: a.metadata,
        sources: a.sources,
        created_at: a.created_at,
        seq: a.seq,
    }
}

fn slot_out(s: domain::SlotContents) -> wit::Slot {
    wit::Slot {
        agent: s.agent,
        status: slot_status_out(s.status),
        artifacts: s.artifacts.into_iter().map(artifact_out).collect(),
    }
}

fn fact_out(arena: &str, f: domain::Fact) -> wit::Fact {
    wit::Fact {
        id: f.id,
        arena: arena.to_string(),
        content: f.content,
        confidence: f.confidence,
        tags: f.tags,
        source: f.source,
        created_at: f.created_at,
        seq: f.seq,
    }
}

fn outcome_out(o: domain::Outcome) -> wit::Outcome {
    match o {
        domain::Outcome::Completed => wit::Outcome::Completed,
        domain::Outcome::Aborted(reason) => wit::Outcome::Aborted(reason),
    }
}

fn report_out(r: domain::SettleReport) -> wit::SettleReport {
    wit::SettleReport {
        outcome: outcome_out(r.outcome),
        completed_steps: r.completed_steps,
        total_steps: r.total_steps,
        facts: r.facts,
        artifacts: r.artifacts,
        merges: r.merges,
        events: r.events,
        contributions: r
            .contributions
            .into_iter()
            .map(|c| wit::Contribution {
                agent: c.agent,
                steps: c.steps,
                artifacts: c.artifacts,
                facts: c.facts,
            })
            .collect(),
    }
}

fn aggregate_out(a: &aggregate::Aggregate, participants: Vec<String>) -> wit::Aggregate {
    wit::Aggregate {
        completed_steps: a.completed_steps,
        total_steps: a.total_steps,
        participants,
        progress: a
            .progress
            .iter()
            .map(|(agent, p)| wit::AgentProgress {
                agent: agent.clone(),
                steps_completed: p.steps_completed,
                note: p.note.clone(),
            })
            .collect(),
    }
}

fn info_out(a: domain::Arena) -> wit::ArenaInfo {
    let participants: Vec<String> = a.participants.keys().cloned().collect();
    let report = a.report().map(report_out);
    wit::ArenaInfo {
        report,
        aggregate: aggregate_out(&a.aggregate, participants),
        id: a.id,
        goal: a.goal,
        status: status_out(a.status),
        outcome: a.outcome.clone().map(outcome_out),
        strategy: strategy_out(a.strategy),
        participants: a.participants.into_values().map(participant_out).collect(),
        created_by: a.created_by,
        created_at: a.created_at,
        last_seq: a.last_seq,
    }
}

fn event_in(e: wit::Event) -> events::Event {
    events::Event {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        payload: e.payload,
        hash: e.hash,
    }
}

fn event_out(e: events::Event) -> wit::Event {
    wit::Event {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        payload: e.payload,
        hash: e.hash,
    }
}
