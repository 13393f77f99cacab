//! The namespace controller: a namespace being deleted (phase `Terminating`) has everything in
//! it deleted, and once nothing is left, the namespace itself goes.

use std::sync::Arc;

use serde_json::Value;
use shoal_manifests::registry::KINDS;

use crate::api::ApiError;
use crate::api::resources::{Change, DeleteOptions, Resources, WriteOptions, is_deleting};
use crate::store::Consistency;

const MANAGER: &str = "shoal-namespace-controller";

/// One pass over the terminating namespaces.
pub(crate) async fn reconcile(resources: Arc<Resources>) -> Result<(), ApiError> {
    let Some(namespaces) = shoal_manifests::registry::resolve("namespaces") else {
        return Ok(());
    };
    let listed = resources
        .list(namespaces, None, 0, None, Consistency::Local, is_deleting)
        .await?;
    for namespace in listed.items {
        let name = namespace
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut remaining = 0;
        for kind in KINDS.iter().filter(|k| k.namespaced) {
            let contents = resources
                .list(kind, Some(&name), 0, None, Consistency::Local, |_| true)
                .await?;
            remaining += contents.items.len();
            for object in contents.items.iter().filter(|o| !is_deleting(o)) {
                let object_name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match resources
                    .delete(kind, &name, object_name, &DeleteOptions::default())
                    .await
                {
                    Ok(_) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        if remaining == 0 {
            tracing::info!(namespace = %name, "namespace empty: removing it");
            let options = WriteOptions::controller(MANAGER);
            let removed = resources
                .modify(namespaces, "", &name, None, &options, |current| {
                    let mut next = current.clone();
                    next["spec"]["finalizers"] = Value::Array(Vec::new());
                    if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.remove("finalizers");
                    }
                    Ok(Change::Replace(next))
                })
                .await;
            match removed {
                Ok(_) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}
