//! The server side of the peer transport: a warp filter serving `POST /raft/v1/{endpoint}` that
//! the process mounts next to its other routes.
//!
//! Every request must carry `Authorization: Bearer <cluster secret>` (compared in constant
//! time; anything else gets 401 before the body is looked at), and every request but the
//! identity probe must name this node's id and incarnation in `x-shoal-target` (409 otherwise,
//! so a node that lost its data is never taken for its former self). A store that has shut
//! down answers 503.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::{Reply, Response};

use super::cluster::{Core, error_chain};
use super::config::ClusterSecret;
use super::types::{Command, NodeId, ObjectKey};
use super::wire::{
    Endpoint, ErrorBody, FROM_HEADER, IdentityReply, MembershipRequest, PREFIX, SnapshotFrame,
    TARGET_HEADER,
};

/// The largest request body accepted: a full batch of log entries or a snapshot chunk.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// Serves `routes` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish. For processes and tests that serve the peer endpoints on their own port.
///
/// Served by the API server's connection loop (plain HTTP here) rather than `warp::serve`,
/// because that one leaves Nagle's algorithm on: a small AppendEntries answer written behind
/// an unacknowledged one then waits for the peer's delayed ACK, up to 40 ms on Linux.
pub async fn serve(
    routes: BoxedFilter<(Response,)>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        cancel.cancel();
    });
    crate::api::tls::serve(listener, None, routes, token).await;
    watcher.abort();
}

/// The peer endpoints of one node.
pub(crate) fn routes(core: Weak<Core>, secret: Option<ClusterSecret>) -> BoxedFilter<(Response,)> {
    let secret = Arc::new(secret);
    warp::post()
        .and(warp::path(PREFIX[0]))
        .and(warp::path(PREFIX[1]))
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::header::headers_cloned())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .then(move |segment: String, headers: HeaderMap, body: Bytes| {
            let core = core.clone();
            let secret = secret.clone();
            async move { handle(&core, secret.as_ref().as_ref(), &segment, &headers, body).await }
        })
        .boxed()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        message: message.into(),
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

fn json<T: Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

/// Whether the request proves the cluster secret. Both sides are hashed first, so the
/// comparison takes the same time whatever the secret's length and wherever they differ.
fn authorized(secret: Option<&ClusterSecret>, headers: &HeaderMap) -> bool {
    let Some(secret) = secret else {
        return false;
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(secret.expose().as_bytes());
    given.ct_eq(&expected).into()
}

/// A request refused before it reached Raft.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn bad_request(message: String) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::bad_request(format!("the request body does not decode: {e}")))
}

/// Answers a Raft RPC: 200 with the handler's result (an openraft error is part of the answer),
/// or 503 once the Raft node has stopped, so the sender treats this node as unreachable.
fn rpc_reply<T: Serialize, E: Serialize + std::error::Error>(
    result: Result<T, openraft::error::RaftError<NodeId, E>>,
) -> Response {
    match result {
        Err(openraft::error::RaftError::Fatal(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the Raft node has stopped: {e}"),
        ),
        other => json(&other),
    }
}

async fn handle(
    core: &Weak<Core>,
    secret: Option<&ClusterSecret>,
    segment: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(endpoint) = Endpoint::parse(segment) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no peer endpoint {segment:?}"),
        );
    };
    if !authorized(secret, headers) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "peer requests must carry the cluster secret as a bearer token",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            warp::http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    let Some(core) = core.upgrade() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "this node has shut down");
    };
    let from = headers
        .get(FROM_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?");
    if endpoint.names_target() {
        let expected = core.identity.target_header();
        let target = headers.get(TARGET_HEADER).and_then(|v| v.to_str().ok());
        if target != Some(expected.as_str()) {
            tracing::warn!(from, target = ?target, "refused a request meant for another node");
            return error(
                StatusCode::CONFLICT,
                format!(
                    "this is node {expected} (id.incarnation), not {}: the membership names a node whose data is gone, or the address is wrong",
                    target.unwrap_or("unnamed")
                ),
            );
        }
    }
    tracing::trace!(from, endpoint = segment, "peer request");
    match dispatch(&core, endpoint, &body).await {
        Ok(response) => response,
        Err(refusal) => error(refusal.status, refusal.message),
    }
}

async fn dispatch(core: &Core, endpoint: Endpoint, body: &[u8]) -> Result<Response, Refusal> {
    Ok(match endpoint {
        Endpoint::AppendEntries => rpc_reply(core.raft.append_entries(decode(body)?).await),
        Endpoint::Vote => rpc_reply(core.raft.vote(decode(body)?).await),
        Endpoint::InstallSnapshot => {
            let request = SnapshotFrame::decode(body).map_err(Refusal::bad_request)?;
            rpc_reply(core.raft.install_snapshot(request).await)
        }
        Endpoint::Identity => {
            let initialized = core.is_initialized().await.map_err(|e| Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: error_chain(&e),
            })?;
            json(&IdentityReply {
                node_id: core.identity.node_id,
                incarnation: core.identity.incarnation,
                initialized,
                leader: core.raft.metrics().borrow().current_leader,
            })
        }
        Endpoint::Write => {
            let command: Command = decode(body)?;
            json(&Core::reply(core.local_write(&command).await))
        }
        Endpoint::ReadIndex => json(&Core::reply(core.local_read_index().await)),
        Endpoint::Membership => {
            let request: MembershipRequest = decode(body)?;
            json(&Core::reply(core.local_membership(&request).await))
        }
        Endpoint::ChangeMembership => {
            let request: MembershipRequest = decode(body)?;
            json(&Core::reply(core.relayed_membership(&request).await))
        }
        Endpoint::Members => json(&Core::reply(core.linearized_membership().await)),
        Endpoint::Get => {
            let key: ObjectKey = decode(body)?;
            json(&Core::reply(core.linearizable_get(&key).await))
        }
        Endpoint::Retire => match core.retire().await {
            Ok(()) => json(&()),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, error_chain(&e)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            value.parse().expect("a valid header value"),
        );
        headers
    }

    #[test]
    fn only_the_exact_secret_is_authorized() {
        let secret = ClusterSecret::new("s3cret").expect("valid secret");
        assert!(authorized(Some(&secret), &bearer("Bearer s3cret")));
        assert!(!authorized(Some(&secret), &bearer("Bearer s3cre")));
        assert!(!authorized(Some(&secret), &bearer("Bearer s3cret2")));
        assert!(!authorized(Some(&secret), &bearer("Basic s3cret")));
        assert!(!authorized(Some(&secret), &HeaderMap::new()));
        assert!(
            !authorized(None, &bearer("Bearer s3cret")),
            "a node without a secret accepts no peer"
        );
    }
}
