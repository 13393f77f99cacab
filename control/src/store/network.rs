//! The client side of the peer transport: Raft RPCs and forwarded client requests as HTTP POSTs
//! to other control-plane nodes, each carrying the cluster secret and naming the node (id and
//! incarnation) it is meant for. Every request asks the node's [`FaultPlan`] first, so tests cut
//! links in the real transport.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RPCTypes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{RaftNetwork, RaftNetworkFactory};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::ClusterSecret;
use super::error::StoreError;
use super::fault::FaultPlan;
use super::identity::{Identity, Member};
use super::types::{NodeId, TypeConfig};
use super::wire::{Endpoint, ErrorBody, FROM_HEADER, SnapshotFrame, TARGET_HEADER};

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the fault plan cut the link from node {from} to node {to}")]
    Dropped { from: NodeId, to: NodeId },

    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("no answer from {addr} within {millis} ms")]
    Timeout { addr: String, millis: u128 },

    #[error("the request to {addr} failed")]
    Request {
        addr: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{addr} answered {status}: {message}")]
    Status {
        addr: String,
        status: u16,
        message: String,
    },

    #[error("the answer from {addr} does not decode")]
    Decode {
        addr: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot encode the request")]
    Encode(#[source] serde_json::Error),
}

impl PeerError {
    /// Whether the request certainly never reached the peer's handler, so it is safe to send
    /// it again, even when it is not idempotent.
    pub fn not_delivered(&self) -> bool {
        match self {
            PeerError::Dropped { .. } | PeerError::Connect { .. } | PeerError::Encode(_) => true,
            // 503: the peer is starting or stopping and handled nothing; 401/409: it refused
            // the request before looking at it.
            PeerError::Status { status, .. } => matches!(status, 401 | 409 | 503),
            PeerError::Timeout { .. } | PeerError::Request { .. } | PeerError::Decode { .. } => {
                false
            }
        }
    }
}

/// A request body: JSON, or bytes already framed.
pub(crate) enum Body<'a, T: Serialize> {
    Json(&'a T),
    Raw(Vec<u8>),
}

/// What every outgoing peer request shares: the HTTP client, the secret, this node's id and the
/// fault plan.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    secret: Option<ClusterSecret>,
    me: NodeId,
    faults: FaultPlan,
    backoff: Duration,
}

impl Transport {
    pub(crate) fn new(
        me: NodeId,
        secret: Option<ClusterSecret>,
        faults: FaultPlan,
        backoff: Duration,
    ) -> Result<Self, StoreError> {
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(StoreError::HttpClient)?;
        Ok(Transport {
            client,
            secret,
            me,
            faults,
            backoff,
        })
    }

    pub(crate) fn me(&self) -> NodeId {
        self.me
    }

    pub(crate) fn secret(&self) -> Option<&ClusterSecret> {
        self.secret.as_ref()
    }

    /// POSTs `body` to `endpoint` on node `to` at `addr` and decodes the JSON answer. `target`
    /// names the incarnation the request is meant for (absent only for identity probes).
    pub(crate) async fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        to: NodeId,
        addr: &str,
        target: Option<Identity>,
        endpoint: Endpoint,
        body: Body<'_, T>,
        timeout: Duration,
    ) -> Result<R, PeerError> {
        if !self.faults.allows(self.me, to) {
            return Err(PeerError::Dropped { from: self.me, to });
        }
        let (bytes, content_type) = match body {
            Body::Json(value) => (
                serde_json::to_vec(value).map_err(PeerError::Encode)?,
                "application/json",
            ),
            Body::Raw(bytes) => (bytes, "application/octet-stream"),
        };
        let mut request = self
            .client
            .post(endpoint.url(addr))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(FROM_HEADER, self.me.to_string())
            .body(bytes);
        if let Some(secret) = &self.secret {
            request = request.bearer_auth(secret.expose());
        }
        if let Some(target) = target {
            request = request.header(TARGET_HEADER, target.target_header());
        }
        let failed = |source: reqwest::Error| {
            if source.is_connect() {
                PeerError::Connect {
                    addr: addr.to_owned(),
                    source,
                }
            } else if source.is_timeout() {
                PeerError::Timeout {
                    addr: addr.to_owned(),
                    millis: timeout.as_millis(),
                }
            } else {
                PeerError::Request {
                    addr: addr.to_owned(),
                    source,
                }
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(failed)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            return Err(PeerError::Status {
                addr: addr.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|source| PeerError::Decode {
            addr: addr.to_owned(),
            source,
        })
    }
}

/// The Raft network factory: one [`PeerClient`] per replication target.
#[derive(Debug, Clone)]
pub(crate) struct PeerNetwork {
    transport: Arc<Transport>,
}

impl PeerNetwork {
    pub(crate) fn new(transport: Arc<Transport>) -> Self {
        PeerNetwork { transport }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerClient {
        PeerClient {
            transport: self.transport.clone(),
            target,
            member: node.clone(),
        }
    }
}

/// Sends Raft RPCs to one member.
#[derive(Debug)]
pub(crate) struct PeerClient {
    transport: Arc<Transport>,
    target: NodeId,
    member: Member,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, Member, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn call<T: Serialize, R: DeserializeOwned, E>(
        &self,
        action: RPCTypes,
        endpoint: Endpoint,
        body: Body<'_, T>,
        option: &RPCOption,
    ) -> RpcResult<R, E>
    where
        E: std::error::Error + DeserializeOwned,
    {
        let target = Identity::of(self.target, &self.member);
        let answer: Result<Result<R, RaftError<NodeId, E>>, PeerError> = self
            .transport
            .post(
                self.target,
                &self.member.addr,
                Some(target),
                endpoint,
                body,
                option.hard_ttl(),
            )
            .await;
        match answer {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.member.clone(),
                remote,
            ))),
            Err(PeerError::Timeout { .. }) => Err(RPCError::Timeout(Timeout {
                action,
                id: self.transport.me(),
                target: self.target,
                timeout: option.hard_ttl(),
            })),
            Err(e) if e.not_delivered() => {
                tracing::debug!(target = self.target, error = %e, "peer unreachable");
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        self.call(
            RPCTypes::AppendEntries,
            Endpoint::AppendEntries,
            Body::Json(&rpc),
            &option,
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let body = SnapshotFrame::encode(&rpc)
            .map_err(|e| RPCError::Network(NetworkError::new(&PeerError::Encode(e))))?;
        self.call::<(), _, _>(
            RPCTypes::InstallSnapshot,
            Endpoint::InstallSnapshot,
            Body::Raw(body),
            &option,
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(RPCTypes::Vote, Endpoint::Vote, Body::Json(&rpc), &option)
            .await
    }

    /// Retries an unreachable peer at a steady, short interval, so a healed link or a
    /// restarted peer is used again within a few heartbeats.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.transport.backoff))
    }
}
