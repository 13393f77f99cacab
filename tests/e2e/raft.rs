//! The Raft store across real `shoal server` processes on loopback: kill -9 the leader while
//! clients write, kill -9 every node while clients write, restart, and check that every
//! acknowledged write is there and that the recorded history is linearizable; and grow and
//! shrink a running cluster with `shoal member`.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use shoal_control::store::lincheck::History;
use shoal_control::store::{
    ClusterSecret, Command, NodeId, ObjectKey, ObjectValue, Op, StoreClient, StoreError, Timestamp,
    Uid,
};
use shoal_tests::Run;
use tempfile::TempDir;
use tokio::time::{Instant, interval};

/// How long any awaited condition may take.
const DEADLINE: Duration = Duration::from_secs(30);
const SECRET: &str = "e2e-cluster-secret";

/// One `shoal server` process, restartable on the same port and directory.
struct Server {
    id: NodeId,
    addr: String,
    dir: PathBuf,
    log: PathBuf,
    /// Started with `--join` rather than `--peer`s.
    join: bool,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self, peers: &BTreeMap<NodeId, String>, secret_file: &Path) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log file");
        let mut process = Process::new(shoal_tests::shoal_binary());
        process
            .args([
                "server",
                "--id",
                &self.id.to_string(),
                "--listen",
                &self.addr,
                "--api-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--cluster-secret-file")
            .arg(secret_file)
            .env("RUST_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if self.join {
            process.arg("--join");
        } else {
            for (id, addr) in peers {
                process.arg("--peer").arg(format!("{id}={addr}"));
            }
        }
        self.child = Some(process.spawn().expect("shoal server starts"));
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL delivered");
            child.wait().expect("the killed process is reaped");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What became of one write.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Acknowledged,
    /// It may or may not have been applied.
    Unknown,
    /// It certainly never reached a node.
    NotSent,
}

struct Cluster {
    root: TempDir,
    secret_file: PathBuf,
    addrs: BTreeMap<NodeId, String>,
    servers: BTreeMap<NodeId, Mutex<Server>>,
    client: StoreClient,
    history: History<String, u64>,
    /// Set while every node is down, so writers stop trying.
    all_down: AtomicBool,
    acknowledged: AtomicUsize,
}

fn free_port() -> String {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").to_string()
}

/// Polls `check` every 50 ms until it yields a value, failing the test after [`DEADLINE`].
async fn wait_until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    let mut ticks = interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
    }
}

impl Cluster {
    fn new(size: u64) -> Cluster {
        let root = tempfile::tempdir().expect("temp dir");
        let secret_file = root.path().join("cluster-secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write the secret");
        let addrs: BTreeMap<NodeId, String> = (1..=size).map(|id| (id, free_port())).collect();
        let servers = addrs
            .iter()
            .map(|(&id, addr)| {
                let server = Server {
                    id,
                    addr: addr.clone(),
                    dir: root.path().join(format!("node-{id}")),
                    log: root.path().join(format!("node-{id}.log")),
                    join: false,
                    child: None,
                };
                (id, Mutex::new(server))
            })
            .collect();
        let secret = ClusterSecret::new(SECRET).expect("valid secret");
        Cluster {
            root,
            secret_file,
            addrs,
            servers,
            client: StoreClient::new(secret, Duration::from_secs(3)).expect("client"),
            history: History::new(),
            all_down: AtomicBool::new(false),
            acknowledged: AtomicUsize::new(0),
        }
    }

