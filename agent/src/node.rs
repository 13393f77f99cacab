//! The node: registered with its capacity, addresses and labels; its Lease in
//! `kube-node-lease` renewed every few seconds; its Ready condition refreshed now and then.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use shoal_manifests::pin::SERVING_CERT_ANNOTATION;
use tokio_util::sync::CancellationToken;

use crate::client::{ApiClient, ApiError, now, now_micro};

/// What the node offers.
#[derive(Debug, Clone)]
pub struct Capacity {
    /// Whole cores.
    pub cpus: u32,
    /// Bytes of memory.
    pub memory: u64,
    /// Pods it may run.
    pub pods: u32,
}

impl Capacity {
    /// This machine's cores and memory, with `pods` pods.
    pub fn of_machine(pods: u32) -> Self {
        let cpus = std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
        Self {
            cpus,
            memory: machine_memory().unwrap_or(1 << 30),
            pods,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "cpu": self.cpus.to_string(),
            "memory": format!("{}Ki", self.memory / 1024),
            "pods": self.pods.to_string(),
        })
    }
}

/// `MemTotal` from `/proc/meminfo`.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The node's identity and what it reports.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The Node's name.
    pub name: String,
    /// The address other nodes and the control plane reach it on.
    pub address: IpAddr,
    /// The port the agent serves logs and proxied traffic on.
    pub port: u16,
    /// What it offers.
    pub capacity: Capacity,
    /// Extra labels.
    pub labels: Vec<(String, String)>,
    /// The fingerprint of the agent's serving certificate, published for those who reach it.
    pub serving_cert: String,
}

impl NodeInfo {
    fn path(&self) -> String {
        format!("/api/v1/nodes/{}", self.name)
    }

    fn status(&self) -> Value {
        let time = now();
        json!({
            "capacity": self.capacity.to_json(),
            "allocatable": self.capacity.to_json(),
            "addresses": [
                {"type": "InternalIP", "address": self.address.to_string()},
                {"type": "Hostname", "address": self.name},
            ],
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "shoal agent is posting ready status",
                "lastHeartbeatTime": time,
                "lastTransitionTime": time,
            }],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "",
                "osImage": "WebAssembly (WASI 0.2)",
                "containerRuntimeVersion": "wasmtime://48.0.8",
                "kubeletVersion": concat!("v", env!("CARGO_PKG_VERSION"), "-shoal"),
                "kubeProxyVersion": "",
                "operatingSystem": "wasi",
                "architecture": "wasm32",
            },
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "name": self.name,
            "labels": self.labels(),
            "annotations": {SERVING_CERT_ANNOTATION: self.serving_cert},
        })
    }

    fn labels(&self) -> Value {
        let mut labels = serde_json::Map::new();
        for (key, value) in [
            ("kubernetes.io/hostname", self.name.as_str()),
            ("kubernetes.io/os", "wasi"),
            ("kubernetes.io/arch", "wasm32"),
            ("beta.kubernetes.io/os", "wasi"),
            ("beta.kubernetes.io/arch", "wasm32"),
        ] {
            labels.insert(key.to_owned(), Value::from(value));
        }
        for (key, value) in &self.labels {
            labels.insert(key.clone(), Value::from(value.clone()));
        }
        Value::Object(labels)
    }
}

/// Creates the Node, or takes over the one of the same name, and reports it Ready. Returns it.
///
/// # Errors
/// The API refused or could not be reached.
pub async fn register(api: &ApiClient, node: &NodeInfo) -> Result<Value, ApiError> {
    let path = node.path();
    let existing = api.get(&path).await?;
    if existing.is_none() {
        let body = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": node.metadata(),
            "spec": {},
        });
        match api.create("/api/v1/nodes", &body).await {
            Ok(_) => tracing::info!(node = %node.name, "registered the node"),
            Err(error) if error.is_conflict() => {}
            Err(error) => return Err(error),
        }
    } else {
        api.merge_patch(&path, &json!({"metadata": node.metadata()}))
            .await?;
    }
    api.merge_patch(&format!("{path}/status"), &json!({"status": node.status()}))
        .await
}

