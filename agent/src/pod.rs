//! One pod on this node, from bound to gone: pull its images, build its sandbox, run its
//! containers under their restart policy with crash-loop backoff, report every change of its
//! status, and on deletion stop it within its grace period and let the API forget it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shoal_manifests::k8s_openapi::api::core::v1::{Container, Pod};
use shoal_manifests::quantity::Quantity;
use shoal_wasm_sandbox::net::Router;
use shoal_wasm_sandbox::{
    ContainerSpec, Exit, Mount, PodSandbox, Runtime, SandboxSpec, VolumeSource, VolumeSpec,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::backoff::{Backoff, BackoffConfig};
use crate::client::{ApiClient, now};
use crate::events::{Events, PodRef, Severity};
use crate::images::ImageStore;
use crate::ipam::Ipam;
use crate::status::{self, ContainerRecord, PodStatus, State, Terminated};

/// What every pod worker on the node shares.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) api: ApiClient,
    pub(crate) node: String,
    pub(crate) host_ip: IpAddr,
    pub(crate) runtime: Runtime,
    pub(crate) images: ImageStore,
    pub(crate) pods_dir: PathBuf,
    pub(crate) backoff: BackoffConfig,
    pub(crate) ipam: Ipam,
    pub(crate) router: Arc<dyn Router>,
    pub(crate) events: Events,
    pub(crate) sandboxes: crate::Sandboxes,
}

/// A pod's worker task and the way to tell it to stop.
#[derive(Debug)]
pub(crate) struct PodWorker {
    stop: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

impl PodWorker {
    /// Starts running `pod`.
    pub(crate) fn spawn(ctx: Arc<Context>, pod: Pod) -> Self {
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(run(ctx, pod, stopped));
        Self { stop, task }
    }

    /// Asks the pod to stop within `grace` (the first request wins; a shorter one later
    /// shortens it, as a second `kubectl delete --grace-period` does).
    pub(crate) fn terminate(&self, grace: Duration) {
        self.stop.send_if_modified(|current| match current {
            Some(existing) if *existing <= grace => false,
            _ => {
                *current = Some(grace);
                true
            }
        });
    }

    /// Whether the worker is done (stopped and cleaned up).
    pub(crate) fn finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// The fixed facts of a pod the worker needs over and over.
struct Facts {
    reference: PodRef,
    restart_policy: String,
    qos_class: &'static str,
    status_path: String,
    pod_path: String,
    containers: Vec<Container>,
}

/// What a container's supervisor reports.
enum Update {
    Started {
        index: usize,
        started_at: String,
        container_id: String,
    },
    StartFailed {
        index: usize,
        message: String,
    },
    Exited {
        index: usize,
        terminated: Terminated,
        /// The trap, when the guest trapped.
        trap: Option<String>,
        restart: bool,
    },
    BackingOff {
        index: usize,
        delay: Duration,
    },
}

async fn run(ctx: Arc<Context>, pod: Pod, mut stop: watch::Receiver<Option<Duration>>) {
    let facts = match Facts::of(&pod) {
        Ok(facts) => facts,
        Err(message) => {
            tracing::warn!(%message, "ignoring a pod the agent cannot read");
            return;
        }
    };
    let key = format!("{}/{}", facts.reference.namespace, facts.reference.name);
    tracing::info!(pod = %key, "starting pod");
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or_else(now, |t| crate::client::timestamp(t.0));
    let (status_tx, status_rx) = watch::channel(None);
    let writer = tokio::spawn(write_status(
        ctx.api.clone(),
        facts.status_path.clone(),
        status_rx,
    ));
    let mut pod_state = PodState {
        records: facts
            .containers
            .iter()
            .map(|c| ContainerRecord::new(&c.name, c.image.as_deref().unwrap_or_default()))
            .collect(),
        conditions: Vec::new(),
        sandbox_ready: false,
        pod_ip: None,
        start_time,
        host_ip: ctx.host_ip.to_string(),
        status: status_tx,
    };
    pod_state.publish(&facts);

    if let Some(sandbox) = prepare(&ctx, &pod, &facts, &mut pod_state, &mut stop).await {
        ctx.sandboxes.insert(&facts.reference, sandbox.clone());
        supervise_all(&ctx, &facts, &sandbox, &mut pod_state, &mut stop).await;
        ctx.sandboxes.remove(&facts.reference);
    }

    // Stopped or done: the address goes back, the sandbox's files go.
    ctx.ipam.release(&facts.reference.uid);
    let dir = ctx.pods_dir.join(&facts.reference.uid);
    if let Err(error) = tokio::fs::remove_dir_all(&dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(pod = %key, %error, "removing the pod's directory");
    }
    if stop.borrow().is_some() {
        // Let the final status land, then tell the API the pod is gone from the node.
        drop(pod_state);
        let _ = writer.await;
        let options = json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": facts.reference.uid},
        });
        match ctx.api.delete(&facts.pod_path, &options).await {
            Ok(_) => tracing::info!(pod = %key, "pod stopped and removed"),
            Err(error) if error.is_not_found() || error.is_conflict() => {}
            Err(error) => tracing::warn!(pod = %key, %error, "removing the stopped pod"),
        }
    } else {
        tracing::info!(pod = %key, "pod finished");
        drop(pod_state);
        let _ = writer.await;
    }
}

