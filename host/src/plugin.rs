//! Agent plugins: components that act in an arena through the handle interfaces their grant allows.
//!
//! A plugin's imports are compared with its grant **before** it is compiled: an ungranted, unknown or
//! other-version import is refused with an error naming the agent, the interface and what is missing.
//! Its linker then defines WASI p2 (default-deny: no files, no network, no environment, captured
//! output) plus exactly the granted handle interfaces, each bound by the host to one arena and one
//! agent. Each plugin runs in its own Store with a memory cap, a fuel budget per turn (wasm
//! instructions, so time blocked in host calls does not count), and a cap on argument bytes; a plugin
//! that breaks one is stopped and reported, and the arena and the other plugins carry on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable, TypedFunc};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use arena_bindings::agent::arena::core::{
    contribute, coordinate, observe, read_slots, share_facts, steer,
};
use arena_bindings::agent::{Agent, AgentIndices, AgentPre};

use crate::precompiled;
use crate::types::{
    Aggregate, ArenaError, ArenaInfo, ArenaStatus, Artifact, ArtifactDraft, Event, Fact, FactDraft,
    FactQuery, MergeRequest, Participant, ParticipantSpec, Permission, Slot, SlotInfo, SlotStatus,
};
use crate::{AgentHandle, HostError, PERMISSIONS, permission_name};

/// The version of our WIT package that this host provides.
pub const PACKAGE: &str = "arena:core";
/// The version of [`PACKAGE`] this host links.
pub const PACKAGE_VERSION: &str = "0.1.0";

/// Per-plugin sandbox limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginLimits {
    /// Largest linear memory, in bytes. Default 64 MiB.
    pub memory_bytes: usize,
    /// Fuel (roughly, wasm instructions) one turn may burn. Default 1 000 000 000 (about a second).
    pub fuel_per_turn: u64,
    /// Largest argument the plugin may pass to one handle call, in bytes (strings and lists summed).
    /// Default 128 KiB: room for the largest artifact (64 KiB of content and its metadata).
    pub max_argument_bytes: usize,
    /// Stdout and stderr kept per plugin and run, each, in bytes; writing more stops the plugin.
    /// Default 64 KiB.
    pub output_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_bytes: 64 << 20,
            fuel_per_turn: 1_000_000_000,
            max_argument_bytes: 128 << 10,
            output_bytes: 64 << 10,
        }
    }
}

/// Why a plugin was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// An import the grant does not cover; found before compiling.
    #[error("plugin {plugin} (agent {agent}) imports `{interface}` but its grant lacks the `{}` permission", permission_name(*permission))]
    NotGranted {
        plugin: String,
        agent: String,
        interface: String,
        permission: Permission,
    },
    /// An import this host does not provide at all (another version of ours, or something unknown).
    #[error(
        "plugin {plugin} (agent {agent}) imports `{interface}`, which this host does not provide: {reason}"
    )]
    UnknownImport {
        plugin: String,
        agent: String,
        interface: String,
        reason: String,
    },
    /// The bytes are not a valid component, or linking failed.
    #[error("plugin {plugin} (agent {agent}) cannot be loaded: {message}")]
    Invalid {
        plugin: String,
        agent: String,
        message: String,
    },
    /// The turn ran out of fuel: the execution deadline.
    #[error(
        "plugin {plugin} (agent {agent}) was stopped: it used its whole budget of {fuel} fuel in one turn (the execution deadline)"
    )]
    Deadline {
        plugin: String,
        agent: String,
        fuel: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error(
        "plugin {plugin} (agent {agent}) was stopped: it tried to grow its memory to {wanted} bytes, over the cap of {cap} bytes"
    )]
    MemoryCap {
        plugin: String,
        agent: String,
        wanted: usize,
        cap: usize,
    },
    /// The plugin passed a handle call an argument over the size cap.
    #[error(
        "plugin {plugin} (agent {agent}) was stopped: it passed {size} bytes to `{function}`, over the cap of {cap} bytes"
    )]
    ArgumentTooLarge {
        plugin: String,
        agent: String,
        function: &'static str,
        size: usize,
        cap: usize,
    },
    /// The plugin trapped (a panic, an unreachable, a bad memory access…).
    #[error("plugin {plugin} (agent {agent}) trapped: {message}")]
    Trap {
        plugin: String,
        agent: String,
        /// The trap with its wasm backtrace.
        message: String,
    },
    /// The plugin was stopped earlier in this run and takes no more turns.
    #[error("plugin {plugin} (agent {agent}) was stopped earlier in this run")]
    Stopped { plugin: String, agent: String },
}

