//! The cluster side of a store node: what it does for its callers when it does not lead
//! (forward to the leader), what it does for its peers when it leads (writes, read indexes and
//! membership changes they forward), and how a new cluster is formed.
//!
//! Forwarding retries only when the request certainly was not carried out: the leader answered
//! that it does not lead (nothing was proposed), or the request never left this node or never
//! reached the leader. Any other failure leaves the outcome unknown and is returned as is.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    CheckIsLeaderError, ClientWriteError, ForwardToLeader, InitializeError, RaftError,
};
use openraft::{ChangeMembers, RaftMetrics};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::StoreError;
use super::identity::{Identity, Member};
use super::log::LogStore;
use super::machine::StateMachine;
use super::network::{Body, PeerError, Transport};
use super::propose::Proposer;
use super::types::{Command, NodeId, Object, ObjectKey, StoreRaft, TxnResponse};
use super::wire::{Endpoint, ForwardError, ForwardReply, IdentityReply, MembershipRequest};
use super::{Membership, blocking};

/// The outcome of trying a request on this node.
pub(crate) enum Route<T> {
    /// Carried out here.
    Done(T),
    /// This node does not lead; the leader it knows of, if any.
    Forward(Option<NodeId>),
}

/// Why a forwarded write has no answer when the leader stopped while handling it.
pub(crate) const STOPPED: &str =
    "the node stopped while handling the request; a write may still have been committed";

/// One try of a request on this node.
type Attempt<'a, R> = Pin<Box<dyn Future<Output = Result<Route<R>, StoreError>> + Send + 'a>>;

/// A node's Raft handle and everything its request handlers need. Peer endpoints hold it
/// weakly, so a stopped store is released even while its HTTP server still runs.
pub(crate) struct Core {
    pub(crate) identity: Identity,
    pub(crate) raft: StoreRaft,
    /// Where writes queue to share Raft entries.
    pub(crate) proposer: Proposer,
    pub(crate) machine: StateMachine,
    pub(crate) log: LogStore,
    pub(crate) transport: Arc<Transport>,
    pub(crate) request_timeout: Duration,
    /// How long to wait for a leader to appear or change before trying again.
    pub(crate) election_timeout: Duration,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

pub(super) fn forward_hint(f: &ForwardToLeader<NodeId, Member>) -> Option<NodeId> {
    f.leader_id
}

impl Core {
    fn me(&self) -> NodeId {
        self.identity.node_id
    }

    fn metrics(&self) -> RaftMetrics<NodeId, Member> {
        self.raft.metrics().borrow().clone()
    }

    /// The leader to forward to: `hint`, or else the leader this node knows of, with its
    /// membership record.
    fn leader_member(&self, hint: Option<NodeId>) -> Option<(NodeId, Member)> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let leader = hint.or(metrics.current_leader)?;
        let member = metrics.membership_config.membership().get_node(&leader)?;
        Some((leader, member.clone()))
    }

    /// Waits, at most one election timeout, until this node knows of a leader other than
    /// `stale`.
    async fn await_leader_change(&self, stale: Option<NodeId>) {
        let mut metrics = self.raft.metrics();
        let changed = metrics.wait_for(|m| m.current_leader.is_some_and(|l| Some(l) != stale));
        // Either outcome is fine: the caller tries again and decides from what it finds.
        let _ = tokio::time::timeout(self.election_timeout, changed).await;
    }