/// The pod's status as it evolves, published to the status writer on every change.
struct PodState {
    records: Vec<ContainerRecord>,
    conditions: Vec<status::Condition>,
    sandbox_ready: bool,
    pod_ip: Option<String>,
    start_time: String,
    host_ip: String,
    status: watch::Sender<Option<Value>>,
}

impl PodState {
    fn publish(&mut self, facts: &Facts) {
        let phase = status::phase(&self.records, &facts.restart_policy);
        let terminal = matches!(phase, "Succeeded" | "Failed");
        status::update_conditions(
            &mut self.conditions,
            &self.records,
            self.sandbox_ready,
            terminal,
            &now(),
        );
        let value = PodStatus {
            containers: &self.records,
            conditions: &self.conditions,
            phase,
            host_ip: &self.host_ip,
            pod_ip: self.pod_ip.as_deref(),
            start_time: &self.start_time,
            qos_class: facts.qos_class,
        }
        .to_json();
        self.status.send_replace(Some(value));
    }

    fn wait(&mut self, index: usize, reason: &str, message: String) {
        self.records[index].state = State::Waiting {
            reason: reason.to_owned(),
            message,
        };
    }
}

/// Sends the latest status whenever it changes, retrying until it lands; ends when the pod's
/// worker is done and the last status was sent, or the pod no longer exists.
async fn write_status(api: ApiClient, path: String, mut latest: watch::Receiver<Option<Value>>) {
    let mut sent: Option<Value> = None;
    loop {
        let current = latest.borrow_and_update().clone();
        if let Some(status) = current
            && sent.as_ref() != Some(&status)
        {
            match api.merge_patch(&path, &json!({ "status": status })).await {
                Ok(_) => sent = Some(status),
                Err(error) if error.is_not_found() => return,
                Err(error) => {
                    tracing::debug!(%error, "status update failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        if latest.changed().await.is_err() {
            // The worker is gone: one last look at what it left.
            let last = latest.borrow().clone();
            if last.is_some() && last != sent {
                continue;
            }
            return;
        }
    }
}

/// Pulls the images and builds the sandbox, retrying with backoff; `None` when stopped first.
async fn prepare(
    ctx: &Arc<Context>,
    pod: &Pod,
    facts: &Facts,
    state: &mut PodState,
    stop: &mut watch::Receiver<Option<Duration>>,
) -> Option<PodSandbox> {
    let mut backoff = Backoff::new(ctx.backoff);
    let mut artifacts = vec![None; facts.containers.len()];
    loop {
        let mut failed = false;
        for (index, container) in facts.containers.iter().enumerate() {
            if artifacts[index].is_some() {
                continue;
            }
            let image = container.image.clone().unwrap_or_default();
            let began = Instant::now();
            match ctx
                .images
                .pull(&image, container.image_pull_policy.as_deref())
                .await
            {
                Ok(pulled) => {
                    let message = if pulled.fetched {
                        format!(
                            "Successfully pulled image {image:?} in {} ms",
                            began.elapsed().as_millis()
                        )
                    } else {
                        format!("Container image {image:?} already present on machine")
                    };
                    ctx.events.record(
                        &facts.reference,
                        Some(&container.name),
                        Severity::Normal,
                        "Pulled",
                        message,
                    );
                    state.records[index].image_id = pulled.digest.clone();
                    artifacts[index] = Some(pulled.artifact);
                }
                Err(error) => {
                    failed = true;
                    ctx.events.record(
                        &facts.reference,
                        Some(&container.name),
                        Severity::Warning,
                        "Failed",
                        error.to_string(),
                    );
                    state.wait(index, error.reason(), error.to_string());
                }
            }
        }
        if !failed {
            let ready: Vec<_> = artifacts.iter().flatten().cloned().collect();
            match build_sandbox(ctx, pod, facts, ready) {
                Ok((sandbox, ip)) => {
                    state.pod_ip = Some(ip.to_string());
                    state.sandbox_ready = true;
                    state.publish(facts);
                    return Some(sandbox);
                }
                Err((reason, message)) => {
                    ctx.events.record(
                        &facts.reference,
                        None,
                        Severity::Warning,
                        "Failed",
                        format!("Error: {message}"),
                    );
                    for index in 0..facts.containers.len() {
                        state.wait(index, reason, message.clone());
                    }
                }
            }
        }
        state.publish(facts);
        let delay = backoff.after(None).max(ctx.backoff.initial);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(Option::is_some) => return None,
        }
        // Image pulls back off; their waiting reason says so until the next attempt.
        for (index, artifact) in artifacts.iter().enumerate() {
            if artifact.is_none()
                && let State::Waiting { reason, message } = &state.records[index].state
                && reason == "ErrImagePull"
            {
                let message = message.clone();
                state.wait(index, "ImagePullBackOff", message);
            }
        }
    }
}

/// The sandbox of the pod: its IP, directory, volumes and containers.
fn build_sandbox(
    ctx: &Context,
    pod: &Pod,
    facts: &Facts,
    artifacts: Vec<Arc<shoal_wasm_sandbox::Artifact>>,
) -> Result<(PodSandbox, IpAddr), (&'static str, String)> {
    let config_error = |message: String| ("CreateContainerConfigError", message);
    let ip = ctx
        .ipam
        .allocate(&facts.reference.uid)
        .map_err(|e| ("CreateContainerError", e.to_string()))?;
    let ip = IpAddr::V4(ip);
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| config_error("the pod has no spec".into()))?;
    let mut volumes = Vec::new();
    for volume in spec.volumes.iter().flatten() {
        let source = serde_json::to_value(volume).unwrap_or_default();
        let kinds: Vec<&String> = source
            .as_object()
            .map(|o| o.keys().filter(|k| k.as_str() != "name").collect())
            .unwrap_or_default();
        match kinds.as_slice() {
            [kind] if kind.as_str() == "emptyDir" => volumes.push(VolumeSpec {
                name: volume.name.clone(),
                source: VolumeSource::EmptyDir,
            }),
            other => {
                return Err(config_error(format!(
                    "volume {:?}: {} volumes are not supported by this agent yet (emptyDir is)",
                    volume.name,
                    other
                        .first()
                        .map_or_else(|| "source-less".to_owned(), |k| (*k).clone())
                )));
            }
        }
    }
    let mut containers = Vec::new();
    for (container, artifact) in facts.containers.iter().zip(artifacts) {
        containers.push(
            container_spec(pod, container, artifact, ip, &ctx.host_ip).map_err(config_error)?,
        );
    }
    let sandbox = SandboxSpec {
        pod: format!("{}/{}", facts.reference.namespace, facts.reference.name),
        pod_ip: ip,
        dir: ctx.pods_dir.join(&facts.reference.uid),
        volumes,
        containers,
    };
    let sandbox = PodSandbox::new(&ctx.runtime, sandbox, Arc::clone(&ctx.router))
        .map_err(|e| ("CreateContainerError", e.to_string()))?;
    Ok((sandbox, ip))
}

fn container_spec(
    pod: &Pod,
    container: &Container,
    artifact: Arc<shoal_wasm_sandbox::Artifact>,
    pod_ip: IpAddr,
    host_ip: &IpAddr,
) -> Result<ContainerSpec, String> {
    // `command` replaces the entrypoint (argv[0] included); without it argv[0] is the name.
    let mut args = match &container.command {
        Some(command) if !command.is_empty() => command.clone(),
        _ => vec![container.name.clone()],
    };
    args.extend(container.args.iter().flatten().cloned());
    let mut env = Vec::new();
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => var.value.clone().unwrap_or_default(),
            Some(source) => match &source.field_ref {
                Some(field) => {
                    field_value(pod, &field.field_path, pod_ip, host_ip).ok_or_else(|| {
                        format!(
                            "env {:?}: field {:?} is not one a pod can refer to",
                            var.name, field.field_path
                        )
                    })?
                }
                None => {
                    return Err(format!(
                        "env {:?}: only value and valueFrom.fieldRef are supported by this agent yet",
                        var.name
                    ));
                }
            },
        };
        env.push((var.name.clone(), value));
    }
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    let limit = |name: &str| {
        limits
            .and_then(|l| l.get(name))
            .map(|q| Quantity::from_k8s(q).map_err(|e| format!("limits.{name}: {e}")))
            .transpose()
    };
    let memory_limit = limit("memory")?.map(|q| u64::try_from(q.bytes()).unwrap_or(0));
    let cpu_millis = limit("cpu")?.map(|q| u64::try_from(q.millicores()).unwrap_or(0));
    let mounts = container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| Mount {
            volume: m.name.clone(),
            path: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false),
        })
        .collect();
    let ports = container
        .ports
        .iter()
        .flatten()
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .collect();
    Ok(ContainerSpec {
        name: container.name.clone(),
        artifact,
        args,
        env,
        mounts,
        memory_limit,
        cpu_millis,
        ports,
    })
}

