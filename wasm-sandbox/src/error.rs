//! The errors of the sandbox: what failed while loading or starting a workload. A guest that
//! traps, runs out of memory or exits non-zero is not an error: it is an [`crate::Exit`].

use std::path::PathBuf;

/// Why a workload could not be loaded or a container could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The engine could not be configured.
    #[error("configuring the wasmtime engine failed: {0}")]
    Engine(String),
    /// The bytes are neither a Wasm component nor a core module.
    #[error("{name}: not a WebAssembly component or module")]
    NotWasm {
        /// The workload's name (its image).
        name: String,
    },
    /// Compilation failed.
    #[error("{name}: compiling failed: {message}")]
    CompileFailed {
        /// The workload's name (its image).
        name: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The component exports neither `wasi:cli/run` nor `wasi:http/incoming-handler`, or the
    /// module has no `_start`.
    #[error("{name}: unsupported workload: {detail}")]
    UnsupportedWorkload {
        /// The workload's name (its image).
        name: String,
        /// What it exports instead.
        detail: String,
    },
    /// The component imports interfaces the host does not provide.
    #[error("{name}: imports what this host does not provide: {}", imports.join(", "))]
    MissingImports {
        /// The workload's name (its image).
        name: String,
        /// Every import the host lacks.
        imports: Vec<String>,
    },
    /// A container named in a call does not exist in the sandbox.
    #[error("no container named {0:?} in this sandbox")]
    NoSuchContainer(String),
    /// Two containers of the pod declare the same port.
    #[error("port {port} is declared by both {first:?} and {second:?}")]
    PortConflict {
        /// The port.
        port: u16,
        /// The first container declaring it.
        first: String,
        /// The second.
        second: String,
    },
    /// Exec asked of a container that is an HTTP handler, which has no command to run.
    #[error("container {0:?} is an HTTP handler; it has no command to exec")]
    NotACommand(String),
    /// A container is already running.
    #[error("container {0:?} is already running")]
    AlreadyRunning(String),
    /// A mount names a volume the sandbox does not have.
    #[error("container {container:?} mounts volume {volume:?}, which the sandbox does not have")]
    NoSuchVolume {
        /// The container.
        container: String,
        /// The volume it names.
        volume: String,
    },
    /// Preparing the container's WASI context (directories, preopens) failed.
    #[error("preparing {path} failed: {source}")]
    Filesystem {
        /// The host path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// wasmtime refused to instantiate or set up a store.
    #[error("{name}: starting failed: {message}")]
    StartFailed {
        /// The container or workload.
        name: String,
        /// wasmtime's explanation.
        message: String,
    },
}
