//! Folding events into the state: the one function both a live operation and replay use.

use crate::aggregate::Aggregate;
use crate::facts::fact_id;
use crate::slots::{artifact_digest, artifact_id};
use crate::types::{Arena, ArenaStatus, ArtifactEntry, Fact, Outcome, Participant, SettleReport};

use super::chain::check_link;
use super::change::{Change, Event, Keyed, ReplayError};

/// Folds one event into the state (`None` before the first event) and returns the new state.
///
/// Checks the sequence and the chain, then applies the change without re-checking permissions: the
/// manager validated it before it was appended.
pub fn apply(state: Option<Arena>, event: &Event) -> Result<Arena, ReplayError> {
    check_link(state.as_ref(), event)?;
    let (change, key) = Change::decode_with_key(event)?;
    let keyed = key
        .as_ref()
        .map(|(key, digest)| (key.as_str(), digest.as_deref()));
    fold(state, event, change, keyed)
}

/// Folds an event the caller has just sealed from `change` with idempotency `key` (so its link and
/// its payload are known good): the same fold as [`apply`], without hashing and decoding again what
/// was just encoded.
pub fn apply_sealed(
    state: Option<Arena>,
    event: &Event,
    change: Change,
    key: Option<Keyed<'_>>,
) -> Result<Arena, ReplayError> {
    fold(state, event, change, key.map(|k| (k.key, Some(k.digest))))
}

/// Folds `change`, carried by `event`, into the state: what every event does to an arena. `key` is
/// the idempotency key the event carries, with its operation's digest if it records one.
fn fold(
    state: Option<Arena>,
    event: &Event,
    change: Change,
    key: Option<(&str, Option<&str>)>,
) -> Result<Arena, ReplayError> {
    let inapplicable = || ReplayError::Inapplicable {
        seq: event.seq,
        kind: event.kind.clone(),
    };
    let mut arena = match (state, change) {
        (
            None,
            Change::ArenaCreated {
                id,
                goal,
                total_steps,
                strategy,
                created_by,
            },
        ) => Arena {
            id,
            goal,
            status: ArenaStatus::Created,
            outcome: None,
            strategy,
            participants: Default::default(),
            aggregate: Aggregate::new(total_steps),
            created_by,
            created_at: event.at.clone(),
            keys: Default::default(),
            slots: Default::default(),
            facts: Default::default(),
            log_bytes: Some(0),
            last_seq: 0,
            last_hash: String::new(),
        },
        (None, _) | (Some(_), Change::ArenaCreated { .. }) => return Err(inapplicable()),
        (Some(mut arena), change) => {
            match change {
                Change::ArenaCreated { .. } => return Err(inapplicable()),
                Change::ArenaForked {
                    id,
                    parent,
                    seq,
                    parent_hash,
                } => {
                    if arena.id != parent || arena.last_seq != seq || arena.last_hash != parent_hash
                    {
                        return Err(inapplicable());
                    }
                    arena.id = id;
                    arena.created_by = event.actor.clone();
                    arena.created_at = event.at.clone();
                    arena.keys.clear();
                    arena.outcome = None;
                    if arena.status != ArenaStatus::Created {
                        arena.status = ArenaStatus::Active;
                    }
                }
                Change::AgentJoined {
                    agent,
                    role,
                    permissions,
                } => {
                    arena.aggregate.enrol(&agent);
                    arena.participants.insert(
                        agent.clone(),
                        Participant {
                            agent,
                            role,
                            permissions: permissions.into_iter().collect(),
                        },
                    );
                }
                Change::AgentLeft { agent } => {
                    if arena.participants.remove(&agent).is_none() {
                        return Err(inapplicable());
                    }
                }
                Change::ArenaActivated {} => arena.status = ArenaStatus::Active,
                Change::ArenaSettling {} => arena.status = ArenaStatus::Settling,
                Change::ArenaArchived { report } => {
                    archive(&mut arena, Outcome::Completed, report, event.seq)
                        .map_err(|()| inapplicable())?;
                }
                Change::ArenaAborted { reason, report } => {
                    archive(&mut arena, Outcome::Aborted(reason), report, event.seq)
                        .map_err(|()| inapplicable())?;
                }
                Change::StepCompleted { step } => {
                    if !arena.aggregate.complete(step, &event.actor) {
                        return Err(inapplicable());
                    }
                }
                Change::ProgressReported { note } => arena.aggregate.note(&event.actor, &note),
                Change::GoalUpdated { goal } => arena.goal = goal,
                Change::ArtifactPut {
                    kind,
                    content,
                    metadata,
                } => {
                    let digest = artifact_digest(&content, &metadata);
                    store_artifact(&mut arena, event, kind, (content.len(), digest), Vec::new())
                        .map_err(|()| inapplicable())?;
                }
                Change::ArtifactMerged {
                    kind,
                    content,
                    metadata,
                    sources,
                } => {
                    if sources.iter().any(|s| arena.find_artifact(s).is_none()) {
                        return Err(inapplicable());
                    }
                    let digest = artifact_digest(&content, &metadata);
                    store_artifact(&mut arena, event, kind, (content.len(), digest), sources)
                        .map_err(|()| inapplicable())?;
                }
                Change::SlotUpdated { status } => {
                    if !arena.aggregate.progress.contains_key(&event.actor) {
                        return Err(inapplicable());
                    }
                    arena.slots.entry(event.actor.clone()).or_default().status = status;
                }
                Change::FactAdded {
                    content,
                    confidence,
                    tags,
                } => arena.facts.push(Fact {
                    id: fact_id(event.seq),
                    content,
                    confidence,
                    tags,
                    source: event.actor.clone(),
                    created_at: event.at.clone(),
                    seq: event.seq,
                }),
            }
            arena
        }
    };
    if let Some((key, digest)) = key {
        arena.remember_key(&event.actor, key, event.seq, digest);
    }
    // A state loaded without a count (written before the log had a bound) keeps none: the manager
    // counts the log when it loads such a state, so only replay reaches this with `None`.
    arena.log_bytes = arena.log_bytes.map(|bytes| bytes + event.log_bytes());
    arena.last_seq = event.seq;
    arena.last_hash = event.hash.clone();
    Ok(arena)
}

/// Archives `arena` with `outcome` by event `seq`. A report the event recorded must be the one the
/// state yields.
fn archive(
    arena: &mut Arena,
    outcome: Outcome,
    recorded: Option<SettleReport>,
    seq: u64,
) -> Result<(), ()> {
    if recorded.is_some_and(|r| r != SettleReport::of(arena, outcome.clone(), seq)) {
        return Err(());
    }
    arena.status = ArenaStatus::Archived;
    arena.outcome = Some(outcome);
    Ok(())
}

/// Adds the artifact stored by `event` to its actor's slot; the actor must have participated.
fn store_artifact(
    arena: &mut Arena,
    event: &Event,
    kind: String,
    (bytes, digest): (usize, String),
    sources: Vec<String>,
) -> Result<(), ()> {
    if !arena.aggregate.progress.contains_key(&event.actor) {
        return Err(());
    }
    arena
        .slots
        .entry(event.actor.clone())
        .or_default()
        .artifacts
        .push(ArtifactEntry {
            id: artifact_id(event.seq),
            kind,
            seq: event.seq,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            sources,
            digest: Some(digest),
        });
    Ok(())
}

/// Replays a whole log from event 1.
pub fn replay<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Option<Arena>, ReplayError> {
    let mut state = None;
    for event in events {
        state = Some(apply(state, event)?);
    }
    Ok(state)
}