/// The downward-API fields an environment variable may name.
fn field_value(pod: &Pod, path: &str, pod_ip: IpAddr, host_ip: &IpAddr) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let from_map = |map: Option<&std::collections::BTreeMap<String, String>>, rest: &str| {
        let key = rest.strip_prefix("['")?.strip_suffix("']")?;
        Some(map?.get(key).cloned().unwrap_or_default())
    };
    Some(match path {
        "metadata.name" => meta.name.clone()?,
        "metadata.namespace" => meta.namespace.clone()?,
        "metadata.uid" => meta.uid.clone()?,
        "spec.nodeName" => spec?.node_name.clone()?,
        "spec.serviceAccountName" => spec?.service_account_name.clone().unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        other => {
            if let Some(rest) = other.strip_prefix("metadata.labels") {
                return from_map(meta.labels.as_ref(), rest);
            }
            if let Some(rest) = other.strip_prefix("metadata.annotations") {
                return from_map(meta.annotations.as_ref(), rest);
            }
            return None;
        }
    })
}

/// Runs every container under its restart policy until they are all done or the pod stops.
async fn supervise_all(
    ctx: &Arc<Context>,
    facts: &Facts,
    sandbox: &PodSandbox,
    state: &mut PodState,
    stop: &mut watch::Receiver<Option<Duration>>,
) {
    let (updates, mut received) = mpsc::unbounded_channel();
    let mut supervisors = Vec::new();
    for (index, container) in facts.containers.iter().enumerate() {
        supervisors.push(tokio::spawn(supervise(
            index,
            container.name.clone(),
            sandbox.clone(),
            facts.restart_policy.clone(),
            ctx.backoff,
            updates.clone(),
            stop.clone(),
        )));
    }
    drop(updates);
    let mut stopping_reported = false;
    loop {
        tokio::select! {
            update = received.recv() => {
                let Some(update) = update else { break };
                apply(ctx, facts, state, update);
                // Take what else is queued, then publish once.
                while let Ok(update) = received.try_recv() {
                    apply(ctx, facts, state, update);
                }
                state.publish(facts);
            }
            _ = stop.wait_for(Option::is_some), if !stopping_reported => {
                stopping_reported = true;
                for (index, container) in facts.containers.iter().enumerate() {
                    if matches!(state.records[index].state, State::Running { .. }) {
                        ctx.events.record(
                            &facts.reference,
                            Some(&container.name),
                            Severity::Normal,
                            "Killing",
                            format!("Stopping container {}", container.name),
                        );
                    }
                }
            }
        }
    }
    for supervisor in supervisors {
        let _ = supervisor.await;
    }
    state.publish(facts);
}

