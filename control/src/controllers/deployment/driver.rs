//! The Deployment controller's driver: one pass reads every Deployment, ReplicaSet and pod,
//! lets [`plan`](super::plan) decide for each Deployment, and performs the writes in order.
//! Writes to a ReplicaSet or the Deployment carry the snapshot's `resourceVersion`, so a
//! decision never lands on an object that changed since it was read; a write that loses such
//! a race ends that Deployment's pass, and the change that won wakes the next one.

use std::sync::Arc;

use serde_json::Value;
use shoal_manifests::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use shoal_manifests::k8s_openapi::api::core::v1::Pod;
use shoal_manifests::k8s_openapi::jiff::Timestamp;
use shoal_manifests::registry::{KindInfo, Subresource};
use tracing::Instrument as _;

use super::{Action, REVISION, plan, status};
use crate::api::ApiError;
use crate::api::resources::{Change, DeleteOptions, Resources, WriteOptions, resource_version};
use crate::controllers::claim::{self, by_namespace, is_race, kind, list_all};

const MANAGER: &str = "deployment-controller";

/// The kinds a pass touches.
#[derive(Debug, Clone, Copy)]
struct Kinds {
    deployments: &'static KindInfo,
    sets: &'static KindInfo,
}

/// One pass over every Deployment.
pub(crate) async fn reconcile(resources: Arc<Resources>) -> Result<(), ApiError> {
    let kinds = Kinds {
        deployments: kind("apps", "deployments")?,
        sets: kind("apps", "replicasets")?,
    };
    let deployments: Vec<Deployment> = list_all(&resources, kinds.deployments).await?;
    if deployments.is_empty() {
        return Ok(());
    }
    let sets = by_namespace(list_all::<ReplicaSet>(&resources, kinds.sets).await?, |r| {
        r.metadata.namespace.as_ref()
    });
    let pods = by_namespace(list_all::<Pod>(&resources, kind("", "pods")?).await?, |p| {
        p.metadata.namespace.as_ref()
    });
    let now = claim::now();
    for d in &deployments {
        let namespace = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        let sets = sets.get(&namespace).map_or(&[][..], Vec::as_slice);
        let pods = pods.get(&namespace).map_or(&[][..], Vec::as_slice);
        let actions = plan(d, sets, pods, now);
        if actions.is_empty() {
            continue;
        }
        let span = tracing::debug_span!("deployment", namespace = %namespace, name = %name);
        let performed = perform(&resources, kinds, d, sets, actions, now)
            .instrument(span)
            .await;
        if let Err(error) = performed {
            tracing::warn!(namespace = %namespace, name = %name, error = %error, "deployment sync failed");
        }
    }
    Ok(())
}