    fn server(&self, id: NodeId) -> std::sync::MutexGuard<'_, Server> {
        self.servers[&id].lock().expect("server handle")
    }

    fn start(&self, id: NodeId) {
        self.server(id).start(&self.addrs, &self.secret_file);
    }

    /// Starts node `id` on a fresh port with `--join`, waiting to be added.
    fn start_joiner(&mut self, id: NodeId) {
        let addr = free_port();
        let server = Server {
            id,
            addr: addr.clone(),
            dir: self.root.path().join(format!("node-{id}")),
            log: self.root.path().join(format!("node-{id}.log")),
            join: true,
            child: None,
        };
        self.addrs.insert(id, addr);
        self.servers.insert(id, Mutex::new(server));
        self.start(id);
    }

    /// Runs `shoal member {args} --cluster-secret-file ...` and waits for it, off the runtime's
    /// threads.
    async fn member(&self, args: &[&str]) -> Run {
        let dir = self.root.path().to_owned();
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push("--cluster-secret-file".to_owned());
        args.push(
            self.secret_file
                .to_str()
                .expect("UTF-8 temp path")
                .to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = std::iter::once("member")
                .chain(args.iter().map(String::as_str))
                .collect();
            shoal_tests::shoal(&dir, &args)
        })
        .await
        .expect("shoal member ran")
    }

    fn kill(&self, id: NodeId) {
        self.server(id).kill();
    }

    fn running(&self, id: NodeId) -> bool {
        self.server(id).child.is_some()
    }

    /// The node that says it leads, once the others agree.
    async fn leader(&self) -> NodeId {
        wait_until("a leader", async || {
            let mut named = BTreeMap::<NodeId, usize>::new();
            for (id, addr) in &self.addrs {
                if !self.running(*id) {
                    continue;
                }
                if let Ok(status) = self.client.status(addr).await
                    && let Some(leader) = status.leader
                {
                    *named.entry(leader).or_default() += 1;
                }
            }
            let quorum = self.addrs.len() / 2 + 1;
            named
                .into_iter()
                .find(|(leader, votes)| *votes >= quorum && self.running(*leader))
                .map(|(leader, _)| leader)
        })
        .await
    }

    /// Creates `key` with `value` through the cluster, following leader hints, and records the
    /// outcome in the history.
    async fn create(&self, key: &ObjectKey, value: u64, first_try: NodeId) -> Outcome {
        let command = Command::single(
            Timestamp::now(),
            Op::Create {
                key: key.clone(),
                uid: Uid(format!("uid-{value}")),
                value: ObjectValue::from_json(format!(r#"{{"v":{value}}}"#).as_bytes())
                    .expect("valid JSON"),
            },
        );
        let ids: Vec<NodeId> = self.addrs.keys().copied().collect();
        let mut target = first_try;
        let mut ticks = interval(Duration::from_millis(50));
        let deadline = Instant::now() + Duration::from_secs(10);
        let name = key.as_str().to_owned();
        loop {
            if self.all_down.load(Ordering::SeqCst) || Instant::now() > deadline {
                return Outcome::NotSent;
            }
            let invoked = self.history.invoke();
            match self.client.write(&self.addrs[&target], &command).await {
                Ok(response) => {
                    assert!(response.succeeded, "a fresh key is created: {response:?}");
                    self.history.write_acknowledged(name, value, invoked);
                    self.acknowledged.fetch_add(1, Ordering::SeqCst);
                    return Outcome::Acknowledged;
                }
                Err(StoreError::NotLeader {
                    leader: Some(leader),
                }) if leader != target => target = leader,
                Err(StoreError::NotLeader { .. }) => {
                    target =
                        ids[(ids.iter().position(|i| *i == target).unwrap_or(0) + 1) % ids.len()];
                    ticks.tick().await;
                }
                Err(StoreError::Peer { source, .. }) if source.not_delivered() => {
                    target =
                        ids[(ids.iter().position(|i| *i == target).unwrap_or(0) + 1) % ids.len()];
                    ticks.tick().await;
                }
                Err(_) => {
                    self.history.write_unknown(name, value, invoked);
                    return Outcome::Unknown;
                }
            }
        }
    }

    /// One client writing `count` fresh keys.
    async fn writer(&self, cycle: usize, writer: u64, count: u64) -> Vec<(ObjectKey, Outcome)> {
        let mut outcomes = Vec::new();
        for i in 0..count {
            let key = ObjectKey::new("configmaps", "e2e", &format!("c{cycle}-w{writer}-{i}"))
                .expect("valid key");
            let value = (cycle as u64 + 1) * 1_000_000 + writer * 1_000 + i;
            let first = 1 + (writer + i) % self.addrs.len() as u64;
            let outcome = self.create(&key, value, first).await;
            outcomes.push((key, outcome));
        }
        outcomes
    }

    /// Waits until `count` more writes have been acknowledged than `before`.
    async fn acknowledged_past(&self, before: usize, count: usize) {
        wait_until("writes to be acknowledged", async || {
            (self.acknowledged.load(Ordering::SeqCst) >= before + count).then_some(())
        })
        .await;
    }

    /// Reads every key linearizably through node `via` and records what it saw; returns the
    /// keys found.
    async fn read_back(&self, keys: &[ObjectKey], via: NodeId) -> Vec<ObjectKey> {
        let mut found = Vec::new();
        for key in keys {
            let object = wait_until("a linearizable read", async || {
                let invoked = self.history.invoke();
                match self.client.get(&self.addrs[&via], key).await {
                    Ok(object) => {
                        let value = object.as_ref().map(|o| {
                            serde_json::from_slice::<serde_json::Value>(&o.value)
                                .ok()
                                .and_then(|v| v["v"].as_u64())
                                .expect("a register value")
                        });
                        self.history.read(key.as_str().to_owned(), value, invoked);
                        Some(object)
                    }
                    Err(_) => None,
                }
            })
            .await;
            if object.is_some() {
                found.push(key.clone());
            }
        }
        found
    }
}

fn acknowledged(outcomes: &[(ObjectKey, Outcome)]) -> Vec<ObjectKey> {
    outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Acknowledged)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Every key the history mentions.
fn keys_of(history: &History<String, u64>) -> Vec<ObjectKey> {
    history
        .operations()
        .iter()
        .map(|op| ObjectKey::parse(&op.key).expect("key"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Reads every key through every node, then checks the whole history.
async fn check_everything(cluster: &Cluster) {
    let written = keys_of(&cluster.history);
    for id in 1..=3 {
        cluster.read_back(&written, id).await;
    }
    if let Err(violation) = cluster.history.check(&BTreeMap::new()) {
        panic!("{violation}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_mid_load_loses_no_acknowledged_write() {
    let cluster = Cluster::new(3);
    for id in 1..=3 {
        cluster.start(id);
    }
    for cycle in 0..5 {
        let leader = cluster.leader().await;
        let before = cluster.acknowledged.load(Ordering::SeqCst);
        let writers = async {
            let (a, b) = tokio::join!(cluster.writer(cycle, 1, 12), cluster.writer(cycle, 2, 12));
            a.into_iter().chain(b).collect::<Vec<_>>()
        };
        let killer = async {
            cluster.acknowledged_past(before, 6).await;
            tracing::info!(cycle, leader, "--- kill -9 the leader");
            cluster.kill(leader);
            cluster.acknowledged.load(Ordering::SeqCst)
        };
        let (outcomes, at_kill) = tokio::join!(writers, killer);
        assert!(
            cluster.acknowledged.load(Ordering::SeqCst) > at_kill,
            "cycle {cycle}: writes continue after the leader died: {outcomes:?}"
        );
        let new = cluster.leader().await;
        assert_ne!(new, leader);

        cluster.start(leader);
        let written = acknowledged(&outcomes);
        let found = cluster.read_back(&written, leader).await;
        assert_eq!(
            found, written,
            "cycle {cycle}: every acknowledged write survives"
        );
    }
    check_everything(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_node_mid_load_loses_no_acknowledged_write() {
    let cluster = Cluster::new(3);
    for id in 1..=3 {
        cluster.start(id);
    }
    for cycle in 0..3 {
        cluster.leader().await;
        let before = cluster.acknowledged.load(Ordering::SeqCst);
        let writers = async {
            let (a, b, c) = tokio::join!(
                cluster.writer(cycle, 1, 10),
                cluster.writer(cycle, 2, 10),
                cluster.writer(cycle, 3, 10)
            );
            a.into_iter().chain(b).chain(c).collect::<Vec<_>>()
        };
        let killer = async {
            cluster.acknowledged_past(before, 8).await;
            tracing::info!(cycle, "--- kill -9 every node");
            for id in 1..=3 {
                cluster.kill(id);
            }
            cluster.all_down.store(true, Ordering::SeqCst);
        };
        let (outcomes, ()) = tokio::join!(writers, killer);

        for id in 1..=3 {
            cluster.start(id);
        }
        cluster.all_down.store(false, Ordering::SeqCst);
        let leader = cluster.leader().await;
        let written = acknowledged(&outcomes);
        assert!(written.len() >= 8, "cycle {cycle}: {outcomes:?}");
        let found = cluster.read_back(&written, leader).await;
        assert_eq!(
            found, written,
            "cycle {cycle}: every acknowledged write survives"
        );
    }
    check_everything(&cluster).await;
}

/// The roles `shoal member list` prints, by node id.
fn roles(listing: &str) -> BTreeMap<NodeId, String> {
    listing
        .lines()
        .skip(1)
        .map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next().and_then(|w| w.parse().ok());
            let id = id.unwrap_or_else(|| panic!("a member line: {line:?}"));
            let _addr = words.next();
            (id, words.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_member_adds_a_joining_node_and_removes_a_voter() {
    let mut cluster = Cluster::new(3);
    for id in 1..=3 {
        cluster.start(id);
    }
    let leader = cluster.leader().await;
    let mut written = Vec::new();
    for i in 0..3 {
        let key = ObjectKey::new("configmaps", "e2e", &format!("before-{i}")).expect("valid key");
        assert_eq!(cluster.create(&key, i, leader).await, Outcome::Acknowledged);
        written.push(key);
    }

    tracing::info!("--- start node 4 with --join and add it through a follower");
    cluster.start_joiner(4);
    let addr4 = cluster.addrs[&4].clone();
    wait_until("node 4 to answer", async || {
        cluster.client.status(&addr4).await.ok()
    })
    .await;
    let follower = if leader == 1 { 2 } else { 1 };
    let via = cluster.addrs[&follower].clone();
    let added = cluster
        .member(&["add", "--id", "4", "--addr", &addr4, "--via", &via])
        .await;
    assert_eq!(added.code, Some(0), "{added:?}");
    assert!(
        added.stdout.contains(&format!(
            "node 4 ({addr4}) added as a learner and caught up"
        )),
        "{added:?}"
    );
    assert!(
        added
            .stdout
            .contains("node 4 promoted to voter; voters now: 1, 2, 3, 4"),
        "{added:?}"
    );

    tracing::info!("--- write and read through node 4");
    let key = ObjectKey::new("configmaps", "e2e", "through-4").expect("valid key");
    assert_eq!(cluster.create(&key, 4, 4).await, Outcome::Acknowledged);
    written.push(key);
    assert_eq!(cluster.read_back(&written, 4).await, written);

    let listed = cluster.member(&["list", "--via", &addr4]).await;
    assert_eq!(listed.code, Some(0), "{listed:?}");
    let listed = roles(&listed.stdout);
    assert_eq!(
        listed.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "{listed:?}"
    );
    assert!(
        listed.values().all(|role| role.starts_with("voter")),
        "{listed:?}"
    );
    assert_eq!(
        listed
            .values()
            .filter(|role| role.ends_with("(leader)"))
            .count(),
        1,
        "{listed:?}"
    );

    tracing::info!("--- remove a voter that does not lead");
    let leader = cluster.leader().await;
    let victim = (1..=3).find(|id| *id != leader).expect("a follower");
    let removed = cluster
        .member(&["remove", "--id", &victim.to_string(), "--via", &addr4])
        .await;
    assert_eq!(removed.code, Some(0), "{removed:?}");
    assert!(
        removed
            .stdout
            .contains(&format!("node {victim} removed; its id is retired")),
        "{removed:?}"
    );
    let listed = cluster.member(&["list", "--via", &addr4]).await;
    assert_eq!(listed.code, Some(0), "{listed:?}");
    let listed = roles(&listed.stdout);
    let mut expected = vec![1, 2, 3, 4];
    expected.retain(|id| *id != victim);
    assert_eq!(
        listed.keys().copied().collect::<Vec<_>>(),
        expected,
        "{listed:?}"
    );
    assert!(
        listed.values().all(|role| role.starts_with("voter")),
        "{listed:?}"
    );
    let key = ObjectKey::new("configmaps", "e2e", "after-remove").expect("valid key");
    assert_eq!(cluster.create(&key, 5, 4).await, Outcome::Acknowledged);
    written.push(key);
    assert_eq!(cluster.read_back(&written, 4).await, written);

    tracing::info!("--- refused: an id in use, a retired id, an unreachable node");
    let elsewhere = free_port();
    let in_use = cluster
        .member(&["add", "--id", "4", "--addr", &elsewhere, "--via", &addr4])
        .await;
    assert_ne!(in_use.code, Some(0), "{in_use:?}");
    assert!(
        in_use.stderr.contains(&format!(
            "node id 4 already belongs to the member at {addr4}"
        )),
        "{in_use:?}"
    );
    let retired = cluster
        .member(&[
            "add",
            "--id",
            &victim.to_string(),
            "--addr",
            &elsewhere,
            "--via",
            &addr4,
        ])
        .await;
    assert_ne!(retired.code, Some(0), "{retired:?}");
    assert!(
        retired.stderr.contains(&format!(
            "node id {victim} was used by a member that has left the cluster"
        )),
        "{retired:?}"
    );
    let unreachable = cluster.member(&["list", "--via", &elsewhere]).await;
    assert_ne!(unreachable.code, Some(0), "{unreachable:?}");
    assert!(
        unreachable
            .stderr
            .contains(&format!("cannot reach a cluster member at {elsewhere}")),
        "{unreachable:?}"
    );
    if let Err(violation) = cluster.history.check(&BTreeMap::new()) {
        panic!("{violation}");
    }
}
