//! `schedule = "rounds"`: lockstep. In round `n` each plugin that is still running takes turn `n`,
//! in manifest order, and subscribers hear about each turn's commits right after it. A plugin
//! takes turns until `max_turns` of them counted: a turn that only waited (wrote nothing and did
//! not fail) in a round where another plugin acted does not count, so that a stage waiting on a
//! slow one is not used up by its waiting, while a round where nobody acts counts for everyone and
//! a run where nobody is working still ends. The run ends after the round in which the arena
//! becomes archived, when no plugin has a turn left, at the deadline, or when it is stopped.
//! Deterministic, for tests and the demo.
//!
//! Each turn and each delivery runs on a thread of its own through the [`turn`](super::turn)
//! runner: a WASI sleep ends at the turn's limit, at the deadline or at Ctrl-C, and one blocked
//! where the host cannot reach it is given up on then, and the run goes on without it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::turn::{self, Ran};
use super::{Delivered, Handed, Observer, Outcome, Run, RunError, deliver};
use crate::plugin::{Plugin, TurnOutcome};

/// How many batches subscribers may take to catch up with the end of the run.
const CATCH_UP_BATCHES: usize = 1000;

/// How long a round that only waited for a person waits for a write before the next round.
const PERSON_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// A plugin's place in the rounds.
struct Seat {
    name: String,
    agent: String,
    /// `None` once it was stopped or given up on: a stopped plugin's Store is dropped at once, so
    /// that the memory it held goes back to the team.
    plugin: Option<Box<Plugin>>,
    cancel: Arc<AtomicBool>,
    /// Its turns that counted against `max_turns`.
    counted: u32,
}

impl Seat {
    /// Whether it takes turns: neither stopped nor given up on.
    fn running(&self) -> bool {
        self.plugin.as_ref().is_some_and(|p| !p.is_stopped())
    }

    /// Whether it takes a turn in the next round: running, with turns left.
    fn plays(&self, max_turns: u32) -> bool {
        self.running() && self.counted < max_turns
    }
}

pub(super) fn run(
    run: &Run<'_>,
    plugins: Vec<Plugin>,
    cancels: Vec<Arc<AtomicBool>>,
    observer: &mut dyn Observer,
) -> Result<Outcome, RunError> {
    let mut seats: Vec<Seat> = plugins
        .into_iter()
        .zip(cancels)
        .map(|(plugin, cancel)| Seat {
            name: plugin.name().to_string(),
            agent: plugin.agent().to_string(),
            plugin: Some(Box::new(plugin)),
            cancel,
            counted: 0,
        })
        .collect();
    let mut delivered = Vec::new();
    // Events committed before this run (a resumed arena) reach subscribers first.
    deliver_all(run, &mut seats, 0, observer, &mut delivered)?;
    let mut rounds = 0;
    while !run.ending() && !run.archived()? && seats.iter().any(|s| s.plays(run.max_turns)) {
        rounds += 1;
        let (mark, round_start) = (run.host.appends_mark(), run.host.get(run.arena)?.last_seq);
        // Who took a turn this round, and whether it acted (wrote, or failed).
        let mut played: Vec<(usize, bool)> = Vec::new();
        for index in 0..seats.len() {
            let seat = &mut seats[index];
            if !seat.plays(run.max_turns) || run.ending() {
                continue;
            }
            let Some(plugin) = seat.plugin.take() else {
                continue;
            };
            let before = run.host.get(run.arena)?.last_seq;
            observer.turn_started(&seat.name, &seat.agent, rounds);
            let turn = rounds;
            let report = match turn::on_own_thread(run, *plugin, &seat.cancel, move |p| {
                p.turn(turn)
            })? {
                Ran::Finished(plugin, report) => {
                    seat.plugin = Some(plugin).filter(|p| !p.is_stopped());
                    report
                }
                Ran::Abandoned(error) => turn::abandoned(&seat.name, &seat.agent, rounds, error),
            };
            let wrote = run
                .host
                .events(run.arena, before, 1000)?
                .iter()
                .any(|e| e.actor == seat.agent);
            played.push((
                index,
                wrote || !matches!(report.outcome, TurnOutcome::Done(_)),
            ));
            observer.turn_ended(&report);
            run.progress(observer);
            deliver_all(run, &mut seats, rounds, observer, &mut delivered)?;
            run.pause();
        }
        // A round in which nobody wrote while a person has yet to act only waited for them: it
        // does not count, and the next waits for a write (the person's) or a second.
        if run.host.get(run.arena)?.last_seq == round_start && run.waiting_for_person()? {
            let until = std::time::Instant::now() + PERSON_POLL;
            while !run.ending()
                && std::time::Instant::now() < until
                && run.host.get(run.arena)?.last_seq == round_start
            {
                run.host
                    .wait_for_appends_since(mark, std::time::Duration::from_millis(100))?;
            }
            continue;
        }
        // A turn that only waited while another plugin acted does not count; when nobody acted,
        // every turn does.
        let anyone = played.iter().any(|(_, acted)| *acted);
        for (index, acted) in played {
            if acted || !anyone {
                seats[index].counted += 1;
            }
        }
    }
    // Let subscribers catch up with the end of the run, a bounded batch at a time.
    for _ in 0..CATCH_UP_BATCHES {
        if run.ending() || !deliver_all(run, &mut seats, rounds, observer, &mut delivered)? {
            break;
        }
    }
    Ok(Outcome {
        turns: rounds,
        stopped: seats
            .iter()
            .filter(|seat| !seat.running())
            .map(|seat| format!("{} ({})", seat.name, seat.agent))
            .collect(),
        delivered,
    })
}

/// Hands every subscriber its next batch; whether any accepted one.
fn deliver_all(
    run: &Run<'_>,
    seats: &mut [Seat],
    round: u32,
    observer: &mut dyn Observer,
    delivered: &mut Vec<Delivered>,
) -> Result<bool, RunError> {
    let mut any = false;
    for seat in seats {
        let Some(plugin) = seat.plugin.take_if(|p| p.subscribes()) else {
            continue;
        };
        let (host, arena) = (run.host.clone(), run.arena.to_string());
        let handed = match turn::on_own_thread(run, *plugin, &seat.cancel, move |p| {
            deliver(&host, &arena, round, p)
        })? {
            Ran::Finished(plugin, handed) => {
                seat.plugin = Some(plugin).filter(|p| !p.is_stopped());
                handed?
            }
            Ran::Abandoned(error) => {
                Handed::Stopped(turn::abandoned(&seat.name, &seat.agent, round, error))
            }
        };
        match handed {
            Handed::Nothing => {}
            Handed::Accepted(batch) => {
                delivered.push(batch);
                any = true;
            }
            Handed::Stopped(report) => observer.turn_ended(&report),
        }
    }
    Ok(any)
}
