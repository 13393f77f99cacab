//! Node controllers: pod address ranges (each node gets its own `spec.podCIDR`, as
//! kube-controller-manager's node IPAM does) and node lifecycle (a node whose Lease stops
//! being renewed turns `Ready=Unknown` and is tainted unreachable; after the eviction timeout
//! its pods are deleted so their controllers replace them elsewhere).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shoal_manifests::registry::Subresource;
use tokio_util::sync::CancellationToken;

use crate::api::ApiError;
use crate::api::resources::{
    Change, DeleteOptions, Resources, WriteOptions, is_deleting, now_rfc3339,
};
use crate::store::Consistency;

const MANAGER: &str = "shoal-node-controller";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// The node lifecycle's timing; `shoal up` shortens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLifecycle {
    /// How long a Lease may go unrenewed before the node is `Ready=Unknown` (Kubernetes' 40 s
    /// `node-monitor-grace-period`).
    pub grace: Duration,
    /// How long pods stay on an unreachable node before they are evicted (Kubernetes' 300 s
    /// default toleration of the unreachable taint).
    pub eviction_timeout: Duration,
    /// How often the controller looks.
    pub period: Duration,
}

impl Default for NodeLifecycle {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(40),
            eviction_timeout: Duration::from_secs(300),
            period: Duration::from_secs(5),
        }
    }
}

/// The cluster's pod network: node `n` gets `10.244.n.0/24`.
const POD_NETWORK: [u8; 2] = [10, 244];

