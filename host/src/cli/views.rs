//! What `--json` prints: borrowed views of the WIT types, serialized with serde. Names are the WIT's
//! (kebab-case fields, enum values by name), and objects print with their keys sorted (see
//! [`super::render::Output::json`]), as they always have.

use serde::{Serialize, Serializer};
use serde_json::Value;

use arena_host::VerifyReport;
use arena_host::types::{
    AgentProgress, Aggregate, ArenaInfo, Artifact, Contribution, Event, Fact, Participant,
    Pipeline, SettleReport, Slot, SlotInfo, Stage, StepRange, Strategy,
};

/// An arena, as `show` and `list` print it.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct InfoView<'a> {
    id: &'a str,
    goal: &'a str,
    status: &'static str,
    outcome: Option<String>,
    strategy: StrategyView<'a>,
    participants: Vec<ParticipantView<'a>>,
    aggregate: AggregateView<'a>,
    created_by: &'a str,
    created_at: &'a str,
    last_seq: u64,
    report: Option<ReportView<'a>>,
}

impl<'a> From<&'a ArenaInfo> for InfoView<'a> {
    fn from(info: &'a ArenaInfo) -> Self {
        InfoView {
            id: &info.id,
            goal: &info.goal,
            status: info.status.name(),
            outcome: info.outcome.as_ref().map(ToString::to_string),
            strategy: (&info.strategy).into(),
            participants: info.participants.iter().map(Into::into).collect(),
            aggregate: (&info.aggregate).into(),
            created_by: &info.created_by,
            created_at: &info.created_at,
            last_seq: info.last_seq,
            report: info.report.as_ref().map(Into::into),
        }
    }
}

/// A strategy: `{"peer": COORDINATOR}` or `{"pipeline": {...}}`.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum StrategyView<'a> {
    Peer(&'a str),
    Pipeline(PipelineView<'a>),
}

impl<'a> From<&'a Strategy> for StrategyView<'a> {
    fn from(strategy: &'a Strategy) -> Self {
        match strategy {
            Strategy::Peer(coordinator) => StrategyView::Peer(coordinator),
            Strategy::Pipeline(Pipeline {
                coordinator,
                stages,
            }) => StrategyView::Pipeline(PipelineView {
                coordinator,
                stages: stages.iter().map(Into::into).collect(),
            }),
        }
    }
}

#[derive(Serialize)]
struct PipelineView<'a> {
    coordinator: &'a str,
    stages: Vec<StageView<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct StageView<'a> {
    agent: &'a str,
    steps: Vec<RangeView>,
    depends_on: &'a [String],
}

impl<'a> From<&'a Stage> for StageView<'a> {
    fn from(stage: &'a Stage) -> Self {
        StageView {
            agent: &stage.agent,
            steps: stage.steps.iter().map(Into::into).collect(),
            depends_on: &stage.depends_on,
        }
    }
}

#[derive(Serialize)]
struct RangeView {
    first: u32,
    last: u32,
}

impl From<&StepRange> for RangeView {
    fn from(range: &StepRange) -> Self {
        RangeView {
            first: range.first,
            last: range.last,
        }
    }
}

/// A participant: agent, role and permissions by name.
#[derive(Serialize)]
pub(crate) struct ParticipantView<'a> {
    agent: &'a str,
    role: &'static str,
    permissions: Vec<&'static str>,
}

impl<'a> From<&'a Participant> for ParticipantView<'a> {
    fn from(p: &'a Participant) -> Self {
        ParticipantView {
            agent: &p.agent,
            role: p.role.name(),
            permissions: p.permissions.iter().map(|p| p.name()).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct AggregateView<'a> {
    completed_steps: u32,
    total_steps: u32,
    participants: &'a [String],
    progress: Vec<ProgressView<'a>>,
}

impl<'a> From<&'a Aggregate> for AggregateView<'a> {
    fn from(aggregate: &'a Aggregate) -> Self {
        AggregateView {
            completed_steps: aggregate.completed_steps,
            total_steps: aggregate.total_steps,
            participants: &aggregate.participants,
            progress: aggregate.progress.iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ProgressView<'a> {
    agent: &'a str,
    steps_completed: u32,
    note: Option<&'a str>,
}

impl<'a> From<&'a AgentProgress> for ProgressView<'a> {
    fn from(p: &'a AgentProgress) -> Self {
        ProgressView {
            agent: &p.agent,
            steps_completed: p.steps_completed,
            note: p.note.as_deref(),
        }
    }
}

/// A settle report.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ReportView<'a> {
    outcome: String,
    completed_steps: u32,
    total_steps: u32,
    facts: u32,
    artifacts: u32,
    merges: u32,
    events: u64,
    contributions: Vec<ContributionView<'a>>,
    result: Option<&'a str>,
    head_seq: u64,
    head_hash: &'a str,
}

