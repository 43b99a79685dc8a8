//! The WIT bindings of the `arena` world, generated from `wit/`.

wit_bindgen::generate!({
    world: "arena",
    path: "../wit",
});