fn to_value<T: serde::Serialize>(object: &T) -> Result<Value, ApiError> {
    serde_json::to_value(object).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Performs one Deployment's writes in order, stopping at the first lost race.
async fn perform(
    resources: &Resources,
    kinds: Kinds,
    d: &Deployment,
    sets: &[ReplicaSet],
    actions: Vec<Action>,
    now: Timestamp,
) -> Result<(), ApiError> {
    let options = WriteOptions::controller(MANAGER);
    let namespace = d.metadata.namespace.as_deref().unwrap_or_default();
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let uid = d.metadata.uid.as_deref().unwrap_or_default();
    // The Deployment's resourceVersion as this pass last wrote it.
    let mut expected = d.metadata.resource_version.clone().unwrap_or_default();
    for action in actions {
        let result = match action {
            Action::Adopt {
                name: rs,
                uid: rs_uid,
            } => {
                tracing::debug!(replicaset = %rs, "adopting a replica set");
                let owner = claim::controller_ref("apps/v1", "Deployment", &d.metadata);
                claim::adopt(
                    resources, kinds.sets, namespace, &rs, &rs_uid, &owner, &options,
                )
                .await
            }
            Action::Release {
                name: rs,
                uid: rs_uid,
            } => {
                tracing::debug!(replicaset = %rs, "releasing a replica set");
                claim::release(
                    resources, kinds.sets, namespace, &rs, &rs_uid, uid, &options,
                )
                .await
            }
            Action::Create(rs) => {
                let rs_name = rs.metadata.name.clone().unwrap_or_default();
                let created = resources
                    .create(kinds.sets, Some(namespace), to_value(&rs)?, &options)
                    .await;
                match created {
                    Ok(_) => {
                        tracing::info!(
                            replicaset = %rs_name,
                            replicas = rs.spec.replicas.unwrap_or(0),
                            "created a replica set"
                        );
                        Ok(())
                    }
                    Err(error) if is_race(&error) => Err(error),
                    Err(error) => {
                        if let Some(failed) =
                            status::create_failed(d, &rs_name, &error.to_string(), now)
                        {
                            write_status(resources, kinds, d, &expected, &options, &failed).await?;
                        }
                        return Err(error);
                    }
                }
            }
            Action::Update(rs) => {
                let rs_name = rs.metadata.name.clone().unwrap_or_default();
                let before = sets
                    .iter()
                    .find(|s| s.metadata.uid == rs.metadata.uid)
                    .and_then(|s| s.spec.replicas);
                if before != rs.spec.replicas {
                    tracing::info!(
                        replicaset = %rs_name,
                        from = before.unwrap_or(0),
                        to = rs.spec.replicas.unwrap_or(0),
                        "scaling a replica set"
                    );
                }
                let body = to_value(&rs)?;
                resources
                    .modify(kinds.sets, namespace, &rs_name, None, &options, |_| {
                        Ok(Change::Replace(body.clone()))
                    })
                    .await
                    .map(|_| ())
            }
            Action::Delete {
                name: rs,
                uid: rs_uid,
            } => {
                tracing::info!(replicaset = %rs, "deleting an old replica set");
                let delete = DeleteOptions {
                    uid: Some(rs_uid),
                    ..DeleteOptions::default()
                };
                resources
                    .delete(kinds.sets, namespace, &rs, &delete)
                    .await
                    .map(|_| ())
            }
            Action::SetRevision(revision) => {
                let written = resources
                    .modify(
                        kinds.deployments,
                        namespace,
                        name,
                        None,
                        &options,
                        |current| {
                            let mut next = current.clone();
                            next["metadata"]["resourceVersion"] = Value::from(expected.as_str());
                            let annotations = &mut next["metadata"]["annotations"];
                            if !annotations.is_object() {
                                *annotations = Value::Object(serde_json::Map::new());
                            }
                            annotations[REVISION] = Value::from(revision.as_str());
                            Ok(Change::Replace(next))
                        },
                    )
                    .await;
                written.map(|w| expected = resource_version(&w.object).to_owned())
            }
            Action::Status(next) => {
                write_status(resources, kinds, d, &expected, &options, &next).await
            }
        };
        match result {
            Ok(()) => {}
            Err(error) if is_race(&error) => {
                tracing::debug!(error = %error, "lost a race; the next pass retries");
                return Ok(());
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Writes the Deployment's status through the status subresource, on the condition that the
/// Deployment is still at `expected`.
async fn write_status(
    resources: &Resources,
    kinds: Kinds,
    d: &Deployment,
    expected: &str,
    options: &WriteOptions,
    next: &shoal_manifests::k8s_openapi::api::apps::v1::DeploymentStatus,
) -> Result<(), ApiError> {
    let body = to_value(next)?;
    let namespace = d.metadata.namespace.as_deref().unwrap_or_default();
    let name = d.metadata.name.as_deref().unwrap_or_default();
    resources
        .modify(
            kinds.deployments,
            namespace,
            name,
            Some(Subresource::Status),
            options,
            |current| {
                let mut updated = current.clone();
                updated["metadata"]["resourceVersion"] = Value::from(expected);
                updated["status"] = body.clone();
                Ok(Change::Replace(updated))
            },
        )
        .await
        .map(|_| ())
}
