//! `shoal bench cluster`: the figures of a working cluster, all in this process as under
//! `shoal up` (a one-node control plane and agents on loopback, talking HTTPS):
//!
//! - **start**: apply → Running and Ready for `--pods` pods on one agent with the image cached,
//!   one at a time (the latency of one pod) and all at once (a burst);
//! - **schedule**: pods bound per second through the API, `--sim-pods` pods onto
//!   `--sim-nodes` simulated Nodes (Node objects with Leases, no agents), on a control plane
//!   of its own;
//! - **nodeport**: HTTP hello through NodePort → Service → pod, against the same guest served
//!   directly by a plain HTTP listener in front of its sandbox, and the sandbox called
//!   in-process;
//! - **lost**: an agent stops; how long until its node is unreachable and its pods Running on
//!   the other node, with `shoal up`'s timeouts.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use shoal_manifests::json::str_at;
use shoal_wasm_sandbox::net::{BodyError, empty_body};
use shoal_wasm_sandbox::{PodSandbox, Runtime, RuntimeConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bench::{ms, percentile};
use crate::store_bench::{free_port, until};

/// Arguments of `shoal bench cluster`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The folder of built test guests.
    #[arg(long, default_value = "wasm-sandbox/guests")]
    guests: PathBuf,
    /// Pods started for the start-latency figures.
    #[arg(long, default_value_t = 100)]
    pods: usize,
    /// Simulated nodes of the scheduling figure.
    #[arg(long, default_value_t = 1000)]
    sim_nodes: usize,
    /// Pods bound onto the simulated nodes.
    #[arg(long, default_value_t = 10_000)]
    sim_pods: usize,
    /// Concurrent HTTP clients of the NodePort figure (one keep-alive connection each).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// How long each HTTP measurement runs.
    #[arg(long, default_value_t = 5)]
    http_seconds: u64,
    /// Run only these parts (comma-separated): start, schedule, nodeport, lost.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// `shoal up`'s node timeouts, which the node-lost figure runs with.
const NODE_GRACE_SECONDS: u64 = 20;
const POD_EVICTION_SECONDS: u64 = 30;

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::block_on(None, bench(args))?
}

async fn bench(args: &Args) -> anyhow::Result<ExitCode> {
    let guests = std::fs::canonicalize(&args.guests)
        .with_context(|| format!("the guests folder {}", args.guests.display()))?;
    let work = crate::sandbox_bench::tempfile_dir()?.join("cluster");
    let _ = std::fs::remove_dir_all(&work);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "cluster: control plane, agents and load generator in one process on {} cores{}",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        if cfg!(debug_assertions) {
            " (debug build: not figures)"
        } else {
            ""
        }
    )?;
    if args.wants("schedule") {
        schedule(args, &work.join("schedule"), &mut out).await?;
    }
    if args.wants("start") || args.wants("nodeport") || args.wants("lost") {
        let plane = Plane::start(&work.join("cluster")).await?;
        let agent_a = plane.agent("bench-a", Ipv4Addr::new(127, 0, 0, 2)).await?;
        let hello = format!("file://{}", guests.join("http-hello.wasm").display());
        if args.wants("start") {
            pod_start(&plane, args, &hello, &mut out).await?;
        }
        if args.wants("nodeport") {
            node_port(&plane, args, &guests, &hello, &mut out).await?;
        }
        if args.wants("lost") {
            let agent_b = plane.agent("bench-b", Ipv4Addr::new(127, 0, 0, 3)).await?;
            node_lost(&plane, &hello, agent_b, &mut out).await?;
        }
        agent_a.stop().await;
        plane.running.shutdown().await?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

/// A one-node control plane in this process, and an admin client of its API.
struct Plane {
    dir: PathBuf,
    running: crate::server::Running,
    api: Api,
}

impl Plane {
    async fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let api_listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut args = crate::server::Args::single_node(dir, api_listen, listen);
        args.node_grace_seconds = NODE_GRACE_SECONDS;
        args.pod_eviction_seconds = POD_EVICTION_SECONDS;
        let running = crate::server::start(&args).await?;
        let pki = dir.join("pki");
        let ca = std::fs::read(pki.join(shoal_control::api::tls::CA_CERT_FILE))?;
        let token = shoal_control::api::auth::load_or_create_admin_token(&pki)?;
        let api = Api::new(&running.api_url, &ca, &token)?;
        until("the default namespace", Duration::from_secs(60), || async {
            api.get("/api/v1/namespaces/default")
                .await
                .ok()
                .flatten()
                .map(|_| ())
        })
        .await?;
        Ok(Self {
            dir: dir.to_owned(),
            running,
            api,
        })
    }

    /// Starts an agent in this process and waits for its node to be Ready with a pod range.
    async fn agent(&self, name: &str, address: Ipv4Addr) -> anyhow::Result<LocalAgent> {
        let mut args = crate::agent::Args::local(
            &self.running.api_url,
            &self.dir,
            name,
            IpAddr::V4(address),
            free_port()?,
        );
        args.data_dir = self.dir.join(format!("agent-{name}"));
        let config = crate::agent::config(&args)?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(shoal_agent::run(config, cancel.clone()));
        let path = format!("/api/v1/nodes/{name}");
        until(
            &format!("node {name} Ready"),
            Duration::from_secs(60),
            || async {
                let node = self.api.get(&path).await.ok().flatten()?;
                (ready_condition(&node) == "True" && node.pointer("/spec/podCIDR").is_some())
                    .then_some(())
            },
        )
        .await?;
        Ok(LocalAgent { cancel, task })
    }

    /// Pods of `selector` (a label selector) that run Ready, by name, with their node.
    async fn ready_pods(&self, selector: &str) -> anyhow::Result<Vec<(String, String)>> {
        let list = self
            .api
            .get(&format!(
                "/api/v1/namespaces/default/pods?labelSelector={selector}"
            ))
            .await?
            .unwrap_or_default();
        Ok(items(&list)
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none() && pod_ready(p))
            .map(|p| (text(p, "/metadata/name"), text(p, "/spec/nodeName")))
            .collect())
    }
}

