//! The pod sandbox: prepares each container's private root and the pod's volumes, builds a
//! wasmtime store per container run (WASI context, memory limiter, CPU throttle, log sinks),
//! runs it to its [`Exit`], and runs exec commands inside the same sandbox.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmtime::{Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{
    FsPerms, I32Exit, ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::cpu::{CpuBudget, CpuThrottle, FUEL_RESERVE};
use crate::error::SandboxError;
use crate::http::Serving;
use crate::limits::{MemoryLimiter, MemoryPool};
use crate::logs::{LogSink, LogStore, Stream};
use crate::net::{Origin, PodHooks, Router};
use crate::runtime::Runtime;
use crate::spec::{ContainerSpec, Exit, SandboxSpec, Usage, VolumeSource};
use crate::workload::{Artifact, Compiled};

/// The data of one store: WASI state for either ABI, HTTP state, and the limits.
pub(crate) struct State {
    p2: WasiCtx,
    table: ResourceTable,
    pub(crate) p1: WasiP1Ctx,
    http: WasiHttpCtx,
    hooks: PodHooks,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) cpu: CpuThrottle,
    /// Its stdout and stderr, flushed when the store ends.
    sinks: [LogSink; 2],
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.p2,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A pod's sandbox: its containers, their roots and logs, its volumes and its network
/// identity. Cheap to clone; clones share the sandbox.
#[derive(Clone, Debug)]
pub struct PodSandbox {
    inner: Arc<PodInner>,
}

#[derive(Debug)]
pub(crate) struct PodInner {
    runtime: Runtime,
    spec: SandboxSpec,
    pub(crate) containers: HashMap<String, Slot>,
    /// Which container serves each declared port.
    pub(crate) ports: HashMap<u16, String>,
    router: Arc<dyn Router>,
}

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) spec: ContainerSpec,
    root: PathBuf,
    /// (host directory, guest path, read-only) for each mount.
    mounts: Vec<(PathBuf, String, bool)>,
    pub(crate) logs: LogStore,
    origin: Arc<Origin>,
    /// The current run of an HTTP handler container, while it serves.
    pub(crate) serving: Mutex<Option<Arc<Serving>>>,
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
    /// Asks politely: an HTTP handler stops taking requests and drains.
    stopping: CancellationToken,
    /// Ends the run at once.
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
    /// which a command may still finish by itself and an HTTP handler, taking no new
    /// requests, finishes those in flight; then it is cancelled, which interrupts a guest
    /// spinning in a loop at the next epoch tick and drops one blocked in a poll.
    pub async fn stop(mut self, grace: Duration) -> (Exit, Usage) {
        let Some(mut task) = self.task.take() else {
            return (Exit::Killed, Usage::default());
        };
        self.stopping.cancel();
        if let Ok(result) = tokio::time::timeout(grace, &mut task).await {
            return result.unwrap_or((Exit::Killed, Usage::default()));
        }
        self.cancel.cancel();
        task.await.unwrap_or((Exit::Killed, Usage::default()))
    }
}

impl ContainerHandle {
    /// Waits for the container to end by itself or, once `stop` yields a grace period, stops
    /// it as [`Self::stop`] does. Also returns whether the stop was asked for.
    pub async fn run_until<F>(mut self, stop: F) -> (Exit, Usage, bool)
    where
        F: std::future::Future<Output = Duration>,
    {
        let Some(mut task) = self.task.take() else {
            return (Exit::Killed, Usage::default(), false);
        };
        let grace = tokio::select! {
            result = &mut task => {
                let (exit, usage) = result.unwrap_or((Exit::Killed, Usage::default()));
                return (exit, usage, false);
            }
            grace = stop => grace,
        };
        self.stopping.cancel();
        if let Ok(result) = tokio::time::timeout(grace, &mut task).await {
            let (exit, usage) = result.unwrap_or((Exit::Killed, Usage::default()));
            return (exit, usage, true);
        }
        self.cancel.cancel();
        let (exit, usage) = task.await.unwrap_or((Exit::Killed, Usage::default()));
        (exit, usage, true)
    }
}

