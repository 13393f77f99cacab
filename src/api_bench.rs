//! `shoal bench api`: the Kubernetes API as kubectl reaches it, over HTTPS with bearer tokens,
//! against real `shoal server` processes on loopback (1 and 3 nodes).
//!
//! - creates: many clients POST small ConfigMaps as fast as the server acknowledges them;
//!   with 3 nodes the clients are spread over all nodes, so two thirds of the writes are
//!   forwarded to the leader as they would be behind a load balancer;
//! - watch fan-out: many watchers on one namespace (spread over the nodes), one writer; the
//!   figure is the time from a create being acknowledged to each watcher reading its event.
//!
//! The clients run in this process on the same two cores as the servers, so every figure
//! includes the cost of the load generator too.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command as Process, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use shoal_control::api::{auth, tls};

use crate::bench::{ms, percentile};
use crate::store_bench::{Node, free_port, until};

/// Arguments of `shoal bench api`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// ConfigMaps created per cluster size.
    #[arg(long, default_value_t = 20_000)]
    creates: usize,
    /// Concurrent clients creating them, each on its own connection.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Concurrent watchers in the fan-out.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Objects written while the watchers watch.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Pause between those writes, in milliseconds.
    #[arg(long, default_value_t = 20)]
    event_interval_ms: u64,
    /// Watch streams sharing one HTTP/2 connection.
    #[arg(long, default_value_t = 50)]
    watchers_per_connection: usize,
    /// Cluster sizes to measure.
    #[arg(long = "nodes", default_values_t = [1, 3])]
    nodes: Vec<usize>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    ensure!(args.clients > 0, "--clients must be at least 1");
    ensure!(
        args.watchers_per_connection > 0,
        "--watchers-per-connection must be at least 1"
    );
    crate::block_on(None, bench(args))?
}

async fn bench(args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let work = std::env::temp_dir().join(format!("shoal-api-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    writeln!(
        out,
        "api: Kubernetes API over HTTPS (bearer token), `shoal server` processes on loopback"
    )?;
    for &nodes in &args.nodes {
        ensure!(nodes > 0, "a cluster has at least one node");
        let cluster = ApiCluster::start(&work.join(format!("nodes-{nodes}")), nodes).await?;
        let creates = creates(&cluster, args.clients, args.creates).await?;
        writeln!(
            out,
            "  {nodes} node(s): creates, {} clients, {} ConfigMaps: {:.0} creates/s, p50 {:.2} ms, p99 {:.2} ms",
            args.clients,
            args.creates,
            creates.per_second,
            ms(creates.p50),
            ms(creates.p99)
        )?;
        let fanout = fanout(&cluster, args).await?;
        writeln!(
            out,
            "  {nodes} node(s): watch fan-out, {} watchers × {} events ({} delivered): ack → event p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            args.watchers,
            args.events,
            fanout.delivered,
            ms(fanout.p50),
            ms(fanout.p99),
            ms(fanout.max)
        )?;
        out.flush()?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

/// `shoal server` processes sharing one CA and admin token.
struct ApiCluster {
    urls: Vec<String>,
    ca_pem: String,
    token: String,
    _nodes: Vec<Node>,
}

impl ApiCluster {
    async fn start(dir: &Path, size: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // The PKI exists before any node starts, so the nodes share it instead of racing.
        let pki = dir.join("pki");
        let ca = tls::ClusterCa::load_or_create(&pki).context("creating the cluster CA")?;
        let token = auth::load_or_create_admin_token(&pki).context("creating the admin token")?;
        let secret_file = dir.join("secret");
        std::fs::write(&secret_file, format!("api-bench-{}", std::process::id()))?;
        let peers = (0..size)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let apis = (0..size)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let exe = std::env::current_exe().context("finding the shoal binary")?;
        let mut nodes = Vec::with_capacity(size);
        for index in 0..size {
            let mut command = Process::new(&exe);
            command
                .arg("server")
                .arg("--id")
                .arg((index + 1).to_string())
                .arg("--data-dir")
                .arg(dir.join(format!("node-{}", index + 1)))
                .arg("--listen")
                .arg(&peers[index])
                .arg("--api-listen")
                .arg(&apis[index])
                .arg("--pki-dir")
                .arg(&pki)
                .arg("--cluster-secret-file")
                .arg(&secret_file)
                .env("RUST_LOG", "warn");
            if size > 1 {
                for (i, addr) in peers.iter().enumerate() {
                    command.arg("--peer").arg(format!("{}={addr}", i + 1));
                }
            }
            nodes.push(Node::spawn(
                &mut command,
                &dir.join(format!("node-{}.log", index + 1)),
            )?);
        }
        let cluster = Self {
            urls: apis.iter().map(|a| format!("https://{a}")).collect(),
            ca_pem: ca.cert_pem().to_owned(),
            token,
            _nodes: nodes,
        };
        // Ready when every node accepts a write into `default` (which the leader bootstraps).
        let client = cluster.client()?;
        for (index, url) in cluster.urls.iter().enumerate() {
            let name = format!("ready-{index}");
            until(
                &format!("node {} accepting writes", index + 1),
                Duration::from_secs(60),
                || {
                    let request = client
                        .post(format!("{url}/api/v1/namespaces/default/configmaps"))
                        .json(&config_map(&name, "ready"));
                    async move { request.send().await.ok().filter(|r| r.status() == 201) }
                },
            )
            .await?;
        }
        Ok(cluster)
    }

    /// A client with its own connection pool that trusts the cluster CA and sends the token.
    fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.token)
                .parse()
                .context("the admin token is not a header value")?,
        );
        reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes())
                    .context("reading the cluster CA")?,
            )
            .tls_built_in_root_certs(false)
            .default_headers(headers)
            .timeout(Duration::from_secs(30))
            .build()
            .context("building an HTTPS client")
    }

    fn url(&self, index: usize) -> &str {
        &self.urls[index % self.urls.len()]
    }
}

