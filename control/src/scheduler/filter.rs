//! The filters, in kube-scheduler's plugin order, and the matching rules they rest on:
//! tolerations against taints, and `nodeSelector` and required node affinity against labels.
//! The first filter that rejects a node gives the node's reason, except resources, which name
//! every resource that does not fit, as `NodeResourcesFit` does.

use std::collections::BTreeMap;

use shoal_manifests::k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, NodeSelectorTerm, Pod, Toleration,
};

use super::reasons::{Reason, Reasons};
use super::request::{Requests, requests};
use super::view::{
    ClusterView, NodeInfo, Readiness, Taint, TaintEffect, UNSCHEDULABLE_TAINT, controller_uid,
};

/// What the pod asks of a node, read from it once per decision.
#[derive(Debug)]
pub(crate) struct Demand<'p> {
    pub(crate) requests: Requests,
    pub(crate) node_name: Option<&'p str>,
    pub(crate) selector: Option<&'p BTreeMap<String, String>>,
    /// Required node affinity: at least one term must match.
    pub(crate) affinity: Option<&'p [NodeSelectorTerm]>,
    pub(crate) tolerations: &'p [Toleration],
    pub(crate) tolerates_unschedulable: bool,
    pub(crate) owner: Option<&'p str>,
}

impl<'p> Demand<'p> {
    pub(crate) fn of(pod: &'p Pod) -> Demand<'p> {
        let spec = pod.spec.as_ref();
        let tolerations = spec
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        Demand {
            requests: requests(pod),
            node_name: spec
                .and_then(|s| s.node_name.as_deref())
                .filter(|n| !n.is_empty()),
            selector: spec
                .and_then(|s| s.node_selector.as_ref())
                .filter(|s| !s.is_empty()),
            affinity: spec
                .and_then(|s| s.affinity.as_ref())
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|selector| selector.node_selector_terms.as_slice()),
            tolerations,
            tolerates_unschedulable: tolerations
                .iter()
                .any(|t| tolerates_parts(t, UNSCHEDULABLE_TAINT, "", TaintEffect::NoSchedule)),
            owner: controller_uid(pod),
        }
    }
}

/// Why one node was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure<'n> {
    NotReady,
    Unschedulable,
    NodeName,
    Taint(&'n Taint),
    Affinity,
    Resources { pods: bool, cpu: bool, memory: bool },
}

impl Failure<'_> {
    fn record(self, reasons: &mut Reasons) {
        match self {
            Failure::NotReady => reasons.add(Reason::NotReady),
            Failure::Unschedulable => reasons.add(Reason::Unschedulable),
            Failure::NodeName => reasons.add(Reason::NodeName),
            Failure::Taint(taint) => reasons.add(Reason::UntoleratedTaint {
                key: taint.key.clone(),
                value: taint.value.clone(),
            }),
            Failure::Affinity => reasons.add(Reason::NodeAffinity),
            Failure::Resources { pods, cpu, memory } => {
                if pods {
                    reasons.add(Reason::TooManyPods);
                }
                if cpu {
                    reasons.add(Reason::InsufficientCpu);
                }
                if memory {
                    reasons.add(Reason::InsufficientMemory);
                }
            }
        }
    }
}

/// Whether the pod may run on the node, and if not, why.
pub(crate) fn check<'n>(node: &'n NodeInfo, demand: &Demand<'_>) -> Result<(), Failure<'n>> {
    if node.readiness == Readiness::Unreported {
        return Err(Failure::NotReady);
    }
    if node.unschedulable && !demand.tolerates_unschedulable {
        return Err(Failure::Unschedulable);
    }
    if let Some(name) = demand.node_name
        && name != node.name.as_str()
    {
        return Err(Failure::NodeName);
    }
    if let Some(taint) = node
        .taints
        .iter()
        .find(|taint| taint.effect.filters() && !tolerated(demand.tolerations, taint))
    {
        return Err(Failure::Taint(taint));
    }
    if !matches_node(node, demand) {
        return Err(Failure::Affinity);
    }
    fits(node, &demand.requests)
}