impl Drop for ContainerHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl PodSandbox {
    /// Prepares the sandbox's directories (a private root per container, a directory per
    /// `emptyDir` volume) and its network: which container serves each port, and where
    /// requests leaving the pod go.
    ///
    /// # Errors
    /// A directory cannot be created, a mount names a missing volume, or two containers
    /// declare the same port.
    pub fn new(
        runtime: &Runtime,
        spec: SandboxSpec,
        router: Arc<dyn Router>,
    ) -> Result<Self, SandboxError> {
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
        let mut ports: HashMap<u16, String> = HashMap::new();
        for container in &spec.containers {
            for &port in &container.ports {
                if let Some(other) = ports.insert(port, container.name.clone()) {
                    return Err(SandboxError::PortConflict {
                        port,
                        first: other,
                        second: container.name.clone(),
                    });
                }
            }
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
            let slot = Slot {
                spec: container.clone(),
                root,
                mounts,
                logs: LogStore::new(runtime.config().log_bytes_per_container),
                origin: Arc::new(Origin {
                    pod: spec.pod.clone(),
                    pod_ip: spec.pod_ip,
                    container: container.name.clone(),
                }),
                serving: Mutex::new(None),
            };
            containers.insert(container.name.clone(), slot);
        }
        Ok(Self {
            inner: Arc::new(PodInner {
                runtime: runtime.clone(),
                spec,
                containers,
                ports,
                router,
            }),
        })
    }

    /// The sandbox's spec.
    pub fn spec(&self) -> &SandboxSpec {
        &self.inner.spec
    }

    pub(crate) fn inner(&self) -> &Arc<PodInner> {
        &self.inner
    }

    /// The logs of a container (current and previous run).
    ///
    /// # Errors
    /// No such container.
    pub fn logs(&self, container: &str) -> Result<LogStore, SandboxError> {
        Ok(self.inner.slot(container)?.logs.clone())
    }

    /// Starts a run of a container; its logs start a new run (the last becomes "previous").
    /// A command runs its `wasi:cli/run`; an HTTP handler starts serving its ports, a fresh
    /// instance per request, until stopped.
    ///
    /// # Errors
    /// No such container, an HTTP handler already serving, or its store cannot be set up.
    pub fn start(&self, container: &str) -> Result<ContainerHandle, SandboxError> {
        let slot = self.inner.slot(container)?;
        let stopping = CancellationToken::new();
        let cancel = CancellationToken::new();
        let task = if let Compiled::Http(_) = slot.spec.artifact.compiled() {
            let serving = slot.begin_serving(self.inner.cpu_budget(slot), cancel.clone())?;
            tokio::spawn(serving.run(stopping.clone()))
        } else {
            slot.logs.start_run();
            let memory = MemoryPool::new(slot.spec.memory_limit);
            let cpu = self.inner.cpu_budget(slot);
            let store = self.inner.store(
                slot,
                &slot.spec.args,
                &slot.logs,
                cancel.clone(),
                memory,
                cpu,
            )?;
            let run = Run {
                store,
                artifact: Arc::clone(&slot.spec.artifact),
                cancel: cancel.clone(),
                name: format!("{}/{}", self.inner.spec.pod, slot.spec.name),
            };
            tokio::spawn(run.execute())
        };
        Ok(ContainerHandle {
            name: container.to_owned(),
            stopping,
            cancel,
            task: Some(task),
        })
    }

    /// Runs the container's workload again as a command with `argv`, inside the same sandbox
    /// (same root, volumes, network and limits), and collects its output. For an HTTP handler
    /// container this is refused: it has no command to run.
    ///
    /// # Errors
    /// No such container, not a command, or its store cannot be set up.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, SandboxError> {
        let slot = self.inner.slot(container)?;
        if let Compiled::Http(_) = slot.spec.artifact.compiled() {
            return Err(SandboxError::NotACommand(container.to_owned()));
        }
        let output = LogStore::new(self.inner.runtime.config().log_bytes_per_container);
        let cancel = CancellationToken::new();
        let store = self.inner.store(
            slot,
            argv,
            &output,
            cancel.clone(),
            MemoryPool::new(slot.spec.memory_limit),
            self.inner.cpu_budget(slot),
        )?;
        let run = Run {
            store,
            artifact: Arc::clone(&slot.spec.artifact),
            cancel: cancel.clone(),
            name: format!("{}/{} exec", self.inner.spec.pod, slot.spec.name),
        };
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
}

impl PodInner {
    pub(crate) fn slot(&self, container: &str) -> Result<&Slot, SandboxError> {
        self.containers
            .get(container)
            .ok_or_else(|| SandboxError::NoSuchContainer(container.to_owned()))
    }

    pub(crate) fn pod(&self) -> &str {
        &self.spec.pod
    }

    pub(crate) fn cpu_budget(&self, slot: &Slot) -> Arc<CpuBudget> {
        CpuBudget::new(
            slot.spec
                .cpu_millis
                .map(|m| self.runtime.fuel_per_second(m)),
        )
    }

