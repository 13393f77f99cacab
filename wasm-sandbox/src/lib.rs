//! Pod sandboxes of Wasm components on wasmtime: engine, compile cache, memory and fuel
//! limits, virtual network, filesystem and log capture. It never sees a Pod object: it takes
//! a sandbox spec and returns exits, logs and usage.
//!
//! The crate is the home of that work; its first capability lands with the sandbox issue.
