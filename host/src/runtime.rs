//! The arena runtime: one Store holding the SQLite connection, one instance of the arena component,
//! shared behind a lock that is held for exactly one component call.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use arena_bindings::arena::{Arena, ArenaPre};
use arena_bindings::manager::{Guest as Manager, VerifyReport};
use arena_bindings::storage::{self, ArenaRecord, StoredArena};
use arena_bindings::types::{self, AgentId, ArenaConfig, ArenaError, ArenaInfo, Event};

use crate::HostError;
use crate::handle::AgentHandle;
use crate::storage::{Durability, SqliteStorage};

/// The arena component, built from `arena-component/` for `wasm32-wasip2` by this crate's build script.
pub const ARENA_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/arena_component.wasm"));

/// How long one call into the arena component may run, wall-clock (host calls included, so it sits well
/// above SQLite's busy timeout): past it the call traps and the runtime is rebuilt.
pub const ARENA_DEADLINE: Duration = Duration::from_secs(60);

/// The epoch tick the arena deadline is counted in.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How a host opens its database.
#[derive(Clone, Debug, Default)]
pub struct HostOptions {
    /// Commit durability; [`Durability::Normal`] by default.
    pub durability: Durability,
}

/// The engine and the pre-linked arena component, compiled once per process.
struct Compiled {
    engine: Engine,
    pre: ArenaPre<ArenaState>,
}

fn compiled() -> Result<&'static Compiled, HostError> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
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
                let component = Component::new(&engine, ARENA_COMPONENT)?;
                let mut linker = Linker::<ArenaState>::new(&engine);
                wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
                Arena::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
                let pre = ArenaPre::new(linker.instantiate_pre(&component)?)?;
                Ok(Compiled { engine, pre })
            };
            compile().map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| HostError::Load(wasmtime::Error::msg(e.clone())))
}

/// What the arena component's Store holds: the database connection and a default-deny WASI context.
pub(crate) struct ArenaState {
    storage: SqliteStorage,
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
}

impl ArenaRuntime {
    fn start(path: &Path, durability: Durability) -> Result<Self, HostError> {
        let compiled = compiled()?;
        let storage = SqliteStorage::open(path, durability)
            .map_err(|e| HostError::Open(format!("{}: {e}", path.display())))?;
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
        })
    }

    fn conflicts(&self) -> u64 {
        self.earlier_conflicts + self.store.data().storage.conflicts()
    }
}

struct Shared {
    runtime: Mutex<ArenaRuntime>,
    path: PathBuf,
    durability: Durability,
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
        let path = path.as_ref().to_path_buf();
        let runtime = ArenaRuntime::start(&path, options.durability)?;
        Ok(ArenaHost {
            shared: Arc::new(Shared {
                runtime: Mutex::new(runtime),
                path,
                durability: options.durability,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How many appends were refused with `conflict` (and retried by the component) on this host.
    pub fn conflicts(&self) -> u64 {
        self.lock().map(|rt| rt.conflicts()).unwrap_or(0)
    }

    fn lock(&self) -> Result<MutexGuard<'_, ArenaRuntime>, HostError> {
        match self.shared.runtime.lock() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                // A panic interrupted a call: the instance may be mid-operation. Rebuild, never resume.
                let mut guard = poisoned.into_inner();
                self.rebuild(&mut guard)?;
                self.shared.runtime.clear_poison();
                Ok(guard)
            }
        }
    }

    fn rebuild(&self, runtime: &mut ArenaRuntime) -> Result<(), HostError> {
        tracing::warn!(db = %self.shared.path.display(), "rebuilding the arena runtime from the database");
        let earlier = runtime.conflicts();
        *runtime = ArenaRuntime::start(&self.shared.path, self.shared.durability)?;
        runtime.earlier_conflicts = earlier;
        Ok(())
    }

    /// Runs one call of the manager export with the runtime locked for exactly that call.
    pub(crate) fn call<R>(
        &self,
        f: impl FnOnce(&Manager, &mut Store<ArenaState>) -> wasmtime::Result<Result<R, ArenaError>>,
    ) -> Result<R, HostError> {
        let mut guard = self.lock()?;
        let runtime = &mut *guard;
        runtime.store.set_epoch_deadline(deadline_ticks());
        match f(runtime.arena.arena_core_manager(), &mut runtime.store) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(HostError::Arena(error)),
            Err(trap) => {
                tracing::error!(error = %format!("{trap:#}"), "the arena component trapped");
                self.rebuild(runtime)?;
                Err(HostError::Trap(trap))
            }
        }
    }

    /// The last event of `arena` that `subscriber` accepted (0 for none).
    pub fn cursor(&self, arena: &str, subscriber: &str) -> Result<u64, HostError> {
        Ok(self
            .lock()?
            .store
            .data()
            .storage
            .cursor(arena, subscriber)?)
    }

    /// Moves `subscriber`'s durable cursor on `arena` forward to `seq`.
    pub fn advance_cursor(&self, arena: &str, subscriber: &str, seq: u64) -> Result<(), HostError> {
        Ok(self
            .lock()?
            .store
            .data()
            .storage
            .advance_cursor(arena, subscriber, seq)?)
    }

    /// Creates an arena and returns its id.
    pub fn create(&self, config: &ArenaConfig) -> Result<String, HostError> {
        self.call(|m, s| m.call_create(s, config))
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
