//! The reference model: what the arena must accept or refuse, and what it holds afterwards, written
//! from the rules in DESIGN.md in plain Rust — no code shared with the component. Peer arenas only.

use std::collections::{BTreeMap, BTreeSet};

use arena_host::Operation;
use arena_host::types::{
    ArenaConfig, ArenaError, ArenaStatus, ArtifactDraft, FactDraft, ParticipantSpec, Permission,
    Role, SlotStatus,
};

use ArenaStatus::{Active, Archived, Created, Settling};

/// An error as the model predicts it: the variant, and the detail that must match exactly.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    NotFound,
    Transition(ArenaStatus, ArenaStatus),
    State,
    Denied(Permission),
    Input,
    Limit(u64),
    AlreadyDone,
}

impl Refusal {
    /// The model's view of an error the arena returned; `None` for `conflict` and `storage`, which
    /// the model never predicts.
    pub fn of(e: &ArenaError) -> Option<Refusal> {
        Some(match e {
            ArenaError::NotFound => Refusal::NotFound,
            ArenaError::InvalidTransition(t) => Refusal::Transition(t.from, t.to),
            ArenaError::InvalidState(_) => Refusal::State,
            ArenaError::PermissionDenied(p) => Refusal::Denied(*p),
            ArenaError::InvalidInput(_) => Refusal::Input,
            ArenaError::LimitExceeded(l) => Refusal::Limit(l.limit),
            ArenaError::AlreadyDone => Refusal::AlreadyDone,
            ArenaError::Conflict | ArenaError::Storage(_) => return None,
        })
    }
}

type Outcome = Result<(), Refusal>;

/// The six permissions as a bit set, in declaration order.
pub fn bits(permissions: &[Permission]) -> u8 {
    permissions.iter().fold(0, |set, p| set | (1 << *p as u8))
}

fn role_bits(role: Role) -> u8 {
    use Permission::*;
    match role {
        Role::Coordinator => bits(&[
            Observe, ReadSlots, Contribute, ShareFacts, Steer, Coordinate,
        ]),
        Role::Worker => bits(&[Observe, ReadSlots, Contribute, ShareFacts]),
        Role::Observer => bits(&[Observe, ReadSlots]),
    }
}

/// One arena as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ArenaModel {
    pub status: ArenaStatus,
    pub goal: String,
    pub total: u32,
    /// Current participants: role and permission bits.
    pub participants: BTreeMap<String, (Role, u8)>,
    /// Everyone who ever participated (each has a slot and a progress entry).
    pub ever: BTreeSet<String>,
    pub done: BTreeSet<u32>,
    pub steps_by: BTreeMap<String, u32>,
    pub notes: BTreeMap<String, String>,
    /// Slot status and artifact count per agent.
    pub slots: BTreeMap<String, (SlotStatus, usize)>,
    pub artifacts: BTreeSet<String>,
    pub facts: usize,
    pub last_seq: u64,
    /// (actor, key) → the operation (`None`: the arena's keyed creation) and the sequence number
    /// it ended at.
    pub keys: BTreeMap<(String, String), (Option<Operation>, u64)>,
}

/// Every arena, and the keyed creations.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub arenas: BTreeMap<String, ArenaModel>,
    /// (creator, key) → the config and the arena it created.
    pub created: BTreeMap<(String, String), (ArenaConfig, String)>,
    /// The arenas' ids in the order they were created.
    pub ids: Vec<String>,
}

/// Free text: 1 to `max` bytes, not only whitespace, no control characters but tab and line breaks.
fn text(value: &str, max: usize) -> Outcome {
    if value.len() > max {
        return Err(Refusal::Limit(max as u64));
    }
    let control = value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    if value.trim().is_empty() || control {
        return Err(Refusal::Input);
    }
    Ok(())
}

/// A label (tag): 1 to `max` bytes, no control characters, no surrounding spaces.
fn label(value: &str, max: usize) -> Outcome {
    if value.len() > max {
        return Err(Refusal::Limit(max as u64));
    }
    if value.is_empty() || value.trim() != value || value.chars().any(char::is_control) {
        return Err(Refusal::Input);
    }
    Ok(())
}

pub fn agent_id(agent: &str) -> Outcome {
    if agent.len() > 128 {
        return Err(Refusal::Limit(128));
    }
    if agent.trim().is_empty() || agent.chars().any(char::is_control) {
        return Err(Refusal::Input);
    }
    Ok(())
}

