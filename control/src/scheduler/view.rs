//! The scheduler's snapshot of the cluster: per node what it offers (allocatable resources,
//! labels, taints, readiness) and what the pods bound to it already take, updated in place as
//! the driver binds pods so one view serves a whole pass.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use shoal_manifests::k8s_openapi::api::core::v1::{Node, Pod};

use super::request::{Compute, quantity_bytes, quantity_millicores, requests};

/// The taint the node lifecycle controller puts on a node whose Ready condition is False.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint the node lifecycle controller puts on a node whose Ready condition is Unknown.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// The taint that stands for `spec.unschedulable`: a pod tolerating it ignores cordoning.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// A node's name: what a pod is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(pub String);

impl NodeName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeName {
    fn from(name: &str) -> Self {
        NodeName(name.to_owned())
    }
}

/// A node's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `Ready=True`.
    Ready,
    /// `Ready=False`: the node is tainted `node.kubernetes.io/not-ready:NoSchedule`.
    NotReady,
    /// `Ready=Unknown`: the node is tainted `node.kubernetes.io/unreachable:NoSchedule`.
    Unknown,
    /// No `Ready` condition at all: the node never reported, and nothing is scheduled there.
    Unreported,
}

/// What a taint does to pods that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    /// New pods are not scheduled to the node.
    NoSchedule,
    /// New pods avoid the node when they can (a score, not a filter).
    PreferNoSchedule,
    /// New pods are not scheduled and running ones are evicted.
    NoExecute,
}

impl TaintEffect {
    /// Parses the API's spelling; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "NoSchedule" => Some(TaintEffect::NoSchedule),
            "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
            "NoExecute" => Some(TaintEffect::NoExecute),
            _ => None,
        }
    }

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    /// Whether pods that do not tolerate the taint are kept off the node.
    pub fn filters(self) -> bool {
        matches!(self, TaintEffect::NoSchedule | TaintEffect::NoExecute)
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: String,
    /// `""` when the taint has no value.
    pub value: String,
    pub effect: TaintEffect,
}

/// One node of the view.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: NodeName,
    /// `status.allocatable` (each resource falling back to `status.capacity`).
    pub allocatable: Compute,
    /// How many pods the node takes (`allocatable.pods`).
    pub allocatable_pods: i64,
    pub labels: BTreeMap<String, String>,
    /// `spec.taints` with a known effect, followed by the taint the node's readiness implies
    /// (not-ready or unreachable) unless the node already carries it.
    pub taints: Vec<Taint>,
    pub readiness: Readiness,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The requests of the pods bound to the node, for fitting.
    pub requested: Compute,
    /// The same with kube-scheduler's defaults for missing requests, for scoring.
    pub non_zero_requested: Compute,
    /// How many pods are bound to the node (terminated ones excepted).
    pub pods: i64,
}

impl NodeInfo {
    /// The node as the scheduler sees it, with nothing bound to it yet; `None` without a name.
    pub fn from_node(node: &Node) -> Option<NodeInfo> {
        let name = node.metadata.name.as_deref().filter(|n| !n.is_empty())?;
        let status = node.status.as_ref();
        let resource = |resource: &str| {
            let allocatable = status.and_then(|s| s.allocatable.as_ref());
            let capacity = status.and_then(|s| s.capacity.as_ref());
            allocatable
                .and_then(|list| list.get(resource))
                .or_else(|| capacity.and_then(|list| list.get(resource)))
        };
        let allocatable = Compute {
            millicores: resource("cpu").map_or(0, quantity_millicores),
            bytes: resource("memory").map_or(0, quantity_bytes),
        };
        let allocatable_pods = resource("pods").map_or(0, quantity_bytes);
        let readiness = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
            .map_or(Readiness::Unreported, |ready| match ready.status.as_str() {
                "True" => Readiness::Ready,
                "False" => Readiness::NotReady,
                _ => Readiness::Unknown,
            });
        let spec = node.spec.as_ref();
        let mut taints: Vec<Taint> = spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|taint| {
                Some(Taint {
                    key: taint.key.clone(),
                    value: taint.value.clone().unwrap_or_default(),
                    effect: TaintEffect::parse(&taint.effect)?,
                })
            })
            .collect();
        let implied = match readiness {
            Readiness::NotReady => Some(NOT_READY_TAINT),
            Readiness::Unknown => Some(UNREACHABLE_TAINT),
            Readiness::Ready | Readiness::Unreported => None,
        };
        if let Some(key) = implied
            && !taints
                .iter()
                .any(|t| t.key == key && t.effect == TaintEffect::NoSchedule)
        {
            taints.push(Taint {
                key: key.to_owned(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            });
        }
        Some(NodeInfo {
            name: NodeName(name.to_owned()),
            allocatable,
            allocatable_pods,
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints,
            readiness,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            requested: Compute::ZERO,
            non_zero_requested: Compute::ZERO,
            pods: 0,
        })
    }
}

