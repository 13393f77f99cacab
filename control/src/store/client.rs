//! A client of a node's peer endpoints for tools and tests outside the cluster that hold the
//! cluster secret: ask a node who it is and whom it follows, write through the leader, read
//! linearizably through any node, and list or change the cluster's members through any node.
//! It speaks exactly what members speak to each other.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Membership;
use super::cluster::STOPPED;
use super::config::ClusterSecret;
use super::error::StoreError;
use super::fault::FaultPlan;
use super::identity::{Identity, Incarnation};
use super::network::{Body, PeerError, Transport};
use super::types::{Command, NodeId, Object, ObjectKey, TxnResponse};
use super::wire::{Endpoint, ForwardError, ForwardReply, IdentityReply, MembershipRequest};

/// The client's own id on the wire: 0 is never a member's.
const CLIENT_ID: NodeId = 0;

/// What a node says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStatus {
    pub node_id: NodeId,
    pub incarnation: Incarnation,
    /// Whether it belongs to a cluster yet.
    pub initialized: bool,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
}

/// Talks to store nodes by address.
#[derive(Debug)]
pub struct StoreClient {
    transport: Transport,
    timeout: Duration,
    /// The identity found at each address, so requests name their target.
    targets: Mutex<BTreeMap<String, Identity>>,
}

impl StoreClient {
    /// A client presenting `secret`, giving each request `timeout` to answer.
    pub fn new(secret: ClusterSecret, timeout: Duration) -> Result<Self, StoreError> {
        // The backoff only paces Raft replication, which a client never does.
        let transport = Transport::new(CLIENT_ID, Some(secret), FaultPlan::new(), timeout)?;
        Ok(StoreClient {
            transport,
            timeout,
            targets: Mutex::new(BTreeMap::new()),
        })
    }

    /// Asks the node at `addr` who it is and whom it follows.
    pub async fn status(&self, addr: &str) -> Result<NodeStatus, StoreError> {
        let reply: IdentityReply = self
            .transport
            .post::<(), _>(
                CLIENT_ID,
                addr,
                None,
                Endpoint::Identity,
                Body::Json(&()),
                self.timeout,
            )
            .await
            .map_err(|source| StoreError::Peer {
                node: CLIENT_ID,
                source,
            })?;
        let identity = Identity {
            node_id: reply.node_id,
            incarnation: reply.incarnation,
        };
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr.to_owned(), identity);
        Ok(NodeStatus {
            node_id: reply.node_id,
            incarnation: reply.incarnation,
            initialized: reply.initialized,
            leader: reply.leader,
        })
    }

    async fn target(&self, addr: &str) -> Result<Identity, StoreError> {
        let known = self
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(addr)
            .copied();
        match known {
            Some(identity) => Ok(identity),
            None => {
                let status = self.status(addr).await?;
                Ok(Identity {
                    node_id: status.node_id,
                    incarnation: status.incarnation,
                })
            }
        }
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        addr: &str,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<R, StoreError> {
        let target = self.target(addr).await?;
        let node = target.node_id;
        let answer: Result<ForwardReply<R>, PeerError> = self
            .transport
            .post(
                node,
                addr,
                Some(target),
                endpoint,
                Body::Json(body),
                self.timeout,
            )
            .await;
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(ForwardError::NotLeader { leader })) => Err(StoreError::NotLeader { leader }),
            Ok(Err(ForwardError::QuorumUnavailable)) => Err(StoreError::QuorumUnavailable),
            Ok(Err(ForwardError::Refused { message })) => {
                Err(StoreError::Refused { node, message })
            }
            Ok(Err(ForwardError::Stopped)) => Err(StoreError::Refused {
                node,
                message: STOPPED.to_owned(),
            }),
            Err(source) => {
                if matches!(source, PeerError::Status { status: 409, .. }) {
                    // Another node answers at this address now; ask again next time.
                    self.targets
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(addr);
                }
                Err(StoreError::Peer { node, source })
            }
        }
    }

    /// Proposes `command` on the node at `addr`, which must lead: otherwise the answer is
    /// [`StoreError::NotLeader`] with the leader it knows of, and nothing was proposed. Any
    /// other error leaves the outcome unknown.
    pub async fn write(&self, addr: &str, command: &Command) -> Result<TxnResponse, StoreError> {
        self.call(addr, Endpoint::Write, command).await
    }

    /// Reads `key` linearizably through the node at `addr` (leader or follower).
    pub async fn get(&self, addr: &str, key: &ObjectKey) -> Result<Option<Object>, StoreError> {
        self.call(addr, Endpoint::Get, key).await
    }

    /// Adds the node `node`, reachable at `node_addr`, as a learner, through the node at `addr`
    /// (any member: the change is forwarded to the leader), and returns once the learner has
    /// caught up with the log. The new node must run in [`super::ClusterMode::Join`] under an id
    /// the cluster has never used. Adding the same node again does nothing.
    pub async fn add_learner(
        &self,
        addr: &str,
        node: NodeId,
        node_addr: &str,
    ) -> Result<(), StoreError> {
        let request = MembershipRequest::AddLearner {
            node,
            addr: node_addr.to_owned(),
        };
        self.call(addr, Endpoint::ChangeMembership, &request).await
    }

    /// Makes the learner `node` a voter, through the node at `addr`.
    pub async fn promote(&self, addr: &str, node: NodeId) -> Result<(), StoreError> {
        let request = MembershipRequest::Promote { node };
        self.call(addr, Endpoint::ChangeMembership, &request).await
    }

    /// Removes `node` (voter or learner) from the cluster through the node at `addr`, and
    /// retires its id for good.
    pub async fn remove(&self, addr: &str, node: NodeId) -> Result<(), StoreError> {
        let request = MembershipRequest::Remove { node };
        self.call(addr, Endpoint::ChangeMembership, &request).await
    }

    /// The membership, read linearizably through the node at `addr`: it includes every change
    /// committed before the call. `leader` is the leader that node knows of.
    pub async fn membership(&self, addr: &str) -> Result<Membership, StoreError> {
        self.call(addr, Endpoint::Members, &()).await
    }
}