pub fn key(key: &str) -> Outcome {
    if key.len() > 128 {
        return Err(Refusal::Limit(128));
    }
    if key.is_empty() || key.chars().any(char::is_control) {
        return Err(Refusal::Input);
    }
    Ok(())
}

/// A canonical lowercase UUID.
pub fn arena_id(id: &str) -> Outcome {
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let parts: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lengths == [8, 4, 4, 4, 12] && parts.iter().all(|p| hex(p)) {
        Ok(())
    } else {
        Err(Refusal::Input)
    }
}

/// A participant spec resolved to its role and permission bits.
fn resolve(spec: &ParticipantSpec) -> Result<u8, Refusal> {
    agent_id(&spec.agent)?;
    let preset = role_bits(spec.role);
    match &spec.permissions {
        None => Ok(preset),
        Some(list) if list.is_empty() => Err(Refusal::Input),
        Some(list) if bits(list) & !preset != 0 => Err(Refusal::Input),
        Some(list) => Ok(bits(list)),
    }
}

fn artifact_draft(draft: &ArtifactDraft) -> Outcome {
    if draft.kind.len() > 32 {
        return Err(Refusal::Limit(32));
    }
    let kind_ok = !draft.kind.is_empty()
        && draft
            .kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !kind_ok {
        return Err(Refusal::Input);
    }
    text(&draft.content, 64 << 10)?;
    if draft.kind == "structured"
        && serde_json::from_str::<serde_json::Value>(&draft.content).is_err()
    {
        return Err(Refusal::Input);
    }
    // The generator's metadata is always within bounds.
    Ok(())
}

fn fact_draft(draft: &FactDraft) -> Outcome {
    text(&draft.content, 4096)?;
    if !(0.0..=1.0).contains(&draft.confidence) {
        return Err(Refusal::Input);
    }
    if draft.tags.len() > 8 {
        return Err(Refusal::Limit(8));
    }
    for (i, tag) in draft.tags.iter().enumerate() {
        label(tag, 64)?;
        if draft.tags[..i].contains(tag) {
            return Err(Refusal::Input);
        }
    }
    Ok(())
}

impl Model {
    /// `create` (with `key` when given): the id of the arena it must return, `None` when the
    /// arena mints a new one; or the refusal.
    pub fn create(
        &self,
        config: &ArenaConfig,
        keyed: Option<&str>,
    ) -> Result<Option<String>, Refusal> {
        if let Some(k) = keyed {
            key(k)?;
        }
        text(&config.goal, 4096)?;
        agent_id(&config.created_by)?;
        if config.total_steps == 0 {
            return Err(Refusal::Input);
        }
        if config.total_steps > 100_000 {
            return Err(Refusal::Limit(100_000));
        }
        if config.participants.len() > 64 {
            return Err(Refusal::Limit(64));
        }
        let mut joined: BTreeMap<&str, u8> = BTreeMap::new();
        for spec in &config.participants {
            let granted = resolve(spec)?;
            if joined.insert(&spec.agent, granted).is_some() {
                return Err(Refusal::Input);
            }
        }
        let coordinator = match &config.strategy {
            arena_host::types::Strategy::Peer(c) => c.as_str(),
            arena_host::types::Strategy::Pipeline(p) => p.coordinator.as_str(),
        };
        let coordinates = 1 << Permission::Coordinate as u8;
        if joined.get(coordinator).is_none_or(|b| b & coordinates == 0) {
            return Err(Refusal::Input);
        }
        let Some(k) = keyed else { return Ok(None) };
        match self
            .created
            .get(&(config.created_by.clone(), k.to_string()))
        {
            Some((first, id)) if first == config => Ok(Some(id.clone())),
            Some(_) => Err(Refusal::Input),
            None => Ok(None),
        }
    }

