//! Why a pod fits nowhere, counted per reason across the nodes and rendered as kube-scheduler
//! renders a `FitError`: `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match
//! Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not
//! helpful for scheduling.` The count-prefixed reasons are sorted as Go's `sort.Strings` sorts
//! them (bytewise, count included). Shoal never preempts, so the preemption part always says
//! so for every node.

use std::collections::BTreeMap;
use std::fmt;

/// Why one node cannot take the pod, in kube-scheduler's words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The node has no `Ready` condition at all (it never reported).
    NotReady,
    /// `spec.unschedulable` and the pod does not tolerate `node.kubernetes.io/unschedulable`.
    Unschedulable,
    /// The pod names another node in `spec.nodeName`.
    NodeName,
    /// The first `NoSchedule` or `NoExecute` taint of the node the pod does not tolerate.
    UntoleratedTaint {
        key: String,
        value: String,
    },
    /// `nodeSelector` or required node affinity does not match the node's labels.
    NodeAffinity,
    /// The node has as many pods as `allocatable.pods`.
    TooManyPods,
    InsufficientCpu,
    InsufficientMemory,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotReady => f.write_str("node(s) were not ready"),
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::NodeName => f.write_str("node(s) didn't match the requested node name"),
            Reason::UntoleratedTaint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Reason::NodeAffinity => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Reason::TooManyPods => f.write_str("Too many pods"),
            Reason::InsufficientCpu => f.write_str("Insufficient cpu"),
            Reason::InsufficientMemory => f.write_str("Insufficient memory"),
        }
    }
}

/// The reasons of every node, counted. Displays as kube-scheduler's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasons {
    nodes: usize,
    counts: BTreeMap<Reason, usize>,
}

impl Reasons {
    /// No reasons yet, out of `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Reasons {
            nodes,
            counts: BTreeMap::new(),
        }
    }

    /// Counts one more node with this reason.
    pub fn add(&mut self, reason: Reason) {
        *self.counts.entry(reason).or_default() += 1;
    }

    /// How many nodes the pod was tried on.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// How many nodes gave this reason.
    pub fn count(&self, reason: &Reason) -> usize {
        self.counts.get(reason).copied().unwrap_or(0)
    }

    /// Each reason with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&Reason, usize)> {
        self.counts.iter().map(|(reason, &count)| (reason, count))
    }
}

impl fmt::Display for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.nodes;
        if nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        let mut histogram: Vec<String> = self
            .counts
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        histogram.sort();
        write!(f, "0/{nodes} nodes are available:")?;
        if !histogram.is_empty() {
            write!(f, " {}.", histogram.join(", "))?;
        }
        write!(
            f,
            " preemption: 0/{nodes} nodes are available: {nodes} Preemption is not helpful for \
             scheduling."
        )
    }
}