struct LocalAgent {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl LocalAgent {
    /// Stops the agent as a lost node stops: its pods end, nothing is deleted.
    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// An HTTPS client of the API with the admin token.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(url: &str, ca: &[u8], token: &str) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca)?)
            .tls_built_in_root_certs(false)
            .default_headers(headers)
            .build()?;
        Ok(Self {
            http,
            url: url.to_owned(),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        if response.status() == 404 {
            return Ok(None);
        }
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(Some(response.json().await?))
    }

    async fn create(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or_default();
        ensure!(status.is_success(), "POST {path}: {status} {answer}");
        Ok(answer)
    }

    async fn replace(&self, path: &str, body: &Value) -> anyhow::Result<()> {
        let response = self
            .http
            .put(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "PUT {path}: {}",
            response.status()
        );
        Ok(())
    }

    async fn delete_all(&self, collection: &str, selector: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .delete(format!("{}{collection}?labelSelector={selector}", self.url))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "DELETE {collection}: {}",
            response.status()
        );
        Ok(())
    }

    /// Follows a watch of `collection` (a query string included), calling `seen` with every
    /// object, until the stream ends or `cancel`.
    async fn watch(
        &self,
        collection: &str,
        cancel: CancellationToken,
        mut seen: impl FnMut(&Value),
    ) -> anyhow::Result<()> {
        let separator = if collection.contains('?') { '&' } else { '?' };
        let mut response = self
            .http
            .get(format!(
                "{}{collection}{separator}watch=true&timeoutSeconds=3600",
                self.url
            ))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "watch: {}",
            response.status()
        );
        let mut pending = Vec::new();
        loop {
            let chunk = tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                chunk = response.chunk() => chunk?,
            };
            let Some(chunk) = chunk else { return Ok(()) };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Ok(event) = serde_json::from_slice::<Value>(&line)
                    && let Some(object) = event.get("object")
                {
                    seen(object);
                }
            }
        }
    }
}

