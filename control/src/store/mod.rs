//! The cluster store: openraft over redb, replicated over HTTP.
//!
//! [`Store`] runs one Raft node whose log ([`LogStore`]) and state machine ([`StateMachine`]) are
//! redb databases in the node's directory. Writes are [`Command`]s: small transactions of
//! conditional operations decided inside apply, where the revision of every change is the Raft
//! log index of its entry. Reads go to the local state machine after an optional read-index
//! check ([`Consistency`]); lists paginate at one revision ([`read`]); watches replay the
//! retained history and then follow live changes ([`watch`]). [`LeaderWatch`] tells the
//! leader-only parts of the control plane when to run.
//!
//! Nodes talk to each other over HTTP ([`Store::peer_routes`] serves, `network` sends), with
//! the cluster secret on every request. Writes, linearizable reads and membership changes made
//! on a follower are forwarded to the leader, so callers may use any node.
//!
//! Only the apply step writes objects; everything else proposes.

mod client;
mod cluster;
mod codec;
mod config;
mod error;
mod fault;
mod identity;
mod leader;
pub mod lincheck;
mod log;
mod machine;
mod network;
mod propose;
pub mod read;
mod server;
mod snapshot;
mod types;
pub mod watch;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{Raft, RaftMetrics};
use redb::{Database, Durability, WriteTransaction};
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use cluster::Core;
pub(crate) use cluster::error_chain;
use identity::Identity;
use network::{PeerNetwork, Transport};
use wire::MembershipRequest;

pub use client::{NodeStatus, StoreClient};
pub use codec::EventKind;
pub use config::{ClusterMode, ClusterSecret, StoreConfig};
pub use error::{CodecError, StoreError};
pub use fault::FaultPlan;
pub use identity::{Incarnation, Member};
pub use leader::{LeaderWatch, Leadership};
pub use log::LogStore;
pub use machine::{HistoryWindow, MachineConfig, StateMachine};
pub use network::PeerError;
pub use read::{ListOptions, ListPage, Reader};
pub use server::serve;
pub use types::{
    Batch, BatchResponse, Command, KeyPrefix, NodeId, Object, ObjectKey, ObjectValue, Op,
    OpOutcome, Preconditions, Revision, StoreRaft, Timestamp, TxnResponse, TypeConfig, Uid,
};
pub use watch::{WatchEvent, Watcher};

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Confirm leadership with a quorum (Raft read index) and wait until this node has applied
    /// up to it: the read sees every write acknowledged before it started.
    Linearizable,
    /// Read this node's state machine as it is (Kubernetes' `resourceVersion=0`).
    Local,
}

/// The members of the cluster as a node last saw them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    /// Members that vote (in a joint configuration, the voters of every configuration).
    pub voters: BTreeSet<NodeId>,
    /// Members that only receive the log.
    pub learners: BTreeSet<NodeId>,
    /// Every member's record.
    pub members: BTreeMap<NodeId, Member>,
    /// The leader the node knew of.
    pub leader: Option<NodeId>,
}

/// One node of the cluster store.
pub struct Store {
    core: Arc<Core>,
    leadership: LeaderWatch,
    leadership_task: JoinHandle<()>,
    /// Forms a new cluster, on the member that does it.
    formation: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("node_id", &self.core.identity.node_id)
            .field("leadership", &self.leadership.current())
            .finish_non_exhaustive()
    }
}

/// Runs a redb operation on the blocking pool, off the async runtime's threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::TaskFailed)?
}

/// Creates (or opens) a redb database and, in one durable transaction, creates the tables
/// `init` opens, so every later read finds them.
pub(crate) fn create_database(
    path: &Path,
    init: impl FnOnce(&WriteTransaction) -> Result<(), StoreError>,
) -> Result<Database, StoreError> {
    let db = Database::create(path).map_err(|e| StoreError::OpenDatabase {
        path: path.to_owned(),
        source: e.into(),
    })?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    init(&txn)?;
    txn.commit()?;
    Ok(db)
}

/// Opens the databases in `dir` and settles this directory's identity.
fn open_dir(
    dir: &Path,
    config: &StoreConfig,
) -> Result<(LogStore, StateMachine, Identity), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    let log = LogStore::open(&dir.join("raft-log.redb"))?;
    let identity = match log.identity()? {
        Some(recorded) if recorded.node_id != config.node_id => {
            return Err(StoreError::IdentityMismatch {
                recorded: recorded.node_id,
                configured: config.node_id,
            });
        }
        Some(recorded) => recorded,
        None => {
            let fresh = Identity {
                node_id: config.node_id,
                incarnation: Incarnation::fresh(),
            };
            log.record_identity(&fresh)?;
            fresh
        }
    };
    if log.retired()? {
        return Err(StoreError::Removed {
            node: config.node_id,
        });
    }
    let machine = StateMachine::open(&dir.join("state.redb"), config.machine)?;
    Ok((log, machine, identity))
}