fn config_map(name: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "api-bench"}},
        "data": {"value": value},
    })
}

struct Creates {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn creates(cluster: &ApiCluster, clients: usize, total: usize) -> anyhow::Result<Creates> {
    let next = AtomicUsize::new(0);
    let value = "v".repeat(256);
    let connections = (0..clients)
        .map(|_| cluster.client())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    let run = |client: usize| {
        let (next, value) = (&next, value.as_str());
        let http = &connections[client];
        let url = format!(
            "{}/api/v1/namespaces/default/configmaps",
            cluster.url(client)
        );
        async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(latencies);
                }
                let body = config_map(&format!("create-{i}"), value);
                let began = Instant::now();
                let response = http.post(&url).json(&body).send().await?;
                let status = response.status();
                if status != 201 {
                    bail!(
                        "create {i} answered {status}: {}",
                        response.text().await.unwrap_or_default()
                    );
                }
                // The body is part of the answer kubectl waits for.
                response.bytes().await?;
                latencies.push(began.elapsed());
            }
        }
    };
    let results = futures::future::join_all((0..clients).map(run)).await;
    let elapsed = start.elapsed();
    let mut latencies = Vec::with_capacity(total);
    for result in results {
        latencies.extend(result?);
    }
    latencies.sort();
    Ok(Creates {
        per_second: total as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}

struct Fanout {
    delivered: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// When each watcher read each event, by object name.
type Arrivals = Vec<(String, Instant)>;

async fn fanout(cluster: &ApiCluster, args: &Args) -> anyhow::Result<Fanout> {
    let namespace = format!("fanout-{}", cluster.urls.len());
    let admin = cluster.client()?;
    let response = admin
        .post(format!("{}/api/v1/namespaces", cluster.url(0)))
        .json(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}))
        .send()
        .await?;
    ensure!(
        response.status() == 201,
        "creating namespace {namespace}: {}",
        response.status()
    );
    let collection = format!("api/v1/namespaces/{namespace}/configmaps");
    let list: Value = admin
        .get(format!("{}/{collection}", cluster.url(0)))
        .send()
        .await?
        .json()
        .await?;
    let from = list["metadata"]["resourceVersion"]
        .as_str()
        .context("the list has no resourceVersion")?
        .to_owned();

    let connections = args.watchers.div_ceil(args.watchers_per_connection);
    let clients = (0..connections)
        .map(|_| cluster.client())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let open = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::with_capacity(args.watchers);
    for watcher in 0..args.watchers {
        let connection = watcher % connections;
        let http = clients[connection].clone();
        let url = format!(
            "{}/{collection}?watch=1&resourceVersion={from}&timeoutSeconds=600",
            cluster.url(connection)
        );
        let (open, expected) = (Arc::clone(&open), args.events);
        watchers.push(tokio::spawn(async move {
            watch(http, url, expected, open).await
        }));
    }
    until("every watch open", Duration::from_secs(120), || async {
        (open.load(Ordering::Relaxed) >= args.watchers).then_some(())
    })
    .await?;
    // Every watch is registered with the server once its headers arrived; let them settle.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let writer = cluster.url(0).to_owned();
    for i in 0..args.events {
        let name = format!("event-{i}");
        let response = admin
            .post(format!("{writer}/{collection}"))
            .json(&config_map(&name, "x"))
            .send()
            .await?;
        let at = Instant::now();
        ensure!(response.status() == 201, "write {i}: {}", response.status());
        acked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name, at);
        tokio::time::sleep(Duration::from_millis(args.event_interval_ms)).await;
    }

    let mut latencies = Vec::with_capacity(args.watchers * args.events);
    let acked = acked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for watcher in watchers {
        let arrivals = watcher.await.context("a watcher panicked")??;
        ensure!(
            arrivals.len() == args.events,
            "a watcher saw {} of {} events",
            arrivals.len(),
            args.events
        );
        for (name, at) in arrivals {
            let ack = acked
                .get(&name)
                .with_context(|| format!("a watcher saw {name}, which was never written"))?;
            // An event may arrive before the writer reads its acknowledgement: zero, then.
            latencies.push(at.saturating_duration_since(*ack));
        }
    }
    latencies.sort();
    Ok(Fanout {
        delivered: latencies.len(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
    })
}

/// Watches until `expected` ADDED events arrived; returns when each did.
async fn watch(
    http: reqwest::Client,
    url: String,
    expected: usize,
    open: Arc<AtomicUsize>,
) -> anyhow::Result<Arrivals> {
    let mut response = http
        .get(&url)
        .timeout(Duration::from_secs(600))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "watch answered {}",
        response.status()
    );
    open.fetch_add(1, Ordering::Relaxed);
    let mut arrivals = Vec::with_capacity(expected);
    let mut pending: Vec<u8> = Vec::new();
    while arrivals.len() < expected {
        let Some(chunk) = response.chunk().await? else {
            bail!("the watch ended after {} events", arrivals.len());
        };
        let at = Instant::now();
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let event: Value = serde_json::from_slice(&line).context("a watch event")?;
            match event["type"].as_str() {
                Some("ADDED") => {
                    let name = event["object"]["metadata"]["name"]
                        .as_str()
                        .context("an event without a name")?;
                    arrivals.push((name.to_owned(), at));
                }
                Some("BOOKMARK") => {}
                other => bail!("unexpected watch event {other:?}: {event}"),
            }
        }
    }
    Ok(arrivals)
}
