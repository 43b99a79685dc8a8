//! The turn runner: a plugin's turn, or a delivery of events to it, runs on a thread of its own
//! while the schedule's thread watches the clock. The epoch callback interrupts wasm, the handle
//! refuses calls once a turn must end, and a WASI sleep (`wasi:io/poll`) ends then too, trapping the
//! plugin: the turn returns, its thread is joined, nothing is left running. Should a turn still be
//! blocked somewhere the host cannot reach, the runner abandons it at its wall-clock limit plus a
//! grace period, or a grace period after the run must end (its deadline, Ctrl-C): the plugin is
//! reported stopped and left to its thread; its cancel flag is set, so every handle call it makes
//! when it wakes is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Run, RunError};
use crate::plugin::{Plugin, PluginError, PluginErrorKind, TurnOutcome, TurnReport};

/// How long a turn may stay blocked past its limit, or past the moment the run must end, before
/// the run stops waiting for it. A turn in wasm or in a handle call stops well within it.
pub(super) const GRACE: Duration = Duration::from_secs(2);

/// How often the watching thread looks at the clock and the run.
const POLL: Duration = Duration::from_millis(20);

/// How work on a plugin's own thread ended.
pub(super) enum Ran<R> {
    /// It returned; the plugin is back.
    Finished(Box<Plugin>, R),
    /// It was blocked past its limit or past the run's end and was given up on: the plugin stays
    /// with its thread, stopped for the rest of the run.
    Abandoned(PluginError),
}

/// Runs `work` on `plugin` on a thread of its own and waits for it, abandoning it when it is
/// blocked [`GRACE`] past the plugin's turn limit, or [`GRACE`] after the run must end. When the
/// run must end, `cancel` is set first, so that a turn in wasm or in a handle call stops on its own.
pub(super) fn on_own_thread<R, F>(
    run: &Run<'_>,
    plugin: Plugin,
    cancel: &Arc<AtomicBool>,
    work: F,
) -> Result<Ran<R>, RunError>
where
    R: Send + 'static,
    F: FnOnce(&mut Plugin) -> R + Send + 'static,
{
    let (name, agent) = (plugin.name().to_string(), plugin.agent().to_string());
    let limit = plugin.turn_timeout();
    let (done, result) = mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(format!("plugin {agent}"))
        .spawn(move || {
            let mut plugin = Box::new(plugin);
            let outcome = work(&mut plugin);
            // The run may have given up on this plugin: nobody to tell then.
            let _ = done.send((plugin, outcome));
        })
        .map_err(|e| RunError::Manifest(format!("starting a plugin thread: {e}")))?;
    let started = Instant::now();
    let mut ending: Option<Instant> = None;
    loop {
        match result.recv_timeout(POLL) {
            Ok((plugin, outcome)) => {
                // It has only to return now: joined, so that no turn outlives its report.
                let _ = thread.join();
                return Ok(Ran::Finished(plugin, outcome));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                cancel.store(true, Ordering::Relaxed);
                let message = "its thread panicked".to_string();
                return Ok(Ran::Abandoned(
                    PluginErrorKind::Trap { message }.of(&name, &agent),
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if run.ending() && ending.is_none() {
            cancel.store(true, Ordering::Relaxed);
            ending = Some(Instant::now());
        }
        let kind = if ending.is_some_and(|since| since.elapsed() >= GRACE) {
            PluginErrorKind::Interrupted
        } else if started.elapsed() >= limit + GRACE {
            PluginErrorKind::TurnTimeout {
                limit_ms: limit.as_millis() as u64,
            }
        } else {
            continue;
        };
        cancel.store(true, Ordering::Relaxed);
        let error = kind.of(&name, &agent);
        tracing::warn!("{error} (blocked where the host could not interrupt it; given up on)");
        return Ok(Ran::Abandoned(error));
    }
}

/// The report of a turn given up on.
pub(super) fn abandoned(plugin: &str, agent: &str, turn: u32, error: PluginError) -> TurnReport {
    TurnReport {
        plugin: plugin.to_string(),
        agent: agent.to_string(),
        turn,
        outcome: TurnOutcome::Stopped(error),
        output: String::new(),
        fuel: 0,
    }
}
