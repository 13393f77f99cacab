//! The ReplicaSet controller's decisions, as pure functions over a snapshot: which pods a
//! ReplicaSet claims (owner references, adoption, release), which to create from its template
//! and which to delete in the order Kubernetes picks, and the status it reports. The driver
//! that reads the snapshot and performs the actions is in [`driver`].

mod driver;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use shoal_manifests::k8s_openapi::api::apps::v1::{
    ReplicaSet, ReplicaSetCondition, ReplicaSetStatus,
};
use shoal_manifests::k8s_openapi::api::core::v1::Pod;
use shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use shoal_manifests::k8s_openapi::jiff::{SignedDuration, Timestamp};
use shoal_manifests::selector::LabelSelector;

use super::claim::{self, Claim, controller_ref, labels};

pub(crate) use driver::reconcile;

/// The most pods one pass creates or deletes for one ReplicaSet (kube-controller-manager's
/// `burstReplicas`).
const BURST: usize = 500;

/// The annotation that makes a pod cheaper (or dearer) to delete on scale-down.
const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What a pass does for one ReplicaSet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Create this pod (named by `generateName`).
    Create(Box<Pod>),
    /// Take a selected orphan pod.
    Adopt { pod: String, uid: String },
    /// Let go of a pod that no longer matches the selector.
    Release { pod: String, uid: String },
    /// Delete a surplus pod.
    Delete { pod: String, uid: String },
}

/// Why the last pass could not create or delete a pod, for the `ReplicaFailure` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) String);

/// A pod the ReplicaSet counts: claimed, and neither finished nor being deleted.
fn is_active(pod: &Pod) -> bool {
    !claim::deleting(&pod.metadata) && !matches!(phase(pod), Some("Succeeded" | "Failed"))
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// The time the pod's `Ready` condition turned `True`, if it is ready.
fn ready_since(pod: &Pod) -> Option<Option<&Time>> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref())
}

/// Whether the pod's `Ready` condition is `True`.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been ready for `min_ready_seconds` (`IsPodAvailable`).
pub(crate) fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => {
            since.0 + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now
        }
    }
}

