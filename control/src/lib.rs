//! The control plane: the Raft store (openraft over redb), the Kubernetes API server, the
//! scheduler and the controllers. It reads objects only through `shoal-manifests`.
//!
//! Today it holds the store (`store`); the API server, scheduler and controllers build on it.

pub mod store;
