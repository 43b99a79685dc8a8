//! The operator's commands on whole arenas: `create`, `list`, `show`, `verify`.

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use arena_host::default_coordinator;
use arena_host::types::{ArenaConfig, Pipeline, Stage, Strategy};

use super::Session;
use super::args::{StrategyArg, parse_participant};
use super::views::{InfoView, Verified};

/// What `create` was asked for.
pub(crate) struct NewArena {
    pub(crate) goal: String,
    pub(crate) steps: u32,
    pub(crate) participants: Vec<String>,
    pub(crate) coordinator: Option<String>,
    pub(crate) strategy: StrategyArg,
    pub(crate) stages: Vec<Stage>,
    pub(crate) creator: String,
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
}

/// `create`: creates the arena and prints its id.
pub(crate) fn create(s: &Session, new: NewArena) -> Result<()> {
    let participants = new
        .participants
        .iter()
        .map(|p| parse_participant(p))
        .collect::<Result<Vec<_>>>()?;
    let coordinator = match new.coordinator {
        Some(c) => c,
        None => default_coordinator(&participants)
            .ok_or_else(|| anyhow!("an arena needs a participant with the coordinator role"))?
            .to_string(),
    };
    let strategy = match new.strategy {
        StrategyArg::Peer => Strategy::Peer(coordinator),
        StrategyArg::Pipeline => Strategy::Pipeline(Pipeline {
            coordinator,
            stages: new.stages,
        }),
    };
    let config = ArenaConfig {
        goal: new.goal,
        total_steps: new.steps,
        strategy,
        participants,
        created_by: new.creator,
    };
    let id = match s.key.as_deref() {
        Some(key) => s.host.create_keyed(&config, key)?,
        None => s.host.create(&config)?,
    };
    s.out.value(&Created { id: &id }, &id)
}

/// `list`: every arena, one a line; with `--agent`, the ids of the non-archived arenas it is in.
pub(crate) fn list(s: &Session, agent: Option<String>) -> Result<()> {
    if let Some(agent) = agent {
        let ids = s.host.active_arenas_for(&agent)?;
        if s.out.json {
            return s.out.json(&ids);
        }
        ids.iter().for_each(|id| println!("{id}"));
        return Ok(());
    }
    for info in s.host.arenas() {
        let info = info?;
        if s.out.json {
            s.out.json(&InfoView::from(&info))?;
        } else {
            println!(
                "{}  {:<8}  {:>5}/{:<5}  {}",
                info.id,
                info.status.name(),
                info.aggregate.completed_steps,
                info.aggregate.total_steps,
                info.goal
            );
        }
    }
    Ok(())
}

/// `show`: the arena, now or right after event `at`.
pub(crate) fn show(s: &Session, id: &str, at: Option<u64>) -> Result<()> {
    let info = match at {
        Some(seq) => s.host.get_at(id, seq)?,
        None => s.host.get(id)?,
    };
    s.out.info(&info)
}

/// `verify`: the hash chain and the replay; a problem is an error.
pub(crate) fn verify(s: &Session, id: &str) -> Result<()> {
    let report = s.host.verify(id)?;
    let verified = Verified::new(id, &report);
    match &report.problem {
        None => s.out.value(
            &verified,
            &format!(
                "ok: {} events, hash chain intact, replay matches the stored state",
                report.events
            ),
        ),
        Some(problem) => {
            if s.out.json {
                s.out.json(&verified)?;
            }
            bail!("arena {id} failed verification: {problem}");
        }
    }
}
