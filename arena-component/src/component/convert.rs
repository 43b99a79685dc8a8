//! Conversions between WIT values and domain values, one function per type and direction.

use super::bindings::arena::core::types as wit;
use super::bindings::exports::arena::core::manager as wit_manager;
use crate::types::{self as domain, Operation};
use crate::{aggregate, events};

pub(super) fn operation_in(op: wit_manager::Operation) -> Operation {
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

pub(super) fn error_in(e: wit::ArenaError) -> domain::ArenaError {
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

pub(super) fn error_out(e: domain::ArenaError) -> wit::ArenaError {
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

pub(super) fn status_in(s: wit::ArenaStatus) -> domain::ArenaStatus {
    match s {
        wit::ArenaStatus::Created => domain::ArenaStatus::Created,
        wit::ArenaStatus::Active => domain::ArenaStatus::Active,
        wit::ArenaStatus::Settling => domain::ArenaStatus::Settling,
        wit::ArenaStatus::Archived => domain::ArenaStatus::Archived,
    }
}

pub(super) fn status_out(s: domain::ArenaStatus) -> wit::ArenaStatus {
    match s {
        domain::ArenaStatus::Created => wit::ArenaStatus::Created,
        domain::ArenaStatus::Active => wit::ArenaStatus::Active,
        domain::ArenaStatus::Settling => wit::ArenaStatus::Settling,
        domain::ArenaStatus::Archived => wit::ArenaStatus::Archived,
    }
}

pub(super) fn permission_in(p: wit::Permission) -> domain::Permission {
    match p {
        wit::Permission::Observe => domain::Permission::Observe,
        wit::Permission::ReadSlots => domain::Permission::ReadSlots,
        wit::Permission::Contribute => domain::Permission::Contribute,
        wit::Permission::ShareFacts => domain::Permission::ShareFacts,
        wit::Permission::Steer => domain::Permission::Steer,
        wit::Permission::Coordinate => domain::Permission::Coordinate,
    }
}

pub(super) fn permission_out(p: domain::Permission) -> wit::Permission {
    match p {
        domain::Permission::Observe => wit::Permission::Observe,
        domain::Permission::ReadSlots => wit::Permission::ReadSlots,
        domain::Permission::Contribute => wit::Permission::Contribute,
        domain::Permission::ShareFacts => wit::Permission::ShareFacts,
        domain::Permission::Steer => wit::Permission::Steer,
        domain::Permission::Coordinate => wit::Permission::Coordinate,
    }
}

pub(super) fn role_in(r: wit::Role) -> domain::Role {
    match r {
        wit::Role::Coordinator => domain::Role::Coordinator,
        wit::Role::Worker => domain::Role::Worker,
        wit::Role::Observer => domain::Role::Observer,
    }
}

pub(super) fn role_out(r: domain::Role) -> wit::Role {
    match r {
        domain::Role::Coordinator => wit::Role::Coordinator,
        domain::Role::Worker => wit::Role::Worker,
        domain::Role::Observer => wit::Role::Observer,
    }
}

pub(super) fn spec_in(s: wit::ParticipantSpec) -> domain::ParticipantSpec {
    domain::ParticipantSpec {
        agent: s.agent,
        role: role_in(s.role),
        permissions: s
            .permissions
            .map(|list| list.into_iter().map(permission_in).collect()),
    }
}

pub(super) fn participant_out(p: domain::Participant) -> wit::Participant {
    wit::Participant {
        agent: p.agent,
        role: role_out(p.role),
        permissions: p.permissions.into_iter().map(permission_out).collect(),
    }
}

pub(super) fn strategy_in(s: wit::Strategy) -> domain::Strategy {
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

pub(super) fn strategy_out(s: domain::Strategy) -> wit::Strategy {
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

pub(super) fn slot_status_in(s: wit::SlotStatus) -> domain::SlotStatus {
    match s {
        wit::SlotStatus::Idle => domain::SlotStatus::Idle,
        wit::SlotStatus::Working => domain::SlotStatus::Working,
        wit::SlotStatus::Done => domain::SlotStatus::Done,
        wit::SlotStatus::Failed => domain::SlotStatus::Failed,
    }
}

pub(super) fn slot_status_out(s: domain::SlotStatus) -> wit::SlotStatus {
    match s {
        domain::SlotStatus::Idle => wit::SlotStatus::Idle,
        domain::SlotStatus::Working => wit::SlotStatus::Working,
        domain::SlotStatus::Done => wit::SlotStatus::Done,
        domain::SlotStatus::Failed => wit::SlotStatus::Failed,
    }
}

pub(super) fn draft_in(d: wit::ArtifactDraft) -> domain::ArtifactDraft {
    domain::ArtifactDraft {
        kind: d.kind,
        content: d.content,
        metadata: d.metadata,
    }
}

pub(super) fn merge_in(m: wit::MergeRequest) -> domain::MergeRequest {
    domain::MergeRequest {
        draft: domain::ArtifactDraft {
            kind: m.kind,
            content: m.content,
            metadata: m.metadata,
        },
        sources: m.sources,
    }
}

pub(super) fn fact_draft_in(d: wit::FactDraft) -> domain::FactDraft {
    domain::FactDraft {
        content: d.content,
        confidence: d.confidence,
        tags: d.tags,
    }
}

pub(super) fn query_in(q: wit::FactQuery) -> domain::FactQuery {
    domain::FactQuery {
        tag: q.tag,
        text: q.text,
    }
}

pub(super) fn artifact_out(a: domain::Artifact) -> wit::Artifact {
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

pub(super) fn slot_out(s: domain::SlotContents) -> wit::Slot {
    wit::Slot {
        agent: s.agent,
        status: slot_status_out(s.status),
        artifacts: s.artifacts.into_iter().map(artifact_out).collect(),
    }
}

pub(super) fn fact_out(arena: &str, f: domain::Fact) -> wit::Fact {
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

pub(super) fn outcome_out(o: domain::Outcome) -> wit::Outcome {
    match o {
        domain::Outcome::Completed => wit::Outcome::Completed,
        domain::Outcome::Aborted(reason) => wit::Outcome::Aborted(reason),
    }
}

pub(super) fn report_out(served: domain::ServedReport) -> wit::SettleReport {
    let r = served.recorded;
    wit::SettleReport {
        result: served.result,
        head_seq: served.head_seq,
        head_hash: served.head_hash,
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

pub(super) fn aggregate_out(a: &aggregate::Aggregate, participants: Vec<String>) -> wit::Aggregate {
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

pub(super) fn info_out(a: domain::Arena) -> wit::ArenaInfo {
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

pub(super) fn event_in(e: wit::Event) -> events::Event {
    events::Event {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        payload: e.payload,
        hash: e.hash,
    }
}

pub(super) fn event_out(e: events::Event) -> wit::Event {
    wit::Event {
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        payload: e.payload,
        hash: e.hash,
    }
}
