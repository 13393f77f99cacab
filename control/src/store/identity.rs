//! Who a node is. A node id names a seat in the cluster; an incarnation names one data
//! directory holding that seat. The membership records both, and every Raft request names the
//! incarnation it is meant for, so a node that lost its directory (and so its votes and log) is
//! never mistaken for its former self: it has to join again under a new id.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::types::NodeId;

/// A random number chosen when a data directory is first used.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Incarnation(pub u64);

impl Incarnation {
    /// A fresh random incarnation (never 0, which marks "unknown").
    pub(crate) fn fresh() -> Self {
        // `RandomState` is seeded from the operating system's randomness; mixing in the clock and
        // the process id keeps two states built in the same instant apart.
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        Incarnation(hasher.finish().max(1))
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A cluster member as the membership records it: the openraft node type of the store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Member {
    /// The address peers reach it at (`host:port`).
    pub addr: String,
    /// The data directory that holds its seat.
    pub incarnation: Incarnation,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.incarnation)
    }
}

/// This node's identity, recorded in its data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) node_id: NodeId,
    pub(crate) incarnation: Incarnation,
}

impl Identity {
    /// The value of the header that names the node a Raft request is meant for.
    pub(crate) fn target_header(&self) -> String {
        format!("{}.{}", self.node_id, self.incarnation)
    }

    pub(crate) fn of(node_id: NodeId, member: &Member) -> Self {
        Identity {
            node_id,
            incarnation: member.incarnation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_differ_and_name_their_node() {
        let a = Incarnation::fresh();
        let b = Incarnation::fresh();
        assert_ne!(a, b);
        assert_ne!(a.0, 0);
        let identity = Identity {
            node_id: 7,
            incarnation: Incarnation(0xab),
        };
        assert_eq!(identity.target_header(), "7.00000000000000ab");
    }
}
