//! What peers send each other over HTTP: the paths, the headers, the bodies of forwarded
//! requests and their answers, and the framing of snapshot chunks. Shared by the client side
//! ([`super::network`]) and the server side ([`super::server`]) so the two cannot drift apart.
//!
//! Bodies are JSON: log entries already carry object values as verbatim JSON text, so JSON
//! moves them without re-encoding, and an error body is readable in a log. Snapshot chunks are
//! the exception: their bytes travel raw behind a small JSON header (see [`SnapshotFrame`]).

use serde::{Deserialize, Serialize};

use super::identity::{Incarnation, Member};
use super::types::{NodeId, TypeConfig};

/// Every peer endpoint lives under `/raft/v1/`.
pub(crate) const PREFIX: [&str; 2] = ["raft", "v1"];

/// The peer endpoints, by the last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    AppendEntries,
    Vote,
    InstallSnapshot,
    Identity,
    Write,
    ReadIndex,
    Membership,
    Retire,
    Get,
    /// A membership change from a client, carried out through the leader.
    ChangeMembership,
    /// The membership, read linearizably.
    Members,
}

impl Endpoint {
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Endpoint::AppendEntries => "append",
            Endpoint::Vote => "vote",
            Endpoint::InstallSnapshot => "snapshot",
            Endpoint::Identity => "identity",
            Endpoint::Write => "write",
            Endpoint::ReadIndex => "read-index",
            Endpoint::Membership => "membership",
            Endpoint::Retire => "retire",
            Endpoint::Get => "get",
            Endpoint::ChangeMembership => "change-membership",
            Endpoint::Members => "members",
        }
    }

    pub(crate) fn parse(segment: &str) -> Option<Self> {
        [
            Endpoint::AppendEntries,
            Endpoint::Vote,
            Endpoint::InstallSnapshot,
            Endpoint::Identity,
            Endpoint::Write,
            Endpoint::ReadIndex,
            Endpoint::Membership,
            Endpoint::Retire,
            Endpoint::Get,
            Endpoint::ChangeMembership,
            Endpoint::Members,
        ]
        .into_iter()
        .find(|e| e.segment() == segment)
    }

    /// Whether the request must name its target node (`x-shoal-target`): every endpoint but
    /// the identity probe, which is how a caller learns the target's incarnation.
    pub(crate) fn names_target(self) -> bool {
        self != Endpoint::Identity
    }

    /// Whether carrying the request out twice does no harm (reads), so it may be retried
    /// whatever became of the first try.
    pub(crate) fn idempotent(self) -> bool {
        matches!(
            self,
            Endpoint::ReadIndex | Endpoint::Get | Endpoint::Identity | Endpoint::Members
        )
    }

    pub(crate) fn url(self, addr: &str) -> String {
        format!(
            "http://{addr}/{}/{}/{}",
            PREFIX[0],
            PREFIX[1],
            self.segment()
        )
    }
}

/// The node a request is meant for: `"{id}.{incarnation}"`.
pub(crate) const TARGET_HEADER: &str = "x-shoal-target";
/// The node a request comes from, for the receiver's logs.
pub(crate) const FROM_HEADER: &str = "x-shoal-from";

/// The answer to an identity probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityReply {
    pub(crate) node_id: NodeId,
    pub(crate) incarnation: Incarnation,
    /// Whether the node already belongs to a cluster (its Raft state is initialized).
    pub(crate) initialized: bool,
    /// The leader the node knows of.
    #[serde(default)]
    pub(crate) leader: Option<NodeId>,
}

/// A membership change: sent by a client to any node (`change-membership`), and forwarded by
/// that node to the leader (`membership`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MembershipRequest {
    AddLearner { node: NodeId, addr: String },
    Promote { node: NodeId },
    Remove { node: NodeId },
}

/// Why a forwarded request was not carried out by the node it was sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ForwardError {
    /// The receiver does not lead; nothing was proposed. The sender may retry elsewhere.
    NotLeader { leader: Option<NodeId> },
    /// The receiver could not confirm its leadership with a quorum.
    QuorumUnavailable,
    /// The receiver refused, for a reason a person can act on; retrying will not help.
    Refused { message: String },
    /// The receiver's Raft node stopped while handling the request: a write may still commit.
    Stopped,
}

/// The body of a forwarded request's answer.
pub(crate) type ForwardReply<T> = Result<T, ForwardError>;

/// The body of an error answer (401, 404, 409, 503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) message: String,
}

/// A snapshot chunk on the wire: a big-endian `u32` length, that many bytes of JSON holding the
/// chunk's metadata, then the chunk's data as raw bytes to the end of the body.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotFrame {
    vote: openraft::Vote<NodeId>,
    meta: openraft::SnapshotMeta<NodeId, Member>,
    offset: u64,
    done: bool,
}

impl SnapshotFrame {
    pub(crate) fn encode(
        request: &openraft::raft::InstallSnapshotRequest<TypeConfig>,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let header = serde_json::to_vec(&SnapshotFrame {
            vote: request.vote,
            meta: request.meta.clone(),
            offset: request.offset,
            done: request.done,
        })?;
        let length = u32::try_from(header.len()).map_err(serde::ser::Error::custom)?;
        let mut body = Vec::with_capacity(4 + header.len() + request.data.len());
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(&header);
        body.extend_from_slice(&request.data);
        Ok(body)
    }

    pub(crate) fn decode(
        body: &[u8],
    ) -> Result<openraft::raft::InstallSnapshotRequest<TypeConfig>, String> {
        let (length, rest) = body
            .split_first_chunk::<4>()
            .ok_or("the snapshot chunk is shorter than its header length")?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return Err("the snapshot chunk is shorter than its header".to_owned());
        }
        let (header, data) = rest.split_at(length);
        let frame: SnapshotFrame = serde_json::from_slice(header)
            .map_err(|e| format!("the snapshot chunk header does not decode: {e}"))?;
        Ok(openraft::raft::InstallSnapshotRequest {
            vote: frame.vote,
            meta: frame.meta,
            offset: frame.offset,
            data: data.to_vec(),
            done: frame.done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::raft::InstallSnapshotRequest;
    use openraft::{LeaderId, LogId, SnapshotMeta, StoredMembership, Vote};

    #[test]
    fn snapshot_frames_round_trip_binary_data() {
        let request = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            meta: SnapshotMeta {
                last_log_id: Some(LogId::new(LeaderId::new(3, 1), 42)),
                last_membership: StoredMembership::default(),
                snapshot_id: "3-42-1".to_owned(),
            },
            offset: 1024,
            data: vec![0, 255, 10, 13, 0],
            done: true,
        };
        let body = SnapshotFrame::encode(&request).expect("encodes");
        assert_eq!(SnapshotFrame::decode(&body), Ok(request));
        assert!(SnapshotFrame::decode(&body[..3]).is_err());
        assert!(SnapshotFrame::decode(&[0, 0, 1, 0, b'{']).is_err());
    }

    #[test]
    fn endpoints_parse_their_own_segments() {
        for segment in [
            "append",
            "vote",
            "snapshot",
            "identity",
            "write",
            "read-index",
            "membership",
            "retire",
            "get",
            "change-membership",
            "members",
        ] {
            let endpoint = Endpoint::parse(segment).expect("known endpoint");
            assert_eq!(endpoint.segment(), segment);
        }
        assert_eq!(Endpoint::parse("nope"), None);
        assert_eq!(
            Endpoint::Vote.url("127.0.0.1:7000"),
            "http://127.0.0.1:7000/raft/v1/vote"
        );
        assert!(!Endpoint::Identity.names_target() && Endpoint::Write.names_target());
    }
}
