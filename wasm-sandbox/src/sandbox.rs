//! The pod sandbox: prepares each container's private root and the pod's volumes, builds a
//! wasmtime store per container run (WASI context, memory limiter, CPU throttle, log sinks),
//! runs it to its [`Exit`], and runs exec commands inside the same sandbox.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmtime::{Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{
    FsPerms, I32Exit, ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::cpu::{CpuThrottle, FUEL_RESERVE};
use crate::error::SandboxError;
use crate::limits::MemoryLimiter;
use crate::logs::{LogStore, Stream};
use crate::runtime::Runtime;
use crate::spec::{ContainerSpec, Exit, SandboxSpec, Usage, VolumeSource};
use crate::workload::Compiled;

/// The data of one store: WASI state for either ABI, and the limits.
pub(crate) struct State {
    p2: WasiCtx,
    table: ResourceTable,
    pub(crate) p1: WasiP1Ctx,
    limiter: MemoryLimiter,
    cpu: CpuThrottle,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.p2,
            table: &mut self.table,
        }
    }
}

/// A pod's sandbox: its containers, their roots and logs, and its volumes.
#[derive(Debug)]
pub struct PodSandbox {
    runtime: Runtime,
    spec: SandboxSpec,
    containers: HashMap<String, Slot>,
}

#[derive(Debug)]
struct Slot {
    spec: ContainerSpec,
    root: PathBuf,
    /// (host directory, guest path, read-only) for each mount.
    mounts: Vec<(PathBuf, String, bool)>,
    logs: LogStore,
}

/// The result of an exec: how it ended and what it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// How the command ended; `Exit::Completed` is success.
    pub exit: Exit,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// A running container. Dropping the handle stops the container.
#[derive(Debug)]
pub struct ContainerHandle {
    name: String,
    cancel: CancellationToken,
    task: Option<JoinHandle<(Exit, Usage)>>,
}

impl ContainerHandle {
    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the container to end by itself.
    pub async fn wait(mut self) -> (Exit, Usage) {
        match self.task.take() {
            Some(task) => task.await.unwrap_or((Exit::Killed, Usage::default())),
            None => (Exit::Killed, Usage::default()),
        }
    }

    /// Stops the container: WASI has no signals, so the polite stop is the grace period in
    /// which it may still finish by itself; then it is cancelled, which interrupts a guest
    /// spinning in a loop at the next epoch tick and drops one blocked in a poll.
    pub async fn stop(mut self, grace: Duration) -> (Exit, Usage) {
        let Some(mut task) = self.task.take() else {
            return (Exit::Killed, Usage::default());
        };
        if let Ok(result) = tokio::time::timeout(grace, &mut task).await {
            return result.unwrap_or((Exit::Killed, Usage::default()));
        }
        self.cancel.cancel();
        task.await.unwrap_or((Exit::Killed, Usage::default()))
    }
}

impl Drop for ContainerHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl PodSandbox {
    /// Prepares the sandbox's directories: a private root per container and a directory per
    /// `emptyDir` volume, and checks that every mount names a volume.
    ///
    /// # Errors
    /// A directory cannot be created, or a mount names a missing volume.
    pub fn new(runtime: &Runtime, spec: SandboxSpec) -> Result<Self, SandboxError> {
        let mut volumes: HashMap<&str, PathBuf> = HashMap::new();
        for volume in &spec.volumes {
            let path = match &volume.source {
                VolumeSource::EmptyDir => {
                    let path = spec.dir.join("volumes").join(&volume.name);
                    create_dir(&path)?;
                    path
                }
                VolumeSource::HostDir(path) => path.clone(),
            };
            volumes.insert(volume.name.as_str(), path);
        }
        let mut containers = HashMap::new();
        for container in &spec.containers {
            let root = spec
                .dir
                .join("containers")
                .join(&container.name)
                .join("root");
            create_dir(&root)?;
            let mut mounts = Vec::new();
            for mount in &container.mounts {
                let Some(host) = volumes.get(mount.volume.as_str()) else {
                    return Err(SandboxError::NoSuchVolume {
                        container: container.name.clone(),
                        volume: mount.volume.clone(),
                    });
                };
                mounts.push((host.clone(), mount.path.clone(), mount.read_only));
            }
            let logs = LogStore::new(runtime.config().log_bytes_per_container);
            let slot = Slot {
                spec: container.clone(),
                root,
                mounts,
                logs,
            };
            containers.insert(container.name.clone(), slot);
        }
        Ok(Self {
            runtime: runtime.clone(),
            spec,
            containers,
        })
    }

