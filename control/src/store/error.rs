//! The store's error type: what failed, with the underlying cause as its source.

use std::path::PathBuf;

use super::identity::Member;
use super::network::PeerError;
use super::types::{NodeId, Revision};

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },

    #[error("object value is not a single JSON document")]
    InvalidValue {
        #[source]
        source: serde_json::Error,
    },

    #[error("invalid continue token: {reason}")]
    InvalidContinue { reason: String },

    #[error("cannot create the store directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open the database {path}")]
    OpenDatabase {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },

    #[error("storage failure")]
    Storage(#[source] redb::Error),

    #[error("cannot encode the {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("stored data is corrupt")]
    Corrupt(#[from] CodecError),

    #[error("cannot start the Raft log's writer thread")]
    SpawnWriter(#[source] std::io::Error),

    #[error("a storage task ended abnormally")]
    TaskFailed(#[source] tokio::task::JoinError),

    #[error(
        "revision {requested} is older than the retained history, which starts after {oldest}; list again"
    )]
    Gone {
        requested: Revision,
        oldest: Revision,
    },

    #[error("revision {requested} has not been applied on this node yet (applied: {applied})")]
    FutureRevision {
        requested: Revision,
        applied: Revision,
    },

    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },

    #[error("not enough members answered to confirm leadership")]
    QuorumUnavailable,

    #[error("the Raft node has stopped")]
    RaftStopped(#[source] Box<openraft::error::Fatal<NodeId>>),

    #[error("the Raft configuration is invalid")]
    Config(#[source] Box<openraft::ConfigError>),

    #[error("cannot initialize the cluster")]
    Initialize(#[source] Box<openraft::error::InitializeError<NodeId, Member>>),

    #[error("the write was rejected by Raft")]
    Write(#[source] Box<openraft::error::ClientWriteError<NodeId, Member>>),

    #[error("the membership change was rejected by Raft")]
    Membership(#[source] Box<openraft::error::ClientWriteError<NodeId, Member>>),

    #[error("invalid store configuration: {reason}")]
    InvalidConfig { reason: String },

    #[error("cannot read the cluster secret from {path}")]
    ReadSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot build the peer HTTP client")]
    HttpClient(#[source] reqwest::Error),

    #[error(
        "this data directory belongs to node {recorded}, not node {configured}; a node keeps its id for the life of its directory"
    )]
    IdentityMismatch {
        recorded: NodeId,
        configured: NodeId,
    },

    #[error(
        "node {node} was removed from the cluster; node ids are never reused: start with an empty directory and a new id, and add it as a learner"
    )]
    Removed { node: NodeId },

    #[error("node id {node} was used by a member that has left the cluster; ids are never reused")]
    NodeIdRetired { node: NodeId },

    #[error(
        "node id {node} already belongs to the member at {member}; a node that lost its data joins under a new id"
    )]
    NodeIdInUse { node: NodeId, member: String },

    #[error("{addr} is node {found}, not node {expected}")]
    WrongNode {
        addr: String,
        expected: NodeId,
        found: NodeId,
    },

    #[error("node {node} is not a member of the cluster")]
    NotMember { node: NodeId },

    #[error("the request to node {node} failed")]
    Peer {
        node: NodeId,
        #[source]
        source: PeerError,
    },

    #[error("node {node} refused the request: {message}")]
    Refused { node: NodeId, message: String },

    #[error("timed out after {millis} ms waiting for {what}")]
    Timeout { what: &'static str, millis: u128 },

    #[error("the watch stream ended because the store shut down")]
    WatchClosed,
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Storage(e)
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(e.into())
            }
        }
    )*};
}

storage_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A stored record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what} is truncated")]
    Truncated { what: &'static str },

    #[error("{what} has unknown format version {version}")]
    UnknownVersion { what: &'static str, version: u8 },

    #[error("{what} has unknown event kind {kind}")]
    UnknownKind { what: &'static str, kind: u8 },

    #[error("{what} holds a key that is not UTF-8")]
    NotUtf8 { what: &'static str },

    #[error("{what} is malformed: {reason}")]
    Malformed {
        what: &'static str,
        reason: &'static str,
    },

    #[error("{what} does not decode: {message}")]
    Json { what: &'static str, message: String },
}

impl StoreError {
    /// Whether the failure is the cluster being unreachable or leaderless for now (worth a
    /// retry by the client), rather than a fault of the request or the data.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::NotLeader { .. }
                | StoreError::QuorumUnavailable
                | StoreError::RaftStopped(_)
                | StoreError::Peer { .. }
                | StoreError::Timeout { .. }
                | StoreError::WatchClosed
                | StoreError::FutureRevision { .. }
        )
    }
}
