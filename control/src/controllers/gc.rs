//! The garbage collector: deletes objects whose owners are all gone (background cascading),
//! deletes the dependents of an owner in foreground deletion and releases the owner when none
//! remain, and orphans the dependents of an owner deleted with `propagationPolicy: Orphan`.
//!
//! Each pass reads every object and decides from that snapshot alone ([`plan`], a pure
//! function); the driver then performs the actions. An action that races with another writer
//! fails harmlessly and the next pass sees the new state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use shoal_manifests::registry::{KINDS, KindInfo};

use crate::api::ApiError;
use crate::api::resources::{
    Change, DeleteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation, Resources,
    WriteOptions, finalizers, is_deleting,
};
use crate::store::Consistency;

const MANAGER: &str = "shoal-garbage-collector";

/// One object of the snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: &'static KindInfo,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) owners: Vec<String>,
    pub(crate) deleting: bool,
    pub(crate) finalizers: Vec<String>,
}

impl Node {
    fn from_value(kind: &'static KindInfo, value: &Value) -> Option<Node> {
        let meta = value.get("metadata")?;
        let text = |key: &str| {
            meta.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Some(Node {
            kind,
            namespace: text("namespace"),
            name: text("name"),
            uid: text("uid"),
            owners: meta
                .get("ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            deleting: is_deleting(value),
            finalizers: finalizers(value).into_iter().map(str::to_owned).collect(),
        })
    }
}

/// What a pass does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Delete the object at `index` with this propagation.
    Delete(usize, Propagation),
    /// Remove these owner uids from the object's ownerReferences.
    DropOwners(usize, BTreeSet<String>),
    /// Remove this finalizer: the object's dependents are handled.
    Release(usize, &'static str),
}

/// Decides the pass over a snapshot of every object.
pub(crate) fn plan(nodes: &[Node]) -> Vec<Action> {
    let by_uid: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.uid.as_str(), n)).collect();
    let mut dependents: BTreeMap<String, usize> = BTreeMap::new();
    let mut actions = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        if node.owners.is_empty() {
            continue;
        }
        let mut absent = BTreeSet::new();
        let mut orphaned = BTreeSet::new();
        let mut foreground = false;
        for owner in &node.owners {
            match by_uid.get(owner.as_str()) {
                None => {
                    absent.insert(owner.clone());
                }
                Some(o) if o.deleting && o.finalizers.iter().any(|f| f == ORPHAN_FINALIZER) => {
                    orphaned.insert(owner.clone());
                }
                Some(o) => {
                    if o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                        foreground = true;
                    }
                    *dependents.entry(o.uid.clone()).or_default() += 1;
                }
            }
        }
        for owner in &orphaned {
            *dependents.entry(owner.clone()).or_default() += 1;
        }
        let live_owners = node.owners.len() - absent.len() - orphaned.len();
        if !orphaned.is_empty() {
            actions.push(Action::DropOwners(
                index,
                orphaned.union(&absent).cloned().collect(),
            ));
        } else if live_owners == 0 {
            if !node.deleting {
                actions.push(Action::Delete(index, Propagation::Background));
            }
        } else if foreground && !node.deleting {
            actions.push(Action::Delete(index, Propagation::Foreground));
        } else if !absent.is_empty() {
            actions.push(Action::DropOwners(index, absent));
        }
    }
    for (index, node) in nodes.iter().enumerate() {
        if !node.deleting || dependents.contains_key(&node.uid) {
            continue;
        }
        for finalizer in [FOREGROUND_FINALIZER, ORPHAN_FINALIZER] {
            if node.finalizers.iter().any(|f| f == finalizer) {
                actions.push(Action::Release(index, finalizer));
            }
        }
    }
    actions
}

/// Reads every object of every kind.
pub(crate) async fn snapshot(resources: &Resources) -> Result<Vec<Node>, ApiError> {
    let mut nodes = Vec::new();
    for kind in KINDS {
        let listed = resources
            .list(kind, None, 0, None, Consistency::Local, |_| true)
            .await?;
        nodes.extend(
            listed
                .items
                .iter()
                .filter_map(|v| Node::from_value(kind, v)),
        );
    }
    Ok(nodes)
}

