//! The one integration-test binary of `wasm-sandbox`: real wasmtime, real guests (built from
//! the sources in `guests/` and committed), hostile ones included.

mod commands;
mod harness;
mod limits;
mod network;
