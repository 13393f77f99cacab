//! HTTP handler containers (`wasi:http/proxy` components): while a container "runs" it serves
//! its declared ports, and every request gets a fresh instance in its own store, so a trap,
//! an out-of-memory or a spin in one request cannot poison the next. The requests of one run
//! share the container's memory pool and CPU budget, as processes share a cgroup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Request, Response};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::cpu::CpuBudget;
use crate::error::SandboxError;
use crate::limits::MemoryPool;
use crate::logs::Stream;
use crate::net::Body;
use crate::sandbox::{PodInner, PodSandbox, Slot, classify, finish_store};
use crate::spec::{Exit, Usage};
use crate::workload::Compiled;

/// Why a request to a pod got no response from a guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// No container of the pod declares the port.
    #[error("nothing in pod {pod} serves port {port}")]
    PortClosed {
        /// The pod.
        pod: String,
        /// The port asked for.
        port: u16,
    },
    /// The container serving the port is not running (not started yet, or stopping).
    #[error("container {container:?} of pod {pod} is not serving")]
    NotServing {
        /// The pod.
        pod: String,
        /// The container.
        container: String,
    },
    /// The container declares the port but is a command: without sockets it cannot listen.
    #[error(
        "container {container:?} of pod {pod} declares port {port} but is not an HTTP handler; \
         a command cannot listen without wasi:sockets"
    )]
    NotHttp {
        /// The pod.
        pod: String,
        /// The container.
        container: String,
        /// The port.
        port: u16,
    },
    /// A store for the request could not be set up.
    #[error("container {container:?} could not take the request: {message}")]
    Start {
        /// The container.
        container: String,
        /// What went wrong.
        message: String,
    },
    /// The request's instance ended before answering: trapped, out of memory, or stopped.
    #[error("container {container:?} failed the request: {}", exit.reason())]
    Failed {
        /// The container.
        container: String,
        /// How the instance ended.
        exit: Exit,
    },
    /// The handler returned without setting a response.
    #[error("container {container:?} returned without a response")]
    NoResponse {
        /// The container.
        container: String,
    },
    /// The handler answered with a `wasi:http` error code instead of a response.
    #[error("container {container:?} answered with error {code}")]
    Guest {
        /// The container.
        container: String,
        /// The error code, as wasmtime prints it.
        code: String,
    },
}

impl ServeError {
    /// Whether nothing took the request, so it may safely be tried on another endpoint.
    pub fn refused(&self) -> bool {
        matches!(
            self,
            Self::PortClosed { .. } | Self::NotServing { .. } | Self::NotHttp { .. }
        )
    }

    /// The HTTP status a proxy in front of the pod answers with.
    pub fn status(&self) -> u16 {
        if self.refused() { 503 } else { 502 }
    }
}

/// Counters of an HTTP handler container's current run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests taken.
    pub requests: u64,
    /// Requests whose instance trapped, ran out of memory, was stopped, or gave no response.
    pub failed: u64,
    /// Requests whose instance is still running.
    pub in_flight: usize,
    /// Time the run's instances spent waiting for CPU budget.
    pub throttled: Duration,
}

/// One run of an HTTP handler container: it takes requests until asked to stop.
#[derive(Debug)]
pub(crate) struct Serving {
    /// Ends every in-flight request at once.
    cancel: CancellationToken,
    /// The in-flight requests; closed when the run stops taking requests.
    requests: TaskTracker,
    memory: Arc<MemoryPool>,
    cpu: Arc<CpuBudget>,
    taken: AtomicU64,
    failed: AtomicU64,
}

impl Slot {
    /// Starts a serving run of this HTTP handler container.
    pub(crate) fn begin_serving(
        &self,
        cpu: Arc<CpuBudget>,
        cancel: CancellationToken,
    ) -> Result<Arc<Serving>, SandboxError> {
        let mut current = self
            .serving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|s| !s.requests.is_closed()) {
            return Err(SandboxError::AlreadyRunning(self.spec.name.clone()));
        }
        self.logs.start_run();
        let serving = Arc::new(Serving {
            cancel,
            requests: TaskTracker::new(),
            memory: MemoryPool::new(self.spec.memory_limit),
            cpu,
            taken: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        *current = Some(Arc::clone(&serving));
        Ok(serving)
    }
}

impl Serving {
    /// Serves until `stopping` (drain: no new requests, in-flight ones finish) or the run is
    /// cancelled (in-flight requests end at once).
    pub(crate) async fn run(self: Arc<Self>, stopping: CancellationToken) -> (Exit, Usage) {
        tokio::select! {
            () = stopping.cancelled() => {}
            () = self.cancel.cancelled() => {}
        }
        self.requests.close();
        // Biased: when the run was cancelled, its instances end at once, so both branches may
        // be ready by the time this task runs; a cancelled run is a kill, whatever the order.
        let exit = tokio::select! {
            biased;
            () = self.cancel.cancelled() => {
                self.requests.wait().await;
                Exit::Killed
            }
            () = self.requests.wait() => Exit::Completed,
        };
        let usage = Usage {
            fuel: self.cpu.consumed(),
            memory_current: self.memory.current(),
            memory_peak: self.memory.peak(),
            throttled: self.cpu.throttled(),
        };
        (exit, usage)
    }

