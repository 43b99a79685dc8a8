//! The plugin engine: compiles each distinct component once, links it once per grant, and caches
//! a `Linker` per grant set and an `InstancePre` per (component, grant).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker, Type};
use wasmtime::{Config, Engine};
use wasmtime_wasi_config::WasiConfig;

use arena_bindings::agent::arena::core::{
    contribute, coordinate, observe, read_slots, share_facts, steer,
};
use arena_bindings::agent::{AgentIndices, AgentPre};

use super::host::PluginState;
use super::imports::{check_imports, interface_name};
use super::instance::Plugin;
use super::poll::shadow_blocking_poll;
use super::{PluginError, PluginErrorKind, PluginSpec};
use crate::runtime::start_ticker;
use crate::types::Permission;
use crate::{AgentHandle, HostError, precompiled};

/// A grant, and whether `wasi:http` is linked, as a bit set: what linkers are cached under.
fn link_bits(grant: &[Permission], http: bool) -> u8 {
    Permission::ALL
        .iter()
        .enumerate()
        .filter(|(_, p)| grant.contains(p))
        .fold(u8::from(http) << 7, |bits, (i, _)| bits | (1 << i))
}

/// A component's SHA-256 and a grant's bits: what an `InstancePre` is cached under.
type PreKey = ([u8; 32], u8);

/// Component bytes still in use, by allocation, with their SHA-256.
type Digests = Vec<(std::sync::Weak<[u8]>, [u8; 32])>;

/// Compiles and links plugins, caching a `Linker` per grant set and an `InstancePre` per
/// (component, grant).
pub struct PluginEngine {
    engine: Engine,
    /// Where compiled components are kept between processes, if anywhere.
    cache: Option<std::path::PathBuf>,
    linkers: Mutex<HashMap<u8, Arc<Linker<PluginState>>>>,
    components: Mutex<HashMap<[u8; 32], Component>>,
    pres: Mutex<HashMap<PreKey, AgentPre<PluginState>>>,
    /// The digests of the component bytes still in use, by allocation: plugins that share their
    /// bytes (a run's workers of one component) are hashed once.
    digests: Mutex<Digests>,
}

impl PluginEngine {
    /// An engine with fuel metering, for plugins only (the arena runs on its own engine).
    pub fn new() -> Result<Self, HostError> {
        Self::with_config(Config::new())
    }

