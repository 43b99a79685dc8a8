//! `schedule = "rounds"`: lockstep. In round `n` each plugin that is still running takes turn `n`,
//! in manifest order, and subscribers hear about each turn's commits right after it. The run ends
//! after the round in which the arena becomes archived, after `max_turns` rounds, at the deadline,
//! or when it is stopped. Deterministic, for tests and the demo.
//!
//! Each turn and each delivery runs on a thread of its own through the [`turn`](super::turn)
//! runner, so that one blocked where the host cannot interrupt it (a WASI sleep) is given up on at
//! its limit, at the deadline or at Ctrl-C, and the run goes on without it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::turn::{self, Ran};
use super::{Delivered, Handed, Observer, Outcome, Run, RunError, deliver};
use crate::plugin::Plugin;

/// How many batches subscribers may take to catch up with the end of the run.
const CATCH_UP_BATCHES: usize = 1000;

/// How long a round that only waited for a person waits for a write before the next round.
const PERSON_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// A plugin's place in the rounds.
struct Seat {
    name: String,
    agent: String,
    /// `None` once a turn of it was given up on.
    plugin: Option<Box<Plugin>>,
    cancel: Arc<AtomicBool>,
}

impl Seat {
    /// Whether it takes turns: neither stopped nor given up on.
    fn running(&self) -> bool {
        self.plugin.as_ref().is_some_and(|p| !p.is_stopped())
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
        })
        .collect();
    let mut delivered = Vec::new();
    // Events committed before this run (a resumed arena) reach subscribers first.
    deliver_all(run, &mut seats, 0, observer, &mut delivered)?;
    let (mut rounds, mut counted) = (0, 0);
    while counted < run.max_turns && !run.ending() && !run.archived()? {
        rounds += 1;
        let (mark, before) = (run.host.appends_mark(), run.host.get(run.arena)?.last_seq);
        for index in 0..seats.len() {
            let seat = &mut seats[index];
            if !seat.running() || run.ending() {
                continue;
            }
            let Some(plugin) = seat.plugin.take() else {
                continue;
            };
            observer.turn_started(&seat.name, &seat.agent, rounds);
            let turn = rounds;
            let report = match turn::on_own_thread(run, *plugin, &seat.cancel, move |p| {
                p.turn(turn)
            })? {
                Ran::Finished(plugin, report) => {
                    seat.plugin = Some(plugin);
                    report
                }
                Ran::Abandoned(error) => turn::abandoned(&seat.name, &seat.agent, rounds, error),
            };
            observer.turn_ended(&report);
            run.progress(observer);
            deliver_all(run, &mut seats, rounds, observer, &mut delivered)?;
            run.pause();
        }
        // A round in which nobody wrote while a person has yet to act only waited for them: it
        // does not count, and the next waits for a write (the person's) or a second.
        if run.host.get(run.arena)?.last_seq == before && run.waiting_for_person()? {
            let until = std::time::Instant::now() + PERSON_POLL;
            while !run.ending()
                && std::time::Instant::now() < until
                && run.host.get(run.arena)?.last_seq == before
            {
                run.host
                    .wait_for_appends_since(mark, std::time::Duration::from_millis(100))?;
            }
            continue;
        }
        counted += 1;
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
                seat.plugin = Some(plugin);
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