    fn stats(&self) -> HttpStats {
        HttpStats {
            requests: self.taken.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            in_flight: self.requests.len(),
            throttled: self.cpu.throttled(),
        }
    }
}

impl PodSandbox {
    /// Delivers an HTTP request for one of the pod's ports to the container serving it, in a
    /// fresh instance. The response streams while the instance writes its body. Dropping the
    /// returned future before the response arrives ends the instance, like a closed connection.
    ///
    /// # Errors
    /// Nothing serves the port, or the instance ended without a response.
    pub async fn serve_http(
        &self,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, ServeError> {
        dispatch(self.inner(), port, request).await
    }

    /// The counters of an HTTP handler container's current (or last) run; `None` for a
    /// command or a handler never started.
    ///
    /// # Errors
    /// No such container.
    pub fn http_stats(&self, container: &str) -> Result<Option<HttpStats>, SandboxError> {
        let slot = self.inner().slot(container)?;
        let serving = slot
            .serving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(serving.as_ref().map(|s| s.stats()))
    }
}

/// See [`PodSandbox::serve_http`]; also the path of in-pod requests between containers.
pub(crate) async fn dispatch(
    pod: &Arc<PodInner>,
    port: u16,
    request: Request<Body>,
) -> Result<Response<Body>, ServeError> {
    let Some((name, slot)) = pod
        .ports
        .get(&port)
        .and_then(|name| Some((name, pod.containers.get(name)?)))
    else {
        return Err(ServeError::PortClosed {
            pod: pod.pod().to_owned(),
            port,
        });
    };
    if !matches!(slot.spec.artifact.compiled(), Compiled::Http(_)) {
        return Err(ServeError::NotHttp {
            pod: pod.pod().to_owned(),
            container: name.clone(),
            port,
        });
    }
    let serving = slot
        .serving
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .filter(|s| !s.requests.is_closed())
        .ok_or_else(|| ServeError::NotServing {
            pod: pod.pod().to_owned(),
            container: name.clone(),
        })?;
    let start_failed = |message: String| ServeError::Start {
        container: name.clone(),
        message,
    };
    let cancel = serving.cancel.child_token();
    let mut store = pod
        .store(
            slot,
            &slot.spec.args,
            &slot.logs,
            cancel.clone(),
            Arc::clone(&serving.memory),
            Arc::clone(&serving.cpu),
        )
        .map_err(|e| start_failed(e.to_string()))?;
    let (respond, response) = oneshot::channel();
    let (incoming, outparam) = {
        let mut http = store.data_mut().http();
        let incoming = http
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| start_failed(format!("{e:#}")))?;
        let outparam = http
            .new_response_outparam(respond)
            .map_err(|e| start_failed(format!("{e:#}")))?;
        (incoming, outparam)
    };
    serving.taken.fetch_add(1, Ordering::Relaxed);
    let artifact = Arc::clone(&slot.spec.artifact);
    let logs = slot.logs.clone();
    let instance_cancel = cancel.clone();
    let counters = Arc::clone(&serving);
    let instance = serving.requests.spawn(async move {
        let outcome = {
            let handle = async {
                let Compiled::Http(pre) = artifact.compiled() else {
                    return Err(wasmtime::Error::msg("not an HTTP handler"));
                };
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            };
            tokio::select! {
                result = handle => Some(result),
                () = instance_cancel.cancelled() => None,
            }
        };
        let (_, oom) = finish_store(&store);
        let exit = match outcome {
            None => Exit::Killed,
            Some(_) if oom => Exit::OutOfMemory,
            Some(result) => classify(result.map(Ok), instance_cancel.is_cancelled()),
        };
        if exit != Exit::Completed {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            let detail = match &exit {
                Exit::Trapped { trap, .. } => format!("trapped: {trap}"),
                other => other.reason().to_owned(),
            };
            logs.push(Stream::Stderr, &format!("shoal: request failed: {detail}"));
        }
        exit
    });
    // Until the response arrives, dropping this future (the client went away) ends the
    // instance; once it has arrived, the body streams on its own.
    let guard = cancel.drop_guard();
    let answer = response.await;
    guard.disarm();
    match answer {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(ServeError::Guest {
            container: name.clone(),
            code: format!("{code:?}"),
        }),
        Err(_) => match instance.await.unwrap_or(Exit::Killed) {
            Exit::Completed => Err(ServeError::NoResponse {
                container: name.clone(),
            }),
            exit => {
                tracing::debug!(pod = pod.pod(), container = %name, ?exit, "request failed");
                Err(ServeError::Failed {
                    container: name.clone(),
                    exit,
                })
            }
        },
    }
}
