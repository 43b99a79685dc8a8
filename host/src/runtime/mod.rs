//! The arena runtime: one Store holding the database connection, one instance of the arena
//! component, shared behind a lock that is held for exactly one component call.
//!
//! [`engine`] compiles the component and keeps the epoch ticker; [`commit`] lets concurrent writes
//! share a transaction; this module is the public [`ArenaHost`] API over both.

mod appends;
mod commit;
mod engine;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wasmtime::Store;

use arena_bindings::manager::{Guest as Manager, VerifyReport};
use arena_bindings::types::{self, ArenaConfig, ArenaError, ArenaInfo, Event};

pub use commit::{CommitStats, GroupCommit, MAX_BATCH};
pub use engine::{ARENA_COMPONENT, ARENA_DEADLINE};
pub(crate) use engine::{ArenaState, start_ticker};

use crate::HostError;
use crate::db::{self, Backend, Durability, Location};
use appends::Appends;
use commit::Job;
use engine::{ArenaRuntime, deadline_ticks};

/// How a host opens its database.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Commit durability; [`Durability::Normal`] by default.
    pub durability: Durability,
    /// A directory for the compiled arena component (see [`crate::precompiled`]): a process that finds
    /// its compilation there starts without compiling. `None` (the default) compiles in every process.
    pub component_cache: Option<PathBuf>,
    /// Whether operations share commits; [`GroupCommit::Auto`] by default.
    pub group_commit: GroupCommit,
    /// Reads only ([`db::Access::ReadOnly`]): nothing is created, migrated or written, and every
    /// write fails with one `storage` error. `false` by default.
    pub read_only: bool,
}

impl HostOptions {
    /// How these options open the database.
    pub(crate) fn access(&self) -> db::Access {
        if self.read_only {
            db::Access::ReadOnly
        } else {
            db::Access::ReadWrite
        }
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            durability: Durability::default(),
            component_cache: None,
            group_commit: GroupCommit::Auto,
            read_only: false,
        }
    }
}

/// Opens the connection the arena component's storage is served from: called when a host opens,
/// and again whenever its runtime is rebuilt (see [`ArenaHost::open_with_backend`]).
pub type OpenBackend = dyn Fn() -> Result<Box<dyn Backend>, db::DbError> + Send + Sync;

struct Shared {
    runtime: Mutex<ArenaRuntime>,
    location: Location,
    open: Arc<OpenBackend>,
    /// A connection of its own for [`ArenaHost::wait_for_appends`], opened on first use.
    waiter: Mutex<Option<Box<dyn Backend>>>,
    options: HostOptions,
    /// Writes waiting for a batch (group commit).
    queue: Mutex<VecDeque<Job>>,
    stats: Mutex<CommitStats>,
    /// This host's committed writes, for waiters to wake on.
    appends: Appends,
}

/// A host for the arenas in one database file. Cheap to clone; clones share the runtime.
///
/// After the component traps, or a call panics while holding the runtime, the runtime is not resumed:
/// it is rebuilt from the database, which holds exactly what was acknowledged.
#[derive(Clone)]
pub struct ArenaHost {
    shared: Arc<Shared>,
}

impl ArenaHost {
    /// Opens (creating if needed) the arena database at `path` and starts the arena component on it.
    ///
    /// # Failure
    /// `Open` if the database cannot be opened or migrated (or was written by a newer version), `Load` if
    /// the component cannot be compiled or instantiated.
    pub fn open(path: impl AsRef<Path>, options: HostOptions) -> Result<Self, HostError> {
        Self::open_at(Location::Sqlite(path.as_ref().to_path_buf()), options)
    }

    /// Opens the arena database at `location` — an SQLite file, or a PostgreSQL database shared with
    /// other hosts — and starts the arena component on it.
    pub fn open_at(location: Location, options: HostOptions) -> Result<Self, HostError> {
        let (at, durability, access) = (location.clone(), options.durability, options.access());
        let open = move || db::open_with(&at, durability, access);
        Self::open_with_backend(location, options, open)
    }

