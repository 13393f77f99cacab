//! The control plane: the Raft store (openraft over redb), the Kubernetes API server, the
//! scheduler and the controllers. It reads objects only through `shoal-manifests`.
//!
//! The crate is the home of that work; its first capability lands with the Raft store issue.
