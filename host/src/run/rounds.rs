//! `schedule = "rounds"`: lockstep. In round `n` each plugin that is still running takes turn `n`,
//! in manifest order, and subscribers hear about each turn's commits right after it. The run ends
//! after the round in which the arena becomes archived, after `max_turns` rounds, at the deadline,
//! or when it is stopped. Deterministic, for tests and the demo.

use super::{Delivered, Handed, Observer, Outcome, Run, RunError, deliver, stopped_names};
use crate::plugin::Plugin;

/// How many batches subscribers may take to catch up with the end of the run.
const CATCH_UP_BATCHES: usize = 1000;

pub(super) fn run(
    run: &Run<'_>,
    mut plugins: Vec<Plugin>,
    observer: &mut dyn Observer,
) -> Result<Outcome, RunError> {
    let mut delivered = Vec::new();
    // Events committed before this run (a resumed arena) reach subscribers first.
    deliver_all(run, &mut plugins, 0, observer, &mut delivered)?;
    let mut rounds = 0;
    while rounds < run.max_turns && !run.ending() && !run.archived()? {
        rounds += 1;
        for index in 0..plugins.len() {
            let plugin = &mut plugins[index];
            if plugin.is_stopped() || run.ending() {
                continue;
            }
            observer.turn_started(plugin.name(), plugin.agent(), rounds);
            let report = plugin.turn(rounds);
            observer.turn_ended(&report);
            run.progress(observer);
            deliver_all(run, &mut plugins, rounds, observer, &mut delivered)?;
            run.pause();
        }
    }
    // Let subscribers catch up with the end of the run, a bounded batch at a time.
    for _ in 0..CATCH_UP_BATCHES {
        if run.ending() || !deliver_all(run, &mut plugins, rounds, observer, &mut delivered)? {
            break;
        }
    }
    Ok(Outcome {
        turns: rounds,
        stopped: stopped_names(&plugins),
        delivered,
    })
}

/// Hands every subscriber its next batch; whether any accepted one.
fn deliver_all(
    run: &Run<'_>,
    plugins: &mut [Plugin],
    round: u32,
    observer: &mut dyn Observer,
    delivered: &mut Vec<Delivered>,
) -> Result<bool, RunError> {
    let mut any = false;
    for plugin in plugins {
        match deliver(run.host, run.arena, round, plugin)? {
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