fn items(list: &Value) -> &[Value] {
    list.get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text(value: &Value, pointer: &str) -> String {
    str_at(value, pointer).to_owned()
}

fn ready_condition(object: &Value) -> String {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .map(|c| text(c, "/status"))
        .unwrap_or_default()
}

fn pod_ready(pod: &Value) -> bool {
    text(pod, "/status/phase") == "Running" && ready_condition(pod) == "True"
}

fn hello_pod(name: &str, image: &str, label: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": label}},
        "spec": {"containers": [{
            "name": "web",
            "image": image,
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "POD_NAME", "value": name}, {"name": "CONTAINER_NAME", "value": "web"}],
        }]},
    })
}

fn hello_deployment(name: &str, image: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"bench": name}},
            "template": {
                "metadata": {"labels": {"bench": name}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": image,
                    "ports": [{"containerPort": 8080}],
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "CONTAINER_NAME", "value": "web"},
                    ],
                }]},
            },
        },
    })
}

/// When each pod was first seen Running and Ready, by name; woken on every new one.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<String, Instant>>,
    notify: Notify,
}

impl Arrivals {
    fn record(&self, name: String) {
        let mut at = self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let std::collections::hash_map::Entry::Vacant(entry) = at.entry(name) {
            entry.insert(Instant::now());
            self.notify.notify_waiters();
        }
    }

    fn get(&self, name: &str) -> Option<Instant> {
        self.at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .copied()
    }

    async fn wait(&self, name: &str, limit: Duration) -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a pod arriving in between still wakes us.
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(at) = self.get(name) {
                return Ok(at);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                bail!("{name} was not Running within {limit:?}");
            }
        }
    }
}

/// Watches pods of `selector` and records when each turns Running and Ready (or bound, with
/// `bound`), until `cancel`.
fn record_arrivals(
    api: &Api,
    selector: &str,
    bound: bool,
    cancel: CancellationToken,
) -> Arc<Arrivals> {
    let arrivals = Arc::new(Arrivals::default());
    let api = api.clone();
    let recorder = Arc::clone(&arrivals);
    let collection = format!("/api/v1/namespaces/default/pods?labelSelector={selector}");
    tokio::spawn(async move {
        let result = api
            .watch(&collection, cancel, |pod| {
                let arrived = if bound {
                    !text(pod, "/spec/nodeName").is_empty()
                } else {
                    pod_ready(pod)
                };
                if arrived {
                    recorder.record(text(pod, "/metadata/name"));
                }
            })
            .await;
        if let Err(error) = result {
            tracing::warn!("the benchmark's pod watch ended: {error:#}");
        }
    });
    arrivals
}

fn summary(latencies: &mut [Duration]) -> String {
    latencies.sort();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    )
}

async fn pod_start(
    plane: &Plane,
    args: &Args,
    image: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let api = &plane.api;
    let pods = "/api/v1/namespaces/default/pods";
    let cancel = CancellationToken::new();
    let arrivals = record_arrivals(api, "bench%3Dstart", false, cancel.clone());
    // Give the watch a moment to open; then one pod pulls and compiles the image.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warm = Instant::now();
    api.create(pods, &hello_pod("warm", image, "start")).await?;
    arrivals.wait("warm", Duration::from_secs(120)).await?;
    let cold = warm.elapsed();

    let mut one_by_one = Vec::with_capacity(args.pods);
    for i in 0..args.pods {
        let name = format!("one-{i}");
        let sent = Instant::now();
        api.create(pods, &hello_pod(&name, image, "start")).await?;
        one_by_one.push(arrivals.wait(&name, Duration::from_secs(60)).await? - sent);
    }
    api.delete_all(pods, "bench%3Dstart").await?;
    wait_gone(plane, "bench%3Dstart").await?;

    let burst_start = Instant::now();
    let sends: Vec<_> = (0..args.pods)
        .map(|i| {
            let api = api.clone();
            let image = image.to_owned();
            tokio::spawn(async move {
                let name = format!("burst-{i}");
                let sent = Instant::now();
                api.create(pods, &hello_pod(&name, &image, "start")).await?;
                anyhow::Ok((name, sent))
            })
        })
        .collect();
    let mut burst = Vec::with_capacity(args.pods);
    for send in sends {
        let (name, sent) = send.await??;
        burst.push(arrivals.wait(&name, Duration::from_secs(120)).await? - sent);
    }
    let burst_total = burst_start.elapsed();
    cancel.cancel();
    api.delete_all(pods, "bench%3Dstart").await?;
    wait_gone(plane, "bench%3Dstart").await?;

    writeln!(
        out,
        "  pod start, create → Running and Ready, one agent, image cached (first pod with pull and compile: {:.0} ms):",
        ms(cold)
    )?;
    writeln!(
        out,
        "    one at a time  {} pods: {}",
        args.pods,
        summary(&mut one_by_one)
    )?;
    writeln!(
        out,
        "    all at once    {} pods: {}; all Running after {:.0} ms",
        args.pods,
        summary(&mut burst),
        ms(burst_total)
    )?;
    Ok(())
}