/// The pods `rs` claims (as indices into `pods`), and the adoptions and releases that takes.
/// `None` when its selector is unusable: Kubernetes then leaves the ReplicaSet alone.
fn claimed(rs: &ReplicaSet, pods: &[Pod]) -> Option<(Vec<usize>, Vec<Action>)> {
    let selector = LabelSelector::from_k8s(&rs.spec.selector).ok()?;
    let mut mine = Vec::new();
    let mut actions = Vec::new();
    for (index, pod) in pods.iter().enumerate() {
        if !is_active(pod) || pod.metadata.namespace != rs.metadata.namespace {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match claim::claim(&rs.metadata, &selector, &pod.metadata) {
            Claim::Keep => mine.push(index),
            Claim::Adopt => {
                mine.push(index);
                actions.push(Action::Adopt { pod: name, uid });
            }
            Claim::Release => actions.push(Action::Release { pod: name, uid }),
            Claim::Ignore => {}
        }
    }
    Some((mine, actions))
}

/// The spec's replica count (1 when unset, the API default).
fn desired(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// Decides one pass for `rs` over the pods of its namespace: claim, then create or delete to
/// reach `spec.replicas`.
pub(crate) fn plan(rs: &ReplicaSet, pods: &[Pod]) -> Vec<Action> {
    let Some((mine, mut actions)) = claimed(rs, pods) else {
        return Vec::new();
    };
    if claim::deleting(&rs.metadata) {
        return actions;
    }
    let want = usize::try_from(desired(rs)).unwrap_or(0);
    if mine.len() < want {
        let pod = pod_from_template(rs);
        let count = (want - mine.len()).min(BURST);
        actions.extend((0..count).map(|_| Action::Create(Box::new(pod.clone()))));
    } else if mine.len() > want {
        let candidates: Vec<&Pod> = mine.iter().map(|&i| &pods[i]).collect();
        let ranks = ranks(&candidates);
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| deletion_order(candidates[a], ranks[a], candidates[b], ranks[b]));
        let surplus = (mine.len() - want).min(BURST);
        actions.extend(order.into_iter().take(surplus).map(|i| {
            let pod = candidates[i];
            Action::Delete {
                pod: pod.metadata.name.clone().unwrap_or_default(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
            }
        }));
    }
    actions
}

/// A new pod from the ReplicaSet's template (`GetPodFromTemplate`).
fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref("apps/v1", "ReplicaSet", &rs.metadata)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// For each pod, how many of the candidates share its node: pods on crowded nodes go first.
fn ranks(pods: &[&Pod]) -> Vec<usize> {
    let node = |pod: &Pod| {
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods {
        *per_node.entry(node(pod)).or_default() += 1;
    }
    pods.iter().map(|pod| per_node[&node(pod)]).collect()
}

/// Kubernetes' `ActivePodsWithRanks` order: the pod to delete first sorts first.
fn deletion_order(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize) -> Ordering {
    let assigned = |pod: &Pod| {
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_ordinal = |pod: &Pod| match phase(pod) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    };
    let cost = |pod: &Pod| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_COST))
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or(0)
    };
    let restarts = |pod: &Pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.iter().map(|c| c.restart_count).max())
            .unwrap_or(0)
    };
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_ordinal(a).cmp(&phase_ordinal(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| cost(a).cmp(&cost(b)))
        .then_with(|| rank_b.cmp(&rank_a))
        .then_with(|| {
            if is_ready(a) && is_ready(b) {
                newer_first(ready_since(a).flatten(), ready_since(b).flatten())
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| {
            newer_first(
                a.metadata.creation_timestamp.as_ref(),
                b.metadata.creation_timestamp.as_ref(),
            )
        })
        .then_with(|| a.metadata.uid.cmp(&b.metadata.uid))
}

/// Missing times first, then later before earlier (`afterOrZero`).
fn newer_first(a: Option<&Time>, b: Option<&Time>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(a),
    }
}

/// The status `rs` reports for the pods it claims in this snapshot (`calculateStatus`), with
/// `ReplicaFailure` set or cleared by how the pass's creates and deletes went.
pub(crate) fn status(
    rs: &ReplicaSet,
    pods: &[Pod],
    now: Timestamp,
    failure: Option<&Failure>,
) -> ReplicaSetStatus {
    let mut next = rs.status.clone().unwrap_or_default();
    let Some((mine, _)) = claimed(rs, pods) else {
        return next;
    };
    let mine: Vec<&Pod> = mine.iter().map(|&i| &pods[i]).collect();
    let template_labels = rs
        .spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let count = |f: &dyn Fn(&Pod) -> bool| {
        let n = mine.iter().filter(|p| f(p)).count();
        i32::try_from(n).unwrap_or(i32::MAX)
    };
    let nonzero = |n: i32| (n != 0).then_some(n);
    next.replicas = count(&|_| true);
    next.fully_labeled_replicas = nonzero(count(&|p| {
        template_labels
            .iter()
            .all(|(k, v)| labels(&p.metadata).get(k) == Some(v))
    }));
    next.ready_replicas = nonzero(count(&is_ready));
    next.available_replicas = nonzero(count(&|p| is_available(p, min_ready, now)));
    next.observed_generation = rs.metadata.generation;
    let mut conditions = next.conditions.take().unwrap_or_default();
    let has_failure = conditions
        .iter()
        .any(|c| c.type_.as_deref() == Some("ReplicaFailure"));
    match failure {
        Some(Failure(message)) if !has_failure => {
            let diff = i64::from(next.replicas) - i64::from(desired(rs));
            let reason = match diff.cmp(&0) {
                Ordering::Less => "FailedCreate",
                Ordering::Greater => "FailedDelete",
                Ordering::Equal => "",
            };
            conditions.push(ReplicaSetCondition {
                type_: Some("ReplicaFailure".to_owned()),
                status: Some("True".to_owned()),
                reason: Some(reason.to_owned()),
                message: Some(message.clone()),
                last_transition_time: Some(Time(now)),
            });
        }
        None if has_failure => {
            conditions.retain(|c| c.type_.as_deref() != Some("ReplicaFailure"));
        }
        _ => {}
    }
    next.conditions = (!conditions.is_empty()).then_some(conditions);
    next
}