/// Waits until the control plane has given the node a pod address range; returns it.
///
/// # Errors
/// Cancelled first.
pub async fn pod_cidr(
    api: &ApiClient,
    node: &NodeInfo,
    cancel: &CancellationToken,
) -> Result<String, &'static str> {
    let path = node.path();
    let mut logged = false;
    loop {
        match api.get(&path).await {
            Ok(Some(found)) => {
                if let Some(cidr) = found.pointer("/spec/podCIDR").and_then(Value::as_str)
                    && !cidr.is_empty()
                {
                    return Ok(cidr.to_owned());
                }
                if !logged {
                    tracing::info!(node = %node.name, "waiting for the control plane to assign a pod CIDR");
                    logged = true;
                }
            }
            Ok(None) => tracing::warn!(node = %node.name, "the node is gone; waiting"),
            Err(error) => tracing::debug!(%error, "reading the node"),
        }
        tokio::select! {
            () = cancel.cancelled() => return Err("cancelled"),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// How often the Lease is renewed and how long it is valid.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    /// Renewal interval (10 s in Kubernetes).
    pub renew: Duration,
    /// `leaseDurationSeconds` (40 in Kubernetes).
    pub duration_seconds: u32,
    /// How often the Node's Ready condition is refreshed.
    pub status_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            renew: Duration::from_secs(10),
            duration_seconds: 40,
            status_every: Duration::from_secs(60),
        }
    }
}

/// Renews the node's Lease (and refreshes its status) until cancelled; failures are retried at
/// the next tick, so an unreachable control plane only delays the heartbeat.
pub async fn heartbeat(
    api: ApiClient,
    node: NodeInfo,
    timing: LeaseTiming,
    cancel: CancellationToken,
) {
    let mut last_status = tokio::time::Instant::now();
    let mut reregister = false;
    loop {
        if let Err(error) = renew_lease(&api, &node, timing).await {
            tracing::warn!(node = %node.name, %error, "renewing the node lease");
            reregister |= error.is_not_found();
        }
        if reregister || last_status.elapsed() >= timing.status_every {
            match register(&api, &node).await {
                Ok(_) => {
                    last_status = tokio::time::Instant::now();
                    reregister = false;
                }
                Err(error) => tracing::warn!(node = %node.name, %error, "updating the node status"),
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(timing.renew) => {}
        }
    }
}

async fn renew_lease(
    api: &ApiClient,
    node: &NodeInfo,
    timing: LeaseTiming,
) -> Result<(), ApiError> {
    let path = format!(
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{}",
        node.name
    );
    let spec = json!({
        "holderIdentity": node.name,
        "leaseDurationSeconds": timing.duration_seconds,
        "renewTime": now_micro(),
    });
    match api.get(&path).await? {
        Some(mut lease) => {
            lease["spec"] = spec;
            match api.replace(&path, &lease).await {
                Ok(_) => Ok(()),
                // Someone else wrote it in between: the next tick reads it again.
                Err(error) if error.is_conflict() => Ok(()),
                Err(error) => Err(error),
            }
        }
        None => {
            let Some(owner) = api.get(&node.path()).await? else {
                return Err(ApiError {
                    method: "GET",
                    path: node.path(),
                    status: 404,
                    reason: "NotFound".to_owned(),
                    message: format!("nodes {:?} not found", node.name),
                });
            };
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": node.name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [{
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": node.name,
                        "uid": owner.pointer("/metadata/uid").cloned().unwrap_or_default(),
                    }],
                },
                "spec": spec,
            });
            match api
                .create(
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    &lease,
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(error) if error.is_conflict() => Ok(()),
                Err(error) => Err(error),
            }
        }
    }
}