    /// An engine whose instances come from wasmtime's pooling allocator: up to `instances` plugins
    /// live at once, each with at most `memory_bytes` of linear memory (a plugin whose limit is
    /// larger cannot be instantiated on it).
    pub fn pooling(instances: u32, memory_bytes: usize) -> Result<Self, HostError> {
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(4))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_memory_size(memory_bytes);
        let mut config = Config::new();
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        Self::with_config(config)
    }

    fn with_config(mut config: Config) -> Result<Self, HostError> {
        config.consume_fuel(true);
        // Wall-clock turn limits and interruption are counted in epochs.
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(HostError::Load)?;
        start_ticker(&engine, "plugin-epoch").map_err(HostError::Load)?;
        Ok(PluginEngine {
            engine,
            cache: None,
            linkers: Mutex::default(),
            components: Mutex::default(),
            pres: Mutex::default(),
            digests: Mutex::default(),
        })
    }

    /// The same engine, keeping compiled components in `dir` so that a later process loads them
    /// without compiling (large interpreter-based plugins take seconds to compile).
    pub fn with_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache = Some(dir.into());
        self
    }

    /// Compiles `bytes`, or loads the compilation cached for the same bytes and engine settings.
    fn compile(&self, bytes: &[u8], digest: &[u8; 32]) -> wasmtime::Result<Component> {
        precompiled::compile(&self.engine, bytes, digest, self.cache.as_deref()).map(|(c, _)| c)
    }

    /// How many distinct components this engine has compiled (each is compiled once).
    pub fn compiled_components(&self) -> usize {
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn linker(
        &self,
        grant: &[Permission],
        http: bool,
    ) -> wasmtime::Result<Arc<Linker<PluginState>>> {
        let bits = link_bits(grant, http);
        let mut linkers = self.linkers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(linker) = linkers.get(&bits) {
            return Ok(linker.clone());
        }
        let mut linker = Linker::<PluginState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // A sleep ends when the turn must: its limit, the run's deadline, Ctrl-C.
        shadow_blocking_poll(&mut linker)?;
        // The shared types interface holds no functions: an empty instance satisfies it.
        linker.instance(&interface_name("types"))?;
        // Configuration needs no permission: a plugin without any sees an empty store.
        wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut PluginState| {
            WasiConfig::from(&state.variables)
        })?;
        if http {
            wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        }
        for permission in grant {
            match permission {
                Permission::Observe => observe::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?,
                Permission::ReadSlots => {
                    read_slots::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?
                }
                Permission::Contribute => {
                    contribute::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?
                }
                Permission::ShareFacts => {
                    share_facts::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?
                }
                Permission::Steer => steer::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?,
                Permission::Coordinate => {
                    coordinate::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?
                }
            }
        }
        let linker = Arc::new(linker);
        linkers.insert(bits, linker.clone());
        Ok(linker)
    }

    /// Checks `spec`'s imports against `handle`'s grant, then compiles (once per distinct component)
    /// and links it (once per component and grant), and instantiates it in a fresh Store bound to
    /// `handle`.
    pub fn load(&self, spec: &PluginSpec, handle: AgentHandle) -> Result<Plugin, PluginError> {
        self.prepare(spec, handle.grant())?.instantiate(handle)
    }

    /// The SHA-256 of `component`, computed once per allocation of its bytes.
    fn digest(&self, component: &Arc<[u8]>) -> [u8; 32] {
        let mut known = self.digests.lock().unwrap_or_else(|e| e.into_inner());
        // Only live allocations are compared, so an address cannot have been reused.
        known.retain(|(bytes, _)| bytes.strong_count() > 0);
        let seen = known
            .iter()
            .find(|(bytes, _)| std::ptr::addr_eq(bytes.as_ptr(), Arc::as_ptr(component)))
            .map(|(_, digest)| *digest);
        seen.unwrap_or_else(|| {
            let digest = Sha256::digest(component).into();
            known.push((Arc::downgrade(component), digest));
            digest
        })
    }

    /// Checks `spec`'s imports against `grant` and returns it compiled and linked (each once per
    /// component, and per component and grant), ready to instantiate for handles with that grant.
    pub fn prepare(
        &self,
        spec: &PluginSpec,
        grant: &[Permission],
    ) -> Result<PreparedPlugin, PluginError> {
        let grant = grant.to_vec();
        check_imports(spec, &grant)?;
        let invalid = |e: wasmtime::Error| {
            PluginErrorKind::Invalid {
                message: format!("{e:#}"),
            }
            .of(&spec.name, &spec.agent)
        };
        let digest = self.digest(&spec.component);
        let http = !spec.allowed_outbound_hosts.is_empty();
        let key = (digest, link_bits(&grant, http));
        let cached = self
            .pres
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let pre = match cached {
            Some(pre) => pre,
            None => {
                let cached = self
                    .components
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&digest)
                    .cloned();
                let component = match cached {
                    Some(component) => component,
                    None => {
                        let component = self.compile(&spec.component, &digest).map_err(invalid)?;
                        self.components
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(digest, component.clone());
                        component
                    }
                };
                let linker = self.linker(&grant, http).map_err(invalid)?;
                let pre = AgentPre::new(linker.instantiate_pre(&component).map_err(invalid)?)
                    .map_err(invalid)?;
                self.pres
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, pre.clone());
                pre
            }
        };
        let component = pre.instance_pre().component();
        // Checked here, before any arena exists: a wrong signature would otherwise surface only
        // when the plugin is instantiated.
        check_export(component, "plugin", "turn", TURN).map_err(invalid)?;
        check_export(component, "subscriber", "on-events", ON_EVENTS).map_err(invalid)?;
        // Export lookups by name happen once here, not at every instantiation.
        let indices = AgentIndices::new(pre.instance_pre()).map_err(invalid)?;
        let on_events = component
            .get_export_index(None, interface_name("subscriber"))
            .and_then(|subscriber| component.get_export_index(Some(&subscriber), "on-events"));
        Ok(PreparedPlugin {
            spec: spec.clone(),
            grant,
            engine: self.engine.clone(),
            pre,
            indices,
            on_events,
        })
    }
}