    /// Opens a host whose arena component is served by the storage `open` returns, instead of the
    /// database at `location` (which still names it in messages and is where a PostgreSQL waiter
    /// listens): a storage of the caller's own, such as a wrapper that meters calls or, in tests,
    /// one that injects faults. `open` is called now, and again whenever the runtime is rebuilt
    /// after a trap; it should open the same database each time. `options.read_only` and
    /// `options.durability` are the storage's to honour.
    ///
    /// # Failure
    /// `Open` with the error `open` returns, `Load` if the component cannot be compiled or
    /// instantiated.
    pub fn open_with_backend(
        location: Location,
        options: HostOptions,
        open: impl Fn() -> Result<Box<dyn Backend>, db::DbError> + Send + Sync + 'static,
    ) -> Result<Self, HostError> {
        let open: Arc<OpenBackend> = Arc::new(open);
        let runtime = ArenaRuntime::start(&location, &options, &*open)?;
        Ok(ArenaHost {
            shared: Arc::new(Shared {
                runtime: Mutex::new(runtime),
                location,
                open,
                waiter: Mutex::new(None),
                options,
                queue: Mutex::new(VecDeque::new()),
                stats: Mutex::new(CommitStats::default()),
                appends: Appends::default(),
            }),
        })
    }

    /// Where the arenas are kept.
    pub fn location(&self) -> &Location {
        &self.shared.location
    }

    /// The SQLite database file, if the arenas are kept in one.
    pub fn path(&self) -> Option<&Path> {
        match &self.shared.location {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// Waits until another writer (on this host or another) may have appended, or `timeout` passes:
    /// PostgreSQL wakes the waiter with a notification, SQLite is polled. Holds no lock a call needs.
    pub fn wait_for_appends(&self, timeout: Duration) -> Result<(), HostError> {
        self.wait_for_appends_since(self.appends_mark(), timeout)
    }

    /// A mark of the writes this host has committed so far, for [`ArenaHost::wait_for_appends_since`]:
    /// taken before reading the log, it makes sure a write committed after that read wakes the wait.
    pub fn appends_mark(&self) -> u64 {
        self.shared.appends.count()
    }

    /// As [`ArenaHost::wait_for_appends`], but returns at once if this host committed a write since
    /// `mark`, and as soon as it commits one: a reader of a log this host writes wakes with the write.
    /// Other hosts' writes are seen by notification (PostgreSQL) or at the next poll (SQLite, every
    /// [`POLL_INTERVAL`](crate::db::sqlite::POLL_INTERVAL)); many threads may wait at once.
    pub fn wait_for_appends_since(&self, mark: u64, timeout: Duration) -> Result<(), HostError> {
        let appends = &self.shared.appends;
        let waiter = match &self.shared.location {
            Location::Postgres(_) => self.shared.waiter.try_lock().ok(),
            Location::Sqlite(_) => None,
        };
        let Some(mut waiter) = waiter else {
            // SQLite, or another thread already listens: wait for this host's writes, and poll.
            appends.wait_past(mark, timeout.min(crate::db::sqlite::POLL_INTERVAL));
            return Ok(());
        };
        if appends.count() > mark {
            return Ok(());
        }
        if waiter.is_none() {
            let location = &self.shared.location;
            let options = &self.shared.options;
            *waiter = Some(
                db::open_with(location, options.durability, options.access()).map_err(
                    |reason| HostError::Open {
                        location: location.to_string(),
                        reason,
                    },
                )?,
            );
        }
        if let Some(waiter) = waiter.as_mut() {
            // Its notifications include this host's own writes.
            waiter.wait_for_appends(timeout);
        }
        Ok(())
    }

    /// How many appends were refused with `conflict` (and retried by the component) on this host.
    pub fn conflicts(&self) -> u64 {
        self.lock().map(|rt| rt.conflicts()).unwrap_or(0)
    }

    /// The group commits so far.
    pub fn commit_stats(&self) -> CommitStats {
        *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runtime, locked. No batch is ever open on an unlocked runtime, so what it reads is
    /// committed.
    fn lock(&self) -> Result<MutexGuard<'_, ArenaRuntime>, HostError> {
        match self.shared.runtime.lock() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => self.recover(poisoned.into_inner()),
        }
    }

    /// The runtime if nobody holds it.
    fn try_lock(&self) -> Option<Result<MutexGuard<'_, ArenaRuntime>, HostError>> {
        match self.shared.runtime.try_lock() {
            Ok(guard) => Some(Ok(guard)),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                Some(self.recover(poisoned.into_inner()))
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// A panic interrupted a call: the instance may be mid-operation. Rebuild, never resume.
    fn recover<'a>(
        &'a self,
        mut guard: MutexGuard<'a, ArenaRuntime>,
    ) -> Result<MutexGuard<'a, ArenaRuntime>, HostError> {
        self.rebuild(&mut guard)?;
        self.shared.runtime.clear_poison();
        Ok(guard)
    }

