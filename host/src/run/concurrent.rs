//! `schedule = "concurrent"`, the default: each plugin takes its turns in a thread of its own, in
//! its own Store, so that while one agent waits for its model the others act. Writes still reach
//! the arena one at a time through its runtime (group commit pays here).
//!
//! A plugin's next turn starts when the arena holds events it has not been given a turn after
//! (its own last turn's writes included: a plugin that acted may have more to do), or after its
//! `idle_ms`, so idle agents do not spin. A plugin whose own slot is `done` or `failed`
//! has said it is finished: only a lifecycle transition wakes it early (its `idle_ms` still gives
//! it a turn now and then), so a team's finished members do not take a turn at every write of
//! those still working. Its thread ends when the arena is archived,
//! when the plugin is stopped, or after `max_turns` turns that counted: a turn that only waited
//! (wrote nothing and did not fail) while another plugin's turn was in flight does not count, so
//! that agents waiting on a slow model's stage are not used up by their idle wake-ups, while a run
//! where nobody is working still ends. The run ends when every thread has, each joined. The run's
//! deadline and Ctrl-C interrupt the turns in flight, a WASI sleep included. A turn still blocked
//! somewhere the host cannot reach past its limit and a grace period, or a grace period after the
//! run must end, is given up on: the plugin is reported stopped, its thread left to end on its own,
//! and the others carry on; its handle refuses every call after the limit or the end, so it
//! writes nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::turn::GRACE;
use super::{Delivered, Handed, Observer, Outcome, Run, RunError, deliver};
use crate::ArenaHost;
use crate::plugin::{Plugin, PluginErrorKind, TurnOutcome, TurnReport};
use crate::types::{Event, SlotStatus};

/// How often a waiting plugin looks for other hosts' events (its own host's wake it at once), and
/// the run for news.
const POLL: Duration = Duration::from_millis(20);

/// The kinds of the events that move an arena through its lifecycle.
const LIFECYCLE: [&str; 4] = [
    "arena-activated",
    "arena-settling",
    "arena-archived",
    "arena-aborted",
];

/// Batches a subscriber may take to catch up before a turn, or at the end.
const CATCH_UP_BATCHES: usize = 100;

/// What a plugin's thread tells the run.
enum Note {
    Started { index: usize, turn: u32 },
    Ended { index: usize, report: TurnReport },
    Delivered(Delivered),
    Done { index: usize, plugin: Box<Plugin> },
    Failed { index: usize, error: RunError },
}

/// What a plugin's thread needs.
struct Lane {
    index: usize,
    host: ArenaHost,
    arena: String,
    /// Set when the run ends: the thread takes no further turn.
    stop: Arc<AtomicBool>,
    max_turns: u32,
    idle: Duration,
    notes: mpsc::Sender<Note>,
    /// Turns in flight across the run's plugins.
    busy: Arc<AtomicUsize>,
    /// The run's people in the loop: while one has not finished, waiting turns do not count.
    persons: Arc<[String]>,
}