    /// The sandbox's spec.
    pub fn spec(&self) -> &SandboxSpec {
        &self.spec
    }

    fn slot(&self, container: &str) -> Result<&Slot, SandboxError> {
        self.containers
            .get(container)
            .ok_or_else(|| SandboxError::NoSuchContainer(container.to_owned()))
    }

    /// The logs of a container (current and previous run).
    ///
    /// # Errors
    /// No such container.
    pub fn logs(&self, container: &str) -> Result<LogStore, SandboxError> {
        Ok(self.slot(container)?.logs.clone())
    }

    /// Starts a run of a container; its logs start a new run (the last becomes "previous").
    ///
    /// # Errors
    /// No such container, or its store cannot be set up.
    pub fn start(&self, container: &str) -> Result<ContainerHandle, SandboxError> {
        let slot = self.slot(container)?;
        slot.logs.start_run();
        let cancel = CancellationToken::new();
        let run = self.prepare(slot, &slot.spec.args, &slot.logs, cancel.clone())?;
        let task = tokio::spawn(run.execute());
        Ok(ContainerHandle {
            name: container.to_owned(),
            cancel,
            task: Some(task),
        })
    }

    /// Runs the container's workload again as a command with `argv`, inside the same sandbox
    /// (same root, volumes and limits), and collects its output.
    ///
    /// # Errors
    /// No such container, or its store cannot be set up.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, SandboxError> {
        let slot = self.slot(container)?;
        let output = LogStore::new(self.runtime.config().log_bytes_per_container);
        let cancel = CancellationToken::new();
        let run = self.prepare(slot, argv, &output, cancel.clone())?;
        let exit = match tokio::time::timeout(timeout, run.execute()).await {
            Ok((exit, _)) => exit,
            Err(_) => {
                cancel.cancel();
                Exit::Killed
            }
        };
        let text = |stream: Stream| {
            let lines = output.lines(None, None);
            let mut text = String::new();
            for line in lines.iter().filter(|l| l.stream == stream) {
                text.push_str(&line.text);
                text.push('\n');
            }
            text
        };
        Ok(ExecOutput {
            exit,
            stdout: text(Stream::Stdout),
            stderr: text(Stream::Stderr),
        })
    }

    fn prepare(
        &self,
        slot: &Slot,
        argv: &[String],
        logs: &LogStore,
        cancel: CancellationToken,
    ) -> Result<Run, SandboxError> {
        let spec = &slot.spec;
        let name = format!("{}/{}", self.spec.pod, spec.name);
        let mut env: Vec<(String, String)> = spec.env.clone();
        if !env.iter().any(|(k, _)| k == "HOSTNAME") {
            env.push(("HOSTNAME".to_owned(), self.spec.pod.clone()));
        }
        let stdout = logs.sink(Stream::Stdout);
        let stderr = logs.sink(Stream::Stderr);
        let build = |builder: &mut WasiCtxBuilder| -> Result<(), SandboxError> {
            builder
                .args(argv)
                .envs(&env)
                .stdout(stdout.clone())
                .stderr(stderr.clone());
            preopen(builder, &slot.root, "/", false)?;
            for (host, guest, read_only) in &slot.mounts {
                preopen(builder, host, guest, *read_only)?;
            }
            Ok(())
        };
        let mut p2 = WasiCtxBuilder::new();
        let mut p1 = WasiCtxBuilder::new();
        match slot.spec.artifact.compiled() {
            Compiled::Preview1(_) => build(&mut p1)?,
            Compiled::Command(_) => build(&mut p2)?,
        }
        let rate = spec.cpu_millis.map(|m| self.runtime.fuel_per_second(m));
        let state = State {
            p2: p2.build(),
            table: ResourceTable::new(),
            p1: p1.build_p1(),
            limiter: MemoryLimiter::new(spec.memory_limit),
            cpu: CpuThrottle::new(rate, cancel.clone()),
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|state| &mut state.limiter);
        if self.runtime.metering() {
            store
                .set_fuel(FUEL_RESERVE)
                .map_err(|e| SandboxError::StartFailed {
                    name: name.clone(),
                    message: format!("{e:#}"),
                })?;
            // Compiled code keeps its fuel count in a register and writes it back only when its
            // injected slice runs out; a slice per ~millisecond keeps the count the throttle
            // reads at each epoch tick accurate to about one tick of work.
            let slice = (self.runtime.fuel_per_core_second() / 1000).max(10_000);
            store.fuel_async_yield_interval(Some(slice)).map_err(|e| {
                SandboxError::StartFailed {
                    name: name.clone(),
                    message: format!("{e:#}"),
                }
            })?;
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let remaining = ctx.get_fuel().unwrap_or(FUEL_RESERVE);
            Ok(ctx.data_mut().cpu.on_epoch(remaining))
        });
        Ok(Run {
            name,
            store,
            artifact: Arc::clone(&spec.artifact),
            cancel,
            sinks: [stdout, stderr],
        })
    }
}