/// One garbage-collection pass.
pub(crate) async fn reconcile(resources: Arc<Resources>) -> Result<(), ApiError> {
    let nodes = snapshot(&resources).await?;
    let options = WriteOptions::controller(MANAGER);
    for action in plan(&nodes) {
        let result = match &action {
            Action::Delete(index, propagation) => {
                let node = &nodes[*index];
                tracing::debug!(kind = node.kind.kind, namespace = %node.namespace, name = %node.name, "deleting a dependent");
                let delete = DeleteOptions {
                    propagation: *propagation,
                    uid: Some(node.uid.clone()),
                    ..DeleteOptions::default()
                };
                resources
                    .delete(node.kind, &node.namespace, &node.name, &delete)
                    .await
                    .map(|_| ())
            }
            Action::DropOwners(index, owners) => {
                let node = &nodes[*index];
                resources
                    .modify(
                        node.kind,
                        &node.namespace,
                        &node.name,
                        None,
                        &options,
                        |current| {
                            let mut next = current.clone();
                            if let Some(meta) =
                                next.get_mut("metadata").and_then(Value::as_object_mut)
                            {
                                let refs = meta
                                    .get_mut("ownerReferences")
                                    .and_then(Value::as_array_mut);
                                let empty = refs.is_some_and(|refs| {
                                    refs.retain(|r| {
                                        !r.get("uid")
                                            .and_then(Value::as_str)
                                            .is_some_and(|uid| owners.contains(uid))
                                    });
                                    refs.is_empty()
                                });
                                if empty {
                                    meta.remove("ownerReferences");
                                }
                            }
                            Ok(Change::Replace(next))
                        },
                    )
                    .await
                    .map(|_| ())
            }
            Action::Release(index, finalizer) => {
                let node = &nodes[*index];
                tracing::debug!(kind = node.kind.kind, name = %node.name, finalizer, "dependents handled; releasing the owner");
                resources
                    .modify(
                        node.kind,
                        &node.namespace,
                        &node.name,
                        None,
                        &options,
                        |current| {
                            let mut next = current.clone();
                            if let Some(list) = next
                                .pointer_mut("/metadata/finalizers")
                                .and_then(Value::as_array_mut)
                            {
                                list.retain(|f| f != finalizer);
                            }
                            Ok(Change::Replace(next))
                        },
                    )
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_manifests::registry::resolve;

    fn node(kind: &str, name: &str, uid: &str, owners: &[&str]) -> Node {
        Node {
            kind: resolve(kind).unwrap(),
            namespace: "default".into(),
            name: name.into(),
            uid: uid.into(),
            owners: owners.iter().map(|s| (*s).to_owned()).collect(),
            deleting: false,
            finalizers: Vec::new(),
        }
    }

    fn deleting(mut n: Node, finalizer: &str) -> Node {
        n.deleting = true;
        n.finalizers.push(finalizer.to_owned());
        n
    }

    #[test]
    fn orphans_of_a_vanished_owner_are_deleted() {
        let nodes = [
            node("rs", "web-1", "rs1", &["d1"]),
            node("po", "web-1-a", "p1", &["rs1"]),
        ];
        assert_eq!(
            plan(&nodes),
            vec![Action::Delete(0, Propagation::Background)]
        );
    }

    #[test]
    fn living_owners_keep_their_dependents() {
        let nodes = [
            node("deploy", "web", "d1", &[]),
            node("rs", "web-1", "rs1", &["d1"]),
            node("po", "shared", "p1", &["rs1", "gone"]),
        ];
        let mut expected = BTreeSet::new();
        expected.insert("gone".to_owned());
        assert_eq!(plan(&nodes), vec![Action::DropOwners(2, expected)]);
    }

    #[test]
    fn foreground_deletes_dependents_first_then_releases_the_owner() {
        let owner = deleting(node("deploy", "web", "d1", &[]), FOREGROUND_FINALIZER);
        let nodes = [owner.clone(), node("rs", "web-1", "rs1", &["d1"])];
        assert_eq!(
            plan(&nodes),
            vec![Action::Delete(1, Propagation::Foreground)]
        );
        assert_eq!(
            plan(&[owner]),
            vec![Action::Release(0, FOREGROUND_FINALIZER)]
        );
    }

    #[test]
    fn orphan_deletion_strips_the_reference_then_releases() {
        let owner = deleting(node("deploy", "web", "d1", &[]), ORPHAN_FINALIZER);
        let nodes = [owner.clone(), node("rs", "web-1", "rs1", &["d1"])];
        let mut refs = BTreeSet::new();
        refs.insert("d1".to_owned());
        assert_eq!(plan(&nodes), vec![Action::DropOwners(1, refs)]);
        assert_eq!(
            plan(&[owner, node("rs", "web-1", "rs1", &[])]),
            vec![Action::Release(0, ORPHAN_FINALIZER)]
        );
    }
}