/// The snapshot [`schedule`](super::schedule) decides over.
///
/// Nodes keep the order they were added in (the store lists them by name), which is the
/// order ties are broken in: round-robin, from just after the node bound last.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Per controller uid, how many of its pods each node has: `(node index, count)` sorted
    /// by node index, so a pass over the nodes walks it alongside.
    owners: HashMap<String, Vec<(usize, u32)>>,
    /// Where the next tie starts looking: one past the node bound last.
    cursor: usize,
}

impl ClusterView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// The view of these nodes with these pods counted on the nodes they are bound to.
    pub fn from_objects<'a>(
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: impl IntoIterator<Item = &'a Pod>,
    ) -> Self {
        let mut view = Self::new();
        for node in nodes {
            view.add_node(node);
        }
        for pod in pods {
            view.add_pod(pod);
        }
        view
    }

    /// Adds a node, or refreshes what an already known node offers (keeping what is bound to
    /// it). Nodes without a name are ignored.
    pub fn add_node(&mut self, node: &Node) {
        let Some(info) = NodeInfo::from_node(node) else {
            return;
        };
        match self.index.get(info.name.as_str()) {
            Some(&index) => {
                let known = &mut self.nodes[index];
                *known = NodeInfo {
                    requested: known.requested,
                    non_zero_requested: known.non_zero_requested,
                    pods: known.pods,
                    ..info
                };
            }
            None => {
                self.index.insert(info.name.0.clone(), self.nodes.len());
                self.nodes.push(info);
            }
        }
    }

    /// Counts a pod on the node its `spec.nodeName` names. Pods not bound, bound to a node
    /// the view does not know, or terminated (`Succeeded`, `Failed`) take nothing.
    pub fn add_pod(&mut self, pod: &Pod) {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return;
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if let Some(&index) = node.and_then(|n| self.index.get(n)) {
            self.account(index, pod);
        }
    }

    /// Records that `pod` was bound to `node`: its requests and its owner's count land on the
    /// node, and the next tie starts after it. `false` if the view does not know the node.
    pub fn bind(&mut self, pod: &Pod, node: &NodeName) -> bool {
        let Some(&index) = self.index.get(node.as_str()) else {
            return false;
        };
        self.account(index, pod);
        self.cursor = index + 1;
        true
    }

    /// Continues round-robin after `node` (the node a previous view bound last), if known.
    pub fn resume_after(&mut self, node: &NodeName) {
        if let Some(&index) = self.index.get(node.as_str()) {
            self.cursor = index + 1;
        }
    }

    /// Every node, in order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// One node by name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// How many pods of the controller with this uid are bound to the node.
    pub fn owner_count(&self, node: &str, owner_uid: &str) -> u32 {
        let (Some(&index), Some(counts)) = (self.index.get(node), self.owners.get(owner_uid))
        else {
            return 0;
        };
        counts
            .binary_search_by_key(&index, |&(i, _)| i)
            .map_or(0, |at| counts[at].1)
    }

    /// Per node index, how many pods of this controller each node has, sorted by index.
    pub(crate) fn owner_counts(&self, owner_uid: &str) -> &[(usize, u32)] {
        self.owners.get(owner_uid).map_or(&[], Vec::as_slice)
    }

    /// Where ties start looking.
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    fn account(&mut self, index: usize, pod: &Pod) {
        let requests = requests(pod);
        let node = &mut self.nodes[index];
        node.requested = node.requested + requests.fit;
        node.non_zero_requested = node.non_zero_requested + requests.score;
        node.pods += 1;
        let Some(owner) = controller_uid(pod) else {
            return;
        };
        if !self.owners.contains_key(owner) {
            self.owners.insert(owner.to_owned(), Vec::new());
        }
        let Some(counts) = self.owners.get_mut(owner) else {
            return;
        };
        match counts.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(at) => counts[at].1 += 1,
            Err(at) => counts.insert(at, (index, 1)),
        }
    }
}

/// The uid of the pod's controller (the owner reference with `controller: true`).
pub fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|owner| owner.controller == Some(true))
        .map(|owner| owner.uid.as_str())
        .filter(|uid| !uid.is_empty())
}