/// One pass: every node without a pod range gets the lowest free one.
pub(crate) async fn assign_pod_cidrs(resources: Arc<Resources>) -> Result<(), ApiError> {
    let Some(nodes) = shoal_manifests::registry::resolve("nodes") else {
        return Ok(());
    };
    let listed = resources
        .list(nodes, None, 0, None, Consistency::Local, |_| true)
        .await?;
    let mut used: HashSet<String> = listed
        .items
        .iter()
        .filter_map(|n| n.pointer("/spec/podCIDR").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    for node in &listed.items {
        if node
            .pointer("/spec/podCIDR")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty())
        {
            continue;
        }
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(cidr) = (0..=255u8)
            .map(|n| format!("{}.{}.{n}.0/24", POD_NETWORK[0], POD_NETWORK[1]))
            .find(|c| !used.contains(c))
        else {
            tracing::warn!(node = name, "no pod CIDR left for the node");
            continue;
        };
        let written = resources
            .modify(
                nodes,
                "",
                name,
                None,
                &WriteOptions::controller(MANAGER),
                |current| {
                    let mut next = current.clone();
                    if next.pointer("/spec/podCIDR").is_some() {
                        return Ok(Change::Replace(next));
                    }
                    next["spec"]["podCIDR"] = Value::from(cidr.clone());
                    next["spec"]["podCIDRs"] = json!([cidr]);
                    Ok(Change::Replace(next))
                },
            )
            .await;
        match written {
            Ok(_) => {
                tracing::info!(node = name, pod_cidr = %cidr, "assigned the node's pod CIDR");
                used.insert(cidr);
            }
            Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// What the lifecycle controller saw of a node's heartbeat.
#[derive(Debug)]
struct Heartbeat {
    /// The Lease's renew time as last read.
    renewed: String,
    /// When this controller saw it change (its own clock, so skew between machines is moot).
    seen: Instant,
    /// When the node was found unreachable.
    unreachable_since: Option<Instant>,
}

/// Watches every node's Lease until `cancel`, every `config.period`.
pub(crate) async fn lifecycle(
    resources: Arc<Resources>,
    config: NodeLifecycle,
    cancel: CancellationToken,
) {
    let mut beats: HashMap<String, Heartbeat> = HashMap::new();
    loop {
        if let Err(error) = lifecycle_pass(&resources, config, &mut beats).await {
            tracing::warn!(controller = "node lifecycle", %error, "pass failed");
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(config.period) => {}
        }
    }
}

async fn lifecycle_pass(
    resources: &Resources,
    config: NodeLifecycle,
    beats: &mut HashMap<String, Heartbeat>,
) -> Result<(), ApiError> {
    let (Some(nodes), Some(leases), Some(pods)) = (
        shoal_manifests::registry::resolve("nodes"),
        shoal_manifests::registry::by_resource("coordination.k8s.io", "v1", "leases"),
        shoal_manifests::registry::resolve("pods"),
    ) else {
        return Ok(());
    };
    let listed = resources
        .list(nodes, None, 0, None, Consistency::Local, |_| true)
        .await?;
    let renewals: HashMap<String, String> = resources
        .list(
            leases,
            Some("kube-node-lease"),
            0,
            None,
            Consistency::Local,
            |_| true,
        )
        .await?
        .items
        .iter()
        .filter_map(|lease| {
            let name = lease.pointer("/metadata/name")?.as_str()?.to_owned();
            let renewed = lease.pointer("/spec/renewTime")?.as_str()?.to_owned();
            Some((name, renewed))
        })
        .collect();
    let now = Instant::now();
    let names: HashSet<String> = listed
        .items
        .iter()
        .filter_map(|n| n.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    beats.retain(|name, _| names.contains(name));
    for node in &listed.items {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let renewed = renewals.get(name).cloned().unwrap_or_default();
        let beat = beats.entry(name.to_owned()).or_insert_with(|| Heartbeat {
            renewed: renewed.clone(),
            seen: now,
            unreachable_since: None,
        });
        if beat.renewed != renewed {
            beat.renewed = renewed;
            beat.seen = now;
        }
        let silent = now.duration_since(beat.seen) > config.grace;
        let marked = ready_status(node) == Some("Unknown");
        if silent {
            if !marked || !has_unreachable_taint(node) {
                tracing::warn!(
                    node = name,
                    "node stopped renewing its lease: marking it unreachable"
                );
                mark_unreachable(resources, nodes, name).await?;
            }
            let since = *beat.unreachable_since.get_or_insert(now);
            evict(
                resources,
                pods,
                name,
                now.duration_since(since),
                config.eviction_timeout,
            )
            .await?;
        } else {
            beat.unreachable_since = None;
            if has_unreachable_taint(node) && ready_status(node) == Some("True") {
                tracing::info!(node = name, "node is back: removing the unreachable taint");
                set_unreachable_taints(resources, nodes, name, false).await?;
            }
        }
    }
    Ok(())
}

fn ready_status(node: &Value) -> Option<&str> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?
        .get("status")?
        .as_str()
}

fn has_unreachable_taint(node: &Value) -> bool {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_some_and(|t| {
            t.iter()
                .any(|t| t.get("key").and_then(Value::as_str) == Some(UNREACHABLE))
        })
}

async fn mark_unreachable(
    resources: &Resources,
    nodes: &'static shoal_manifests::KindInfo,
    name: &str,
) -> Result<(), ApiError> {
    let options = WriteOptions::controller(MANAGER);
    let now = now_rfc3339();
    let written = resources
        .modify(
            nodes,
            "",
            name,
            Some(Subresource::Status),
            &options,
            |current| {
                let mut next = current.clone();
                let conditions = next["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut updated: Vec<Value> = conditions
                    .into_iter()
                    .filter(|c| c.get("type").and_then(Value::as_str) != Some("Ready"))
                    .collect();
                updated.push(json!({
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
                "lastHeartbeatTime": current.pointer("/status/conditions").and_then(Value::as_array)
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                    .and_then(|c| c.get("lastHeartbeatTime").cloned())
                    .unwrap_or(Value::Null),
                "lastTransitionTime": now,
            }));
                next["status"]["conditions"] = Value::Array(updated);
                Ok(Change::Replace(next))
            },
        )
        .await;
    match written {
        Ok(_) | Err(ApiError::NotFound { .. }) => {}
        Err(error) => return Err(error),
    }
    set_unreachable_taints(resources, nodes, name, true).await
}

async fn set_unreachable_taints(
    resources: &Resources,
    nodes: &'static shoal_manifests::KindInfo,
    name: &str,
    present: bool,
) -> Result<(), ApiError> {
    let options = WriteOptions::controller(MANAGER);
    let now = now_rfc3339();
    let written = resources
        .modify(nodes, "", name, None, &options, |current| {
            let mut next = current.clone();
            let mut taints: Vec<Value> = next
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t.get("key").and_then(Value::as_str) != Some(UNREACHABLE))
                .collect();
            if present {
                for effect in ["NoSchedule", "NoExecute"] {
                    taints.push(json!({"key": UNREACHABLE, "effect": effect, "timeAdded": now}));
                }
            }
            if taints.is_empty() {
                if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("taints");
                }
            } else {
                next["spec"]["taints"] = Value::Array(taints);
            }
            Ok(Change::Replace(next))
        })
        .await;
    match written {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Deletes the pods of an unreachable node whose toleration of the unreachable taint ran
/// out; pods already being deleted there are removed at once, since no agent will confirm.
async fn evict(
    resources: &Resources,
    pods: &'static shoal_manifests::KindInfo,
    node: &str,
    unreachable_for: Duration,
    default_timeout: Duration,
) -> Result<(), ApiError> {
    let listed = resources
        .list(pods, None, 0, None, Consistency::Local, |pod| {
            pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
        })
        .await?;
    for pod in listed.items {
        let namespace = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let deleting = is_deleting(&pod);
        let timeout = match toleration_seconds(&pod) {
            Tolerates::Forever => continue,
            Tolerates::For(seconds) => Duration::from_secs(seconds),
            Tolerates::Default => default_timeout,
        };
        if !deleting && unreachable_for < timeout {
            continue;
        }
        let options = DeleteOptions {
            grace_period_seconds: Some(0),
            uid: pod
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..DeleteOptions::default()
        };
        if !deleting {
            tracing::warn!(node, pod = %format!("{namespace}/{name}"), "evicting a pod from an unreachable node");
        }
        match resources.delete(pods, namespace, name, &options).await {
            Ok(_) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

enum Tolerates {
    Forever,
    For(u64),
    Default,
}

/// How long a pod tolerates the unreachable `NoExecute` taint.
fn toleration_seconds(pod: &Value) -> Tolerates {
    let tolerations = pod.pointer("/spec/tolerations").and_then(Value::as_array);
    for toleration in tolerations.into_iter().flatten() {
        let key = toleration.get("key").and_then(Value::as_str);
        let operator = toleration
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("Equal");
        let effect = toleration
            .get("effect")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key_matches = key == Some(UNREACHABLE) || (key.is_none() && operator == "Exists");
        if key_matches && (effect.is_empty() || effect == "NoExecute") {
            return match toleration.get("tolerationSeconds").and_then(Value::as_i64) {
                Some(seconds) => Tolerates::For(u64::try_from(seconds).unwrap_or(0)),
                None => Tolerates::Forever,
            };
        }
    }
    Tolerates::Default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_of_the_unreachable_taint() {
        let pod = |tolerations: Value| json!({"spec": {"tolerations": tolerations}});
        assert!(matches!(
            toleration_seconds(&json!({"spec": {}})),
            Tolerates::Default
        ));
        assert!(matches!(
            toleration_seconds(&pod(
                json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 7}])
            )),
            Tolerates::For(7)
        ));
        assert!(matches!(
            toleration_seconds(&pod(json!([{"operator": "Exists"}]))),
            Tolerates::Forever
        ));
        assert!(matches!(
            toleration_seconds(&pod(json!([{"key": UNREACHABLE, "effect": "NoSchedule"}]))),
            Tolerates::Default
        ));
    }

    #[test]
    fn ready_and_taints_are_read_from_the_node() {
        let node = json!({
            "spec": {"taints": [{"key": UNREACHABLE, "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
        });
        assert_eq!(ready_status(&node), Some("Unknown"));
        assert!(has_unreachable_taint(&node));
        assert!(!has_unreachable_taint(&json!({"spec": {}})));
    }
}