impl<'a> From<&'a SettleReport> for ReportView<'a> {
    fn from(r: &'a SettleReport) -> Self {
        ReportView {
            outcome: r.outcome.to_string(),
            completed_steps: r.completed_steps,
            total_steps: r.total_steps,
            facts: r.facts,
            artifacts: r.artifacts,
            merges: r.merges,
            events: r.events,
            contributions: r.contributions.iter().map(Into::into).collect(),
            result: r.result.as_deref(),
            head_seq: r.head_seq,
            head_hash: &r.head_hash,
        }
    }
}

#[derive(Serialize)]
struct ContributionView<'a> {
    agent: &'a str,
    steps: u32,
    artifacts: u32,
    facts: u32,
}

impl<'a> From<&'a Contribution> for ContributionView<'a> {
    fn from(c: &'a Contribution) -> Self {
        ContributionView {
            agent: &c.agent,
            steps: c.steps,
            artifacts: c.artifacts,
            facts: c.facts,
        }
    }
}

/// An artifact, content and metadata included.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ArtifactView<'a> {
    id: &'a str,
    author: &'a str,
    kind: &'a str,
    content: &'a str,
    #[serde(serialize_with = "metadata_object")]
    metadata: &'a [(String, String)],
    sources: &'a [String],
    created_at: &'a str,
    seq: u64,
}

impl<'a> From<&'a Artifact> for ArtifactView<'a> {
    fn from(a: &'a Artifact) -> Self {
        ArtifactView {
            id: &a.id,
            author: &a.author,
            kind: &a.kind,
            content: &a.content,
            metadata: &a.metadata,
            sources: &a.sources,
            created_at: &a.created_at,
            seq: a.seq,
        }
    }
}

/// Metadata pairs as one JSON object.
fn metadata_object<S: Serializer>(
    metadata: &&[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(metadata.iter().map(|(k, v)| (k, v)))
}

/// A slot with its artifacts, content included.
#[derive(Serialize)]
pub(crate) struct SlotView<'a> {
    agent: &'a str,
    status: &'static str,
    artifacts: Vec<ArtifactView<'a>>,
}

impl<'a> From<&'a Slot> for SlotView<'a> {
    fn from(slot: &'a Slot) -> Self {
        SlotView {
            agent: &slot.agent,
            status: slot.status.name(),
            artifacts: slot.artifacts.iter().map(Into::into).collect(),
        }
    }
}

/// A slot without content: owner, status, artifact ids.
#[derive(Serialize)]
pub(crate) struct SlotInfoView<'a> {
    agent: &'a str,
    status: &'static str,
    artifacts: &'a [String],
}

impl<'a> From<&'a SlotInfo> for SlotInfoView<'a> {
    fn from(slot: &'a SlotInfo) -> Self {
        SlotInfoView {
            agent: &slot.agent,
            status: slot.status.name(),
            artifacts: &slot.artifacts,
        }
    }
}

/// A shared fact.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct FactView<'a> {
    id: &'a str,
    arena: &'a str,
    content: &'a str,
    confidence: f64,
    tags: &'a [String],
    source: &'a str,
    created_at: &'a str,
    seq: u64,
}

impl<'a> From<&'a Fact> for FactView<'a> {
    fn from(f: &'a Fact) -> Self {
        FactView {
            id: &f.id,
            arena: &f.arena,
            content: &f.content,
            confidence: f.confidence,
            tags: &f.tags,
            source: &f.source,
            created_at: &f.created_at,
            seq: f.seq,
        }
    }
}

/// An event, its payload parsed (or as a string if it is not JSON).
#[derive(Serialize)]
pub(crate) struct EventView<'a> {
    seq: u64,
    ts: &'a str,
    actor: &'a str,
    kind: &'a str,
    payload: Value,
    hash: &'a str,
}

impl<'a> From<&'a Event> for EventView<'a> {
    fn from(event: &'a Event) -> Self {
        EventView {
            seq: event.seq,
            ts: &event.at,
            actor: &event.actor,
            kind: &event.kind,
            payload: serde_json::from_str(&event.payload)
                .unwrap_or_else(|_| Value::String(event.payload.clone())),
            hash: &event.hash,
        }
    }
}

/// What `verify` found: the events walked and, if the log and the stored state disagree, why.
#[derive(Serialize)]
pub(crate) struct Verified<'a> {
    id: &'a str,
    events: u64,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
}

impl<'a> Verified<'a> {
    pub(crate) fn new(id: &'a str, report: &'a VerifyReport) -> Self {
        Verified {
            id,
            events: report.events,
            ok: report.problem.is_none(),
            problem: report.problem.as_deref(),
        }
    }
}
