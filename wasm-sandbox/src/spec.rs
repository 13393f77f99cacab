//! What a sandbox is asked to run, and what it reports back: the sandbox and container specs
//! (the agent builds them from pods), exits and usage.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::workload::Artifact;

/// A pod sandbox: one network identity, shared volumes, and containers.
#[derive(Clone, Debug)]
pub struct SandboxSpec {
    /// The pod's name, for logs and errors.
    pub pod: String,
    /// The pod's IP in the cluster's virtual network.
    pub pod_ip: IpAddr,
    /// A host directory owned by this sandbox: private roots and `emptyDir` volumes live here.
    pub dir: PathBuf,
    /// Volumes the containers may mount.
    pub volumes: Vec<VolumeSpec>,
    /// The containers.
    pub containers: Vec<ContainerSpec>,
}

/// A volume of the pod.
#[derive(Clone, Debug)]
pub struct VolumeSpec {
    /// Its name, which mounts refer to.
    pub name: String,
    /// Where its files come from.
    pub source: VolumeSource,
}

/// Where a volume's files live on the host.
#[derive(Clone, Debug)]
pub enum VolumeSource {
    /// A fresh directory inside the sandbox's own directory, shared by its containers.
    EmptyDir,
    /// An existing host directory (projected ConfigMaps and Secrets, hostPath, claims).
    HostDir(PathBuf),
}

/// A volume mounted into a container.
#[derive(Clone, Debug)]
pub struct Mount {
    /// The volume's name.
    pub volume: String,
    /// The absolute path inside the container.
    pub path: String,
    /// Whether the container may only read it.
    pub read_only: bool,
}

/// One container: a workload with its arguments, environment, mounts and limits.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    /// Its name within the pod.
    pub name: String,
    /// The compiled workload.
    pub artifact: Arc<Artifact>,
    /// The full argv, `argv[0]` included.
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Volumes mounted into it.
    pub mounts: Vec<Mount>,
    /// Memory limit in bytes over all its memories and tables; `None` is unlimited.
    pub memory_limit: Option<u64>,
    /// CPU limit in millicores; `None` is unlimited (still preemptible).
    pub cpu_millis: Option<u64>,
    /// Ports it serves (for the in-pod network).
    pub ports: Vec<u16>,
}

/// How a container's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exited successfully (`Completed`).
    Completed,
    /// Exited unsuccessfully with this code (`Error`).
    Failed {
        /// The exit code (preview-2 commands report only 1 for any failure).
        code: i32,
    },
    /// Went past its memory limit (`OOMKilled`).
    OutOfMemory,
    /// Trapped: the trap kind and wasmtime's message with the guest backtrace.
    Trapped {
        /// The trap, e.g. `wasm trap: wasm 'unreachable' instruction executed`.
        trap: String,
        /// The full message, with the backtrace.
        message: String,
    },
    /// Stopped by the host (grace period over, or the pod deleted).
    Killed,
}

impl Exit {
    /// The exit code Kubernetes would report.
    pub fn code(&self) -> i32 {
        match self {
            Self::Completed => 0,
            Self::Failed { code } => *code,
            Self::OutOfMemory | Self::Killed => 137,
            Self::Trapped { .. } => 134,
        }
    }

    /// The container state reason Kubernetes would report.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Completed => "Completed",
            Self::Failed { .. } | Self::Trapped { .. } => "Error",
            Self::OutOfMemory => "OOMKilled",
            Self::Killed => "Killed",
        }
    }
}

/// Resources a container used in its run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Fuel consumed (CPU work; divide by the node's fuel per core-second for CPU-seconds).
    pub fuel: u64,
    /// Bytes of memory and tables in use at the end (or now).
    pub memory_current: u64,
    /// The most bytes in use at any time.
    pub memory_peak: u64,
    /// Time spent throttled by the CPU limit.
    pub throttled: Duration,
}
