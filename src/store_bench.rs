//! `shoal bench store`: the Raft store against etcd, the same workload on the same machine in
//! one run. Both run as real processes on loopback (`shoal server` and Debian's `etcd`), 1 and
//! 3 nodes; 1 and 64 concurrent clients put 1 KiB values under fresh keys; then leader
//! failover: kill -9 the leader and time the first write that succeeds afterwards.
//!
//! Shoal is driven through its peer endpoint (`StoreClient`, what members and tools speak),
//! etcd through its v3 JSON gateway: both are HTTP/JSON on loopback, so neither side gets a
//! cheaper protocol.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use shoal_control::store::{
    ClusterSecret, Command, NodeId, ObjectKey, ObjectValue, Op, StoreClient, StoreError, Timestamp,
    Uid,
};
use tokio::sync::RwLock;

use crate::bench::{ms, percentile};

/// Arguments of `shoal bench store`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Writes per scenario with 64 clients (a quarter of that with one client).
    #[arg(long, default_value_t = 4000)]
    ops: usize,
    /// Bytes in each value.
    #[arg(long, default_value_t = 1024)]
    value_bytes: usize,
    /// Leader failovers timed per system.
    #[arg(long, default_value_t = 20)]
    failovers: usize,
    /// The etcd binary (Debian's `etcd-server` package).
    #[arg(long, default_value = "etcd")]
    etcd: PathBuf,
    /// Measure Shoal only.
    #[arg(long)]
    no_etcd: bool,
    /// Cluster sizes measured, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 3])]
    nodes: Vec<usize>,
    /// Concurrent clients per scenario, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 64])]
    clients: Vec<usize>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::block_on(None, bench(args))?
}

