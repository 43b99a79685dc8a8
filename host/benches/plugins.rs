//! Plugin costs against the native baseline, measured in the same run: instantiating a plugin from its
//! cached `InstancePre`, and one worker turn through the whole path (plugin → host → arena component →
//! SQLite), each next to the same work done by natively compiled code on the same storage code.
//!
//! `cargo bench -p arena-host --bench plugins`. Durability: WAL, `synchronous=NORMAL`.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arena_component::{ArenaError as DomainError, ArenaStatus as DomainStatus};
use arena_host::native::native_manager;
use arena_host::plugin::{PluginEngine, PluginLimits, PluginSpec, TurnOutcome, check_imports};
use arena_host::run::BUILTIN_PLUGINS;
use arena_host::{ArenaHost, Durability, HostOptions};

const STEPS: u32 = 100_000;
const BATCHES: usize = 7;

/// The sample worker's logic, natively: what a native agent would do with a native handle.
struct NativeWorker {
    next_step: u32,
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");

    // Through the component.
    let host = ArenaHost::open(dir.path().join("component.db"), HostOptions::default()).unwrap();
    let id = host.create(&common::component_config(STEPS)).unwrap();
    host.handle(&id, "lead").unwrap().activate().unwrap();
    let worker_bytes: Arc<[u8]> = Arc::from(BUILTIN_PLUGINS[1].1);
    let spec = PluginSpec {
        name: "worker".into(),
        agent: "w".into(),
        component: worker_bytes,
        limits: PluginLimits::default(),
        allowed_outbound_hosts: Vec::new(),
    };
    let engine = PluginEngine::new().unwrap();
    let handle = host.handle(&id, "w").unwrap();
    let compile_start = Instant::now();
    drop(engine.load(&spec, handle.clone()).unwrap());
    let first_load_ms = compile_start.elapsed().as_secs_f64() * 1e3;

    // Natively, on the same storage code.
    let native = native_manager(&dir.path().join("native.db"), Durability::Normal).unwrap();
    let native_id = native.create(&common::native_config(STEPS)).unwrap();
    native.handle(&native_id, "lead").activate().unwrap();

    let check = common::measure(BATCHES, 200, || {
        check_imports(&spec, handle.grant()).unwrap()
    });
    let load = common::measure(BATCHES, 200, || {
        drop(black_box(engine.load(&spec, handle.clone()).unwrap()))
    });
    let native_new = common::measure(BATCHES, 200, || {
        black_box(NativeWorker {
            next_step: black_box(1),
        });
    });

    let mut plugin = engine.load(&spec, handle.clone()).unwrap();
    let mut turn = 0;
    let plugin_turn = common::measure(BATCHES, 200, || {
        turn += 1;
        match plugin.turn(turn).outcome {
            TurnOutcome::Done(_) => {}
            other => panic!("turn {turn}: {other:?}"),
        }
    });
    let mut worker = NativeWorker { next_step: 1 };
    let native_turn = common::measure(BATCHES, 200, || {
        let h = native.handle(&native_id, "w");
        let status = h.info().unwrap().status;
        assert_eq!(status, DomainStatus::Active);
        let total = h.info().unwrap().aggregate.total_steps;
        while worker.next_step <= total {
            match h.complete_step(worker.next_step) {
                Ok(_) => break,
                Err(DomainError::AlreadyDone) => worker.next_step += 1,
                Err(e) => panic!("{e}"),
            }
        }
        h.report_progress(&format!("finished step {}", worker.next_step))
            .unwrap();
        worker.next_step += 1;
    });

    println!("plugins vs native (medians of {BATCHES} batches; WAL, synchronous=NORMAL)");
    println!(
        "{:<58} {:>12} {:>12} {:>8}",
        "case", "component", "native", "ratio"
    );
    println!(
        "{:<58} {:>10.1}µs {:>10.3}µs {:>7.0}×",
        "load a plugin from the cached InstancePre (incl. import check)",
        load,
        native_new,
        load / native_new
    );
    println!(
        "{:<58} {:>10.1}µs {:>12} {:>8}",
        "  of which the import check before compiling", check, "-", "-"
    );
    println!(
        "{:<58} {:>10.1}µs {:>10.1}µs {:>7.2}×",
        "one worker turn: 2 reads + complete-step + progress note",
        plugin_turn,
        native_turn,
        plugin_turn / native_turn
    );
    println!("first load of the worker (compile + link): {first_load_ms:.1} ms");
}
