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

/// `fork`: a new arena whose state is `id`'s right after event `at`, created by `creator`.
pub(crate) fn fork(s: &Session, id: &str, at: u64, creator: &str) -> Result<()> {
    let fork = s.host.fork(id, at, creator)?;
    s.out.value(&Created { id: &fork }, &fork)
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

/// `verify`: the hash chain and the replay, and the anchor `expect` (`SEQ:HASH`) if given; a
/// problem is an error.
pub(crate) fn verify(s: &Session, id: &str, expect: Option<&str>) -> Result<()> {
    let anchor = expect.map(parse_anchor).transpose()?;
    let mut report = s.host.verify(id)?;
    if report.problem.is_none()
        && let Some((seq, hash)) = &anchor
    {
        report.problem = anchor_problem(s, id, *seq, hash)?;
    }
    let verified = Verified::new(id, &report);
    match &report.problem {
        None => s.out.value(
            &verified,
            &format!(
                "ok: {} events, hash chain intact, replay matches the stored state{}",
                report.events,
                anchor.map_or(String::new(), |(seq, _)| format!(
                    ", event {seq} has the expected hash"
                ))
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

/// `SEQ:HASH` as `arena head` prints it.
fn parse_anchor(anchor: &str) -> Result<(u64, String)> {
    let parsed = anchor.split_once(':').and_then(|(seq, hash)| {
        let well_formed = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        Some((seq.parse::<u64>().ok().filter(|seq| *seq > 0)?, hash))
            .filter(|_| well_formed)
            .map(|(seq, hash)| (seq, hash.to_ascii_lowercase()))
    });
    parsed.ok_or_else(|| {
        anyhow!(
            "--expect {anchor:?} is not SEQ:HASH (an event number from 1 and a 64-digit hex hash, as \
             `arena head` prints them)"
        )
    })
}

/// Why the log, whose chain has just been verified, does not hold event `seq` with `hash`.
fn anchor_problem(s: &Session, id: &str, seq: u64, hash: &str) -> Result<Option<String>> {
    let held = s.host.events(id, seq - 1, 1)?;
    Ok(match held.first() {
        Some(event) if event.seq == seq && event.hash == hash => None,
        Some(event) if event.seq == seq => Some(format!(
            "event {seq} has hash {}, not the expected {hash}: the log was rewritten",
            event.hash
        )),
        _ => Some(format!(
            "the log no longer holds event {seq}, which had hash {hash}: it was cut back (it now \
             ends at event {})",
            s.host.get(id)?.last_seq
        )),
    })
}

/// `head`: the seq and hash of the arena's last event.
pub(crate) fn head(s: &Session, id: &str) -> Result<()> {
    let seq = s.host.get(id)?.last_seq;
    let last = s.host.events(id, seq.saturating_sub(1), 1)?;
    let Some(event) = last.first().filter(|event| event.seq == seq) else {
        bail!("arena {id}: the log does not hold its last event {seq}");
    };
    s.out.value(
        &serde_json::json!({ "id": id, "seq": event.seq, "hash": event.hash }),
        &format!("{}:{}", event.seq, event.hash),
    )
}