    /// Records the arena `create` made.
    pub fn created(&mut self, id: &str, config: &ArenaConfig, keyed: Option<&str>) {
        if let Some(k) = keyed {
            let slot = (config.created_by.clone(), k.to_string());
            if self.created.contains_key(&slot) {
                return;
            }
            self.created.insert(slot, (config.clone(), id.to_string()));
        }
        let mut arena = ArenaModel {
            status: Created,
            goal: config.goal.clone(),
            total: config.total_steps,
            participants: BTreeMap::new(),
            ever: BTreeSet::new(),
            done: BTreeSet::new(),
            steps_by: BTreeMap::new(),
            notes: BTreeMap::new(),
            slots: BTreeMap::new(),
            artifacts: BTreeSet::new(),
            facts: 0,
            last_seq: 1 + config.participants.len() as u64,
            keys: BTreeMap::new(),
        };
        for spec in &config.participants {
            let granted = resolve(spec).expect("a created arena's participants resolve");
            arena.join(&spec.agent, spec.role, granted);
        }
        if let Some(k) = keyed {
            // The creation remembers its key too, as its creator's.
            let slot = (config.created_by.clone(), k.to_string());
            arena.keys.insert(slot, (None, arena.last_seq));
        }
        if self.arenas.insert(id.to_string(), arena).is_none() {
            self.ids.push(id.to_string());
        }
    }

    /// `perform(arena, actor, key, op)`: `Ok(Some(seq))` for a keyed retry answered with the arena
    /// after event `seq` (nothing written), `Ok(None)` when applied (the model moves on), or the
    /// refusal (nothing changes).
    pub fn perform(
        &mut self,
        id: &str,
        actor: &str,
        keyed: Option<&str>,
        op: &Operation,
    ) -> Result<Option<u64>, Refusal> {
        agent_id(actor)?;
        if let Some(k) = keyed {
            key(k)?;
        }
        arena_id(id)?;
        let arena = self.arenas.get_mut(id).ok_or(Refusal::NotFound)?;
        if let Some(k) = keyed
            && let Some((first, seq)) = arena.keys.get(&(actor.to_string(), k.to_string()))
        {
            return if first.as_ref() == Some(op) {
                Ok(Some(*seq))
            } else {
                Err(Refusal::Input)
            };
        }
        arena.decide(actor, op)?;
        arena.last_seq += 1;
        arena.apply(actor, op);
        if let Some(k) = keyed {
            let seq = arena.last_seq;
            arena
                .keys
                .insert((actor.to_string(), k.to_string()), (Some(op.clone()), seq));
        }
        Ok(None)
    }
}

impl ArenaModel {
    /// The current participants holding `permission`.
    pub fn holding(&self, permission: Permission) -> Vec<String> {
        self.participants
            .iter()
            .filter(|(_, (_, granted))| granted & (1 << permission as u8) != 0)
            .map(|(agent, _)| agent.clone())
            .collect()
    }

    fn join(&mut self, agent: &str, role: Role, granted: u8) {
        self.participants.insert(agent.to_string(), (role, granted));
        self.ever.insert(agent.to_string());
        self.slots
            .entry(agent.to_string())
            .or_insert((SlotStatus::Idle, 0));
        self.steps_by.entry(agent.to_string()).or_insert(0);
    }

    fn require(&self, actor: &str, permission: Permission) -> Outcome {
        match self.participants.get(actor) {
            Some((_, granted)) if granted & (1 << permission as u8) != 0 => Ok(()),
            _ => Err(Refusal::Denied(permission)),
        }
    }

