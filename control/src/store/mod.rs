//! The cluster store: openraft over redb.
//!
//! [`Store`] runs one Raft node whose log ([`LogStore`]) and state machine ([`StateMachine`]) are
//! redb databases in the node's directory. Writes are [`Command`]s: small transactions of
//! conditional operations decided inside apply, where the revision of every change is the Raft
//! log index of its entry. Reads go to the local state machine after an optional read-index
//! check ([`Consistency`]); lists paginate at one revision ([`read`]); watches replay the
//! retained history and then follow live changes ([`watch`]). [`LeaderWatch`] tells the
//! leader-only parts of the control plane when to run.
//!
//! Only the apply step writes objects; everything else proposes.

mod codec;
mod error;
mod leader;
mod log;
mod machine;
pub mod read;
mod snapshot;
mod solo;
mod types;
pub mod watch;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, RaftMetrics, SnapshotPolicy};
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;

pub use codec::EventKind;
pub use error::{CodecError, StoreError};
pub use leader::{LeaderWatch, Leadership};
pub use log::LogStore;
pub use machine::{HistoryWindow, MachineConfig, StateMachine};
pub use read::{ListOptions, ListPage, Reader};
pub use types::{
    Command, KeyPrefix, NodeId, Object, ObjectKey, ObjectValue, Op, OpOutcome, Preconditions,
    Revision, StoreRaft, Timestamp, TxnResponse, TypeConfig, Uid,
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

/// Settings of one store node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub node_id: NodeId,
    /// The address peers reach this node at; recorded in the cluster membership.
    pub advertise_addr: String,
    pub machine: MachineConfig,
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind a snapshot, so lagging followers can catch up from the log.
    pub logs_kept_after_snapshot: u64,
    /// How long [`Store::open`] waits for the node to become leader.
    pub startup_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            node_id: 1,
            advertise_addr: "127.0.0.1:0".to_owned(),
            machine: MachineConfig::default(),
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
            snapshot_after_entries: 10_000,
            logs_kept_after_snapshot: 1_000,
            startup_timeout: Duration::from_secs(10),
        }
    }
}

impl StoreConfig {
    fn raft_config(&self) -> Result<openraft::Config, StoreError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        openraft::Config {
            cluster_name: "shoal".to_owned(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_after_entries),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StoreError::Config(Box::new(e)))
    }
}

/// One node of the cluster store.
pub struct Store {
    node_id: NodeId,
    raft: StoreRaft,
    machine: StateMachine,
    leadership: LeaderWatch,
    leadership_task: JoinHandle<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("node_id", &self.node_id)
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

impl Store {
    /// Opens the store in `dir` (creating it if needed) and serves it as a single-node cluster:
    /// a pristine directory is initialized with this node as the only voter. Returns once the
    /// node leads, so writes can be made right away.
    pub async fn open(dir: &Path, config: StoreConfig) -> Result<Self, StoreError> {
        let raft_config = Arc::new(config.raft_config()?);
        let dir = dir.to_owned();
        let machine_config = config.machine;
        let (log, machine) = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            let log = LogStore::open(&dir.join("raft-log.redb"))?;
            let machine = StateMachine::open(&dir.join("state.redb"), machine_config)?;
            Ok((log, machine))
        })
        .await?;

        let raft = Raft::new(
            config.node_id,
            raft_config,
            solo::NoPeers,
            log,
            machine.clone(),
        )
        .await
        .map_err(|e| StoreError::RaftStopped(Box::new(e)))?;
        let (leadership, leadership_task) = leader::follow(raft.metrics());
        let store = Store {
            node_id: config.node_id,
            raft,
            machine,
            leadership,
            leadership_task,
        };

        match store.start(&config).await {
            Ok(term) => {
                tracing::info!(node = config.node_id, term, "store open and leading");
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

    /// Initializes a pristine node as a one-node cluster and waits until it leads.
    async fn start(&self, config: &StoreConfig) -> Result<u64, StoreError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| StoreError::RaftStopped(Box::new(e)))?;
        if !initialized {
            let members =
                BTreeMap::from([(config.node_id, BasicNode::new(&config.advertise_addr))]);
            match self.raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(RaftError::APIError(e)) => return Err(StoreError::Initialize(Box::new(e))),
                Err(RaftError::Fatal(e)) => return Err(StoreError::RaftStopped(Box::new(e))),
            }
            tracing::info!(node = config.node_id, "initialized a single-node cluster");
        }
        let mut leadership = self.leadership.clone();
        match tokio::time::timeout(config.startup_timeout, leadership.acquired()).await {
            Ok(Some(term)) => Ok(term),
            Ok(None) => Err(StoreError::NotLeader { leader: None }),
            Err(_) => Err(StoreError::Timeout {
                what: "this node to become leader",
                millis: config.startup_timeout.as_millis(),
            }),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Proposes a command and waits until it is committed, durable and applied here. The
    /// response says, per op, what happened.
    pub async fn write(&self, command: Command) -> Result<TxnResponse, StoreError> {
        match self.raft.client_write(command).await {
            Ok(response) => Ok(response.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(StoreError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(RaftError::APIError(e)) => Err(StoreError::Write(Box::new(e))),
            Err(RaftError::Fatal(e)) => Err(StoreError::RaftStopped(Box::new(e))),
        }
    }

    /// A reader of the local state machine, after making sure it is fresh enough.
    pub async fn read(&self, consistency: Consistency) -> Result<Reader, StoreError> {
        if consistency == Consistency::Linearizable {
            match self.raft.ensure_linearizable().await {
                Ok(_) => {}
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                    return Err(StoreError::NotLeader {
                        leader: f.leader_id,
                    });
                }
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                    return Err(StoreError::QuorumUnavailable);
                }
                Err(RaftError::Fatal(e)) => return Err(StoreError::RaftStopped(Box::new(e))),
            }
        }
        Ok(self.machine.reader())
    }

    /// Every change under `prefix` after `from`, then live changes. Watches are served from
    /// this node's history; see [`watch`].
    pub async fn watch(&self, prefix: KeyPrefix, from: Revision) -> Result<Watcher, StoreError> {
        self.machine.reader().watch(prefix, from).await
    }

    /// Follows whether this node leads.
    pub fn leadership(&self) -> LeaderWatch {
        self.leadership.clone()
    }

    /// The Raft metrics of this node.
    pub fn metrics(&self) -> tokio_watch::Receiver<RaftMetrics<NodeId, BasicNode>> {
        self.raft.metrics()
    }

    /// Stops the Raft node and releases the databases. Watchers end with
    /// [`StoreError::WatchClosed`] once they have drained what was applied.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let Store {
            raft,
            machine,
            leadership_task,
            ..
        } = self;
        raft.shutdown().await.map_err(StoreError::TaskFailed)?;
        drop(raft);
        drop(machine);
        leadership_task.await.map_err(StoreError::TaskFailed)?;
        Ok(())
    }
}