/// What a plugin brings: its component and who it acts as.
#[derive(Clone, Debug)]
pub struct PluginSpec {
    /// A name for reports (a file name, say).
    pub name: String,
    /// The agent the plugin acts as; the host binds every handle call to it.
    pub agent: String,
    /// The component's bytes.
    pub component: Arc<[u8]>,
    /// Its sandbox limits.
    pub limits: PluginLimits,
    /// Where it may send HTTP requests (`wasi:http`), as `http://host:port`, `https://host` or
    /// `host[:port]`; empty (the default) means no outbound access and no `wasi:http` import.
    pub allowed_outbound_hosts: Vec<String>,
}

/// The host functions a plugin is linked to: one handle, plus the sandbox's bookkeeping.
pub(crate) struct PluginState {
    handle: AgentHandle,
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryCap,
    max_argument_bytes: usize,
    /// A broken limit found inside a host call, reported instead of the bare trap.
    oversized: Option<(&'static str, usize)>,
    http: WasiHttpCtx,
    outbound: OutboundHosts,
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// The hosts a plugin may reach over `wasi:http`; every other request is refused before any
/// connection is made.
#[derive(Clone, Debug, Default)]
pub struct OutboundHosts {
    allowed: Vec<(Option<String>, String, Option<u16>)>,
}

impl OutboundHosts {
    /// Parses `scheme://host[:port]` or `host[:port]` entries.
    pub fn new(entries: &[String]) -> Self {
        let allowed = entries
            .iter()
            .map(|entry| {
                let (scheme, rest) = match entry.split_once("://") {
                    Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
                    None => (None, entry.as_str()),
                };
                let rest = rest.trim_end_matches('/');
                match rest
                    .rsplit_once(':')
                    .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
                {
                    Some((host, port)) => (scheme, host.to_ascii_lowercase(), Some(port)),
                    None => (scheme, rest.to_ascii_lowercase(), None),
                }
            })
            .collect();
        OutboundHosts { allowed }
    }

    /// Whether a request to `uri` may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host().map(str::to_ascii_lowercase) else {
            return false;
        };
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        self.allowed.iter().any(|(s, h, p)| {
            *h == host && s.as_ref().is_none_or(|s| *s == scheme) && p.is_none_or(|p| p == port)
        })
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for OutboundHosts {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn std::future::Future<Output = SendResult> + Send> {
        drop(fut);
        if !self.allows(request.uri()) {
            tracing::warn!(uri = %request.uri(), "refused an outbound request to a host not allowed");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the cap, remembering that it did.
struct MemoryCap {
    cap: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.refused = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory cap of {} bytes exceeded (wanted {desired})",
                self.cap
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

type HandleResult<T> = wasmtime::Result<Result<T, ArenaError>>;

impl PluginState {
    /// Passes an arena error to the plugin as a value; anything else (an arena trap, a host failure)
    /// traps the plugin.
    fn relay<T>(result: Result<T, HostError>) -> HandleResult<T> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(HostError::Arena(error)) => Ok(Err(error)),
            Err(other) => Err(wasmtime::Error::msg(other.to_string())),
        }
    }

    fn bounded(&mut self, function: &'static str, size: usize) -> wasmtime::Result<()> {
        if size > self.max_argument_bytes {
            self.oversized = Some((function, size));
            return Err(wasmtime::Error::msg(format!(
                "argument of {size} bytes to {function} exceeds the cap of {} bytes",
                self.max_argument_bytes
            )));
        }
        Ok(())
    }
}

impl observe::Host for PluginState {
    fn info(&mut self) -> HandleResult<ArenaInfo> {
        Self::relay(self.handle.info())
    }
    fn goal(&mut self) -> HandleResult<String> {
        Self::relay(self.handle.info().map(|i| i.goal))
    }
    fn status(&mut self) -> HandleResult<ArenaStatus> {
        Self::relay(self.handle.info().map(|i| i.status))
    }
    fn progress(&mut self) -> HandleResult<Aggregate> {
        Self::relay(self.handle.info().map(|i| i.aggregate))
    }
    fn participants(&mut self) -> HandleResult<Vec<Participant>> {
        Self::relay(self.handle.info().map(|i| i.participants))
    }
    fn events(&mut self, after: u64, limit: u32) -> HandleResult<Vec<Event>> {
        Self::relay(self.handle.events(after, limit))
    }
    fn leave(&mut self) -> HandleResult<()> {
        Self::relay(self.handle.leave())
    }
    fn facts(&mut self, query: FactQuery) -> HandleResult<Vec<Fact>> {
        let size =
            query.tag.as_ref().map_or(0, String::len) + query.text.as_ref().map_or(0, String::len);
        self.bounded("facts", size)?;
        Self::relay(self.handle.facts(&query))
    }
}

impl read_slots::Host for PluginState {
    fn list_slots(&mut self) -> HandleResult<Vec<SlotInfo>> {
        Self::relay(self.handle.list_slots())
    }
    fn read_slot(&mut self, agent: String) -> HandleResult<Slot> {
        self.bounded("read-slot", agent.len())?;
        Self::relay(self.handle.read_slot(&agent))
    }
    fn read_artifact(&mut self, id: String) -> HandleResult<Artifact> {
        self.bounded("read-artifact", id.len())?;
        Self::relay(self.handle.read_artifact(&id))
    }
}

impl contribute::Host for PluginState {
    fn complete_step(&mut self, step: u32) -> HandleResult<Aggregate> {
        Self::relay(self.handle.complete_step(step))
    }
    fn report_progress(&mut self, note: String) -> HandleResult<Aggregate> {
        self.bounded("report-progress", note.len())?;
        Self::relay(self.handle.report_progress(&note))
    }
    fn put_artifact(&mut self, draft: ArtifactDraft) -> HandleResult<Artifact> {
        let size = draft.kind.len() + draft.content.len() + metadata_size(&draft.metadata);
        self.bounded("put-artifact", size)?;
        Self::relay(self.handle.put_artifact(&draft))
    }
    fn set_slot_status(&mut self, status: SlotStatus) -> HandleResult<()> {
        Self::relay(self.handle.set_slot_status(status))
    }
    fn own_slot(&mut self) -> HandleResult<Slot> {
        Self::relay(self.handle.own_slot())
    }
}

impl share_facts::Host for PluginState {
    fn add_fact(&mut self, draft: FactDraft) -> HandleResult<Fact> {
        let size = draft.content.len() + draft.tags.iter().map(String::len).sum::<usize>();
        self.bounded("add-fact", size)?;
        Self::relay(self.handle.add_fact(&draft))
    }
}

/// Bytes of a metadata list, keys and values.
fn metadata_size(metadata: &[(String, String)]) -> usize {
    metadata.iter().map(|(k, v)| k.len() + v.len()).sum()
}

impl steer::Host for PluginState {
    fn update_goal(&mut self, goal: String) -> HandleResult<()> {
        self.bounded("update-goal", goal.len())?;
        Self::relay(self.handle.update_goal(&goal))
    }
}

impl coordinate::Host for PluginState {
    fn activate(&mut self) -> HandleResult<ArenaStatus> {
        Self::relay(self.handle.activate())
    }
    fn settle(&mut self) -> HandleResult<ArenaStatus> {
        Self::relay(self.handle.settle())
    }
    fn archive(&mut self) -> HandleResult<ArenaStatus> {
        Self::relay(self.handle.archive())
    }
    fn abort(&mut self, reason: String) -> HandleResult<ArenaStatus> {
        self.bounded("abort", reason.len())?;
        Self::relay(self.handle.abort(&reason))
    }
    fn invite(&mut self, participant: ParticipantSpec) -> HandleResult<Participant> {
        let size = participant.agent.len() + participant.permissions.as_ref().map_or(0, Vec::len);
        self.bounded("invite", size)?;
        Self::relay(self.handle.invite(&participant))
    }
    fn merge(&mut self, request: MergeRequest) -> HandleResult<Artifact> {
        let size = request.kind.len()
            + request.content.len()
            + request.sources.iter().map(String::len).sum::<usize>()
            + metadata_size(&request.metadata);
        self.bounded("merge", size)?;
        Self::relay(self.handle.merge(&request))
    }
}

/// A grant, and whether `wasi:http` is linked, as a bit set: what linkers are cached under.
fn link_bits(grant: &[Permission], http: bool) -> u8 {
    PERMISSIONS
        .iter()
        .enumerate()
        .filter(|(_, p)| grant.contains(p))
        .fold(u8::from(http) << 7, |bits, (i, _)| bits | (1 << i))
}

/// The versioned name of our interface `name`.
pub fn interface_name(name: &str) -> String {
    format!("{PACKAGE}/{name}@{PACKAGE_VERSION}")
}

/// The top-level imports of a component, read without compiling it.
pub fn component_imports(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            wasmparser::Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != wasmparser::Encoding::Component {
                    return Err("a core module, not a component".into());
                }
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    imports.push(import.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// Checks every import of `spec`'s component against `grant`, before anything is compiled.
pub fn check_imports(spec: &PluginSpec, grant: &[Permission]) -> Result<(), PluginError> {
    let imports = component_imports(&spec.component).map_err(|message| PluginError::Invalid {
        plugin: spec.name.clone(),
        agent: spec.agent.clone(),
        message,
    })?;
    for interface in imports {
        let unknown = |reason: String| PluginError::UnknownImport {
            plugin: spec.name.clone(),
            agent: spec.agent.clone(),
            interface: interface.clone(),
            reason,
        };
        if let Some(rest) = interface.strip_prefix("wasi:") {
            if rest.starts_with("http/") && spec.allowed_outbound_hosts.is_empty() {
                return Err(unknown(
                    "outbound HTTP is not granted to this plugin (no allowed outbound hosts)"
                        .into(),
                ));
            }
            continue;
        }
        let Some(ours) = interface.strip_prefix(&format!("{PACKAGE}/")) else {
            return Err(unknown(
                "only WASI and the arena:core handle interfaces are provided".into(),
            ));
        };
        let (name, version) = ours.split_once('@').unwrap_or((ours, ""));
        if version != PACKAGE_VERSION {
            return Err(unknown(format!(
                "this host provides {PACKAGE}@{PACKAGE_VERSION}, not version {version:?}"
            )));
        }
        if name == "types" {
            continue;
        }
        let Some(permission) = PERMISSIONS
            .into_iter()
            .find(|p| permission_name(*p) == name)
        else {
            return Err(unknown(format!("`{name}` is not a handle interface")));
        };
        if !grant.contains(&permission) {
            return Err(PluginError::NotGranted {
                plugin: spec.name.clone(),
                agent: spec.agent.clone(),
                interface,
                permission,
            });
        }
    }
    Ok(())
}

/// A component's SHA-256 and a grant's bits: what an `InstancePre` is cached under.
type PreKey = ([u8; 32], u8);

/// Compiles and links plugins, caching a `Linker` per grant set and an `InstancePre` per
/// (component, grant).
pub struct PluginEngine {
    engine: Engine,
    /// Where compiled components are kept between processes, if anywhere.
    cache: Option<std::path::PathBuf>,
    linkers: Mutex<HashMap<u8, Arc<Linker<PluginState>>>>,
    components: Mutex<HashMap<[u8; 32], Component>>,
    pres: Mutex<HashMap<PreKey, AgentPre<PluginState>>>,
    /// The empty component, linked: the baseline of instantiation.
    empty: Mutex<Option<wasmtime::component::InstancePre<PluginState>>>,
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
        let engine = Engine::new(&config).map_err(HostError::Load)?;
        Ok(PluginEngine {
            engine,
            cache: None,
            linkers: Mutex::default(),
            components: Mutex::default(),
            pres: Mutex::default(),
            empty: Mutex::default(),
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
        // The shared types interface holds no functions: an empty instance satisfies it.
        linker.instance(&interface_name("types"))?;
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

    /// Instantiates the smallest component (no imports, no exports) in a Store set up exactly as a
    /// plugin's: the baseline plugin instantiation is measured against.
    pub fn instantiate_empty(
        &self,
        spec: &PluginSpec,
        handle: AgentHandle,
    ) -> wasmtime::Result<()> {
        let pre = match &*self.empty.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(pre) => pre.clone(),
            None => {
                let component = Component::new(&self.engine, EMPTY_COMPONENT)?;
                Linker::<PluginState>::new(&self.engine).instantiate_pre(&component)?
            }
        };
        *self.empty.lock().unwrap_or_else(|e| e.into_inner()) = Some(pre.clone());
        let (mut store, _, _) = Plugin::store(spec, handle, &self.engine);
        pre.instantiate(&mut store).map(drop)
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
        let invalid = |e: wasmtime::Error| PluginError::Invalid {
            plugin: spec.name.clone(),
            agent: spec.agent.clone(),
            message: format!("{e:#}"),
        };
        let digest: [u8; 32] = Sha256::digest(&spec.component).into();
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
        // Export lookups by name happen once here, not at every instantiation.
        let indices = AgentIndices::new(pre.instance_pre()).map_err(invalid)?;
        let component = pre.instance_pre().component();
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

/// The smallest valid component: the preamble of the component binary format, no sections.
const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// A plugin checked, compiled and linked for one grant: instantiating it is all that is left.
#[derive(Clone)]
pub struct PreparedPlugin {
    spec: PluginSpec,
    grant: Vec<Permission>,
    engine: Engine,
    pre: AgentPre<PluginState>,
    indices: AgentIndices,
    /// `subscriber.on-events`, if the plugin exports it.
    on_events: Option<wasmtime::component::ComponentExportIndex>,
}

impl PreparedPlugin {
    /// A live instance in a fresh Store bound to `handle`, whose grant must be the one this plugin
    /// was prepared for.
    pub fn instantiate(&self, handle: AgentHandle) -> Result<Plugin, PluginError> {
        if handle.grant() != self.grant.as_slice() {
            return Err(PluginError::Invalid {
                plugin: self.spec.name.clone(),
                agent: self.spec.agent.clone(),
                message: "the handle's grant is not the one the plugin was prepared for".into(),
            });
        }
        Plugin::start(self, handle)
    }
}

/// What one turn of one plugin did.
#[derive(Debug)]
pub struct TurnReport {
    /// The plugin's name.
    pub plugin: String,
    /// The agent it acts as.
    pub agent: String,
    /// The turn number, from 1.
    pub turn: u32,
    /// The plugin's own report, its error text, or why it was stopped.
    pub outcome: TurnOutcome,
    /// What it wrote to stdout and stderr during the turn.
    pub output: String,
    /// Fuel the turn burned.
    pub fuel: u64,
}

/// How a turn ended.
#[derive(Debug)]
pub enum TurnOutcome {
    /// The plugin returned `ok(report)`.
    Done(String),
    /// The plugin returned `err(text)`; it keeps its turns.
    Failed(String),
    /// The plugin broke a limit or trapped, and was stopped for the rest of the run.
    Stopped(PluginError),
}

/// A live plugin instance in its own Store, bound to one arena and one agent.
pub struct Plugin {
    name: String,
    agent: String,
    store: Store<PluginState>,
    bindings: Agent,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// Bytes of stdout and stderr already reported.
    reported: (usize, usize),
    fuel_per_turn: u64,
    stopped: bool,
    /// The `subscriber.on-events` export, when the plugin has one and its grant holds `observe`.
    on_events: Option<OnEvents>,
}

type OnEvents = TypedFunc<(Vec<Event>,), (Result<(), String>,)>;

/// How a delivery of events to a subscriber ended.
#[derive(Debug)]
pub enum Delivery {
    /// The subscriber accepted the batch; its cursor may move past it.
    Accepted,
    /// The subscriber returned an error; the same events come again later.
    Refused(String),
    /// The subscriber broke a limit or trapped and was stopped.
    Stopped(PluginError),
}

impl Plugin {
    /// A Store for `spec` bound to `handle`: default-deny WASI with captured output, the memory cap.
    fn store(
        spec: &PluginSpec,
        handle: AgentHandle,
        engine: &Engine,
    ) -> (Store<PluginState>, MemoryOutputPipe, MemoryOutputPipe) {
        let stdout = MemoryOutputPipe::new(spec.limits.output_bytes);
        let stderr = MemoryOutputPipe::new(spec.limits.output_bytes);
        let state = PluginState {
            handle,
            wasi: WasiCtx::builder()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .build(),
            table: ResourceTable::new(),
            limiter: MemoryCap {
                cap: spec.limits.memory_bytes,
                refused: None,
            },
            max_argument_bytes: spec.limits.max_argument_bytes,
            oversized: None,
            http: WasiHttpCtx::new(),
            outbound: OutboundHosts::new(&spec.allowed_outbound_hosts),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        (store, stdout, stderr)
    }

    fn start(prepared: &PreparedPlugin, handle: AgentHandle) -> Result<Self, PluginError> {
        let spec = &prepared.spec;
        let (mut store, stdout, stderr) = Self::store(spec, handle, &prepared.engine);
        let fuel = spec.limits.fuel_per_turn;
        let observes = store.data().handle.grant().contains(&Permission::Observe);
        let instantiated = store.set_fuel(fuel).and_then(|()| {
            let instance = prepared.pre.instance_pre().instantiate(&mut store)?;
            let bindings = prepared.indices.load(&mut store, &instance)?;
            let on_events = match prepared.on_events {
                Some(func) if observes => Some(
                    instance
                        .get_typed_func::<(Vec<Event>,), (Result<(), String>,)>(&mut store, func)?,
                ),
                _ => None,
            };
            Ok((bindings, on_events))
        });
        let (bindings, on_events) =
            instantiated.map_err(|e| classify(&spec.name, &spec.agent, store.data(), fuel, e))?;
        Ok(Plugin {
            name: spec.name.clone(),
            agent: spec.agent.clone(),
            store,
            bindings,
            stdout,
            stderr,
            reported: (0, 0),
            fuel_per_turn: fuel,
            stopped: false,
            on_events,
        })
    }

    /// Stops the plugin after a trap (its Store is unusable now) and names what it broke.
    fn stop(&mut self, trap: wasmtime::Error) -> PluginError {
        self.stopped = true;
        let error = classify(
            &self.name,
            &self.agent,
            self.store.data(),
            self.fuel_per_turn,
            trap,
        );
        tracing::warn!(plugin = %self.name, agent = %self.agent, "{error}");
        error
    }

    /// Whether the plugin receives events: it exports `subscriber` and its grant holds `observe`.
    pub fn subscribes(&self) -> bool {
        self.on_events.is_some() && !self.stopped
    }

    /// The handle the plugin is bound to.
    pub fn handle(&self) -> &AgentHandle {
        &self.store.data().handle
    }

    /// Hands the subscriber a batch of events, in order, with a fresh fuel budget. A trap or a broken
    /// limit stops the plugin; the caller's cursor then stays where it was.
    pub fn deliver(&mut self, events: Vec<Event>) -> Delivery {
        let Some(on_events) = self.on_events.filter(|_| !self.stopped) else {
            return Delivery::Refused("not a subscriber".into());
        };
        let result = self
            .store
            .set_fuel(self.fuel_per_turn)
            .and_then(|()| on_events.call(&mut self.store, (events,)));
        match result {
            Ok((Ok(()),)) => Delivery::Accepted,
            Ok((Err(text),)) => Delivery::Refused(text),
            Err(trap) => Delivery::Stopped(self.stop(trap)),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent it acts as.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Whether it was stopped for breaking a limit or trapping.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Lets the plugin act once, with a fresh fuel budget. A trap or a broken limit stops the plugin
    /// for the rest of the run; the arena keeps exactly what its completed handle calls committed.
    pub fn turn(&mut self, turn: u32) -> TurnReport {
        let outcome = if self.stopped {
            TurnOutcome::Stopped(PluginError::Stopped {
                plugin: self.name.clone(),
                agent: self.agent.clone(),
            })
        } else {
            let result = self.store.set_fuel(self.fuel_per_turn).and_then(|()| {
                self.bindings
                    .arena_core_plugin()
                    .call_turn(&mut self.store, turn)
            });
            match result {
                Ok(Ok(report)) => TurnOutcome::Done(report),
                Ok(Err(text)) => TurnOutcome::Failed(text),
                Err(trap) => TurnOutcome::Stopped(self.stop(trap)),
            }
        };
        let fuel = self
            .fuel_per_turn
            .saturating_sub(self.store.get_fuel().unwrap_or(0));
        TurnReport {
            plugin: self.name.clone(),
            agent: self.agent.clone(),
            turn,
            outcome,
            output: self.new_output(),
            fuel,
        }
    }

    /// What the plugin wrote since the last report, stdout then stderr.
    fn new_output(&mut self) -> String {
        let mut text = String::new();
        for (pipe, seen) in [
            (&self.stdout, &mut self.reported.0),
            (&self.stderr, &mut self.reported.1),
        ] {
            let bytes = pipe.contents();
            if bytes.len() > *seen {
                text.push_str(&String::from_utf8_lossy(&bytes[*seen..]));
                *seen = bytes.len();
            }
        }
        text
    }
}

/// Names the limit a trap broke, or reports the trap with its wasm backtrace.
fn classify(
    plugin: &str,
    agent: &str,
    state: &PluginState,
    fuel: u64,
    trap: wasmtime::Error,
) -> PluginError {
    let (plugin, agent) = (plugin.to_string(), agent.to_string());
    if let Some((function, size)) = state.oversized {
        return PluginError::ArgumentTooLarge {
            plugin,
            agent,
            function,
            size,
            cap: state.max_argument_bytes,
        };
    }
    if let Some(wanted) = state.limiter.refused {
        return PluginError::MemoryCap {
            plugin,
            agent,
            wanted,
            cap: state.limiter.cap,
        };
    }
    if trap.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return PluginError::Deadline {
            plugin,
            agent,
            fuel,
        };
    }
    PluginError::Trap {
        plugin,
        agent,
        message: format!("{trap:?}"),
    }
}