async fn wait_gone(plane: &Plane, selector: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/namespaces/default/pods?labelSelector={selector}");
    until("the pods deleted", Duration::from_secs(120), || async {
        let list = plane.api.get(&path).await.ok().flatten()?;
        items(&list).is_empty().then_some(())
    })
    .await
}

async fn schedule(args: &Args, dir: &Path, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let plane = Plane::start(dir).await?;
    let api = &plane.api;
    let clients = 64;
    let started = Instant::now();
    let nodes: Vec<usize> = (0..args.sim_nodes).collect();
    for_all(&nodes, clients, |i| {
        let api = api.clone();
        async move {
            let name = format!("sim-{i}");
            api.create("/api/v1/nodes", &sim_node(&name)).await?;
            api.create(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                &lease(&name),
            )
            .await?;
            anyhow::Ok(())
        }
    })
    .await?;
    let setup = started.elapsed();
    // The simulated kubelets renew their Leases, so the nodes stay Ready however long it takes.
    let renewing = CancellationToken::new();
    tokio::spawn(renew_leases(api.clone(), args.sim_nodes, renewing.clone()));
    let cancel = CancellationToken::new();
    let arrivals = record_arrivals(api, "bench%3Dsched", true, cancel.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent_at = Arc::new(Mutex::new(HashMap::new()));
    let first = Instant::now();
    let pods: Vec<usize> = (0..args.sim_pods).collect();
    for_all(&pods, clients, |j| {
        let api = api.clone();
        let sent_at = Arc::clone(&sent_at);
        async move {
            let name = format!("sched-{j}");
            let sent = Instant::now();
            api.create("/api/v1/namespaces/default/pods", &sim_pod(&name, j))
                .await?;
            sent_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name, sent);
            anyhow::Ok(())
        }
    })
    .await?;
    let created = first.elapsed();
    let sent_at = std::mem::take(
        &mut *sent_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut latencies = Vec::with_capacity(sent_at.len());
    let mut last = first;
    for (name, sent) in &sent_at {
        let at = arrivals.wait(name, Duration::from_secs(300)).await?;
        last = last.max(at);
        latencies.push(at.saturating_duration_since(*sent));
    }
    cancel.cancel();
    renewing.cancel();
    let span = last - first;
    writeln!(
        out,
        "  scheduling through the API: {} pods onto {} simulated nodes ({:.1} s to create the nodes and Leases)",
        args.sim_pods,
        args.sim_nodes,
        setup.as_secs_f64()
    )?;
    writeln!(
        out,
        "    created in {:.2} s ({:.0}/s, {clients} clients); all bound after {:.2} s: {:.0} pods bound/s; create → bound {}",
        created.as_secs_f64(),
        args.sim_pods as f64 / created.as_secs_f64(),
        span.as_secs_f64(),
        args.sim_pods as f64 / span.as_secs_f64(),
        summary(&mut latencies)
    )?;
    plane.running.shutdown().await?;
    Ok(())
}

/// Renews the simulated nodes' Leases every 5 s until `cancel`.
async fn renew_leases(api: Api, count: usize, cancel: CancellationToken) {
    use futures::StreamExt as _;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        futures::stream::iter(0..count)
            .for_each_concurrent(16, |i| {
                let api = api.clone();
                async move {
                    let name = format!("sim-{i}");
                    let path = format!(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
                    );
                    if let Err(error) = api.replace(&path, &lease(&name)).await {
                        tracing::debug!("renewing {name}: {error:#}");
                    }
                }
            })
            .await;
    }
}