impl Store {
    /// Opens the store in `dir` (creating it if needed) and starts its Raft node.
    ///
    /// In [`ClusterMode::Single`] a pristine directory is initialized with this node as the only
    /// voter, and this returns once the node leads, so writes can be made right away. In the
    /// other modes it returns as soon as the node runs: mount [`Store::peer_routes`] so peers
    /// reach it, then wait for a leader ([`Store::wait_for_leader`]).
    ///
    /// Fails if the directory belongs to another node id, or to a node removed from its cluster.
    pub async fn open(dir: &Path, config: StoreConfig) -> Result<Self, StoreError> {
        config.check()?;
        let raft_config = Arc::new(config.raft_config()?);
        let (log, machine, identity) = {
            let dir = dir.to_owned();
            let config = config.clone();
            blocking(move || open_dir(&dir, &config)).await?
        };
        let transport = Arc::new(Transport::new(
            identity.node_id,
            config.secret.clone(),
            config.faults.clone(),
            config.heartbeat_interval * 2,
        )?);
        let raft = Raft::new(
            identity.node_id,
            raft_config,
            PeerNetwork::new(transport.clone()),
            log.clone(),
            machine.clone(),
        )
        .await
        .map_err(|e| StoreError::RaftStopped(Box::new(e)))?;
        let (leadership, leadership_task) =
            leader::follow(raft.metrics(), config.election_timeout_min);
        let proposer = propose::Proposer::start(raft.clone(), identity.node_id);
        let core = Arc::new(Core {
            identity,
            raft,
            proposer,
            machine,
            log,
            transport,
            request_timeout: config.request_timeout,
            election_timeout: config.election_timeout_max,
        });
        let mut store = Store {
            core,
            leadership,
            leadership_task,
            formation: None,
        };
        match store.start(&config).await {
            Ok(()) => {
                tracing::info!(node = config.node_id, incarnation = %identity.incarnation, "store open");
                Ok(store)
            }
            Err(e) => {
                if let Err(stop) = store.shutdown().await {
                    tracing::warn!(error = %stop, "stopping the store after a failed open");
                }
                Err(e)
            }
        }
    }

    async fn start(&mut self, config: &StoreConfig) -> Result<(), StoreError> {
        let me = self.core.identity.node_id;
        let membership = self.membership();
        if !membership.members.is_empty() && !membership.members.contains_key(&me) {
            return Err(StoreError::Removed { node: me });
        }
        let initialized = self.core.is_initialized().await?;
        match &config.mode {
            ClusterMode::Single => {
                if !initialized {
                    let member = Member {
                        addr: config.advertise_addr.clone(),
                        incarnation: self.core.identity.incarnation,
                    };
                    match self
                        .core
                        .raft
                        .initialize(BTreeMap::from([(me, member)]))
                        .await
                    {
                        Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                        Err(RaftError::APIError(e)) => {
                            return Err(StoreError::Initialize(Box::new(e)));
                        }
                        Err(RaftError::Fatal(e)) => {
                            return Err(StoreError::RaftStopped(Box::new(e)));
                        }
                    }
                    tracing::info!(node = me, "initialized a single-node cluster");
                }
                let mut leadership = self.leadership.clone();
                match tokio::time::timeout(config.startup_timeout, leadership.acquired()).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err(StoreError::NotLeader { leader: None }),
                    Err(_) => Err(StoreError::Timeout {
                        what: "this node to become leader",
                        millis: config.startup_timeout.as_millis(),
                    }),
                }
            }
            ClusterMode::Form { members } => {
                let lowest = members.keys().next().copied();
                if !initialized && lowest == Some(me) {
                    let mut members = members.clone();
                    members.insert(me, config.advertise_addr.clone());
                    let core = self.core.clone();
                    let retry = config.heartbeat_interval * 2;
                    self.formation = Some(tokio::spawn(async move {
                        if let Err(e) = core.form(&members, retry).await {
                            tracing::error!(error = %e, "forming the cluster failed");
                        }
                    }));
                }
                Ok(())
            }
            ClusterMode::Join => Ok(()),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.core.identity.node_id
    }

    /// The incarnation of this node's data directory.
    pub fn incarnation(&self) -> Incarnation {
        self.core.identity.incarnation
    }

