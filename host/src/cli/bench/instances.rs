//! The cases about plugin instances: how fast one starts, and how much memory a live one holds.

use std::hint::black_box;
use std::path::Path;

use anyhow::{Context, Result};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtx;

use arena_host::plugin::PluginEngine;

use super::writes::worker_spec;
use super::{BenchConfig, Row, active_arena, median, micros, open_host, time_per_op};

/// Instantiating the worker from its prepared `InstancePre`, with the default and the pooling
/// allocator, against instantiating the empty component in a Store set up the same way.
pub(super) fn instantiation(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let host = open_host(&dir.join("instances.db"), config.durability, true)?;
    let id = active_arena(&host, 10, 1)?;
    let handle = host.handle(&id, "w0")?;
    let spec = worker_spec();
    let mut rows = Vec::new();
    let memory = spec.limits.memory_bytes;
    let engines = [
        ("default allocator", PluginEngine::new(), None),
        (
            "pooling allocator",
            PluginEngine::pooling(POOLED, memory),
            Some(POOLED),
        ),
    ];
    for (name, engine, pooled) in engines {
        let prepared = engine?.prepare(&spec, handle.grant())?;
        let baseline = EmptyComponent::new(pooled, memory)?;
        let (mut plugin, mut empty) = (Vec::new(), Vec::new());
        for _ in 0..config.samples {
            plugin.push(time_per_op(config.ops, || {
                prepared
                    .instantiate(handle.clone())
                    .map(|p| drop(black_box(p)))
            })?);
            empty.push(time_per_op(config.ops, || baseline.instantiate())?);
        }
        let (p, e) = (median(plugin), median(empty));
        rows.push(Row {
            case: format!("instantiate a plugin from its InstancePre ({name})"),
            value: micros(p),
            baseline: "the empty component, same engine and Store setup".into(),
            baseline_value: micros(e),
            ratio: p / e,
            higher_is_better: false,
            target: Some(1.5),
        });
    }
    Ok(rows)
}

/// Plugin instances the pooling allocator holds in the instantiation case.
const POOLED: u32 = 64;

/// The smallest component there is: the preamble of the component binary format, nothing else.
const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// The baseline of instantiation, measured with plain wasmtime: the empty component on an engine
/// configured as the plugin engine is (fuel metering; the same pool when pooled), instantiated in a
/// fresh Store holding a default-deny WASI context and the plugin's memory cap.
struct EmptyComponent {
    engine: Engine,
    pre: InstancePre<EmptyState>,
    memory_bytes: usize,
}

/// What the baseline's Store holds.
struct EmptyState {
    _wasi: WasiCtx,
    _table: ResourceTable,
    limits: StoreLimits,
}

impl EmptyComponent {
    /// The empty component compiled and linked, on the default allocator or (`pooled`) on a pool of
    /// that many instances of at most `memory_bytes` each, as [`PluginEngine::pooling`] sets it up.
    fn new(pooled: Option<u32>, memory_bytes: usize) -> Result<Self> {
        let mut config = Config::new();
        config.consume_fuel(true);
        if let Some(instances) = pooled {
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.total_component_instances(instances)
                .total_core_instances(instances.saturating_mul(4))
                .total_memories(instances.saturating_mul(2))
                .total_tables(instances.saturating_mul(4))
                .max_memory_size(memory_bytes);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, EMPTY_COMPONENT)?;
        let pre = Linker::new(&engine).instantiate_pre(&component)?;
        Ok(EmptyComponent {
            engine,
            pre,
            memory_bytes,
        })
    }

    /// One instance in a fresh Store, dropped at once.
    fn instantiate(&self) -> Result<()> {
        let state = EmptyState {
            _wasi: WasiCtx::builder().build(),
            _table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.memory_bytes)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        black_box(self.pre.instantiate(&mut store)?);
        Ok(())
    }
}

/// Resident memory of this process, in bytes.
fn resident_bytes() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .context("unreadable /proc/self/statm")?;
    Ok(pages * 4096)
}

/// The growth of resident memory per live worker instance between the configured counts.
pub(super) fn memory_per_instance(config: &BenchConfig, dir: &Path) -> Result<Vec<Row>> {
    let host = open_host(&dir.join("memory.db"), config.durability, true)?;
    let id = active_arena(&host, 10, 1)?;
    let handle = host.handle(&id, "w0")?;
    let engine = PluginEngine::new()?;
    let prepared = engine.prepare(&worker_spec(), handle.grant())?;
    let mut live = Vec::new();
    let mut readings = Vec::new();
    for &count in &config.instance_counts {
        while live.len() < count {
            live.push(prepared.instantiate(handle.clone())?);
        }
        readings.push((count, resident_bytes()?));
    }
    let mut rows = Vec::new();
    for pair in readings.windows(2) {
        let ((from, before), (to, after)) = (pair[0], pair[1]);
        let slope = after.saturating_sub(before) as f64 / (to - from) as f64;
        rows.push(Row {
            case: format!("resident memory per live plugin instance ({from} → {to})"),
            value: format!("{:.1} KiB", slope / 1024.0),
            baseline: "the 64 KiB budget".into(),
            baseline_value: "64.0 KiB".into(),
            ratio: slope / 65536.0,
            higher_is_better: false,
            target: Some(1.0),
        });
    }
    Ok(rows)
}