/// The signature of `plugin.turn`, as [`shape`] writes it.
const TURN: &str = "func(u32) -> result<string, string>";

/// The signature of `subscriber.on-events`, as [`shape`] writes it.
const ON_EVENTS: &str = "func(list<record { seq: u64, at: string, actor: string, kind: string, \
                         payload: string, hash: string }>) -> result<_, string>";

/// Refuses an export `function` of the interface `interface` whose signature is not `expected`
/// (a missing one is left to the bindings, which name it).
fn check_export(
    component: &Component,
    interface: &str,
    function: &str,
    expected: &str,
) -> wasmtime::Result<()> {
    let name = interface_name(interface);
    let Some((_, instance)) = component.get_export(None, name.as_str()) else {
        return Ok(());
    };
    let Some((item, _)) = component.get_export(Some(&instance), function) else {
        return Ok(());
    };
    let found = match item {
        ComponentItem::ComponentFunc(func) => {
            let params: Vec<String> = func.params().map(|(_, ty)| shape(&ty)).collect();
            let results: Vec<String> = func.results().map(|ty| shape(&ty)).collect();
            match results.as_slice() {
                [] => format!("func({})", params.join(", ")),
                [one] => format!("func({}) -> {one}", params.join(", ")),
                many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
            }
        }
        _ => "not a function".to_string(),
    };
    if found != expected {
        wasmtime::bail!("its export `{name}#{function}` is `{found}`, not `{expected}`");
    }
    Ok(())
}

/// A component type written as WIT writes it, with type names resolved to their structure.
fn shape(ty: &Type) -> String {
    let opt = |ty: Option<Type>| ty.map_or("_".to_string(), |t| shape(&t));
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(list) => format!("list<{}>", shape(&list.ty())),
        Type::Record(record) => {
            let fields: Vec<String> = record
                .fields()
                .map(|f| format!("{}: {}", f.name, shape(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(tuple) => {
            let types: Vec<String> = tuple.types().map(|t| shape(&t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Option(option) => format!("option<{}>", shape(&option.ty())),
        Type::Result(result) => format!("result<{}, {}>", opt(result.ok()), opt(result.err())),
        // The expected signatures hold none of the rest: their kind is enough to tell them apart.
        other => format!("{other:?}")
            .split(['(', ' '])
            .next()
            .unwrap_or("type")
            .to_lowercase(),
    }
}

/// A plugin checked, compiled and linked for one grant: instantiating it is all that is left.
#[derive(Clone)]
pub struct PreparedPlugin {
    pub(super) spec: PluginSpec,
    grant: Vec<Permission>,
    pub(super) engine: Engine,
    pub(super) pre: AgentPre<PluginState>,
    pub(super) indices: AgentIndices,
    /// `subscriber.on-events`, if the plugin exports it.
    pub(super) on_events: Option<wasmtime::component::ComponentExportIndex>,
}

impl PreparedPlugin {
    /// The grant it was prepared for: exactly the handle interfaces it is linked to.
    pub fn grant(&self) -> &[Permission] {
        &self.grant
    }

    /// A live instance in a fresh Store bound to `handle`, whose grant must be the one this plugin
    /// was prepared for.
    pub fn instantiate(&self, handle: AgentHandle) -> Result<Plugin, PluginError> {
        if handle.grant() != self.grant.as_slice() {
            return Err(PluginErrorKind::Invalid {
                message: "the handle's grant is not the one the plugin was prepared for".into(),
            }
            .of(&self.spec.name, &self.spec.agent));
        }
        Plugin::start(self, handle)
    }
}
