//! The control plane: the Raft store (openraft over redb), the Kubernetes API server, the
//! scheduler and the controllers. It reads objects only through `shoal-manifests`.

pub mod api;
pub mod controllers;
pub mod scheduler;
pub mod store;