/// `NodeResourcesFit`: room for one more pod, and for its requests in what is left. A pod that
/// requests nothing of a resource fits however full the node is.
fn fits<'n>(node: &NodeInfo, requests: &Requests) -> Result<(), Failure<'n>> {
    let pods = node.pods + 1 > node.allocatable_pods;
    let want = requests.fit;
    let cpu = want.millicores > 0
        && want.millicores > node.allocatable.millicores - node.requested.millicores;
    let memory = want.bytes > 0 && want.bytes > node.allocatable.bytes - node.requested.bytes;
    if pods || cpu || memory {
        Err(Failure::Resources { pods, cpu, memory })
    } else {
        Ok(())
    }
}

/// Every node's reason, counted, for a pod that fits nowhere.
pub(crate) fn diagnose(view: &ClusterView, demand: &Demand<'_>) -> Reasons {
    let mut reasons = Reasons::new(view.nodes().len());
    for node in view.nodes() {
        if let Err(failure) = check(node, demand) {
            failure.record(&mut reasons);
        }
    }
    reasons
}

/// How many `PreferNoSchedule` taints of the node the pod does not tolerate.
pub(crate) fn untolerated_preferences(node: &NodeInfo, demand: &Demand<'_>) -> u32 {
    let mut count = 0;
    for taint in &node.taints {
        if taint.effect != TaintEffect::PreferNoSchedule {
            continue;
        }
        // Only tolerations that name no effect or PreferNoSchedule count here, as in
        // kube-scheduler's TaintToleration score.
        let tolerated = demand.tolerations.iter().any(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            ) && tolerates(t, taint)
        });
        if !tolerated {
            count += 1;
        }
    }
    count
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// Whether a toleration tolerates a taint, as `Toleration.ToleratesTaint`: an empty effect
/// matches every effect, an empty key every key, `Exists` any value, `Equal` (or no operator)
/// the same value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    tolerates_parts(toleration, &taint.key, &taint.value, taint.effect)
}

fn tolerates_parts(toleration: &Toleration, key: &str, value: &str, effect: TaintEffect) -> bool {
    let wanted = toleration.effect.as_deref().unwrap_or("");
    if !wanted.is_empty() && wanted != effect.as_str() {
        return false;
    }
    let wanted = toleration.key.as_deref().unwrap_or("");
    if !wanted.is_empty() && wanted != key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == value,
        "Exists" => true,
        _ => false,
    }
}

/// `NodeAffinity`: every `nodeSelector` label, and one of the required affinity terms.
fn matches_node(node: &NodeInfo, demand: &Demand<'_>) -> bool {
    if let Some(selector) = demand.selector
        && !selector
            .iter()
            .all(|(key, value)| node.labels.get(key) == Some(value))
    {
        return false;
    }
    match demand.affinity {
        Some(terms) => terms.iter().any(|term| term_matches(node, term)),
        None => true,
    }
}

/// A node selector term: all of its expressions and fields; an empty term matches nothing.
fn term_matches(node: &NodeInfo, term: &NodeSelectorTerm) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str), true))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, Some(node.name.as_str()), false)
        })
}

/// One requirement against the value found (`None`: the label is absent). `Gt` and `Lt`
/// compare integers, and only for labels.
fn requirement_matches(
    requirement: &NodeSelectorRequirement,
    found: Option<&str>,
    numeric: bool,
) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => found.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => found.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => found.is_some(),
        "DoesNotExist" => found.is_none(),
        "Gt" | "Lt" if numeric => {
            let (Some(found), [bound]) = (found, values) else {
                return false;
            };
            let (Ok(found), Ok(bound)) = (found.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if requirement.operator == "Gt" {
                found > bound
            } else {
                found < bound
            }
        }
        _ => false,
    }
}