async fn bench(args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let work = std::env::temp_dir().join(format!("shoal-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let etcd = !args.no_etcd;
    if etcd {
        let version = Process::new(&args.etcd)
            .arg("--version")
            .output()
            .with_context(|| {
                format!(
                    "running {} (install Debian's etcd-server, or pass --no-etcd)",
                    args.etcd.display()
                )
            })?;
        let first = String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        writeln!(out, "store: Shoal (openraft + redb) against {first}")?;
    } else {
        writeln!(out, "store: Shoal (openraft + redb)")?;
    }
    writeln!(
        out,
        "  puts of {} B values under fresh keys, HTTP/JSON on loopback",
        args.value_bytes
    )?;
    writeln!(
        out,
        "  {:<6} {:<7} {:<7} {:>10} {:>10} {:>10}",
        "nodes", "clients", "system", "ops/s", "p50 ms", "p99 ms"
    )?;
    for &nodes in &args.nodes {
        let shoal = ShoalCluster::start(&work.join(format!("shoal-{nodes}")), nodes).await?;
        let etcd_cluster = if etcd {
            Some(EtcdCluster::start(&args.etcd, &work.join(format!("etcd-{nodes}")), nodes).await?)
        } else {
            None
        };
        for &clients in &args.clients {
            let ops = if clients == 1 { args.ops / 4 } else { args.ops };
            let result = workload(&shoal, clients, ops, args.value_bytes, "shoal").await?;
            writeln!(out, "  {nodes:<6} {clients:<7} {:<7} {result}", "shoal")?;
            if let Some(etcd) = &etcd_cluster {
                let result = workload(etcd, clients, ops, args.value_bytes, "etcd").await?;
                writeln!(out, "  {nodes:<6} {clients:<7} {:<7} {result}", "etcd")?;
            }
        }
        if nodes == 3 && args.failovers > 0 {
            let mut shoal = shoal;
            let times = failovers(&mut shoal, args.failovers).await?;
            writeln!(
                out,
                "  leader failover, kill -9 → first successful write, {} trials: shoal p50 {:.0} ms, p99 {:.0} ms",
                times.len(),
                ms(percentile(&times, 0.50)),
                ms(percentile(&times, 0.99))
            )?;
            if let Some(mut etcd) = etcd_cluster {
                let times = failovers(&mut etcd, args.failovers).await?;
                writeln!(
                    out,
                    "  leader failover, kill -9 → first successful write, {} trials: etcd  p50 {:.0} ms, p99 {:.0} ms",
                    times.len(),
                    ms(percentile(&times, 0.50)),
                    ms(percentile(&times, 0.99))
                )?;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

/// Throughput and latency of one scenario.
struct Figures {
    ops_per_second: f64,
    p50: Duration,
    p99: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>10.0} {:>10.2} {:>10.2}",
            self.ops_per_second,
            ms(self.p50),
            ms(self.p99)
        )
    }
}

/// A store under test: it puts values and can lose and regain its leader.
trait System: Send + Sync + 'static {
    /// Puts `value` under a fresh `key`, retrying through leader changes.
    fn put(&self, key: String, value: Arc<[u8]>)
    -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Kills the leader with SIGKILL; returns its index.
    fn kill_leader(&mut self) -> impl Future<Output = anyhow::Result<usize>> + Send;
    /// Restarts node `index` from its data and waits until it follows a leader again.
    fn restart(&mut self, index: usize) -> impl Future<Output = anyhow::Result<()>> + Send;
}

async fn workload<S: System>(
    system: &S,
    clients: usize,
    ops: usize,
    value_bytes: usize,
    tag: &str,
) -> anyhow::Result<Figures> {
    let value: Arc<[u8]> = vec![b'v'; value_bytes].into();
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let run = |client: usize| {
        let value = Arc::clone(&value);
        let next = &next;
        async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return anyhow::Ok(latencies);
                }
                let key = format!("{tag}-{clients}-{client}-{i}");
                let began = Instant::now();
                system.put(key, Arc::clone(&value)).await?;
                latencies.push(began.elapsed());
            }
        }
    };
    let results = futures::future::join_all((0..clients).map(run)).await;
    let elapsed = start.elapsed();
    let mut latencies = Vec::with_capacity(ops);
    for result in results {
        latencies.extend(result?);
    }
    latencies.sort();
    Ok(Figures {
        ops_per_second: ops as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}

async fn failovers<S: System>(system: &mut S, trials: usize) -> anyhow::Result<Vec<Duration>> {
    let value: Arc<[u8]> = vec![b'f'; 64].into();
    let mut times = Vec::with_capacity(trials);
    for trial in 0..trials {
        let killed = system.kill_leader().await?;
        let began = Instant::now();
        system
            .put(format!("failover-{trial}"), Arc::clone(&value))
            .await?;
        times.push(began.elapsed());
        system.restart(killed).await?;
    }
    times.sort();
    Ok(times)
}

/// A port free on loopback right now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A child process killed with SIGKILL when dropped.
pub(crate) struct Node {
    child: Option<Child>,
}

impl Node {
    pub(crate) fn spawn(command: &mut Process, log: &Path) -> anyhow::Result<Self> {
        // Appended to, so a restarted node's log follows its earlier runs.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        Ok(Self { child: Some(child) })
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 20 ms until it yields a value or `deadline` passes.
pub(crate) async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> F,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if start.elapsed() > deadline {
            bail!("{what} did not happen within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `shoal server` processes forming one cluster.
struct ShoalCluster {
    dir: PathBuf,
    addrs: Vec<String>,
    nodes: Vec<Node>,
    secret_file: PathBuf,
    client: StoreClient,
    /// Where writes went last time (the leader, as far as we know).
    leader: RwLock<usize>,
}

impl ShoalCluster {
    async fn start(dir: &Path, size: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let secret = format!("bench-{}", std::process::id());
        let secret_file = dir.join("secret");
        std::fs::write(&secret_file, &secret)?;
        let addrs = (0..size)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let client = StoreClient::new(ClusterSecret::new(&secret)?, Duration::from_secs(2))?;
        let mut cluster = Self {
            dir: dir.to_owned(),
            addrs,
            nodes: Vec::new(),
            secret_file,
            client,
            leader: RwLock::new(0),
        };
        cluster.nodes = (0..size)
            .map(|index| cluster.spawn(index))
            .collect::<anyhow::Result<_>>()?;
        cluster.find_leader().await?;
        Ok(cluster)
    }

    fn spawn(&self, index: usize) -> anyhow::Result<Node> {
        let exe = std::env::current_exe().context("finding the shoal binary")?;
        let mut command = Process::new(exe);
        command
            .arg("server")
            .arg("--id")
            .arg((index + 1).to_string())
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{}", index + 1)))
            .arg("--listen")
            .arg(&self.addrs[index])
            .args(["--api-listen", "127.0.0.1:0"])
            .arg("--cluster-secret-file")
            .arg(&self.secret_file)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            );
        if self.addrs.len() > 1 {
            for (i, addr) in self.addrs.iter().enumerate() {
                command.arg("--peer").arg(format!("{}={addr}", i + 1));
            }
        }
        Node::spawn(
            &mut command,
            &self.dir.join(format!("node-{}.log", index + 1)),
        )
    }

    /// Waits until a live node leads with a majority of the live nodes agreeing (a node just
    /// restarted may still believe in the leadership it had before); remembers its index.
    async fn find_leader(&self) -> anyhow::Result<usize> {
        let index = until("a Shoal leader", Duration::from_secs(30), || async {
            self.agreed_leader().await
        })
        .await?;
        *self.leader.write().await = index;
        Ok(index)
    }

    /// The leader a majority of all nodes name, if that leader is alive and agrees.
    async fn agreed_leader(&self) -> Option<usize> {
        let mut votes = vec![0usize; self.addrs.len()];
        for (index, addr) in self.addrs.iter().enumerate() {
            if !self.nodes[index].alive() {
                continue;
            }
            if let Ok(status) = self.client.status(addr).await
                && let Some(leader) = status.leader.and_then(|id| self.index_of(id))
                && leader < votes.len()
            {
                votes[leader] += 1;
            }
        }
        let leader = (0..votes.len()).max_by_key(|i| votes[*i])?;
        (votes[leader] > self.addrs.len() / 2 && self.nodes[leader].alive()).then_some(leader)
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        usize::try_from(id).ok()?.checked_sub(1)
    }
}

impl System for ShoalCluster {
    async fn put(&self, key: String, value: Arc<[u8]>) -> anyhow::Result<()> {
        let key = ObjectKey::new("bench", "default", &key)?;
        let json = serde_json::Value::String(String::from_utf8_lossy(&value).into_owned());
        let command = Command::single(
            Timestamp::now(),
            Op::Create {
                uid: Uid(format!("uid-{}", key.name())),
                key,
                value: ObjectValue::from_value(&json)?,
            },
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut target = *self.leader.read().await;
        loop {
            let error = match self.client.write(&self.addrs[target], &command).await {
                Ok(response) => {
                    ensure!(response.succeeded, "the write was refused: {response:?}");
                    *self.leader.write().await = target;
                    return Ok(());
                }
                Err(error) => error,
            };
            ensure!(
                Instant::now() < deadline,
                "no write succeeded for 30 s: {error}"
            );
            target = match error {
                StoreError::NotLeader {
                    leader: Some(leader),
                } => self
                    .index_of(leader)
                    .filter(|i| *i < self.nodes.len())
                    .unwrap_or((target + 1) % self.nodes.len()),
                _ => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    (target + 1) % self.nodes.len()
                }
            };
        }
    }

    async fn kill_leader(&mut self) -> anyhow::Result<usize> {
        let leader = self.find_leader().await?;
        self.nodes[leader].kill();
        // Writes go to a survivor, which names the new leader once there is one.
        *self.leader.write().await = (leader + 1) % self.nodes.len();
        Ok(leader)
    }

    async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.nodes[index] = self.spawn(index)?;
        let addr = self.addrs[index].clone();
        // A linearizable read through the restarted node returns once it has applied
        // everything the leader committed: the cluster is whole again before the next trial.
        let probe = ObjectKey::new("bench", "default", "failover-probe")?;
        until(
            "the restarted node to catch up",
            Duration::from_secs(30),
            || async { self.client.get(&addr, &probe).await.ok() },
        )
        .await
        .map(|_| ())
    }
}

/// etcd processes forming one cluster.
struct EtcdCluster {
    binary: PathBuf,
    dir: PathBuf,
    clients: Vec<String>,
    peers: Vec<String>,
    nodes: Vec<Node>,
    http: reqwest::Client,
    leader: RwLock<usize>,
}

impl EtcdCluster {
    async fn start(binary: &Path, dir: &Path, size: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut clients = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..size {
            clients.push(format!("http://127.0.0.1:{}", free_port()?));
            peers.push(format!("http://127.0.0.1:{}", free_port()?));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let mut cluster = Self {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            clients,
            peers,
            nodes: Vec::new(),
            http,
            leader: RwLock::new(0),
        };
        cluster.nodes = (0..size)
            .map(|index| cluster.spawn(index))
            .collect::<anyhow::Result<_>>()?;
        cluster.find_leader().await?;
        Ok(cluster)
    }

    fn spawn(&self, index: usize) -> anyhow::Result<Node> {
        let initial: Vec<String> = self
            .peers
            .iter()
            .enumerate()
            .map(|(i, url)| format!("e{}={url}", i + 1))
            .collect();
        let mut command = Process::new(&self.binary);
        command
            .arg("--name")
            .arg(format!("e{}", index + 1))
            .arg("--data-dir")
            .arg(self.dir.join(format!("e{}", index + 1)))
            .arg("--listen-client-urls")
            .arg(&self.clients[index])
            .arg("--advertise-client-urls")
            .arg(&self.clients[index])
            .arg("--listen-peer-urls")
            .arg(&self.peers[index])
            .arg("--initial-advertise-peer-urls")
            .arg(&self.peers[index])
            .arg("--initial-cluster")
            .arg(initial.join(","))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg("shoal-bench")
            .arg("--logger")
            .arg("zap")
            .arg("--log-level")
            .arg("warn");
        Node::spawn(&mut command, &self.dir.join(format!("e{}.log", index + 1)))
    }

    async fn status(&self, index: usize) -> Option<(u64, u64)> {
        let reply: serde_json::Value = self
            .http
            .post(format!("{}/v3/maintenance/status", self.clients[index]))
            .body("{}")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let number = |v: &serde_json::Value| -> Option<u64> {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| v.as_u64())
        };
        Some((
            number(&reply["header"]["member_id"])?,
            number(&reply["leader"])?,
        ))
    }

    async fn find_leader(&self) -> anyhow::Result<usize> {
        let index = until("an etcd leader", Duration::from_secs(30), || async {
            for index in 0..self.clients.len() {
                if !self.nodes[index].alive() {
                    continue;
                }
                if let Some((member, leader)) = self.status(index).await
                    && member == leader
                {
                    return Some(index);
                }
            }
            None
        })
        .await?;
        *self.leader.write().await = index;
        Ok(index)
    }
}

impl System for EtcdCluster {
    async fn put(&self, key: String, value: Arc<[u8]>) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "key": BASE64.encode(key.as_bytes()),
            "value": BASE64.encode(&value),
        })
        .to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut target = *self.leader.read().await;
        loop {
            let sent = self
                .http
                .post(format!("{}/v3/kv/put", self.clients[target]))
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    *self.leader.write().await = target;
                    return Ok(());
                }
                Ok(response) => {
                    let status = response.status();
                    ensure!(Instant::now() < deadline, "etcd answered {status} for 30 s");
                }
                Err(error) => {
                    ensure!(
                        Instant::now() < deadline,
                        "no etcd write succeeded for 30 s: {error}"
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            target = (target + 1) % self.clients.len();
        }
    }

    async fn kill_leader(&mut self) -> anyhow::Result<usize> {
        let leader = self.find_leader().await?;
        self.nodes[leader].kill();
        // Writes go to a survivor: the killed node's address would only time out.
        *self.leader.write().await = (leader + 1) % self.clients.len();
        Ok(leader)
    }

    async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.nodes[index] = self.spawn(index)?;
        // A linearizable range read through the restarted member returns once it has caught
        // up with the leader's commit index.
        let body = serde_json::json!({ "key": BASE64.encode(b"failover-probe") }).to_string();
        let url = format!("{}/v3/kv/range", self.clients[index]);
        until(
            "the restarted etcd member to catch up",
            Duration::from_secs(30),
            || async {
                let response = self.http.post(&url).body(body.clone()).send().await.ok()?;
                response.status().is_success().then_some(())
            },
        )
        .await
    }
}