fn apply(ctx: &Context, facts: &Facts, state: &mut PodState, update: Update) {
    let reference = &facts.reference;
    match update {
        Update::Started {
            index,
            started_at,
            container_id,
        } => {
            let record = &mut state.records[index];
            if !record.container_id.is_empty() {
                record.restarts += 1;
            }
            record.container_id = container_id;
            record.state = State::Running { started_at };
            let name = &record.name;
            ctx.events.record(
                reference,
                Some(name),
                Severity::Normal,
                "Started",
                format!("Started container {name}"),
            );
        }
        Update::StartFailed { index, message } => {
            let name = state.records[index].name.clone();
            ctx.events.record(
                reference,
                Some(&name),
                Severity::Warning,
                "Failed",
                format!("Error: {message}"),
            );
            state.wait(index, "CreateContainerError", message);
        }
        Update::Exited {
            index,
            terminated,
            trap,
            restart,
        } => {
            let record = &mut state.records[index];
            if let Some(trap) = trap {
                ctx.events.record(
                    reference,
                    Some(&record.name),
                    Severity::Warning,
                    "Trapped",
                    format!("container {} trapped: {trap}", record.name),
                );
            }
            if terminated.reason == "OOMKilled" {
                ctx.events.record(
                    reference,
                    Some(&record.name),
                    Severity::Warning,
                    "OOMKilled",
                    format!("container {} went past its memory limit", record.name),
                );
            }
            record.will_restart = restart;
            if restart {
                record.last = Some(terminated.clone());
            }
            record.state = State::Terminated(terminated);
        }
        Update::BackingOff { index, delay } => {
            let record = &mut state.records[index];
            let message = format!(
                "back-off {} restarting failed container={} pod={}_{}({})",
                human(delay),
                record.name,
                reference.name,
                reference.namespace,
                reference.uid
            );
            ctx.events.record(
                reference,
                Some(&record.name),
                Severity::Warning,
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    record.name, reference.name, reference.namespace, reference.uid
                ),
            );
            state.wait(index, "CrashLoopBackOff", message);
        }
    }
}

