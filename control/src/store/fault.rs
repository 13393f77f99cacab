//! Fault injection in the real peer transport: a plan, shared by the nodes under test, of which
//! links between node ids are cut. Every outgoing peer request (Raft RPCs and forwarded client
//! requests alike) asks the plan first; a request over a cut link is dropped before it leaves,
//! and the sender sees the peer as unreachable, as with a network partition.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::types::NodeId;

#[derive(Debug, Default)]
struct Faults {
    /// Cut links, one direction each: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Nodes cut off from every other node, in both directions.
    isolated: BTreeSet<NodeId>,
    /// How many requests the plan has dropped.
    dropped: u64,
}

/// Which peer links are cut. Clones share one plan, so a test keeps a handle and changes the
/// faults while the nodes run. The default plan cuts nothing.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    faults: Arc<Mutex<Faults>>,
}

impl FaultPlan {
    /// A plan that cuts nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Faults> {
        // The plan holds plain sets; one left by a panicking holder is still consistent.
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts the link between `a` and `b` in both directions.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut faults = self.lock();
        faults.cut.insert((a, b));
        faults.cut.insert((b, a));
    }

    /// Cuts only the direction from `from` to `to`: `to` still reaches `from`.
    pub fn cut_one_way(&self, from: NodeId, to: NodeId) {
        self.lock().cut.insert((from, to));
    }

    /// Cuts `node` off from every other node, both ways: a partition of one.
    pub fn isolate(&self, node: NodeId) {
        self.lock().isolated.insert(node);
    }

    /// Restores every link.
    pub fn heal(&self) {
        let mut faults = self.lock();
        faults.cut.clear();
        faults.isolated.clear();
    }

    /// Whether a request from `from` to `to` may be sent. A refused request is counted.
    pub fn allows(&self, from: NodeId, to: NodeId) -> bool {
        let mut faults = self.lock();
        let blocked = from != to
            && (faults.cut.contains(&(from, to))
                || faults.isolated.contains(&from)
                || faults.isolated.contains(&to));
        if blocked {
            faults.dropped += 1;
        }
        !blocked
    }

    /// How many requests the plan has dropped so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_isolation_and_healing() {
        let plan = FaultPlan::new();
        assert!(plan.allows(1, 2));
        plan.cut_one_way(1, 2);
        assert!(!plan.allows(1, 2));
        assert!(plan.allows(2, 1));
        plan.isolate(3);
        assert!(!plan.allows(3, 1) && !plan.allows(2, 3));
        assert!(plan.allows(3, 3), "a node always reaches itself");
        let shared = plan.clone();
        shared.heal();
        assert!(plan.allows(1, 2) && plan.allows(3, 1));
        assert_eq!(plan.dropped(), 3);
        plan.cut(1, 2);
        assert!(!plan.allows(2, 1) && !plan.allows(1, 2));
    }
}
