//! The bootstrap policy, created at startup as kube-apiserver creates its own: `cluster-admin`
//! for `system:masters`, discovery and basic-user access for every authenticated user, and the
//! user-facing `admin`, `edit` and `view` roles to bind in namespaces.
//!
//! `admin`, `edit` and `view` carry their rules explicitly, over the kinds Shoal serves (in
//! Kubernetes they aggregate `system:aggregate-to-*` roles; Shoal ignores aggregation). An
//! object that exists already is left as it is: the policy is not reconciled into it.

use std::time::Duration;

use serde_json::{Value, json};
use shoal_manifests::registry::{self, KindInfo};
use tokio_util::sync::CancellationToken;

use super::RBAC_GROUP;
use crate::api::auth::{AUTHENTICATED_GROUP, BOOTSTRAPPERS_GROUP, MASTERS_GROUP, NODES_GROUP};
use crate::api::error::ApiError;
use crate::api::resources::{Resources, WriteOptions};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// Creates the bootstrap ClusterRoles and ClusterRoleBindings that do not exist yet, retrying
/// while the cluster has no leader, until `cancel`.
pub(crate) async fn bootstrap(resources: &Resources, cancel: &CancellationToken) {
    let objects = cluster_roles()
        .into_iter()
        .map(|role| ("ClusterRole", role))
        .chain(
            cluster_role_bindings()
                .into_iter()
                .map(|binding| ("ClusterRoleBinding", binding)),
        );
    for (kind, object) in objects {
        let Some(info) = kind_info(kind) else {
            tracing::warn!(kind, "the registry has no such RBAC kind");
            continue;
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        loop {
            let created = resources
                .create(
                    info,
                    None,
                    object.clone(),
                    &WriteOptions::controller("shoal-apiserver"),
                )
                .await;
            match created {
                Ok(_) => {
                    tracing::info!(kind, name, "created bootstrap RBAC policy");
                    break;
                }
                Err(ApiError::AlreadyExists { .. }) => break,
                Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => {
                    tracing::debug!(error = %error, kind, name, "creating bootstrap RBAC policy; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, kind, name, "bootstrap RBAC policy refused");
                    break;
                }
            }
        }
    }
}

fn kind_info(kind: &str) -> Option<&'static KindInfo> {
    registry::by_api_version_kind(&format!("{RBAC_GROUP}/v1"), kind)
}

/// The bootstrap ClusterRoles, in API form.
pub(super) fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            vec![
                resource_rule(&["*"], &["*"], &["*"]),
                url_rule(&["*"], &["*"]),
            ],
        ),
        cluster_role(
            "system:discovery",
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    // Where kubectl ≤ 1.28 looks for OpenAPI v2 after `/openapi/v2`.
                    "/swagger-2.0.0.pb-v1",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            vec![
                resource_rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                resource_rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        cluster_role("system:node", node_rules()),
        cluster_role("admin", admin_rules()),
        cluster_role("edit", edit_rules()),
        cluster_role("view", view_rules()),
    ]
}

/// The bootstrap ClusterRoleBindings, in API form.
pub(super) fn cluster_role_bindings() -> Vec<Value> {
    vec![
        cluster_role_binding("cluster-admin", &[MASTERS_GROUP]),
        cluster_role_binding("system:discovery", &[AUTHENTICATED_GROUP]),
        cluster_role_binding("system:basic-user", &[AUTHENTICATED_GROUP]),
        // Agents join with a join token and act as their node with it.
        cluster_role_binding("system:node", &[BOOTSTRAPPERS_GROUP, NODES_GROUP]),
        cluster_role_binding(
            "system:public-info-viewer",
            &[AUTHENTICATED_GROUP, "system:unauthenticated"],
        ),
    ]
}

/// What an agent needs: its Node and Lease, the pods bound to it and their status, events,
/// and reading what its pods and service proxy refer to.
fn node_rules() -> Vec<Value> {
    vec![
        resource_rule(
            &["get", "list", "watch", "create", "update", "patch"],
            &[""],
            &["nodes", "nodes/status"],
        ),
        resource_rule(&["get", "list", "watch"], &[""], &["pods"]),
        resource_rule(&["delete"], &[""], &["pods"]),
        resource_rule(&["update", "patch"], &[""], &["pods/status"]),
        resource_rule(&["create", "update", "patch"], &[""], &["events"]),
        resource_rule(
            &["get", "list", "watch"],
            &[""],
            &[
                "services",
                "endpoints",
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
            ],
        ),
        resource_rule(
            &["get", "list", "watch"],
            &["discovery.k8s.io"],
            &["endpointslices"],
        ),
        resource_rule(
            &["get", "create", "update", "patch", "delete"],
            &["coordination.k8s.io"],
            &["leases"],
        ),
    ]
}

/// `view`: read-only access to what a namespace holds, except Secrets (reading them would
/// reveal credentials that grant more) and RBAC.
fn view_rules() -> Vec<Value> {
    vec![
        resource_rule(
            READ,
            &[""],
            &[
                "pods",
                "pods/log",
                "pods/status",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
                "serviceaccounts",
                "events",
                "namespaces/status",
            ],
        ),
        // Reading namespaces through a RoleBinding reads the binding's own namespace.
        resource_rule(READ, &[""], &["namespaces"]),
        resource_rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        resource_rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        resource_rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        resource_rule(
            READ,
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        ),
    ]
}

/// `edit`: `view`, plus writing the workloads and their configuration (Secrets included), and
/// exec, attach and port-forward into pods. Not RBAC, status or leases.
fn edit_rules() -> Vec<Value> {
    let mut rules = view_rules();
    rules.extend([
        resource_rule(
            READ,
            &[""],
            &["pods/attach", "pods/exec", "pods/portforward", "secrets"],
        ),
        resource_rule(
            WRITE,
            &[""],
            &["pods", "pods/attach", "pods/exec", "pods/portforward"],
        ),
        resource_rule(&["create"], &[""], &["pods/eviction"]),
        resource_rule(
            WRITE,
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "secrets",
                "serviceaccounts",
                "services",
            ],
        ),
        resource_rule(
            WRITE,
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        resource_rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        resource_rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
    ]);
    rules
}

/// `admin`: `edit`, plus Roles and RoleBindings, so a namespace's admin can grant access to it.
fn admin_rules() -> Vec<Value> {
    let mut rules = edit_rules();
    rules.extend([
        resource_rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
        ),
        resource_rule(READ_WRITE, &[RBAC_GROUP], &["rolebindings", "roles"]),
    ]);
    rules
}

fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": format!("{RBAC_GROUP}/v1"),
        "kind": "ClusterRole",
        "metadata": metadata(name),
        "rules": rules,
    })
}

fn cluster_role_binding(role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|group| json!({"apiGroup": RBAC_GROUP, "kind": "Group", "name": group}))
        .collect();
    json!({
        "apiVersion": format!("{RBAC_GROUP}/v1"),
        "kind": "ClusterRoleBinding",
        "metadata": metadata(role),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn resource_rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}
