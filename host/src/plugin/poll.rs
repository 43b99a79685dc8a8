//! `wasi:io/poll`, cut short when the turn must end.
//!
//! A plugin that sleeps (`wasi:clocks` `subscribe-duration`, then `poll` or `pollable.block`) is
//! blocked inside the host, where the epoch callback never runs. wasmtime-wasi's own `poll` and
//! `block` wait on the pollables alone; these, linked over them, wait on the pollables and on the
//! turn's end together (its wall-clock limit, or the plugin's cancel flag, which the run sets at its
//! deadline and at Ctrl-C), and trap the plugin with that stop recorded when the end comes first.
//! The turn then returns on its own thread like any other stopped turn: its Store is dropped, its
//! thread ends, nothing is left behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host, HostPollable};
use wasmtime_wasi::runtime::in_tokio;

use super::host::{PluginState, Stop};

/// The `wasi:io/poll` instance wasmtime-wasi links; a plugin importing an earlier 0.2 version is
/// served by it too.
const POLL: &str = "wasi:io/poll@0.2.12";

/// How often a blocked plugin looks at its cancel flag. Its wall-clock limit wakes it on time.
const WATCH: Duration = Duration::from_millis(20);

/// Links `poll` and `pollable.block` over wasmtime-wasi's, which `linker` must already hold.
pub(crate) fn shadow_blocking_poll(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(POLL)?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, PluginState>,
         (pollables,): (Vec<Resource<DynPollable>>,)| {
            let state = store.data_mut();
            let end = turn_end(state);
            let ready = in_tokio(async {
                tokio::select! {
                    biased;
                    stop = end => Err(stop),
                    ready = Host::poll(&mut state.table, pollables) => Ok(ready),
                }
            });
            match ready {
                Ok(ready) => Ok((ready?,)),
                Err(stop) => Err(state.stop(stop)),
            }
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, PluginState>, (pollable,): (Resource<DynPollable>,)| {
            let state = store.data_mut();
            let end = turn_end(state);
            let ready = in_tokio(async {
                tokio::select! {
                    biased;
                    stop = end => Err(stop),
                    ready = HostPollable::block(&mut state.table, pollable) => Ok(ready),
                }
            });
            match ready {
                Ok(ready) => ready,
                Err(stop) => Err(state.stop(stop)),
            }
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Resolves when the turn in progress must end: why.
fn turn_end(state: &PluginState) -> impl Future<Output = Stop> + Send + 'static {
    ended(state.cancel.clone(), state.turn.deadline)
}

async fn ended(cancel: Arc<AtomicBool>, deadline: Option<Instant>) -> Stop {
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Stop::Interrupted;
        }
        let now = Instant::now();
        let wait = match deadline {
            Some(deadline) if now >= deadline => return Stop::TimedOut,
            Some(deadline) => (deadline - now).min(WATCH),
            None => WATCH,
        };
        tokio::time::sleep(wait).await;
    }
}
