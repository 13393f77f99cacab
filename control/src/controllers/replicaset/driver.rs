//! The ReplicaSet controller's driver: one pass reads every ReplicaSet and pod, lets
//! [`plan`](super::plan) and [`status`](super::status) decide for each ReplicaSet, and
//! performs the result. A write that loses a race is dropped; the next pass sees the new state.

use std::sync::Arc;

use serde_json::Value;
use shoal_manifests::k8s_openapi::api::apps::v1::ReplicaSet;
use shoal_manifests::k8s_openapi::api::core::v1::Pod;
use shoal_manifests::registry::{KindInfo, Subresource};
use tracing::Instrument as _;

use super::{Action, Failure, plan, status};
use crate::api::ApiError;
use crate::api::resources::{Change, DeleteOptions, Resources, WriteOptions};
use crate::controllers::claim::{self, by_namespace, is_race, kind, list_all};

const MANAGER: &str = "replicaset-controller";

/// One pass over every ReplicaSet.
pub(crate) async fn reconcile(resources: Arc<Resources>) -> Result<(), ApiError> {
    let sets_kind = kind("apps", "replicasets")?;
    let pods_kind = kind("", "pods")?;
    let sets: Vec<ReplicaSet> = list_all(&resources, sets_kind).await?;
    if sets.is_empty() {
        return Ok(());
    }
    let pods = by_namespace(list_all::<Pod>(&resources, pods_kind).await?, |p| {
        p.metadata.namespace.as_ref()
    });
    let now = claim::now();
    for rs in &sets {
        let namespace = rs.metadata.namespace.clone().unwrap_or_default();
        let name = rs.metadata.name.clone().unwrap_or_default();
        let pods = pods.get(&namespace).map_or(&[][..], Vec::as_slice);
        let span = tracing::debug_span!("replicaset", namespace = %namespace, name = %name);
        let synced = sync(&resources, sets_kind, pods_kind, rs, pods, now)
            .instrument(span)
            .await;
        if let Err(error) = synced {
            tracing::warn!(namespace = %namespace, name = %name, error = %error, "replicaset sync failed");
        }
    }
    Ok(())
}

/// Performs one ReplicaSet's plan, then writes its status if it changed.
async fn sync(
    resources: &Resources,
    sets_kind: &'static KindInfo,
    pods_kind: &'static KindInfo,
    rs: &ReplicaSet,
    pods: &[Pod],
    now: shoal_manifests::k8s_openapi::jiff::Timestamp,
) -> Result<(), ApiError> {
    let options = WriteOptions::controller(MANAGER);
    let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
    let name = rs.metadata.name.as_deref().unwrap_or_default();
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let mut failure = None;
    for action in plan(rs, pods) {
        let result = match &action {
            Action::Adopt { pod, uid: pod_uid } => {
                let owner = claim::controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
                claim::adopt(
                    resources, pods_kind, namespace, pod, pod_uid, &owner, &options,
                )
                .await
            }
            Action::Release { pod, uid: pod_uid } => {
                claim::release(resources, pods_kind, namespace, pod, pod_uid, uid, &options).await
            }
            Action::Create(pod) => {
                let body =
                    serde_json::to_value(pod).map_err(|e| ApiError::Internal(e.to_string()))?;
                resources
                    .create(pods_kind, Some(namespace), body, &options)
                    .await
                    .map(|written| {
                        let created = written
                            .object
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        tracing::debug!(pod = created, "created a pod");
                    })
            }
            Action::Delete { pod, uid: pod_uid } => {
                tracing::debug!(pod = %pod, "deleting a surplus pod");
                let delete = DeleteOptions {
                    uid: Some(pod_uid.clone()),
                    ..DeleteOptions::default()
                };
                resources
                    .delete(pods_kind, namespace, pod, &delete)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => {}
            Err(error) if is_race(&error) => {}
            Err(error) => match action {
                Action::Create(_) | Action::Delete { .. } => {
                    // As the slow-start batches do: stop at the first failure and report it.
                    failure = Some(Failure(error.to_string()));
                    break;
                }
                Action::Adopt { .. } | Action::Release { .. } => return Err(error),
            },
        }
    }
    let next = status(rs, pods, now, failure.as_ref());
    if rs.status.clone().unwrap_or_default() == next {
        return Ok(());
    }
    let body = serde_json::to_value(&next).map_err(|e| ApiError::Internal(e.to_string()))?;
    let written = resources
        .modify(
            sets_kind,
            namespace,
            name,
            Some(Subresource::Status),
            &options,
            |current| {
                if current.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
                    return Err(ApiError::NotFound {
                        resource: sets_kind.qualified_plural(),
                        name: name.to_owned(),
                    });
                }
                let mut updated = current.clone();
                updated["status"] = body.clone();
                Ok(Change::Replace(updated))
            },
        )
        .await;
    match written {
        Ok(_) => Ok(()),
        Err(error) if is_race(&error) => Ok(()),
        Err(error) => Err(error),
    }
}