/// `10s`, `1m20s`, `5m0s`: durations as the kubelet's messages print them.
fn human(delay: Duration) -> String {
    let seconds = delay.as_secs();
    if seconds >= 60 {
        format!("{}m{}s", seconds / 60, seconds % 60)
    } else if seconds > 0 {
        format!("{seconds}s")
    } else {
        format!("{}ms", delay.as_millis())
    }
}

/// Runs one container again and again as its restart policy says, until the pod stops.
async fn supervise(
    index: usize,
    name: String,
    sandbox: PodSandbox,
    restart_policy: String,
    backoff: BackoffConfig,
    updates: mpsc::UnboundedSender<Update>,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let mut backoff = Backoff::new(backoff);
    let mut run = 0u32;
    loop {
        if stop.borrow().is_some() {
            return;
        }
        let began = Instant::now();
        let started_at = now();
        let container_id = format!("wasm://{}-{run}", sandbox_id(&sandbox, &name));
        let handle = match sandbox.start(&name) {
            Ok(handle) => handle,
            Err(error) => {
                let _ = updates.send(Update::StartFailed {
                    index,
                    message: error.to_string(),
                });
                let delay = backoff.after(None).max(backoff_floor());
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    _ = stop.wait_for(Option::is_some) => return,
                }
            }
        };
        run += 1;
        let _ = updates.send(Update::Started {
            index,
            started_at: started_at.clone(),
            container_id: container_id.clone(),
        });
        let mut watching = stop.clone();
        let (exit, _usage, stopped) = handle
            .run_until(async move {
                match watching.wait_for(Option::is_some).await {
                    Ok(grace) => grace.unwrap_or_default(),
                    // The worker is gone: stop at once.
                    Err(_) => Duration::ZERO,
                }
            })
            .await;
        let ran = began.elapsed();
        let restart = !stopped
            && match restart_policy.as_str() {
                "Never" => false,
                "OnFailure" => exit != Exit::Completed,
                _ => true,
            };
        let terminated = terminated(&exit, started_at, container_id);
        let trap = match &exit {
            Exit::Trapped { trap, .. } => Some(trap.clone()),
            _ => None,
        };
        let _ = updates.send(Update::Exited {
            index,
            terminated,
            trap,
            restart,
        });
        if !restart {
            return;
        }
        let delay = backoff.after(Some(ran));
        if !delay.is_zero() {
            let _ = updates.send(Update::BackingOff { index, delay });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(Option::is_some) => return,
            }
        }
    }
}

/// A start that failed is retried no faster than this even on the first attempt.
fn backoff_floor() -> Duration {
    Duration::from_millis(500)
}

fn sandbox_id(sandbox: &PodSandbox, container: &str) -> String {
    let pod = sandbox.spec().pod.replace('/', "-");
    format!("{pod}-{container}")
}

