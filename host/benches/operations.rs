//! One durable operation (complete-step) three ways, measured in the same run on the same file system:
//! through the arena component (host → component → SQLite), through the same domain code compiled
//! natively on the same SQLite storage code, and SQLite's own rate for committing one row.
//!
//! `cargo bench -p arena-host --bench operations`. Durability: WAL with `synchronous=NORMAL`.

mod common;

use std::hint::black_box;

use arena_host::native::native_manager;
use arena_host::storage::Durability;
use arena_host::{ArenaHost, HostOptions};

const STEPS: u32 = 100_000;
const BATCHES: usize = 7;
const PER_BATCH: usize = 300;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let host = ArenaHost::open(dir.path().join("component.db"), HostOptions::default()).unwrap();
    let id = host.create(&common::component_config(STEPS)).unwrap();
    host.handle(&id, "lead").unwrap().activate().unwrap();
    let worker = host.handle(&id, "w").unwrap();

    let native = native_manager(&dir.path().join("native.db"), Durability::Normal).unwrap();
    let native_id = native.create(&common::native_config(STEPS)).unwrap();
    native.handle(&native_id, "lead").activate().unwrap();

    let raw = rusqlite::Connection::open(dir.path().join("raw.db")).unwrap();
    raw.pragma_update(None, "journal_mode", "WAL").unwrap();
    raw.pragma_update(None, "synchronous", "NORMAL").unwrap();
    raw.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .unwrap();

    // Interleave the three so that machine noise hits them alike.
    let (mut step_c, mut step_n, mut row) = (0u32, 0u32, 0u64);
    let mut component = Vec::new();
    let mut natively = Vec::new();
    let mut sqlite = Vec::new();
    for _ in 0..3 {
        component.push(common::measure(BATCHES, PER_BATCH, || {
            step_c += 1;
            black_box(worker.complete_step(step_c).unwrap());
        }));
        natively.push(common::measure(BATCHES, PER_BATCH, || {
            step_n += 1;
            black_box(
                native
                    .handle(&native_id, "w")
                    .complete_step(step_n)
                    .unwrap(),
            );
        }));
        sqlite.push(common::measure(BATCHES, PER_BATCH, || {
            row += 1;
            let tx = raw.unchecked_transaction().unwrap();
            tx.execute(
                "INSERT INTO t (seq, payload) VALUES (?1, ?2)",
                rusqlite::params![row, r#"{"step":1,"v":1}"#],
            )
            .unwrap();
            tx.commit().unwrap();
        }));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (c, n, s) = (median(component), median(natively), median(sqlite));
    println!("one durable complete-step (WAL, synchronous=NORMAL; medians)");
    println!(
        "{:<52} {:>10} {:>12} {:>12}",
        "path", "µs/op", "ops/s", "vs native"
    );
    println!(
        "{:<52} {:>10.1} {:>12.0} {:>11.2}×",
        "host → component → SQLite",
        c,
        1e6 / c,
        c / n
    );
    println!(
        "{:<52} {:>10.1} {:>12.0} {:>11.2}×",
        "native domain code → same SQLite storage",
        n,
        1e6 / n,
        1.0
    );
    println!(
        "{:<52} {:>10.1} {:>12.0} {:>11.2}×",
        "SQLite alone: one-row commit",
        s,
        1e6 / s,
        s / n
    );
}