    /// Runs `f` with the request deadline.
    async fn deadline<T>(
        &self,
        what: &'static str,
        f: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.core.request_timeout;
        match tokio::time::timeout(timeout, f).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout {
                what,
                millis: timeout.as_millis(),
            }),
        }
    }

    /// Proposes a command and waits until it is committed, durable and applied on the leader.
    /// The response says, per op, what happened. On a follower the command is forwarded to the
    /// leader.
    ///
    /// A [`StoreError::Timeout`] or [`StoreError::Peer`] error leaves the outcome unknown: the
    /// command may still be applied.
    pub async fn write(&self, command: Command) -> Result<TxnResponse, StoreError> {
        self.deadline("the write to commit", self.core.write(&command))
            .await
    }

    /// A reader of the local state machine, after making sure it is fresh enough. On a
    /// follower, a linearizable read asks the leader for its read index and waits until this
    /// node has applied that far.
    pub async fn read(&self, consistency: Consistency) -> Result<Reader, StoreError> {
        if consistency == Consistency::Linearizable {
            self.deadline("a linearizable read index", self.core.linearize())
                .await?;
        }
        Ok(self.core.machine.reader())
    }

    /// Every change under `prefix` after `from`, then live changes. Watches are served from
    /// this node's history; see [`watch`].
    pub async fn watch(&self, prefix: KeyPrefix, from: Revision) -> Result<Watcher, StoreError> {
        self.core.machine.reader().watch(prefix, from).await
    }

    /// Follows whether this node leads.
    pub fn leadership(&self) -> LeaderWatch {
        self.leadership.clone()
    }

    /// Waits until this node knows of a leader (itself or another) and returns its id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, StoreError> {
        let mut metrics = self.core.raft.metrics();
        let found = tokio::time::timeout(timeout, metrics.wait_for(|m| m.current_leader.is_some()))
            .await
            .map_err(|_| StoreError::Timeout {
                what: "a leader to be known",
                millis: timeout.as_millis(),
            })?
            .map_err(|_| StoreError::RaftStopped(Box::new(openraft::error::Fatal::Stopped)))?;
        found
            .current_leader
            .ok_or(StoreError::NotLeader { leader: None })
    }

    /// The Raft metrics of this node.
    pub fn metrics(&self) -> tokio_watch::Receiver<RaftMetrics<NodeId, Member>> {
        self.core.raft.metrics()
    }

    /// The membership as this node last saw it.
    pub fn membership(&self) -> Membership {
        self.core.view()
    }

    /// Adds the node `node`, reachable at `addr`, as a learner, and waits until it has caught up
    /// with the log. The node must be running in [`ClusterMode::Join`] with an id the cluster has
    /// never used. Forwarded to the leader from a follower.
    pub async fn add_learner(&self, node: NodeId, addr: &str) -> Result<(), StoreError> {
        let request = MembershipRequest::AddLearner {
            node,
            addr: addr.to_owned(),
        };
        self.deadline("the learner to be added", self.core.membership(&request))
            .await
    }

    /// Makes the learner `node` a voter.
    pub async fn promote(&self, node: NodeId) -> Result<(), StoreError> {
        let request = MembershipRequest::Promote { node };
        self.deadline("the learner to be promoted", self.core.membership(&request))
            .await
    }

    /// Removes `node` (voter or learner) from the cluster. Its id is retired for good; the node
    /// is told, when it can be reached, and then refuses to start again.
    pub async fn remove(&self, node: NodeId) -> Result<(), StoreError> {
        let request = MembershipRequest::Remove { node };
        self.deadline("the member to be removed", self.core.membership(&request))
            .await
    }

    /// The peer endpoints of this node (`POST /raft/v1/...`), for the process to serve on the
    /// address peers reach it at. They hold the store weakly: once it shuts down they answer
    /// 503.
    pub fn peer_routes(&self) -> BoxedFilter<(Response,)> {
        server::routes(
            Arc::downgrade(&self.core),
            self.core.transport.secret().cloned(),
        )
    }

    /// Stops the Raft node and releases the databases. Watchers end with
    /// [`StoreError::WatchClosed`] once they have drained what was applied.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let Store {
            core,
            leadership_task,
            formation,
            ..
        } = self;
        if let Some(formation) = formation {
            formation.abort();
            // An aborted task reports a cancellation, which is what was asked for.
            let _ = formation.await;
        }
        core.raft.shutdown().await.map_err(StoreError::TaskFailed)?;
        drop(core);
        leadership_task.await.map_err(StoreError::TaskFailed)?;
        Ok(())
    }
}
