//! What the workload controllers share: controller references (which object controls which),
//! the claim rule of apimachinery's `ControllerRefManager` (keep what one controls and still
//! selects, adopt selected orphans, release the rest), the writes that adopt and release, and
//! the typed reads of a pass's snapshot.

use std::collections::BTreeMap;

use serde_json::Value;
use shoal_manifests::KindInfo;
use shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use shoal_manifests::k8s_openapi::jiff::Timestamp;
use shoal_manifests::registry;
use shoal_manifests::selector::LabelSelector;

use crate::api::ApiError;
use crate::api::resources::{Change, Resources, WriteOptions};
use crate::store::Consistency;

/// The owner reference that marks `meta`'s object as the controller of another object.
pub(crate) fn controller_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The owner reference with `controller: true`, if any.
pub(crate) fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Whether the object has a deletion timestamp.
pub(crate) fn deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// The object's labels (empty when it has none).
pub(crate) fn labels(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    meta.labels.as_ref().unwrap_or(&EMPTY)
}

/// What a controller does with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// It controls the object and still selects it.
    Keep,
    /// The object is a selected orphan: take it.
    Adopt,
    /// It controls the object but no longer selects it: let go.
    Release,
    /// Not this controller's business.
    Ignore,
}

/// The claim rule of `ControllerRefManager.ClaimObject`.
pub(crate) fn claim(owner: &ObjectMeta, selector: &LabelSelector, object: &ObjectMeta) -> Claim {
    let owner_uid = owner.uid.as_deref().unwrap_or_default();
    let selected = selector.matches(labels(object));
    match controller_of(object) {
        Some(r) if r.uid != owner_uid => Claim::Ignore,
        Some(_) if selected => Claim::Keep,
        Some(_) if deleting(owner) => Claim::Ignore,
        Some(_) => Claim::Release,
        None if deleting(owner) || !selected || deleting(object) => Claim::Ignore,
        None if owner.namespace.is_some() && owner.namespace != object.namespace => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// Adds the object to `object`'s owners with `controller: true`, unless something else
/// controls it by now or it is not the object the decision was about.
pub(crate) async fn adopt(
    resources: &Resources,
    kind: &'static KindInfo,
    namespace: &str,
    name: &str,
    uid: &str,
    owner: &OwnerReference,
    options: &WriteOptions,
) -> Result<(), ApiError> {
    let reference = serde_json::to_value(owner).map_err(|e| ApiError::Internal(e.to_string()))?;
    resources
        .modify(kind, namespace, name, None, options, |current| {
            let mut next = current.clone();
            if next.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
                return Err(stale(kind, name));
            }
            let refs = next["metadata"]
                .as_object_mut()
                .map(|meta| {
                    meta.entry("ownerReferences")
                        .or_insert(Value::Array(Vec::new()))
                })
                .and_then(Value::as_array_mut);
            if let Some(refs) = refs {
                if refs.iter().any(|r| r["controller"] == Value::Bool(true)) {
                    return Err(stale(kind, name));
                }
                refs.retain(|r| r["uid"] != reference["uid"]);
                refs.push(reference.clone());
            }
            Ok(Change::Replace(next))
        })
        .await
        .map(|_| ())
}

/// Removes the owner `owner_uid` from `object`'s owner references.
pub(crate) async fn release(
    resources: &Resources,
    kind: &'static KindInfo,
    namespace: &str,
    name: &str,
    uid: &str,
    owner_uid: &str,
    options: &WriteOptions,
) -> Result<(), ApiError> {
    resources
        .modify(kind, namespace, name, None, options, |current| {
            let mut next = current.clone();
            if next.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
                return Err(stale(kind, name));
            }
            if let Some(meta) = next["metadata"].as_object_mut() {
                let empty = meta
                    .get_mut("ownerReferences")
                    .and_then(Value::as_array_mut)
                    .is_some_and(|refs| {
                        refs.retain(|r| r["uid"] != owner_uid);
                        refs.is_empty()
                    });
                if empty {
                    meta.remove("ownerReferences");
                }
            }
            Ok(Change::Replace(next))
        })
        .await
        .map(|_| ())
}

fn stale(kind: &KindInfo, name: &str) -> ApiError {
    ApiError::Conflict {
        resource: kind.qualified_plural(),
        name: name.to_owned(),
        detail: "the object changed since the controller decided".to_owned(),
    }
}

/// Whether an error is a lost race that the next pass resolves: the object went, changed, or
/// was created meanwhile.
pub(crate) fn is_race(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::NotFound { .. } | ApiError::Conflict { .. } | ApiError::AlreadyExists { .. }
    )
}

/// The current time to the second, as API timestamps carry it (so a status computed now
/// equals itself after a round trip through the store).
pub(crate) fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// Decodes the typed objects of a list, skipping (and logging) any that do not decode.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(items: Vec<Value>, what: &str) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|item| match serde_json::from_value(item) {
            Ok(object) => Some(object),
            Err(error) => {
                tracing::warn!(error = %error, "a stored {what} does not decode; skipped");
                None
            }
        })
        .collect()
}

/// The registry entry of a built-in kind.
pub(crate) fn kind(group: &str, plural: &str) -> Result<&'static KindInfo, ApiError> {
    registry::by_resource(group, "v1", plural)
        .ok_or_else(|| ApiError::Internal(format!("the kind registry has no {plural}")))
}

/// Lists every object of a kind, decoded.
pub(crate) async fn list_all<T: serde::de::DeserializeOwned>(
    resources: &Resources,
    kind: &'static KindInfo,
) -> Result<Vec<T>, ApiError> {
    let listed = resources
        .list(kind, None, 0, None, Consistency::Local, |_| true)
        .await?;
    Ok(decode(listed.items, kind.kind))
}

/// Groups objects by namespace.
pub(crate) fn by_namespace<T>(
    items: Vec<T>,
    meta: impl Fn(&T) -> Option<&String>,
) -> BTreeMap<String, Vec<T>> {
    let mut grouped: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for item in items {
        let namespace = meta(&item).cloned().unwrap_or_default();
        grouped.entry(namespace).or_default().push(item);
    }
    grouped
}