    /// A store for one run of `slot`'s workload with `argv`, its output going to `logs`.
    pub(crate) fn store(
        self: &Arc<Self>,
        slot: &Slot,
        argv: &[String],
        logs: &LogStore,
        cancel: CancellationToken,
        memory: Arc<MemoryPool>,
        cpu: Arc<CpuBudget>,
    ) -> Result<Store<State>, SandboxError> {
        let spec = &slot.spec;
        let name = format!("{}/{}", self.spec.pod, spec.name);
        let start_failed = |e: wasmtime::Error| SandboxError::StartFailed {
            name: name.clone(),
            message: format!("{e:#}"),
        };
        let mut env: Vec<(String, String)> = spec.env.clone();
        if !env.iter().any(|(k, _)| k == "HOSTNAME") {
            env.push(("HOSTNAME".to_owned(), self.spec.pod.clone()));
        }
        let sinks = [logs.sink(Stream::Stdout), logs.sink(Stream::Stderr)];
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(argv)
            .envs(&env)
            .stdout(sinks[0].clone())
            .stderr(sinks[1].clone());
        if spec.artifact.uses_filesystem() {
            preopen(&mut builder, &slot.root, "/", false)?;
            for (host, guest, read_only) in &slot.mounts {
                preopen(&mut builder, host, guest, *read_only)?;
            }
        }
        let (p2, p1) = match spec.artifact.compiled() {
            Compiled::Preview1(_) => (WasiCtx::builder().build(), builder.build_p1()),
            Compiled::Command(_) | Compiled::Http(_) => {
                (builder.build(), WasiCtx::builder().build_p1())
            }
        };
        let state = State {
            p2,
            table: ResourceTable::new(),
            p1,
            http: WasiHttpCtx::new(),
            hooks: PodHooks::new(
                Arc::clone(&slot.origin),
                Arc::downgrade(self),
                Arc::clone(&self.router),
            ),
            limiter: MemoryLimiter::new(memory),
            cpu: CpuThrottle::new(cpu, cancel),
            sinks,
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|state| &mut state.limiter);
        if self.runtime.metering() {
            store.set_fuel(FUEL_RESERVE).map_err(start_failed)?;
            // Compiled code keeps its fuel count in a register and writes it back only when its
            // injected slice runs out; a slice per ~millisecond keeps the count the throttle
            // reads at each epoch tick accurate to about one tick of work.
            let slice = (self.runtime.fuel_per_core_second() / 1000).max(10_000);
            store
                .fuel_async_yield_interval(Some(slice))
                .map_err(start_failed)?;
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let remaining = ctx.get_fuel().unwrap_or(FUEL_RESERVE);
            Ok(ctx.data_mut().cpu.on_epoch(remaining))
        });
        Ok(store)
    }
}

/// Ends a store's run: flushes unfinished output lines, charges its fuel to the run's budget,
/// and reports (fuel burnt, whether it went past its memory limit).
pub(crate) fn finish_store(store: &Store<State>) -> (u64, bool) {
    let fuel = CpuThrottle::consumed(store.get_fuel().unwrap_or(FUEL_RESERVE));
    let state = store.data();
    for sink in &state.sinks {
        sink.flush_partial();
    }
    state.cpu.budget().record(fuel);
    (fuel, state.limiter.exceeded())
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

/// One prepared run of a command.
struct Run {
    name: String,
    store: Store<State>,
    artifact: Arc<Artifact>,
    cancel: CancellationToken,
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
        let (fuel, oom) = finish_store(&self.store);
        let exit = match outcome {
            None => Exit::Killed,
            Some(_) if oom => Exit::OutOfMemory,
            Some(result) => classify(result, self.cancel.is_cancelled()),
        };
        let state = self.store.data();
        let usage = Usage {
            fuel,
            memory_current: state.limiter.pool().current(),
            memory_peak: state.limiter.pool().peak(),
            throttled: state.cpu.budget().throttled(),
        };
        tracing::debug!(container = %self.name, ?exit, fuel = usage.fuel, "container ended");
        (exit, usage)
    }
}

async fn run_guest(
    store: &mut Store<State>,
    artifact: &Artifact,
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
        Compiled::Http(_) => Err(wasmtime::Error::msg(
            "an HTTP handler has no command to run",
        )),
    }
}

pub(crate) fn classify(result: wasmtime::Result<Result<(), ()>>, cancelled: bool) -> Exit {
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