    /// Tries `local` here and, while this node does not lead, sends `body` to the leader's
    /// `endpoint` instead. Runs until it has an answer; callers bound it with a deadline.
    async fn routed<'a, B, R>(
        &'a self,
        endpoint: Endpoint,
        body: &B,
        local: impl Fn() -> Attempt<'a, R>,
    ) -> Result<R, StoreError>
    where
        B: Serialize,
        R: DeserializeOwned,
    {
        loop {
            let hint = match local().await? {
                Route::Done(answer) => return Ok(answer),
                Route::Forward(hint) => hint,
            };
            let Some((leader, member)) = self.leader_member(hint) else {
                self.await_leader_change(None).await;
                continue;
            };
            if leader == self.me() {
                // Told to forward to itself: leadership is moving; wait for the outcome.
                self.await_leader_change(Some(leader)).await;
                continue;
            }
            let answer: Result<ForwardReply<R>, PeerError> = self
                .transport
                .post(
                    leader,
                    &member.addr,
                    Some(Identity::of(leader, &member)),
                    endpoint,
                    Body::Json(body),
                    self.request_timeout,
                )
                .await;
            match answer {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(ForwardError::NotLeader { .. })) => {
                    self.await_leader_change(Some(leader)).await;
                }
                Ok(Err(ForwardError::Stopped)) if endpoint.idempotent() => {
                    self.await_leader_change(Some(leader)).await;
                }
                Ok(Err(ForwardError::Stopped)) => {
                    return Err(StoreError::Refused {
                        node: leader,
                        message: STOPPED.to_owned(),
                    });
                }
                Ok(Err(ForwardError::QuorumUnavailable)) => {
                    return Err(StoreError::QuorumUnavailable);
                }
                Ok(Err(ForwardError::Refused { message })) => {
                    return Err(StoreError::Refused {
                        node: leader,
                        message,
                    });
                }
                Err(e) if e.not_delivered() => {
                    tracing::debug!(leader, error = %e, "forwarding failed; retrying");
                    self.await_leader_change(Some(leader)).await;
                }
                Err(source) => {
                    return Err(StoreError::Peer {
                        node: leader,
                        source,
                    });
                }
            }
        }
    }

    /// Answers a forwarded request from what [`Route`] the local attempt took.
    pub(crate) fn reply<T>(result: Result<Route<T>, StoreError>) -> ForwardReply<T> {
        match result {
            Ok(Route::Done(answer)) => Ok(answer),
            Ok(Route::Forward(leader)) => Err(ForwardError::NotLeader { leader }),
            Err(StoreError::QuorumUnavailable) => Err(ForwardError::QuorumUnavailable),
            Err(StoreError::RaftStopped(_)) => Err(ForwardError::Stopped),
            // Refused further along (by the leader): pass its reason on as it is.
            Err(StoreError::Refused { message, .. }) => Err(ForwardError::Refused { message }),
            Err(e) => Err(ForwardError::Refused {
                message: error_chain(&e),
            }),
        }
    }

    // --- writes ---

    /// Proposes `command` if this node leads.
    pub(crate) async fn local_write(
        &self,
        command: &Command,
    ) -> Result<Route<TxnResponse>, StoreError> {
        self.proposer.write(command.clone()).await
    }

    pub(crate) async fn write(&self, command: &Command) -> Result<TxnResponse, StoreError> {
        self.routed(Endpoint::Write, command, || {
            Box::pin(self.local_write(command))
        })
        .await
    }

    // --- linearizable reads ---

    /// The log index a linearizable read must see applied, if this node leads: leadership is
    /// confirmed with a quorum first (Raft read index).
    pub(crate) async fn local_read_index(&self) -> Result<Route<u64>, StoreError> {
        match self.raft.get_read_log_id().await {
            Ok((read, _applied)) => Ok(Route::Done(read.map_or(0, |id| id.index))),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Ok(Route::Forward(forward_hint(&f)))
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                Err(StoreError::QuorumUnavailable)
            }
            Err(RaftError::Fatal(e)) => Err(StoreError::RaftStopped(Box::new(e))),
        }
    }

    /// Makes this node's state machine fresh enough for a linearizable read: gets the read index
    /// from the leader (itself or over the wire) and waits until it is applied here.
    pub(crate) async fn linearize(&self) -> Result<(), StoreError> {
        let index = self
            .routed(Endpoint::ReadIndex, &(), || {
                Box::pin(self.local_read_index())
            })
            .await?;
        if index > 0 {
            let mut metrics = self.raft.metrics();
            metrics
                .wait_for(|m| m.last_applied.is_some_and(|id| id.index >= index))
                .await
                .map_err(|_| StoreError::RaftStopped(Box::new(openraft::error::Fatal::Stopped)))?;
        }
        Ok(())
    }

    /// Reads `key` linearizably on this node (the read index may come from the leader).
    pub(crate) async fn linearizable_get(
        &self,
        key: &ObjectKey,
    ) -> Result<Route<Option<Object>>, StoreError> {
        tokio::time::timeout(self.request_timeout, self.linearize())
            .await
            .map_err(|_| StoreError::Timeout {
                what: "a linearizable read index",
                millis: self.request_timeout.as_millis(),
            })??;
        Ok(Route::Done(self.machine.reader().get(key).await?))
    }

    // --- membership ---

    fn leads(&self) -> Option<Option<NodeId>> {
        let metrics = self.metrics();
        if metrics.current_leader == Some(self.me()) {
            None
        } else {
            Some(metrics.current_leader)
        }
    }

    /// Asks the node at `addr` who it is.
    pub(crate) async fn probe(
        &self,
        node: NodeId,
        addr: &str,
    ) -> Result<IdentityReply, StoreError> {
        self.transport
            .post::<(), IdentityReply>(
                node,
                addr,
                None,
                Endpoint::Identity,
                Body::Json(&()),
                self.request_timeout,
            )
            .await
            .map_err(|source| StoreError::Peer { node, source })
    }

    /// Carries out a membership change if this node leads.
    pub(crate) async fn local_membership(
        &self,
        request: &MembershipRequest,
    ) -> Result<Route<()>, StoreError> {
        if let Some(leader) = self.leads() {
            return Ok(Route::Forward(leader));
        }
        let membership = self.metrics().membership_config.membership().clone();
        let changes = match request {
            MembershipRequest::AddLearner { node, addr } => {
                let node = *node;
                let inner = self.machine.inner.clone();
                let meta = blocking(move || inner.read_meta()).await?;
                if meta.retired.contains(&node) {
                    return Err(StoreError::NodeIdRetired { node });
                }
                let existing = membership.get_node(&node);
                if let Some(existing) = existing.filter(|m| m.addr != *addr) {
                    return Err(StoreError::NodeIdInUse {
                        node,
                        member: existing.to_string(),
                    });
                }
                let reply = self.probe(node, addr).await?;
                if reply.node_id != node {
                    return Err(StoreError::WrongNode {
                        addr: addr.clone(),
                        expected: node,
                        found: reply.node_id,
                    });
                }
                if let Some(existing) = existing {
                    if existing.incarnation == reply.incarnation {
                        // Already added (a retried request): nothing to do.
                        return Ok(Route::Done(()));
                    }
                    return Err(StoreError::NodeIdInUse {
                        node,
                        member: existing.to_string(),
                    });
                }
                if reply.initialized {
                    return Err(StoreError::Refused {
                        node,
                        message: format!("{addr} already belongs to a cluster"),
                    });
                }
                let member = Member {
                    addr: addr.clone(),
                    incarnation: reply.incarnation,
                };
                let added = self.raft.add_learner(node, member, true).await;
                return membership_result(added.map(|_| ()));
            }
            MembershipRequest::Promote { node } => {
                if membership.get_node(node).is_none() {
                    return Err(StoreError::NotMember { node: *node });
                }
                ChangeMembers::AddVoterIds(BTreeSet::from([*node]))
            }
            MembershipRequest::Remove { node } => {
                let Some(member) = membership.get_node(node).cloned() else {
                    return Err(StoreError::NotMember { node: *node });
                };
                let is_voter = membership.voter_ids().any(|id| id == *node);
                let change = if is_voter {
                    ChangeMembers::RemoveVoters(BTreeSet::from([*node]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([*node]))
                };
                let removed = self.raft.change_membership(change, false).await;
                let route = membership_result(removed.map(|_| ()))?;
                if matches!(route, Route::Done(())) {
                    self.tell_retired(*node, &member).await;
                }
                return Ok(route);
            }
        };
        membership_result(
            self.raft
                .change_membership(changes, false)
                .await
                .map(|_| ()),
        )
    }

    pub(crate) async fn membership(&self, request: &MembershipRequest) -> Result<(), StoreError> {
        self.routed(Endpoint::Membership, request, || {
            Box::pin(self.local_membership(request))
        })
        .await
    }

    /// Carries out a membership change a client sent to this node, through the leader, within
    /// the request deadline.
    pub(crate) async fn relayed_membership(
        &self,
        request: &MembershipRequest,
    ) -> Result<Route<()>, StoreError> {
        tokio::time::timeout(self.request_timeout, self.membership(request))
            .await
            .map_err(|_| StoreError::Timeout {
                what: "the membership change",
                millis: self.request_timeout.as_millis(),
            })??;
        Ok(Route::Done(()))
    }

    /// The membership as this node sees it now.
    pub(crate) fn view(&self) -> Membership {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        Membership {
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            members: membership
                .nodes()
                .map(|(id, member)| (*id, member.clone()))
                .collect(),
            leader: metrics.current_leader,
        }
    }

    /// The membership, including every change committed before the call (a change takes effect
    /// once it is in the log, so a linearizable read index covers it).
    pub(crate) async fn linearized_membership(&self) -> Result<Route<Membership>, StoreError> {
        tokio::time::timeout(self.request_timeout, self.linearize())
            .await
            .map_err(|_| StoreError::Timeout {
                what: "a linearizable read index",
                millis: self.request_timeout.as_millis(),
            })??;
        Ok(Route::Done(self.view()))
    }

    /// Tells a removed node that it left the cluster, so it stops campaigning and refuses to
    /// start again. Best effort: a node that is down learns nothing, and its id stays retired
    /// in the cluster either way.
    async fn tell_retired(&self, node: NodeId, member: &Member) {
        if node == self.me() {
            if let Err(e) = self.retire().await {
                tracing::warn!(node, error = %e, "cannot record this node's removal");
            }
            return;
        }
        let told: Result<(), PeerError> = self
            .transport
            .post(
                node,
                &member.addr,
                Some(Identity::of(node, member)),
                Endpoint::Retire,
                Body::Json(&()),
                self.request_timeout,
            )
            .await;
        if let Err(e) = told {
            tracing::info!(node, error = %e, "the removed node was not told of its removal");
        }
    }

    /// Records that this node was removed and stops it from calling elections.
    pub(crate) async fn retire(&self) -> Result<(), StoreError> {
        let log = self.log.clone();
        blocking(move || log.record_retired()).await?;
        self.raft.runtime_config().elect(false);
        tracing::warn!(node = self.me(), "this node was removed from the cluster");
        Ok(())
    }

    // --- formation ---

    /// Forms a new cluster of `members`: waits until every member answers with its identity,
    /// then initializes the membership with their incarnations. Stops without initializing if a
    /// member already belongs to a cluster.
    pub(crate) async fn form(
        &self,
        members: &BTreeMap<NodeId, String>,
        retry: Duration,
    ) -> Result<(), StoreError> {
        let mut found: BTreeMap<NodeId, Member> = BTreeMap::new();
        let mut ticks = tokio::time::interval(retry);
        loop {
            ticks.tick().await;
            if self.is_initialized().await? {
                return Ok(());
            }
            for (&node, addr) in members {
                if found.contains_key(&node) {
                    continue;
                }
                if node == self.me() {
                    let member = Member {
                        addr: addr.clone(),
                        incarnation: self.identity.incarnation,
                    };
                    found.insert(node, member);
                    continue;
                }
                match self.probe(node, addr).await {
                    Ok(reply) if reply.node_id != node => {
                        tracing::warn!(node, addr, found = reply.node_id, "wrong node at address");
                    }
                    Ok(reply) if reply.initialized => {
                        tracing::warn!(
                            node,
                            "a member already belongs to a cluster; not forming a new one"
                        );
                        return Ok(());
                    }
                    Ok(reply) => {
                        let member = Member {
                            addr: addr.clone(),
                            incarnation: reply.incarnation,
                        };
                        found.insert(node, member);
                    }
                    Err(e) => tracing::debug!(node, error = %e, "member not answering yet"),
                }
            }
            if found.len() == members.len() {
                break;
            }
        }
        match self.raft.initialize(found).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                tracing::info!(node = self.me(), "formed the cluster");
                Ok(())
            }
            Err(RaftError::APIError(e)) => Err(StoreError::Initialize(Box::new(e))),
            Err(RaftError::Fatal(e)) => Err(StoreError::RaftStopped(Box::new(e))),
        }
    }

    pub(crate) async fn is_initialized(&self) -> Result<bool, StoreError> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| StoreError::RaftStopped(Box::new(e)))
    }
}

fn membership_result(
    result: Result<(), RaftError<NodeId, ClientWriteError<NodeId, Member>>>,
) -> Result<Route<()>, StoreError> {
    match result {
        Ok(()) => Ok(Route::Done(())),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Ok(Route::Forward(forward_hint(&f)))
        }
        Err(RaftError::APIError(e)) => Err(StoreError::Membership(Box::new(e))),
        Err(RaftError::Fatal(e)) => Err(StoreError::RaftStopped(Box::new(e))),
    }
}

/// An error and its sources, on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
