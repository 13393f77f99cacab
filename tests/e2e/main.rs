//! The end-to-end test binary: one binary for all end-to-end tests keeps link time down.

mod kubectl;
mod raft;
mod validate;
