//! The arena runtime: one Store holding the SQLite connection, one instance of the arena component,
//! shared behind a lock that is held for exactly one component call.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use arena_bindings::arena::{Arena, ArenaPre};
use arena_bindings::manager::{Guest as Manager, VerifyReport};
use arena_bindings::storage::{self, ArenaRecord, StoredArena};
use arena_bindings::types::{self, AgentId, ArenaConfig, ArenaError, ArenaInfo, Event};

use crate::HostError;
use crate::backend::{self, Backend, Location};
use crate::handle::AgentHandle;
use crate::precompiled;
use crate::storage::Durability;

/// The arena component, built from `arena-component/` for `wasm32-wasip2` by this crate's build script.
pub const ARENA_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/arena_component.wasm"));

/// How long one call into the arena component may run, wall-clock (host calls included, so it sits well
/// above SQLite's busy timeout): past it the call traps and the runtime is rebuilt.
pub const ARENA_DEADLINE: Duration = Duration::from_secs(60);

/// The epoch tick the arena deadline is counted in.
const EPOCH_TICK: Duration = Duration::from_millis(10);

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
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            durability: Durability::default(),
            component_cache: None,
            group_commit: GroupCommit::Auto,
        }
    }
}

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
    fn enabled(self, durability: Durability) -> bool {
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
type Job = Box<dyn FnOnce(&ArenaHost, &mut ArenaRuntime) -> Answer + Send>;
type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The engine and the pre-linked arena component, compiled once per process.
struct Compiled {
    engine: Engine,
    pre: ArenaPre<ArenaState>,
    source: precompiled::Source,
}

/// How this process obtained the arena component: compiled, or loaded from the component cache.
/// `None` before the first host opened.
pub fn component_source() -> Option<precompiled::Source> {
    COMPILED.get()?.as_ref().ok().map(|c| c.source)
}

static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();

/// The process's engine and arena component; the first host to open decides the cache directory.
fn compiled(cache: Option<&Path>) -> Result<&'static Compiled, HostError> {
    COMPILED
        .get_or_init(|| {
            let compile = || -> wasmtime::Result<Compiled> {
                let mut config = Config::new();
                config.epoch_interruption(true);
                let engine = Engine::new(&config)?;
                let ticker = engine.weak();
                std::thread::Builder::new()
                    .name("arena-epoch".into())
                    .spawn(move || {
                        while let Some(engine) = ticker.upgrade() {
                            engine.increment_epoch();
                            drop(engine);
                            std::thread::sleep(EPOCH_TICK);
                        }
                    })
                    .map_err(|e| wasmtime::Error::msg(format!("starting the epoch ticker: {e}")))?;
                let digest: [u8; 32] = Sha256::digest(ARENA_COMPONENT).into();
                let (component, source) =
                    precompiled::compile(&engine, ARENA_COMPONENT, &digest, cache)?;
                let mut linker = Linker::<ArenaState>::new(&engine);
                wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
                Arena::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                let pre = ArenaPre::new(linker.instantiate_pre(&component)?)?;
                Ok(Compiled {
                    engine,
                    pre,
                    source,
                })
            };
            compile().map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| HostError::Load(wasmtime::Error::msg(e.clone())))
}

/// What the arena component's Store holds: the database connection and a default-deny WASI context.
pub(crate) struct ArenaState {
    storage: Box<dyn Backend>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for ArenaState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for ArenaState {}

impl storage::Host for ArenaState {
    fn load(&mut self, arena: String) -> Result<Option<StoredArena>, ArenaError> {
        self.storage.load(&arena)
    }

    fn read_events(
        &mut self,
        arena: String,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, ArenaError> {
        self.storage.read_events(&arena, after, limit)
    }

    fn append(
        &mut self,
        arena: String,
        expected_seq: u64,
        events: Vec<Event>,
        state: ArenaRecord,
    ) -> Result<(), ArenaError> {
        self.storage.append(&arena, expected_seq, &events, &state)
    }

    fn participating(&mut self, agent: AgentId) -> Result<Vec<String>, ArenaError> {
        self.storage.participating(&agent)
    }

    fn list_arenas(
        &mut self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        self.storage.list_arenas(after.as_deref(), limit)
    }

    fn tagged(
        &mut self,
        tag: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, ArenaError> {
        self.storage.tagged(&tag, after.as_deref(), limit)
    }
}

fn deadline_ticks() -> u64 {
    (ARENA_DEADLINE.as_millis() / EPOCH_TICK.as_millis()) as u64
}

/// A live instance of the arena component in its own Store.
struct ArenaRuntime {
    store: Store<ArenaState>,
    arena: Arena,
    /// Conflicts counted by connections this runtime has replaced.
    earlier_conflicts: u64,
    /// How many times the runtime was rebuilt after a trap, and how the batch open at the last
    /// rebuild was committed (for the group commit that was running it).
    rebuilds: u64,
    pending_commit: Option<Result<(), ArenaError>>,
}

impl ArenaRuntime {
    fn start(location: &Location, options: &HostOptions) -> Result<Self, HostError> {
        let compiled = compiled(options.component_cache.as_deref())?;
        let storage = backend::open(location, options.durability).map_err(HostError::Open)?;
        let state = ArenaState {
            storage,
            // Default-deny: no files, no network, no environment; the arena needs only the clock and
            // randomness, which WASI always provides. Its panics are ours to see.
            wasi: WasiCtx::builder().inherit_stderr().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&compiled.engine, state);
        store.set_epoch_deadline(deadline_ticks());
        let arena = compiled
            .pre
            .instantiate(&mut store)
            .map_err(HostError::Load)?;
        Ok(ArenaRuntime {
            store,
            arena,
            earlier_conflicts: 0,
            rebuilds: 0,
            pending_commit: None,
        })
    }

    fn conflicts(&self) -> u64 {
        self.earlier_conflicts + self.store.data().storage.conflicts()
    }
}

struct Shared {
    runtime: Mutex<ArenaRuntime>,
    location: Location,
    /// A connection of its own for [`ArenaHost::wait_for_appends`], opened on first use.
    waiter: Mutex<Option<Box<dyn Backend>>>,
    options: HostOptions,
    /// Writes waiting for a batch (group commit).
    queue: Mutex<VecDeque<Job>>,
    stats: Mutex<CommitStats>,
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
        let runtime = ArenaRuntime::start(&location, &options)?;
        Ok(ArenaHost {
            shared: Arc::new(Shared {
                runtime: Mutex::new(runtime),
                location,
                waiter: Mutex::new(None),
                options,
                queue: Mutex::new(VecDeque::new()),
                stats: Mutex::new(CommitStats::default()),
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
        let mut waiter = self.shared.waiter.lock().unwrap_or_else(|e| e.into_inner());
        if waiter.is_none() {
            *waiter = Some(
                backend::open(&self.shared.location, self.shared.options.durability)
                    .map_err(HostError::Open)?,
            );
        }
        if let Some(waiter) = waiter.as_mut() {
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
        *runtime = ArenaRuntime::start(&self.shared.location, &self.shared.options)?;
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

    /// Runs one call that may write. With group commit the call is queued; whichever writer holds the
    /// runtime (this one, or one already running the queue) runs the queued calls in one transaction,
    /// and each caller is answered only after that transaction commits.
    pub(crate) fn call_write<R: Send + 'static>(
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
                        "the group commit holding this operation failed: {why}"
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

    fn queue(&self) -> MutexGuard<'_, VecDeque<Job>> {
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
        let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        while jobs.len() > 0 {
            if let Err(e) = runtime.store.data_mut().storage.begin_batch() {
                let why = crate::describe(&e);
                for job in jobs.by_ref() {
                    job(self, runtime)(Err(why.clone()));
                }
                return;
            }
            for job in jobs.by_ref() {
                let traps_before = runtime.rebuilds;
                answers.push(job(self, runtime));
                if runtime.rebuilds != traps_before {
                    // The job trapped and the runtime was rebuilt on a new connection: the batch
                    // was committed before that (see `run`); start another for the rest.
                    break;
                }
            }
            let committed = match runtime.store.data_mut().storage.in_batch() {
                true => runtime.store.data_mut().storage.commit_batch(),
                false => runtime.pending_commit.take().unwrap_or(Ok(())),
            };
            let mut stats = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.batches += 1;
            stats.operations += answers.len() as u64;
            if committed.is_err() {
                stats.failed += 1;
            }
            drop(stats);
            let outcome = committed.map_err(|e| {
                let why = crate::describe(&e);
                tracing::error!("a group commit failed: {why}");
                why
            });
            for answer in answers.drain(..) {
                answer(outcome.clone());
            }
        }
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

    /// `agent`'s handle on `arena`, granted exactly the permissions the agent holds there now (none if it
    /// is not a participant). The arena checks them again on every call.
    pub fn handle(&self, arena: &str, agent: &str) -> Result<AgentHandle, HostError> {
        let info = self.get(arena)?;
        let grant = info
            .participants
            .iter()
            .find(|p| p.agent == agent)
            .map(|p| p.permissions.clone())
            .unwrap_or_default();
        Ok(AgentHandle::new(self.clone(), arena, agent, grant))
    }

    /// `agent`'s handle on `arena` with an explicit grant, as an operator configures a plugin.
    pub fn handle_with_grant(
        &self,
        arena: &str,
        agent: &str,
        grant: Vec<types::Permission>,
    ) -> AgentHandle {
        AgentHandle::new(self.clone(), arena, agent, grant)
    }
}
