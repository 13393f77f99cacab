//! The scheduler: binds pending pods to nodes as kube-scheduler's default profile does. The
//! decision is a pure function, [`schedule`], over a snapshot, [`ClusterView`]; the
//! [`driver`] lists the objects, builds the view, decides and writes the bindings, the
//! `PodScheduled` conditions and the `FailedScheduling` Events.
//!
//! Filters, per node, in kube-scheduler's plugin order (the first that rejects a node gives
//! its reason): readiness, `NodeUnschedulable`, `NodeName`, `TaintToleration` (`NoSchedule`
//! and `NoExecute`), `NodeAffinity` (`nodeSelector` and required node affinity) and
//! `NodeResourcesFit` (pods, cpu, memory). Scores, over the nodes that pass, with the weights
//! of the kube-scheduler plugins they stand for: least-allocated resources (1), spreading
//! the pods of one controller (2, as `PodTopologySpread`) and untolerated `PreferNoSchedule`
//! taints (3, as `TaintToleration`). Ties go round-robin.

pub mod driver;
mod filter;
mod reasons;
mod request;
mod view;

#[cfg(test)]
mod tests;

use shoal_manifests::k8s_openapi::api::core::v1::Pod;

pub use filter::tolerates;
pub use reasons::{Reason, Reasons};
pub use request::{Compute, DEFAULT_BYTES, DEFAULT_MILLICORES, Requests, requests};
pub use view::{
    ClusterView, NOT_READY_TAINT, NodeInfo, NodeName, Readiness, Taint, TaintEffect,
    UNREACHABLE_TAINT, UNSCHEDULABLE_TAINT, controller_uid,
};

use filter::Demand;

/// The highest score one scoring rule gives a node.
const MAX_SCORE: i64 = 100;
/// Weight of the least-allocated score (kube-scheduler's `NodeResourcesFit`).
const LEAST_ALLOCATED_WEIGHT: i64 = 1;
/// Weight of spreading one controller's pods.
const SPREAD_WEIGHT: i64 = 2;
/// Weight of avoiding untolerated `PreferNoSchedule` taints (kube-scheduler's
/// `TaintToleration`).
const PREFER_NO_SCHEDULE_WEIGHT: i64 = 3;

/// Where a pod goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// To this node.
    Bind(NodeName),
    /// Nowhere for now: the pod stays Pending with these reasons.
    Unschedulable(Reasons),
}

/// A node that passed every filter, with what scoring needs.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    least_allocated: i64,
    owner_pods: u32,
    preferences: u32,
}

/// Decides where `pod` goes in `view`.
///
/// The driver only asks about pods without `spec.nodeName`; a pod that has one is treated as
/// kube-scheduler's `NodeName` filter treats it (only that node passes).
pub fn schedule(view: &ClusterView, pod: &Pod) -> Placement {
    let demand = Demand::of(pod);
    let nodes = view.nodes();
    let owned = demand
        .owner
        .map_or(&[][..], |owner| view.owner_counts(owner));
    let mut owned_at = 0;
    let mut candidates = Vec::new();
    let (mut most_owned, mut most_preferences) = (0, 0);
    for (index, node) in nodes.iter().enumerate() {
        if filter::check(node, &demand).is_err() {
            continue;
        }
        while owned.get(owned_at).is_some_and(|&(i, _)| i < index) {
            owned_at += 1;
        }
        let owner_pods = match owned.get(owned_at) {
            Some(&(i, count)) if i == index => count,
            _ => 0,
        };
        let preferences = filter::untolerated_preferences(node, &demand);
        most_owned = most_owned.max(owner_pods);
        most_preferences = most_preferences.max(preferences);
        candidates.push(Candidate {
            index,
            least_allocated: least_allocated(node, &demand),
            owner_pods,
            preferences,
        });
    }
    if candidates.is_empty() {
        return Placement::Unschedulable(filter::diagnose(view, &demand));
    }
    let cursor = view.cursor();
    let mut best = i64::MIN;
    let (mut at_or_after, mut before) = (None, None);
    for candidate in &candidates {
        let spread = reverse_share(candidate.owner_pods, most_owned);
        let tainted = reverse_share(candidate.preferences, most_preferences);
        let score = candidate.least_allocated * LEAST_ALLOCATED_WEIGHT
            + spread * SPREAD_WEIGHT
            + tainted * PREFER_NO_SCHEDULE_WEIGHT;
        if score > best {
            best = score;
            at_or_after = None;
            before = None;
        }
        if score == best {
            let slot = if candidate.index >= cursor {
                &mut at_or_after
            } else {
                &mut before
            };
            slot.get_or_insert(candidate.index);
        }
    }
    let chosen = at_or_after.or(before).unwrap_or(candidates[0].index);
    Placement::Bind(nodes[chosen].name.clone())
}

/// `MAX_SCORE` for none, 0 for the most: kube-scheduler's reversed `DefaultNormalizeScore`.
fn reverse_share(count: u32, most: u32) -> i64 {
    if most == 0 {
        return MAX_SCORE;
    }
    MAX_SCORE - MAX_SCORE * i64::from(count) / i64::from(most)
}

/// kube-scheduler's `LeastAllocated`: per resource the share left free once the pod is placed
/// (with the non-zero requests), averaged over the resources the node has.
fn least_allocated(node: &NodeInfo, demand: &Demand<'_>) -> i64 {
    let wanted = demand.requests.score;
    let used = node.non_zero_requested;
    let resources = [
        (
            used.millicores.saturating_add(wanted.millicores),
            node.allocatable.millicores,
        ),
        (
            used.bytes.saturating_add(wanted.bytes),
            node.allocatable.bytes,
        ),
    ];
    let (mut sum, mut weights) = (0, 0);
    for (requested, allocatable) in resources {
        if allocatable == 0 {
            continue;
        }
        sum += free_share(requested, allocatable);
        weights += 1;
    }
    if weights == 0 { 0 } else { sum / weights }
}

/// `(allocatable - requested) * 100 / allocatable`, 0 when over-committed.
fn free_share(requested: i64, allocatable: i64) -> i64 {
    if requested > allocatable || allocatable <= 0 {
        return 0;
    }
    let free = allocatable - requested;
    match free.checked_mul(MAX_SCORE) {
        Some(scaled) => scaled / allocatable,
        None => i64::try_from(i128::from(free) * i128::from(MAX_SCORE) / i128::from(allocatable))
            .unwrap_or(MAX_SCORE),
    }
}
