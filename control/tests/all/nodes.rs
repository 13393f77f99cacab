//! A cluster of store nodes in this process, each with its own redb directory and its own HTTP
//! server on a loopback port, talking Raft to the others over real sockets. Faults are injected
//! through one shared [`FaultPlan`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use shoal_control::store::{
    ClusterMode, ClusterSecret, Consistency, FaultPlan, MachineConfig, NodeId, Object, ObjectKey,
    Store, StoreConfig, StoreError,
};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{DEADLINE, within};

/// The Raft timing of cluster tests: quick elections, with room for a busy 2-core machine.
pub(crate) fn cluster_config(id: NodeId, addr: &str, mode: ClusterMode) -> StoreConfig {
    StoreConfig {
        node_id: id,
        advertise_addr: addr.to_owned(),
        mode,
        secret: Some(ClusterSecret::new("test-cluster-secret").expect("valid secret")),
        machine: MachineConfig::default(),
        heartbeat_interval: Duration::from_millis(50),
        election_timeout_min: Duration::from_millis(300),
        election_timeout_max: Duration::from_millis(600),
        request_timeout: Duration::from_secs(3),
        ..StoreConfig::default()
    }
}

/// One running node: its store and the server of its peer endpoints.
pub(crate) struct Node {
    pub(crate) store: Store,
    stop_server: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl Node {
    /// Opens the store and serves its peer endpoints on `listener`.
    pub(crate) async fn start(
        dir: &std::path::Path,
        config: StoreConfig,
        listener: TcpListener,
    ) -> Result<Node, StoreError> {
        let store = within(Store::open(dir, config)).await?;
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(shoal_control::store::serve(
            store.peer_routes(),
            listener,
            async move {
                // A dropped sender also stops the server.
                let _ = stopped.await;
            },
        ));
        Ok(Node {
            store,
            stop_server,
            server,
        })
    }

    /// Stops the store, then its server, releasing the directory.
    pub(crate) async fn stop(self) {
        let id = self.store.node_id();
        tokio::time::timeout(DEADLINE, self.store.shutdown())
            .await
            .unwrap_or_else(|_| panic!("node {id}: the store did not shut down in time"))
            .expect("store shuts down");
        // The server may already be gone; either way it stops.
        let _ = self.stop_server.send(());
        tokio::time::timeout(DEADLINE, self.server)
            .await
            .unwrap_or_else(|_| panic!("node {id}: the server did not stop in time"))
            .expect("server task ends");
    }
}

/// A cluster of in-process nodes.
pub(crate) struct Cluster {
    root: TempDir,
    pub(crate) faults: FaultPlan,
    pub(crate) addrs: BTreeMap<NodeId, String>,
    pub(crate) nodes: BTreeMap<NodeId, Node>,
    /// Adjusts every node's configuration before it starts.
    tune: fn(StoreConfig) -> StoreConfig,
}

pub(crate) async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address").to_string();
    (listener, addr)
}

impl Cluster {
    /// Forms a cluster of nodes `1..=size` and waits until one of them leads.
    pub(crate) async fn form(size: u64) -> Cluster {
        Self::form_with(size, |c| c).await
    }

    pub(crate) async fn form_with(size: u64, tune: fn(StoreConfig) -> StoreConfig) -> Cluster {
        crate::common::trace();
        let root = tempfile::tempdir().expect("temp dir");
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for id in 1..=size {
            let (listener, addr) = bind().await;
            listeners.insert(id, listener);
            addrs.insert(id, addr);
        }
        let mut cluster = Cluster {
            root,
            faults: FaultPlan::new(),
            addrs: addrs.clone(),
            nodes: BTreeMap::new(),
            tune,
        };
        for (id, listener) in listeners {
            let mode = ClusterMode::Form {
                members: addrs.clone(),
            };
            let node = Node::start(&cluster.dir(id), cluster.config(id, mode), listener)
                .await
                .expect("node starts");
            cluster.nodes.insert(id, node);
        }
        cluster.leader().await;
        cluster
    }

    pub(crate) fn dir(&self, id: NodeId) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    pub(crate) fn config(&self, id: NodeId, mode: ClusterMode) -> StoreConfig {
        let addr = self.addrs.get(&id).cloned().unwrap_or_default();
        let config = StoreConfig {
            faults: self.faults.clone(),
            ..cluster_config(id, &addr, mode)
        };
        (self.tune)(config)
    }

    pub(crate) fn store(&self, id: NodeId) -> &Store {
        &self.nodes.get(&id).expect("node is running").store
    }

    pub(crate) fn running(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// Waits until a node among `among` leads (a quorum acknowledges it) and returns it.
    pub(crate) async fn leader_among(&self, among: &[NodeId]) -> NodeId {
        within(async {
            let mut metrics = self.store(among[0]).metrics();
            loop {
                if let Some(leader) = among
                    .iter()
                    .copied()
                    .find(|id| self.store(*id).leadership().current().is_leader)
                {
                    return leader;
                }
                // Look again when something changes, or after a heartbeat or two at most: the
                // leader may be a node other than the one observed.
                let _ = tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await;
            }
        })
        .await
    }

    /// The leader among all running nodes.
    pub(crate) async fn leader(&self) -> NodeId {
        self.leader_among(&self.running()).await
    }

    /// A running node other than `not`.
    pub(crate) fn other_than(&self, not: &[NodeId]) -> NodeId {
        self.running()
            .into_iter()
            .find(|id| !not.contains(id))
            .expect("another running node")
    }

    /// Stops a node, keeping its directory.
    pub(crate) async fn stop(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("node is running");
        node.stop().await;
    }

    /// Starts a node again on its address and directory.
    pub(crate) async fn restart(&mut self, id: NodeId) -> Result<(), StoreError> {
        let addr = self.addrs.get(&id).expect("known node").clone();
        let listener = TcpListener::bind(&addr)
            .await
            .expect("rebind the node's port");
        let mode = ClusterMode::Form {
            members: self.addrs.clone(),
        };
        let node = Node::start(&self.dir(id), self.config(id, mode), listener).await?;
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Starts a new node that waits to be added, on a new port.
    pub(crate) async fn start_joiner(&mut self, id: NodeId) -> Result<(), StoreError> {
        let (listener, addr) = bind().await;
        self.addrs.insert(id, addr);
        let node = Node::start(&self.dir(id), self.config(id, ClusterMode::Join), listener).await?;
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Waits until every running node has applied at least what `id` has applied.
    pub(crate) async fn converged_with(&self, id: NodeId) {
        let target = self
            .store(id)
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index);
        for other in self.running() {
            let mut metrics = self.store(other).metrics();
            within(metrics.wait_for(|m| m.last_applied.is_some_and(|l| l.index >= target)))
                .await
                .expect("node runs");
        }
    }

    /// The object under `key` as a linearizable read on node `id` sees it.
    pub(crate) async fn get(&self, id: NodeId, key: &ObjectKey) -> Option<Object> {
        let reader = within(self.store(id).read(Consistency::Linearizable))
            .await
            .expect("linearizable read");
        reader.get(key).await.expect("get")
    }

    /// The voters as node `id` sees them.
    pub(crate) fn voters(&self, id: NodeId) -> BTreeSet<NodeId> {
        self.store(id).membership().voters
    }

    /// Stops every node.
    pub(crate) async fn stop_all(mut self) {
        for id in self.running() {
            self.stop(id).await;
        }
    }
}
