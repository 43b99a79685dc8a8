//! Group commit: writes that arrive while others are being written share one transaction.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;
use std::time::Duration;

use wasmtime::Store;

use arena_bindings::manager::Guest as Manager;
use arena_bindings::types::ArenaError;

use super::ArenaHost;
use super::engine::{ArenaRuntime, ArenaState};
use crate::db::Durability;
use crate::{HostError, describe};

/// Group commit: operations that arrive while others are being written share one SQLite transaction,
/// each in a savepoint of its own, and every one of them is acknowledged only after that transaction
/// commits. Whichever writer holds the runtime runs the queued operations of the others (flat
/// combining), so a batch costs one commit and no hand-over between threads per operation. It pays
/// most when a commit is expensive (`synchronous=FULL` waits for the disk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupCommit {
    /// On with [`Durability::Full`], off with [`Durability::Normal`].
    #[default]
    Auto,
    /// Always.
    On,
    /// One transaction per operation.
    Off,
}

impl GroupCommit {
    pub(super) fn enabled(self, durability: Durability) -> bool {
        match self {
            GroupCommit::Auto => durability == Durability::Full,
            GroupCommit::On => true,
            GroupCommit::Off => false,
        }
    }
}

/// Operations one group commit holds at most.
pub const MAX_BATCH: usize = 256;

/// How long a queued writer waits before it checks whether anyone is running the queue.
const QUEUE_PATIENCE: Duration = Duration::from_millis(5);

/// Commits and the operations they held, since the host opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Group commits (transactions holding one or more operations).
    pub batches: u64,
    /// Operations those transactions held.
    pub operations: u64,
    /// Batches whose commit failed (every operation in them was answered with the error).
    pub failed: u64,
}

/// A queued write: runs its operation on the runtime and returns how to answer its caller once the
/// batch holding it has committed (`Ok`) or failed (`Err` with the reason).
pub(super) type Job = Box<dyn FnOnce(&ArenaHost, &mut ArenaRuntime) -> Answer + Send>;
type Answer = Box<dyn FnOnce(Result<(), ArenaError>) + Send>;

impl ArenaHost {
    /// Runs one call that may write. With group commit the call is queued; whichever writer holds the
    /// runtime (this one, or one already running the queue) runs the queued calls in one transaction,
    /// and each caller is answered only after that transaction commits.
    pub(crate) fn call_write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Manager, &mut Store<ArenaState>) -> wasmtime::Result<Result<R, ArenaError>>
        + Send
        + 'static,
    ) -> Result<R, HostError> {
        let result = self.write_now_or_in_batch(f);
        if result.is_ok() {
            self.shared.appends.bump();
        }
        result
    }

    fn write_now_or_in_batch<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Manager, &mut Store<ArenaState>) -> wasmtime::Result<Result<R, ArenaError>>
        + Send
        + 'static,
    ) -> Result<R, HostError> {
        let options = &self.shared.options;
        if !options.group_commit.enabled(options.durability) {
            return self.call(f);
        }
        let (answer, answered) = std::sync::mpsc::sync_channel::<Result<R, HostError>>(1);
        let job: Job = Box::new(move |host, runtime| {
            let result = host.run(runtime, f);
            Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => result,
                    Err(why) => Err(HostError::Arena(ArenaError::Storage(format!(
                        "the group commit holding this operation failed: {}",
                        describe(&why)
                    )))),
                };
                // The caller may have given up waiting; nothing to tell then.
                let _ = answer.send(result);
            })
        });
        self.queue().push_back(job);
        loop {
            self.run_queue()?;
            match answered.recv_timeout(QUEUE_PATIENCE) {
                Ok(result) => return result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(HostError::Arena(ArenaError::Storage(
                        "the operation was dropped unanswered (the host panicked while running it)"
                            .into(),
                    )));
                }
            }
        }
    }

    pub(super) fn queue(&self) -> MutexGuard<'_, VecDeque<Job>> {
        self.shared.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs queued writes in batches while there are any, if the runtime is free (otherwise whoever
    /// holds it will). Checks the queue again after letting the runtime go, so that a write queued
    /// while this one held it is never left waiting.
    fn run_queue(&self) -> Result<(), HostError> {
        while !self.queue().is_empty() {
            let Some(guard) = self.try_lock() else {
                return Ok(());
            };
            let mut runtime = guard?;
            loop {
                let jobs: Vec<Job> = {
                    let mut queue = self.queue();
                    let take = queue.len().min(MAX_BATCH);
                    queue.drain(..take).collect()
                };
                if jobs.is_empty() {
                    break;
                }
                self.run_batch(&mut runtime, jobs);
            }
        }
        Ok(())
    }

    /// Runs `jobs` in one transaction (a savepoint each) and answers them after it commits. A job
    /// that traps rebuilds the runtime: what the batch holds so far is committed first.
    fn run_batch(&self, runtime: &mut ArenaRuntime, jobs: Vec<Job>) {
        let mut jobs = jobs.into_iter();
        while jobs.len() > 0 {
            if let Err(e) = runtime.store.data_mut().storage.begin_batch() {
                tracing::error!("a group commit could not begin: {}", describe(&e));
                for job in jobs.by_ref() {
                    job(self, runtime)(Err(e.clone()));
                }
                return;
            }
            let mut batch = Batch { runtime };
            let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
            for job in jobs.by_ref() {
                let traps_before = batch.rebuilds;
                answers.push(job(self, &mut batch));
                if batch.rebuilds != traps_before {
                    // The job trapped and the runtime was rebuilt on a new connection: the batch
                    // was committed before that (see `run`); start another for the rest.
                    break;
                }
            }
            let committed = batch.commit();
            let mut stats = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.batches += 1;
            stats.operations += answers.len() as u64;
            if committed.is_err() {
                stats.failed += 1;
            }
            drop(stats);
            if let Err(e) = &committed {
                tracing::error!("a group commit failed: {}", describe(e));
            }
            for answer in answers {
                answer(committed.clone());
            }
        }
    }
}

/// An open group-commit transaction on the runtime's connection (begun just before it is made). Jobs run on the runtime through
/// it; dropped without [`Batch::commit`], it rolls back, so nothing of an unfinished batch is
/// stored — as `rusqlite::Transaction` does.
struct Batch<'a> {
    runtime: &'a mut ArenaRuntime,
}

impl Batch<'_> {
    /// Commits what the batch holds. A job that trapped rebuilt the runtime on a new connection
    /// after committing the batch it was in (see `ArenaHost::run`): that commit's outcome is the
    /// batch's.
    fn commit(self) -> Result<(), ArenaError> {
        let storage = &mut self.runtime.store.data_mut().storage;
        if storage.in_batch() {
            storage.commit_batch()
        } else {
            self.runtime.pending_commit.take().unwrap_or(Ok(()))
        }
    }
}

impl Deref for Batch<'_> {
    type Target = ArenaRuntime;
    fn deref(&self) -> &ArenaRuntime {
        self.runtime
    }
}

impl DerefMut for Batch<'_> {
    fn deref_mut(&mut self) -> &mut ArenaRuntime {
        self.runtime
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let storage = &mut self.runtime.store.data_mut().storage;
        if storage.in_batch() {
            storage.rollback_batch();
        }
    }
}
