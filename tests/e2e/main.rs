//! The end-to-end test binary: one binary for all end-to-end tests keeps link time down.

mod agents;
mod api_cluster;
mod kube_client;
mod kubectl;
mod raft;
mod rbac;
mod rollout;
mod validate;
