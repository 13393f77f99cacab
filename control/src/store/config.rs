//! How a store node is configured: its identity and address, how it joins a cluster, the
//! cluster secret its peers prove, and the Raft timing and compaction thresholds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use openraft::SnapshotPolicy;

use super::error::StoreError;
use super::fault::FaultPlan;
use super::machine::MachineConfig;
use super::types::NodeId;

/// How a node takes its place in a cluster when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClusterMode {
    /// A cluster of this node alone: a pristine directory is initialized with this node as the
    /// only voter, and [`super::Store::open`] returns once it leads.
    #[default]
    Single,
    /// Form a cluster of these voters (node id to the address peers reach it at; this node must
    /// be one of them). The member with the lowest id initializes the cluster once every member
    /// has answered with its identity; the others wait to hear from it. A directory that already
    /// belongs to a cluster just rejoins it.
    Form { members: BTreeMap<NodeId, String> },
    /// Wait to be added by the cluster's leader ([`super::Store::add_learner`]).
    Join,
}

/// The shared secret control-plane peers prove to each other on every request. Its `Debug` and
/// `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret(String);

impl ClusterSecret {
    /// Wraps a secret; surrounding whitespace is removed, and an empty secret is refused.
    pub fn new(secret: &str) -> Result<Self, StoreError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(StoreError::InvalidConfig {
                reason: "the cluster secret is empty".to_owned(),
            });
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::InvalidConfig {
                reason: "the cluster secret must be printable ASCII without spaces".to_owned(),
            });
        }
        Ok(ClusterSecret(secret.to_owned()))
    }

    /// Reads a secret from a file (its first line, trimmed).
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| StoreError::ReadSecret {
            path: path.to_owned(),
            source,
        })?;
        Self::new(text.lines().next().unwrap_or_default())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// Settings of one store node.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// This node's Raft id. It is recorded in the data directory on first start, and a
    /// directory refuses to open under another id. Ids are never reused: a node that lost its
    /// directory rejoins under a new id.
    pub node_id: NodeId,
    /// The address peers reach this node at (`host:port`); recorded in the cluster membership.
    pub advertise_addr: String,
    /// How this node joins a cluster.
    pub mode: ClusterMode,
    /// The secret peers present; required by every mode but [`ClusterMode::Single`].
    pub secret: Option<ClusterSecret>,
    /// Faults to inject into this node's outgoing peer traffic (none by default).
    pub faults: FaultPlan,
    pub machine: MachineConfig,
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind a snapshot, so lagging followers can catch up from the log.
    pub logs_kept_after_snapshot: u64,
    /// How long [`super::Store::open`] waits for a single node to become leader.
    pub startup_timeout: Duration,
    /// How long a write, a linearizable read's leadership check or a membership change may take,
    /// forwarding included, before it fails with [`StoreError::Timeout`].
    pub request_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            node_id: 1,
            advertise_addr: "127.0.0.1:0".to_owned(),
            mode: ClusterMode::Single,
            secret: None,
            faults: FaultPlan::default(),
            machine: MachineConfig::default(),
            heartbeat_interval: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            snapshot_after_entries: 10_000,
            logs_kept_after_snapshot: 1_000,
            startup_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreConfig {
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, StoreError> {
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

    /// Checks what openraft does not: the mode's members and the secret.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let invalid = |reason: String| Err(StoreError::InvalidConfig { reason });
        if self.node_id == 0 {
            return invalid("node id 0 is reserved; ids start at 1".to_owned());
        }
        if let ClusterMode::Form { members } = &self.mode {
            if !members.contains_key(&self.node_id) {
                return invalid(format!(
                    "node {} is not among the members it is asked to form a cluster with",
                    self.node_id
                ));
            }
            if members.contains_key(&0) {
                return invalid("node id 0 is reserved; ids start at 1".to_owned());
            }
        }
        if self.mode != ClusterMode::Single && self.secret.is_none() {
            return invalid("a cluster of several nodes needs a cluster secret".to_owned());
        }
        Ok(())
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