/// Runs `work` for every item with at most `clients` at once.
async fn for_all<F, Fut>(items: &[usize], clients: usize, work: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use futures::StreamExt as _;
    let mut results =
        futures::stream::iter(items.iter().map(|&i| work(i))).buffer_unordered(clients);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

fn sim_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "bench": "sim"}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.1"}],
        },
    })
}

fn lease(name: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 40,
            "renewTime": shoal_agent::client::now_micro(),
        },
    })
}

fn sim_pod(name: &str, j: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "sched", "app": format!("app-{}", j / 20)}},
        "spec": {"containers": [{
            "name": "main",
            "image": "file:///nonexistent.wasm",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        }]},
    })
}

/// One client's request, again and again.
type Call = Box<dyn FnMut() -> futures::future::BoxFuture<'static, anyhow::Result<()>> + Send>;

/// Runs every client's call back to back for `seconds`: calls per second and the latencies.
async fn timed_load(clients: Vec<Call>, seconds: u64) -> anyhow::Result<(f64, Vec<Duration>)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut call| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    call().await?;
                    latencies.push(sent.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort();
    Ok((rate, all))
}

/// `clients` keep-alive clients GET `url` for `seconds`.
async fn http_load(
    url: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let mut calls = Vec::with_capacity(clients);
    for _ in 0..clients {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let url = url.to_owned();
        calls.push(Box::new(move || {
            let client = client.clone();
            let url = url.clone();
            Box::pin(async move {
                let response = client.get(&url).send().await?;
                ensure!(response.status() == 200, "{url}: {}", response.status());
                let body = response.bytes().await?;
                ensure!(body.starts_with(b"hello from"), "{url}: {body:?}");
                Ok(())
            }) as futures::future::BoxFuture<'static, anyhow::Result<()>>
        }) as Call);
    }
    timed_load(calls, seconds).await
}