fn create_dir(path: &Path) -> Result<(), SandboxError> {
    fs::create_dir_all(path).map_err(|source| SandboxError::Filesystem {
        path: path.to_owned(),
        source,
    })
}

fn preopen(
    builder: &mut WasiCtxBuilder,
    host: &Path,
    guest: &str,
    read_only: bool,
) -> Result<(), SandboxError> {
    let perms = if read_only {
        FsPerms::ReadOnly
    } else {
        FsPerms::ReadWrite
    };
    builder
        .preopened_dir(host, guest, perms)
        .map_err(|e| SandboxError::Filesystem {
            path: host.to_owned(),
            source: std::io::Error::other(format!("{e:#}")),
        })?;
    Ok(())
}

/// One prepared run of a workload.
struct Run {
    name: String,
    store: Store<State>,
    artifact: Arc<crate::workload::Artifact>,
    cancel: CancellationToken,
    sinks: [crate::logs::LogSink; 2],
}

impl Run {
    async fn execute(mut self) -> (Exit, Usage) {
        let cancel = self.cancel.clone();
        let outcome = {
            let guest = run_guest(&mut self.store, &self.artifact);
            tokio::select! {
                result = guest => Some(result),
                () = cancel.cancelled() => None,
            }
        };
        for sink in &self.sinks {
            sink.flush_partial();
        }
        let state = self.store.data();
        let exit = match outcome {
            None => Exit::Killed,
            Some(_) if state.limiter.exceeded() => Exit::OutOfMemory,
            Some(result) => classify(result, self.cancel.is_cancelled()),
        };
        let usage = Usage {
            fuel: CpuThrottle::consumed(self.store.get_fuel().unwrap_or(FUEL_RESERVE)),
            memory_current: state.limiter.current(),
            memory_peak: state.limiter.peak(),
            throttled: state.cpu.throttled(),
        };
        tracing::debug!(container = %self.name, ?exit, fuel = usage.fuel, "container ended");
        (exit, usage)
    }
}

async fn run_guest(
    store: &mut Store<State>,
    artifact: &crate::workload::Artifact,
) -> wasmtime::Result<Result<(), ()>> {
    match artifact.compiled() {
        Compiled::Command(pre) => {
            let command = pre.instantiate_async(&mut *store).await?;
            command.wasi_cli_run().call_run(&mut *store).await
        }
        Compiled::Preview1(pre) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
            start.call_async(&mut *store, ()).await?;
            Ok(Ok(()))
        }
    }
}

fn classify(result: wasmtime::Result<Result<(), ()>>, cancelled: bool) -> Exit {
    match result {
        Ok(Ok(())) => Exit::Completed,
        Ok(Err(())) => Exit::Failed { code: 1 },
        Err(error) => {
            if let Some(I32Exit(code)) = error.downcast_ref::<I32Exit>() {
                return if *code == 0 {
                    Exit::Completed
                } else {
                    Exit::Failed { code: *code }
                };
            }
            match error.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) if cancelled => Exit::Killed,
                Some(trap) => Exit::Trapped {
                    trap: trap.to_string(),
                    message: format!("{error:?}"),
                },
                None => Exit::Trapped {
                    trap: "error".to_owned(),
                    message: format!("{error:#}"),
                },
            }
        }
    }
}
