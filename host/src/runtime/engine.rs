//! The arena component's engine and Store: the component compiled once per process, the epoch
//! ticker that wall-clock deadlines are counted in, and the Store that serves the component's
//! `storage` imports from a [`Backend`].

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use arena_bindings::arena::{Arena, ArenaPre};
use arena_bindings::storage::{self, ArenaRecord, LogHead, StateSnapshot};
use arena_bindings::types::{self, AgentId, ArenaError, Event};

use super::{HostOptions, OpenBackend};
use crate::HostError;
use crate::db::{Backend, Location};
use crate::precompiled;

/// The arena component, built from `arena-component/` for `wasm32-wasip2` by this crate's build script.
pub const ARENA_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("ARENA_GUEST_DIR"), "/arena_component.wasm"));

/// How long one call into the arena component may run, wall-clock (host calls included, so it sits well
/// above SQLite's busy timeout): past it the call traps and the runtime is rebuilt.
pub const ARENA_DEADLINE: Duration = Duration::from_secs(60);

/// The epoch tick the arena deadline is counted in.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine and the pre-linked arena component, compiled once per process.
struct Compiled {
    engine: Engine,
    pre: ArenaPre<ArenaState>,
}

static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();

/// The process's engine and arena component; the first host to open decides the cache directory.
fn compiled(cache: Option<&Path>) -> Result<&'static Compiled, HostError> {
    COMPILED
        .get_or_init(|| {
            let compile = || -> wasmtime::Result<Compiled> {
                let mut config = Config::new();
                config.epoch_interruption(true);
                if std::env::var_os("ARENA_PERF_MAP").is_some() {
                    // `/tmp/perf-PID.map`, for `perf report` (see the README's *Profiling*).
                    config.profiler(wasmtime::ProfilingStrategy::PerfMap);
                }
                let engine = Engine::new(&config)?;
                start_ticker(&engine, "arena-epoch")?;
                let digest: [u8; 32] = Sha256::digest(ARENA_COMPONENT).into();
                let (component, _) =
                    precompiled::compile(&engine, ARENA_COMPONENT, &digest, cache)?;
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
    pub(super) storage: Box<dyn Backend>,
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
    fn head(&mut self, arena: String) -> Result<Option<LogHead>, ArenaError> {
        self.storage.head(&arena)
    }

    fn snapshot(
        &mut self,
        arena: String,
        at_most: u64,
    ) -> Result<Option<StateSnapshot>, ArenaError> {
        self.storage.snapshot(&arena, at_most)
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
        record: Option<ArenaRecord>,
        snapshot: Option<String>,
    ) -> Result<(), ArenaError> {
        self.storage.append(
            &arena,
            expected_seq,
            &events,
            record.as_ref(),
            snapshot.as_deref(),
        )
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

/// Starts a thread that advances `engine`'s epoch every [`EPOCH_TICK`] for as long as the engine
/// lives: the clock every wall-clock deadline (the arena's, each plugin turn's) is counted in.
pub(crate) fn start_ticker(engine: &Engine, name: &str) -> wasmtime::Result<()> {
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| wasmtime::Error::msg(format!("starting the epoch ticker: {e}")))
}

/// `duration` in epoch ticks, at least one.
fn ticks(duration: Duration) -> u64 {
    (duration.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// The arena deadline in epoch ticks.
pub(super) fn deadline_ticks() -> u64 {
    ticks(ARENA_DEADLINE)
}

/// A live instance of the arena component in its own Store.
pub(super) struct ArenaRuntime {
    pub(super) store: Store<ArenaState>,
    pub(super) arena: Arena,
    /// Conflicts counted by connections this runtime has replaced.
    pub(super) earlier_conflicts: u64,
    /// How many times the runtime was rebuilt after a trap, and how the batch open at the last
    /// rebuild was committed (for the group commit that was running it).
    pub(super) rebuilds: u64,
    pub(super) pending_commit: Option<Result<(), ArenaError>>,
}

impl ArenaRuntime {
    /// Starts an instance on the connection `open` returns (`location` names it in errors).
    pub(super) fn start(
        location: &Location,
        options: &HostOptions,
        open: &OpenBackend,
    ) -> Result<Self, HostError> {
        let compiled = compiled(options.component_cache.as_deref())?;
        let storage = open().map_err(|reason| HostError::Open {
            location: location.to_string(),
            reason,
        })?;
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

    pub(super) fn conflicts(&self) -> u64 {
        self.earlier_conflicts + self.store.data().storage.conflicts()
    }
}