pub(super) fn run(
    run: &Run<'_>,
    plugins: Vec<Plugin>,
    idle: Vec<Duration>,
    cancels: Vec<Arc<AtomicBool>>,
    observer: &mut dyn Observer,
) -> Result<Outcome, RunError> {
    let (notes, inbox) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(AtomicUsize::new(0));
    let names: Vec<(String, String)> = plugins
        .iter()
        .map(|p| (p.name().to_string(), p.agent().to_string()))
        .collect();
    let limits: Vec<Duration> = plugins.iter().map(Plugin::turn_timeout).collect();
    let mut threads = Vec::with_capacity(names.len());
    let persons: Arc<[String]> = run.persons.into();
    for (index, (plugin, idle)) in plugins.into_iter().zip(idle).enumerate() {
        let lane = Lane {
            index,
            host: run.host.clone(),
            arena: run.arena.to_string(),
            stop: stop.clone(),
            max_turns: run.max_turns,
            idle,
            notes: notes.clone(),
            busy: busy.clone(),
            persons: persons.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("plugin {}", plugin.agent()))
            .spawn(move || lane.run(plugin))
            .map_err(|e| RunError::Manifest(format!("starting a plugin thread: {e}")))?;
        threads.push(Some(thread));
    }
    drop(notes);

    let count = names.len();
    let mut in_turn: Vec<Option<(u32, Instant)>> = vec![None; count];
    let mut finished = vec![false; count];
    let mut turns = 0;
    let mut stopped = Vec::new();
    let mut delivered = Vec::new();
    let mut failure = None;
    let end = |cancel: bool| {
        stop.store(true, Ordering::Relaxed);
        if cancel {
            cancels
                .iter()
                .for_each(|c| c.store(true, Ordering::Relaxed));
        }
    };
    // When the run began to end (its deadline, Ctrl-C).
    let mut ending: Option<Instant> = None;
    while finished.iter().any(|f| !f) {
        if run.ending() && ending.is_none() {
            end(true);
            ending = Some(Instant::now());
        }
        match inbox.recv_timeout(POLL) {
            Ok(Note::Started { index, turn }) if !finished[index] => {
                in_turn[index] = Some((turn, Instant::now()));
                observer.turn_started(&names[index].0, &names[index].1, turn);
            }
            Ok(Note::Ended { index, report }) if !finished[index] => {
                in_turn[index] = None;
                turns = turns.max(report.turn);
                observer.turn_ended(&report);
                run.progress(observer);
            }
            Ok(Note::Delivered(batch)) => delivered.push(batch),
            Ok(Note::Done { index, plugin }) if !finished[index] => {
                finished[index] = true;
                if plugin.is_stopped() {
                    stopped.push(format!("{} ({})", plugin.name(), plugin.agent()));
                }
                // Its thread has only to return: joined, so that no plugin outlives the run.
                join(&mut threads[index]);
            }
            Ok(Note::Failed { index, error }) if !finished[index] => {
                finished[index] = true;
                failure.get_or_insert(error);
                join(&mut threads[index]);
                end(true);
            }
            // News from a plugin the run gave up on, or nothing yet.
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let cut = ending.is_some_and(|since| since.elapsed() >= GRACE);
        for index in 0..count {
            if finished[index] {
                continue;
            }
            let Some((turn, started)) = in_turn[index] else {
                if cut {
                    // Past the end and its grace, blocked outside a turn (delivering events to a
                    // subscriber that sleeps): the run stops waiting for it.
                    finished[index] = true;
                    tracing::warn!("given up on {} at the end of the run", names[index].1);
                }
                continue;
            };
            let kind = if cut {
                PluginErrorKind::Interrupted
            } else if started.elapsed() >= limits[index] + GRACE {
                PluginErrorKind::TurnTimeout {
                    limit_ms: limits[index].as_millis() as u64,
                }
            } else {
                continue;
            };
            // Blocked past its limit, or past the run's end, where the host could not interrupt
            // it: give up on it.
            finished[index] = true;
            cancels[index].store(true, Ordering::Relaxed);
            let (plugin, agent) = &names[index];
            let error = kind.of(plugin, agent);
            tracing::warn!("{error}");
            observer.turn_ended(&TurnReport {
                plugin: plugin.clone(),
                agent: agent.clone(),
                turn,
                outcome: TurnOutcome::Stopped(error),
                output: String::new(),
                fuel: 0,
            });
            stopped.push(format!("{plugin} ({agent})"));
        }
    }
    end(false);
    match failure {
        Some(error) => Err(error),
        None => Ok(Outcome {
            turns,
            stopped,
            delivered,
        }),
    }
}

/// Waits for a plugin's thread that has said its last word.
fn join(thread: &mut Option<std::thread::JoinHandle<()>>) {
    if let Some(thread) = thread.take() {
        let _ = thread.join();
    }
}

impl Lane {
    fn run(self, mut plugin: Plugin) {
        let note = match self.turns(&mut plugin) {
            Ok(()) => Note::Done {
                index: self.index,
                plugin: Box::new(plugin),
            },
            Err(error) => Note::Failed {
                index: self.index,
                error,
            },
        };
        // The run may have given up on this plugin and gone: nobody to tell then.
        let _ = self.notes.send(note);
    }

    fn tell(&self, note: Note) {
        // As above: a run that has gone needs no news.
        let _ = self.notes.send(note);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The plugin's turns, until the arena is archived, it is stopped, or the run ends.
    fn turns(&self, plugin: &mut Plugin) -> Result<(), RunError> {
        let mut seen = 0;
        let mut finished = self
            .host
            .slots(&self.arena)?
            .iter()
            .any(|slot| slot.agent == plugin.agent() && is_finished(slot.status));
        let (mut turn, mut counted) = (0, 0);
        while counted < self.max_turns {
            turn += 1;
            if turn > 1 && !self.wait_for_work(plugin.agent(), &mut seen, &mut finished)? {
                break;
            }
            self.catch_up(plugin, turn)?;
            let info = self.host.get(&self.arena)?;
            if self.stopping()
                || plugin.is_stopped()
                || info.status == crate::types::ArenaStatus::Archived
            {
                break;
            }
            seen = info.last_seq;
            self.tell(Note::Started {
                index: self.index,
                turn,
            });
            let others_busy = self.busy.fetch_add(1, Ordering::SeqCst) > 0;
            let report = plugin.turn(turn);
            self.busy.fetch_sub(1, Ordering::SeqCst);
            // A turn that failed or wrote counts; one that only waited while another plugin was
            // working (a model call in flight), or while a person has yet to act, does not.
            let wrote = self
                .host
                .events(&self.arena, seen, 1000)?
                .iter()
                .any(|e| e.actor == plugin.agent());
            let waited = !wrote && matches!(report.outcome, TurnOutcome::Done(_));
            if !waited
                || !(others_busy
                    || super::person::waiting_for_person(&self.host, &self.arena, &self.persons)?)
            {
                counted += 1;
            }
            self.tell(Note::Ended {
                index: self.index,
                report,
            });
            if plugin.is_stopped() {
                break;
            }
        }
        if !self.stopping() {
            self.catch_up(plugin, self.max_turns)?;
        }
        Ok(())
    }

    /// Hands a subscriber the events it has not accepted yet, a bounded batch at a time.
    fn catch_up(&self, plugin: &mut Plugin, turn: u32) -> Result<(), RunError> {
        for _ in 0..CATCH_UP_BATCHES {
            match deliver(&self.host, &self.arena, turn, plugin)? {
                Handed::Nothing => break,
                Handed::Accepted(batch) => self.tell(Note::Delivered(batch)),
                Handed::Stopped(report) => {
                    self.tell(Note::Ended {
                        index: self.index,
                        report,
                    });
                    break;
                }
            }
        }
        Ok(())
    }

    /// Waits until the arena holds events after `seen` (for a `finished` plugin, a
    /// lifecycle transition), or the plugin's idle time has passed; `false` if the run ends first.
    /// Keeps `finished` up to date with the plugin's own slot updates.
    fn wait_for_work(
        &self,
        agent: &str,
        seen: &mut u64,
        finished: &mut bool,
    ) -> Result<bool, RunError> {
        let until = Instant::now() + self.idle;
        loop {
            if self.stopping() {
                return Ok(false);
            }
            let mark = self.host.appends_mark();
            let events = self.host.events(&self.arena, *seen, 1000)?;
            if wakes(&events, agent, finished) {
                return Ok(true);
            }
            if let Some(last) = events.last() {
                *seen = last.seq;
            }
            let now = Instant::now();
            if now >= until {
                return Ok(true);
            }
            // Wakes with the next write of this run (every plugin's go through this host), or
            // polls for other hosts' writes.
            self.host
                .wait_for_appends_since(mark, POLL.min(until - now))?;
        }
    }
}

/// Whether `events`, the next the arena holds for `agent`'s plugin, give it work, keeping
/// `finished` up to date with the plugin's own slot updates.
///
/// A lifecycle transition by anyone changes what every participant may do, its author included (a
/// coordinator that settled the arena archives it next, and must not sit out its idle time first);
/// news by others matters to a plugin that is not finished. The plugin's own writes count too: they
/// can only be those of its last turn, and a plugin that acted may have more to do (a coordinator
/// settles, merges, then archives, one step a turn). A plugin that declared itself finished after
/// an event has answered it: only what comes after its declaration wakes it (a transition committed
/// while it was in its last turn, it may well have seen).
fn wakes(events: &[Event], agent: &str, finished: &mut bool) -> bool {
    let mut wake = false;
    for event in events {
        let status = slot_status(event).filter(|_| event.actor == agent);
        if let Some(status) = status {
            *finished = is_finished(status);
            if *finished {
                wake = false;
                continue;
            }
        }
        wake |= !*finished || LIFECYCLE.contains(&event.kind.as_str());
    }
    wake
}

/// Whether a slot's status says its owner is finished.
fn is_finished(status: SlotStatus) -> bool {
    matches!(status, SlotStatus::Done | SlotStatus::Failed)
}

/// The status a `slot-updated` event sets (`None` for any other event, or one it cannot read).
fn slot_status(event: &Event) -> Option<SlotStatus> {
    if event.kind != "slot-updated" {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Payload {
        status: String,
    }
    let payload: Payload = serde_json::from_str(&event.payload).ok()?;
    match payload.status.as_str() {
        "idle" => Some(SlotStatus::Idle),
        "working" => Some(SlotStatus::Working),
        "done" => Some(SlotStatus::Done),
        "failed" => Some(SlotStatus::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, actor: &str, kind: &str, payload: &str) -> Event {
        Event {
            seq,
            at: String::new(),
            actor: actor.into(),
            kind: kind.into(),
            payload: payload.into(),
            hash: String::new(),
        }
    }

    fn slot(seq: u64, actor: &str, status: &str) -> Event {
        event(
            seq,
            actor,
            "slot-updated",
            &format!(r#"{{"v":1,"status":"{status}"}}"#),
        )
    }

    #[test]
    fn a_plugin_is_woken_by_news_until_it_declares_itself_finished() {
        let mut finished = false;
        assert!(!wakes(&[], "w", &mut finished));
        assert!(wakes(
            &[event(1, "x", "fact-added", "{}")],
            "w",
            &mut finished
        ));
        assert!(wakes(
            &[event(1, "w", "fact-added", "{}")],
            "w",
            &mut finished
        ));
        // Its own last turn: whatever came before its declaration, a transition included.
        let turn = [
            event(1, "lead", "arena-activated", "{}"),
            event(2, "w", "step-completed", "{}"),
            slot(3, "w", "done"),
        ];
        assert!(!wakes(&turn, "w", &mut finished));
        assert!(finished);
        // Finished: the others' writes do not wake it, a later transition does.
        assert!(!wakes(
            &[event(4, "x", "fact-added", "{}")],
            "w",
            &mut finished
        ));
        assert!(wakes(
            &[event(5, "lead", "arena-settling", "{}")],
            "w",
            &mut finished
        ));
        // Someone else's slot says nothing of this plugin; its own back at work wakes it again.
        let mut finished = true;
        assert!(!wakes(&[slot(6, "x", "working")], "w", &mut finished));
        assert!(wakes(
            &[slot(7, "w", "working"), event(8, "x", "fact-added", "{}")],
            "w",
            &mut finished
        ));
        assert!(!finished);
    }
}
