//! Host-side bindings generated from the WIT in `wit/`, in a crate of their own so that editing the
//! host does not re-run `bindgen!`. [`names`] spells the generated types as the WIT does.

/// The `arena` world: the arena component's `storage` import and `manager` export.
pub mod arena {
    wasmtime::component::bindgen!({
        world: "arena",
        path: "../../wit",
        additional_derives: [PartialEq],
    });
}

/// The `agent` world: the six handle interfaces a plugin may import, and its `plugin` export.
/// Handle functions may trap (an arena trap reaches the plugin as a trap); the shared types are the
/// arena world's, so values pass through unchanged.
pub mod agent {
    wasmtime::component::bindgen!({
        world: "agent",
        path: "../../wit",
        imports: { default: trappable },
        with: { "arena:core/types": crate::arena::arena::core::types },
    });
}

/// The `memory-storage` world: a storage implemented by a component (the one composed into
/// `arena-standalone.wasm`), so a host can drive it like any other storage.
pub mod memory_storage {
    wasmtime::component::bindgen!({
        world: "memory-storage",
        path: "../../wit",
        with: { "arena:core/types": crate::arena::arena::core::types },
    });
}

pub mod names;

pub use arena::arena::core::storage;
pub use arena::arena::core::types;
pub use arena::exports::arena::core::manager;
