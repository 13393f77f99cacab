//! Pod sandboxes of Wasm components on wasmtime: the engine and compile cache, memory limits
//! that end a container as out-of-memory, fuel that throttles CPU like a cgroup quota, a
//! private filesystem per container with shared volumes, and captured, bounded logs.
//!
//! Architecture invariant: this crate never sees a Pod. It takes a [`SandboxSpec`] and
//! returns [`Exit`]s, logs and [`Usage`]; turning API objects into specs is the agent's job.

mod cache;
mod cpu;
mod error;
mod http;
mod limits;
pub mod logs;
pub mod net;
mod runtime;
mod sandbox;
mod spec;
mod workload;

pub use error::SandboxError;
pub use http::{HttpStats, ServeError};
pub use logs::{LogLine, LogStore, Stream};
pub use runtime::{InstancePool, Runtime, RuntimeConfig};
pub use sandbox::{ContainerHandle, ExecOutput, PodSandbox};
pub use spec::{ContainerSpec, Exit, Mount, SandboxSpec, Usage, VolumeSource, VolumeSpec};
pub use workload::{Artifact, WorkloadKind};
