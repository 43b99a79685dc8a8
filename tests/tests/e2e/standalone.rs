//! The arena composed with its in-memory storage, and a test driver composed around that, run as a
//! plain WASI command — what the `wasmtime` CLI runs.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct Ctx {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[test]
fn the_composed_test_driver_runs_its_scenario_as_a_wasi_command() {
    let path = std::path::Path::new(env!("TEST_GUEST_DIR")).join("test-driver-standalone.wasm");
    let engine = Engine::default();
    let component = Component::from_file(&engine, &path).unwrap();
    let mut linker = Linker::<Ctx>::new(&engine);
    // WASI only: the composition carries the arena and its storage inside.
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let stdout = MemoryOutputPipe::new(1 << 20);
    let mut store = Store::new(
        &engine,
        Ctx {
            wasi: WasiCtx::builder().stdout(stdout.clone()).build(),
            table: ResourceTable::new(),
        },
    );
    let command = Command::instantiate(&mut store, &component, &linker).unwrap();
    let exit = command.wasi_cli_run().call_run(&mut store);
    let output = String::from_utf8(stdout.contents().to_vec()).unwrap();
    assert!(matches!(exit, Ok(Ok(()))), "{exit:?}\n{output}");
    assert!(
        output.trim_end().ends_with("14 passed, 0 failed"),
        "{output}"
    );
}
