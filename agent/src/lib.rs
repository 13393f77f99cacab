//! The node agent: pod lifecycle on `shoal-wasm-sandbox`, probes, logs, images, offline
//! autonomy and the userspace service proxy. It talks to the control plane only over HTTP.
//!
//! The crate is the home of that work; its first capability lands with the first-cluster issue.