/// The hello guest in a sandbox of its own, served over plain HTTP with no proxy between.
async fn direct_server(
    guests: &Path,
    dir: &Path,
    cancel: CancellationToken,
) -> anyhow::Result<(SocketAddr, PodSandbox)> {
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let hello = crate::sandbox_bench::load(&runtime, guests, "http-hello.wasm")?;
    let mut spec = crate::sandbox_bench::container(
        "web",
        hello,
        &[("POD_NAME", "direct"), ("CONTAINER_NAME", "web")],
    );
    spec.ports = vec![8080];
    std::fs::create_dir_all(dir)?;
    let pod = crate::sandbox_bench::sandbox(&runtime, dir, vec![spec])?;
    let serving = pod.start("web")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let served = pod.clone();
    tokio::spawn(async move {
        let _serving = serving;
        loop {
            let stream = tokio::select! {
                () = cancel.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let _ = stream.set_nodelay(true);
            let pod = served.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let pod = pod.clone();
                        async move {
                            let request = request.map(|body| {
                                body.map_err(|e| BodyError::InternalError(Some(e.to_string())))
                                    .boxed_unsync()
                            });
                            let response = match pod.serve_http(8080, request).await {
                                Ok(response) => response,
                                Err(error) => {
                                    let mut response = http::Response::new(
                                        shoal_wasm_sandbox::net::full_body(error.to_string()),
                                    );
                                    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
                                    response
                                }
                            };
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, pod))
}

/// The sandbox called in-process, no HTTP at all, by `clients` tasks for `seconds`.
async fn in_process_load(
    pod: &PodSandbox,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let calls = (0..clients)
        .map(|_| {
            let pod = pod.clone();
            Box::new(move || {
                let pod = pod.clone();
                Box::pin(async move {
                    let request =
                        http::Request::get("http://10.244.0.1:8080/").body(empty_body())?;
                    let response = pod.serve_http(8080, request).await?;
                    ensure!(response.status() == 200, "status {}", response.status());
                    let _ = response.into_body().collect().await?;
                    Ok(())
                }) as futures::future::BoxFuture<'static, anyhow::Result<()>>
            }) as Call
        })
        .collect();
    timed_load(calls, seconds).await
}

async fn node_port(
    plane: &Plane,
    args: &Args,
    guests: &Path,
    image: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let api = &plane.api;
    api.create(
        "/apis/apps/v1/namespaces/default/deployments",
        &hello_deployment("np", image, 1),
    )
    .await?;
    let service = api
        .create(
            "/api/v1/namespaces/default/services",
            &json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "np"},
                "spec": {"type": "NodePort", "selector": {"bench": "np"},
                         "ports": [{"port": 80, "targetPort": 8080}]},
            }),
        )
        .await?;
    let port = service
        .pointer("/spec/ports/0/nodePort")
        .and_then(Value::as_u64)
        .context("the Service got no NodePort")?;
    let url = format!("http://127.0.0.2:{port}/");
    let probe = reqwest::Client::new();
    until("the NodePort serving", Duration::from_secs(120), || async {
        let response = probe.get(&url).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await?;
    let cancel = CancellationToken::new();
    let (direct, pod) = direct_server(guests, &plane.dir.join("direct"), cancel.clone()).await?;
    let direct_url = format!("http://{direct}/");
    // Warm both paths, then measure them one after the other.
    http_load(&direct_url, args.clients, 1).await?;
    http_load(&url, args.clients, 1).await?;
    let (direct_rate, direct_lat) = http_load(&direct_url, args.clients, args.http_seconds).await?;
    let (np_rate, np_lat) = http_load(&url, args.clients, args.http_seconds).await?;
    let (inproc_rate, inproc_lat) = in_process_load(&pod, args.clients, args.http_seconds).await?;
    cancel.cancel();
    let p50 = |l: &[Duration]| ms(percentile(l, 0.5));
    let p99 = |l: &[Duration]| ms(percentile(l, 0.99));
    writeln!(
        out,
        "  HTTP hello, {} keep-alive clients, {} s each:",
        args.clients, args.http_seconds
    )?;
    for (what, rate, latencies) in [
        ("sandbox in-process (no HTTP)", inproc_rate, &inproc_lat),
        ("direct HTTP → sandbox", direct_rate, &direct_lat),
        ("NodePort → Service → pod", np_rate, &np_lat),
    ] {
        writeln!(
            out,
            "    {what:<30} {rate:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
            p50(latencies),
            p99(latencies)
        )?;
    }
    writeln!(
        out,
        "    NodePort / direct: {:.2}× the throughput, p50 {:+.0}%",
        np_rate / direct_rate,
        (p50(&np_lat) / p50(&direct_lat) - 1.0) * 100.0
    )?;
    api.delete_all("/apis/apps/v1/namespaces/default/deployments", "")
        .await
        .ok();
    Ok(())
}

async fn node_lost(
    plane: &Plane,
    image: &str,
    agent: LocalAgent,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let api = &plane.api;
    let replicas = 4;
    api.create(
        "/apis/apps/v1/namespaces/default/deployments",
        &hello_deployment("lost", image, replicas),
    )
    .await?;
    let placed = until("the lost app Running", Duration::from_secs(120), || async {
        let ready = plane.ready_pods("bench%3Dlost").await.ok()?;
        (ready.len() == replicas as usize).then_some(ready)
    })
    .await?;
    let on_b = placed.iter().filter(|(_, node)| node == "bench-b").count();
    ensure!(on_b > 0, "no pod was placed on bench-b: {placed:?}");
    let lost_at = Instant::now();
    agent.stop().await;
    let unreachable = until("bench-b unreachable", Duration::from_secs(120), || async {
        let node = plane
            .api
            .get("/api/v1/nodes/bench-b")
            .await
            .ok()
            .flatten()?;
        (ready_condition(&node) == "Unknown").then(|| lost_at.elapsed())
    })
    .await?;
    let moved = until(
        "the pods back on bench-a",
        Duration::from_secs(300),
        || async {
            let ready = plane.ready_pods("bench%3Dlost").await.ok()?;
            (ready.len() == replicas as usize && ready.iter().all(|(_, node)| node == "bench-a"))
                .then(|| lost_at.elapsed())
        },
    )
    .await?;
    writeln!(
        out,
        "  node lost ({on_b} of {replicas} pods on it; grace {NODE_GRACE_SECONDS} s, eviction {POD_EVICTION_SECONDS} s as under shoal up): NotReady after {:.1} s, all pods Running elsewhere after {:.1} s",
        unreachable.as_secs_f64(),
        moved.as_secs_f64()
    )?;
    Ok(())
}