    fn state(&self, allowed: &[ArenaStatus]) -> Outcome {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(Refusal::State)
        }
    }

    fn transition(&self, from: &[ArenaStatus], to: ArenaStatus) -> Outcome {
        if from.contains(&self.status) {
            Ok(())
        } else {
            Err(Refusal::Transition(self.status, to))
        }
    }

    fn room(&self, actor: &str) -> Outcome {
        if self.slots.get(actor).map_or(0, |s| s.1) + 1 > 64 {
            return Err(Refusal::Limit(64));
        }
        Ok(())
    }

    /// Whether `actor` may perform `op` now: the permission, then the state, then the arguments.
    fn decide(&self, actor: &str, op: &Operation) -> Outcome {
        use Permission::*;
        match op {
            Operation::Leave => {
                self.require(actor, Observe)?;
                self.state(&[Created, Active])?;
                let coordinates = 1 << Coordinate as u8;
                let coordinators = self
                    .participants
                    .values()
                    .filter(|(_, b)| b & coordinates != 0)
                    .count();
                if self.participants[actor].1 & coordinates != 0 && coordinators == 1 {
                    return Err(Refusal::State);
                }
            }
            Operation::CompleteStep(step) => {
                self.require(actor, Contribute)?;
                self.state(&[Active])?;
                if *step == 0 || *step > self.total {
                    return Err(Refusal::Input);
                }
                if self.done.contains(step) {
                    return Err(Refusal::AlreadyDone);
                }
            }
            Operation::ReportProgress(note) => {
                self.require(actor, Contribute)?;
                self.state(&[Active])?;
                text(note, 4096)?;
            }
            Operation::UpdateGoal(goal) => {
                self.require(actor, Steer)?;
                self.state(&[Created, Active])?;
                text(goal, 4096)?;
            }
            Operation::Activate => {
                self.require(actor, Coordinate)?;
                self.transition(&[Created], Active)?;
            }
            Operation::Settle => {
                self.require(actor, Coordinate)?;
                self.transition(&[Active], Settling)?;
            }
            Operation::Archive => {
                self.require(actor, Coordinate)?;
                self.transition(&[Settling], Archived)?;
            }
            Operation::Abort(reason) => {
                self.require(actor, Coordinate)?;
                self.transition(&[Created, Active, Settling], Archived)?;
                text(reason, 1024)?;
            }
            Operation::Invite(spec) => {
                self.require(actor, Coordinate)?;
                self.state(&[Created, Active])?;
                resolve(spec)?;
                if self.participants.contains_key(&spec.agent) {
                    return Err(Refusal::Input);
                }
                if !self.ever.contains(&spec.agent) && self.ever.len() + 1 > 64 {
                    return Err(Refusal::Limit(64));
                }
            }
            Operation::PutArtifact(draft) => {
                self.require(actor, Contribute)?;
                self.state(&[Active])?;
                artifact_draft(draft)?;
                self.room(actor)?;
            }
            Operation::SetSlotStatus(status) => {
                self.require(actor, Contribute)?;
                self.state(&[Active])?;
                if self.slots.get(actor).map(|s| s.0) == Some(*status) {
                    return Err(Refusal::AlreadyDone);
                }
            }
            Operation::Merge(request) => {
                self.require(actor, Coordinate)?;
                self.state(&[Active, Settling])?;
                artifact_draft(&ArtifactDraft {
                    kind: request.kind.clone(),
                    content: request.content.clone(),
                    metadata: request.metadata.clone(),
                })?;
                let sources = &request.sources;
                if sources.is_empty() {
                    return Err(Refusal::Input);
                }
                if sources.len() > 64 {
                    return Err(Refusal::Limit(64));
                }
                for (i, source) in sources.iter().enumerate() {
                    if sources[..i].contains(source) || !self.artifacts.contains(source) {
                        return Err(Refusal::Input);
                    }
                }
                self.room(actor)?;
            }
            Operation::AddFact(draft) => {
                self.require(actor, ShareFacts)?;
                self.state(&[Active])?;
                fact_draft(draft)?;
                if self.facts + 1 > 256 {
                    return Err(Refusal::Limit(256));
                }
            }
        }
        Ok(())
    }

    /// What `op`, decided, changes; `last_seq` is already its event's.
    fn apply(&mut self, actor: &str, op: &Operation) {
        match op {
            Operation::Leave => {
                self.participants.remove(actor);
            }
            Operation::CompleteStep(step) => {
                self.done.insert(*step);
                *self.steps_by.entry(actor.to_string()).or_default() += 1;
            }
            Operation::ReportProgress(note) => {
                self.notes.insert(actor.to_string(), note.clone());
            }
            Operation::UpdateGoal(goal) => self.goal = goal.clone(),
            Operation::Activate => self.status = Active,
            Operation::Settle => self.status = Settling,
            Operation::Archive | Operation::Abort(_) => self.status = Archived,
            Operation::Invite(spec) => {
                let granted = resolve(spec).expect("decided");
                self.join(&spec.agent, spec.role, granted);
            }
            Operation::PutArtifact(_) | Operation::Merge(_) => {
                self.slots
                    .entry(actor.to_string())
                    .or_insert((SlotStatus::Idle, 0))
                    .1 += 1;
                self.artifacts.insert(format!("art-{}", self.last_seq));
            }
            Operation::SetSlotStatus(status) => {
                self.slots
                    .entry(actor.to_string())
                    .or_insert((SlotStatus::Idle, 0))
                    .0 = *status;
            }
            Operation::AddFact(_) => self.facts += 1,
        }
    }
}