/// The container's terminated state for how its run ended.
fn terminated(exit: &Exit, started_at: String, container_id: String) -> Terminated {
    let message = match exit {
        Exit::Trapped { message, .. } => guest_message(message),
        _ => String::new(),
    };
    Terminated {
        exit_code: exit.code(),
        reason: exit.reason().to_owned(),
        message,
        started_at,
        finished_at: now(),
        container_id,
    }
}

/// A trap's message as the guest's author needs it: the wasm backtrace and the trap, without
/// the host's own stack, at most 4 KiB (Kubernetes' limit for termination messages).
fn guest_message(message: &str) -> String {
    let guest = message
        .split("\nStack backtrace:")
        .next()
        .unwrap_or(message)
        .trim_end();
    let mut text = guest.to_owned();
    if text.len() > 4096 {
        let mut end = 4096;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl Facts {
    fn of(pod: &Pod) -> Result<Self, String> {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().ok_or("the pod has no namespace")?;
        let name = meta.name.clone().ok_or("the pod has no name")?;
        let uid = meta.uid.clone().ok_or("the pod has no uid")?;
        let spec = pod.spec.as_ref().ok_or("the pod has no spec")?;
        Ok(Self {
            status_path: format!("/api/v1/namespaces/{namespace}/pods/{name}/status"),
            pod_path: format!("/api/v1/namespaces/{namespace}/pods/{name}"),
            reference: PodRef {
                namespace,
                name,
                uid,
            },
            restart_policy: spec
                .restart_policy
                .clone()
                .unwrap_or_else(|| "Always".to_owned()),
            qos_class: qos_class(&spec.containers),
            containers: spec.containers.clone(),
        })
    }
}

/// The pod's QoS class: Guaranteed when every container limits cpu and memory and requests
/// the same, BestEffort when none asks for anything, Burstable otherwise.
fn qos_class(containers: &[Container]) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for container in containers {
        let resources = container.resources.as_ref();
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        any |= requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty());
        for resource in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(resource));
            let request = requests.and_then(|r| r.get(resource)).or(limit);
            let equal = match (limit, request) {
                (Some(limit), Some(request)) => {
                    Quantity::from_k8s(limit).ok().map(|q| q.nanos())
                        == Quantity::from_k8s(request).ok().map(|q| q.nanos())
                }
                _ => false,
            };
            guaranteed &= equal;
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(resources: Value) -> Container {
        serde_json::from_value(json!({"name": "c", "resources": resources})).expect("container")
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&[container(json!({}))]), "BestEffort");
        let both = json!({"cpu": "100m", "memory": "64Mi"});
        assert_eq!(
            qos_class(&[container(json!({"limits": both}))]),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&[container(json!({"requests": {"cpu": "100m"}}))]),
            "Burstable"
        );
    }

    #[test]
    fn downward_fields() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u", "labels": {"app": "web"}},
            "spec": {"nodeName": "edge-1", "containers": []},
        }))
        .expect("pod");
        let ip: IpAddr = "10.244.0.5".parse().expect("ip");
        let host: IpAddr = "192.0.2.1".parse().expect("ip");
        let get = |path: &str| field_value(&pod, path, ip, &host);
        assert_eq!(get("metadata.name").as_deref(), Some("p"));
        assert_eq!(get("spec.nodeName").as_deref(), Some("edge-1"));
        assert_eq!(get("status.podIP").as_deref(), Some("10.244.0.5"));
        assert_eq!(get("metadata.labels['app']").as_deref(), Some("web"));
        assert_eq!(get("metadata.labels['none']").as_deref(), Some(""));
        assert_eq!(get("spec.containers"), None);
    }

    #[test]
    fn trap_messages_keep_the_guest_backtrace_only() {
        let full = "error while executing at wasm backtrace:\n    0: 0xe16 - f\n\nCaused by:\n    wasm trap: unreachable\n\nStack backtrace:\n   0: host::frame";
        let kept = guest_message(full);
        assert!(kept.ends_with("wasm trap: unreachable"), "{kept}");
        assert!(!kept.contains("host::frame"));
        assert_eq!(guest_message(&"x".repeat(5000)).len(), 4096);
    }

    #[test]
    fn delays_print_like_the_kubelet() {
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_secs(80)), "1m20s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
    }
}