    fn rebuild(&self, runtime: &mut ArenaRuntime) -> Result<(), HostError> {
        tracing::warn!(db = %self.shared.location, "rebuilding the arena runtime from the database");
        let earlier = runtime.conflicts();
        let shared = &self.shared;
        *runtime = ArenaRuntime::start(&shared.location, &shared.options, &*shared.open)?;
        runtime.earlier_conflicts = earlier;
        Ok(())
    }

    /// Runs one call of the manager export with the runtime locked for exactly that call, on committed
    /// state only (an open batch is committed first).
    pub(crate) fn call<R>(
        &self,
        f: impl FnOnce(&Manager, &mut Store<ArenaState>) -> wasmtime::Result<Result<R, ArenaError>>,
    ) -> Result<R, HostError> {
        let mut guard = self.lock()?;
        self.run(&mut guard, f)
    }

    fn run<R>(
        &self,
        runtime: &mut ArenaRuntime,
        f: impl FnOnce(&Manager, &mut Store<ArenaState>) -> wasmtime::Result<Result<R, ArenaError>>,
    ) -> Result<R, HostError> {
        runtime.store.set_epoch_deadline(deadline_ticks());
        match f(runtime.arena.arena_core_manager(), &mut runtime.store) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(HostError::Arena(error)),
            Err(trap) => {
                tracing::error!(error = %format!("{trap:#}"), "the arena component trapped");
                // Inside a batch, what it holds is whole (each append is a savepoint, rolled back
                // if it did not finish): commit it before the connection goes.
                let storage = &mut runtime.store.data_mut().storage;
                let pending = storage.in_batch().then(|| storage.commit_batch());
                self.rebuild(runtime)?;
                runtime.rebuilds = runtime.rebuilds.wrapping_add(1);
                runtime.pending_commit = pending;
                Err(HostError::Trap(trap))
            }
        }
    }

    /// Runs `f` on the database connection the component is served from, with the runtime locked:
    /// for what the host keeps beside the arenas (agent tokens).
    pub(crate) fn with_backend<R>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<R, ArenaError>,
    ) -> Result<R, HostError> {
        let mut runtime = self.lock()?;
        Ok(f(&mut *runtime.store.data_mut().storage)?)
    }

    /// The last event of `arena` that `subscriber` accepted (0 for none).
    pub fn cursor(&self, arena: &str, subscriber: &str) -> Result<u64, HostError> {
        Ok(self
            .lock()?
            .store
            .data_mut()
            .storage
            .cursor(arena, subscriber)?)
    }

    /// Moves `subscriber`'s durable cursor on `arena` forward to `seq`.
    pub fn advance_cursor(&self, arena: &str, subscriber: &str, seq: u64) -> Result<(), HostError> {
        Ok(self
            .lock()?
            .store
            .data_mut()
            .storage
            .advance_cursor(arena, subscriber, seq)?)
    }

    /// Creates an arena and returns its id.
    pub fn create(&self, config: &ArenaConfig) -> Result<String, HostError> {
        let config = config.clone();
        self.call_write(move |m, s| m.call_create(s, &config))
    }

    /// Creates an arena with an idempotency `key`: a retry with the same key and config returns the
    /// same id and writes nothing; another config under the same key is refused (`invalid-input`).
    pub fn create_keyed(&self, config: &ArenaConfig, key: &str) -> Result<String, HostError> {
        let config = config.clone();
        let key = key.to_string();
        self.call_write(move |m, s| m.call_create_keyed(s, &config, &key))
    }

    /// Creates a fork of `parent` as it was right after its event `at`, created by `created_by`,
    /// and returns the fork's id (see the WIT's `fork`). Who may fork is the caller's decision.
    pub fn fork(&self, parent: &str, at: u64, created_by: &str) -> Result<String, HostError> {
        let parent = parent.to_string();
        let created_by = created_by.to_string();
        self.call_write(move |m, s| m.call_fork(s, &parent, at, &created_by))
    }

    /// The arena as the operator sees it.
    pub fn get(&self, arena: &str) -> Result<ArenaInfo, HostError> {
        self.call(|m, s| m.call_get(s, &arena.to_string()))
    }

    /// The arena as it was right after event `seq`, replayed from event 1.
    pub fn get_at(&self, arena: &str, seq: u64) -> Result<ArenaInfo, HostError> {
        self.call(|m, s| m.call_get_at(s, &arena.to_string(), seq))
    }

    /// Up to `limit` arenas (at most 1000) after `after`, oldest first.
    pub fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<ArenaInfo>, HostError> {
        self.call(|m, s| m.call_list_arenas(s, after.map(str::to_string).as_ref(), limit))
    }

    /// Up to `limit` events (at most 1000) with `seq > after`.
    pub fn events(&self, arena: &str, after: u64, limit: u32) -> Result<Vec<Event>, HostError> {
        self.call(|m, s| m.call_events(s, &arena.to_string(), after, limit))
    }

    /// Every event of the arena after `after`, page by page.
    pub fn all_events(&self, arena: &str, mut after: u64) -> Result<Vec<Event>, HostError> {
        let mut all = Vec::new();
        loop {
            let page = self.events(arena, after, 1000)?;
            match page.last() {
                None => return Ok(all),
                Some(last) => after = last.seq,
            }
            all.extend(page);
        }
    }

    /// Ids of non-archived arenas where `agent` participates, sorted.
    pub fn active_arenas_for(&self, agent: &str) -> Result<Vec<String>, HostError> {
        self.call(|m, s| m.call_active_arenas_for(s, &agent.to_string()))
    }

    /// Walks the arena's hash chain and replays its log against the stored state.
    pub fn verify(&self, arena: &str) -> Result<VerifyReport, HostError> {
        self.call(|m, s| m.call_verify(s, &arena.to_string()))
    }

    /// Every slot of the arena with its artifacts, sorted by agent.
    pub fn slots(&self, arena: &str) -> Result<Vec<types::Slot>, HostError> {
        self.call(|m, s| m.call_slots(s, &arena.to_string()))
    }

    /// Up to `limit` facts (at most 1000) matching `query`: of `arena`, or across every arena carrying
    /// the query's tag; after `after`, ordered by arena and sequence.
    pub fn query_facts(
        &self,
        arena: Option<&str>,
        query: &types::FactQuery,
        after: Option<&types::FactCursor>,
        limit: u32,
    ) -> Result<Vec<types::Fact>, HostError> {
        let arena = arena.map(str::to_string);
        self.call(|m, s| m.call_query_facts(s, arena.as_ref(), query, after, limit))
    }

    /// Every fact matching `query` (see [`ArenaHost::query_facts`]), page by page.
    pub fn all_facts(
        &self,
        arena: Option<&str>,
        query: &types::FactQuery,
    ) -> Result<Vec<types::Fact>, HostError> {
        let mut all: Vec<types::Fact> = Vec::new();
        loop {
            let after = all.last().map(|f| types::FactCursor {
                arena: f.arena.clone(),
                seq: f.seq,
            });
            let page = self.query_facts(arena, query, after.as_ref(), 1000)?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    }
}
