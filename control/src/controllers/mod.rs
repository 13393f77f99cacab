//! Controllers that run on the Raft leader only: each reconciles current state level-triggered
//! and idempotently, woken by a watch on the store and by a periodic resync, and is cancelled
//! the moment this node stops leading.
//!
//! Today: the garbage collector (owner references, foreground and orphan deletion), the
//! namespace controller (deleting a namespace's contents, then the namespace), and the
//! ReplicaSet and Deployment controllers (pods from templates, rollouts), and the node
//! controllers (pod address ranges, lifecycle from Leases).

mod claim;
mod deployment;
mod endpoints;
mod gc;
mod namespace;
mod nodes;
mod replicaset;

pub use nodes::NodeLifecycle;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::resources::Resources;
use crate::scheduler;
use crate::store::{EventKind, KeyPrefix, LeaderWatch, StoreError, WatchEvent, Watcher};

/// How long changes are gathered before a reconcile pass runs.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// The longest pause between passes while changes keep coming.
const MAX_DEBOUNCE: Duration = Duration::from_secs(2);
/// How often a pass runs without any change (watches can miss events).
const RESYNC: Duration = Duration::from_secs(30);

/// Settings of the controllers.
#[derive(Debug, Clone, Copy, Default)]
pub struct ControllerConfig {
    /// When a silent node turns unreachable and its pods are evicted.
    pub node_lifecycle: NodeLifecycle,
}

/// Runs the leader-only controllers whenever this node leads, until `cancel`.
pub async fn run(
    resources: Resources,
    mut leadership: LeaderWatch,
    config: ControllerConfig,
    cancel: CancellationToken,
) {
    loop {
        let term = tokio::select! {
            () = cancel.cancelled() => return,
            term = leadership.acquired() => match term {
                Some(term) => term,
                None => return,
            },
        };
        tracing::info!(term, "leading: starting controllers");
        let leading = cancel.child_token();
        let tasks = TaskTracker::new();
        let resources = Arc::new(resources.clone());
        tasks.spawn(drive(
            "garbage collector",
            Interest::Ownership,
            Arc::clone(&resources),
            leading.clone(),
            gc::reconcile,
        ));
        tasks.spawn(drive(
            "namespace",
            Interest::Namespaces,
            Arc::clone(&resources),
            leading.clone(),
            namespace::reconcile,
        ));
        tasks.spawn(drive(
            "replicaset",
            Interest::Resources(&["replicasets.apps", "pods"]),
            Arc::clone(&resources),
            leading.clone(),
            replicaset::reconcile,
        ));
        tasks.spawn(drive(
            "deployment",
            Interest::Resources(&["deployments.apps", "replicasets.apps"]),
            Arc::clone(&resources),
            leading.clone(),
            deployment::reconcile,
        ));
        tasks.spawn(drive(
            "node ipam",
            Interest::Resources(&["nodes"]),
            Arc::clone(&resources),
            leading.clone(),
            nodes::assign_pod_cidrs,
        ));
        tasks.spawn(drive(
            "service allocations",
            Interest::Resources(&[
                "services",
                crate::api::services::IP_RESOURCE,
                crate::api::services::PORT_RESOURCE,
            ]),
            Arc::clone(&resources),
            leading.clone(),
            |resources: Arc<Resources>| async move { crate::api::services::repair(&resources).await },
        ));
        tasks.spawn(drive(
            "endpoints",
            Interest::Resources(&[
                "services",
                "pods",
                "endpoints",
                "endpointslices.discovery.k8s.io",
            ]),
            Arc::clone(&resources),
            leading.clone(),
            endpoints::reconcile,
        ));
        tasks.spawn(nodes::lifecycle(
            Arc::clone(&resources),
            config.node_lifecycle,
            leading.clone(),
        ));
        tasks.spawn(scheduler::driver::run(
            Resources::clone(&resources),
            leading.clone(),
        ));
        tasks.close();
        tokio::select! {
            () = cancel.cancelled() => {}
            () = leadership.lost(term) => tracing::info!(term, "leadership lost: stopping controllers"),
        }
        leading.cancel();
        tasks.wait().await;
    }
}

/// Which changes can give a controller work: other changes do not wake it, so a burst of
/// writes it has nothing to do with (a thousand ConfigMaps) costs it no passes, each of which
/// lists everything it looks after.
#[derive(Debug, Clone, Copy)]
enum Interest {
    /// Changes to objects stored under these resources (as in [`Resources::key`]).
    Resources(&'static [&'static str]),
    /// What the garbage collector acts on: an object with owner references, finalizers or a
    /// deletion timestamp (before or after the change), and every deletion (an owner gone).
    Ownership,
    /// Namespaces, and every deletion (the contents of a terminating namespace going away).
    Namespaces,
}

impl Interest {
    fn wakes(self, event: &WatchEvent) -> bool {
        match self {
            Interest::Resources(resources) => resources.contains(&event.object.key.resource()),
            Interest::Ownership => {
                event.kind == EventKind::Deleted
                    || std::iter::once(&event.object)
                        .chain(&event.previous)
                        .any(|object| in_ownership(&object.value))
            }
            Interest::Namespaces => {
                event.kind == EventKind::Deleted || event.object.key.resource() == "namespaces"
            }
        }
    }
}

/// Whether a stored object takes part in garbage collection; one that does not decode counts,
/// so the collector looks at it.
fn in_ownership(value: &[u8]) -> bool {
    crate::api::resources::Lifecycle::of(value)
        .is_none_or(|l| l.owner_references > 0 || l.finalizers > 0 || l.deleting)
}

/// Waits for the next change that wakes a controller with `interest`.
async fn next_wake(watcher: &mut Watcher, interest: Interest) -> Result<(), StoreError> {
    loop {
        if interest.wakes(&watcher.next().await?) {
            return Ok(());
        }
    }
}

/// Runs `pass` after every burst of changes in `interest` and every [`RESYNC`], until
/// `cancel`.
async fn drive<F, Fut>(
    name: &'static str,
    interest: Interest,
    resources: Arc<Resources>,
    cancel: CancellationToken,
    pass: F,
) where
    F: Fn(Arc<Resources>) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::api::ApiError>>,
{
    loop {
        let revision = match resources
            .store()
            .read(crate::store::Consistency::Local)
            .await
        {
            Ok(reader) => reader.applied_revision().await,
            Err(error) => Err(error),
        };
        let watcher = match revision {
            Ok(revision) => resources.store().watch(KeyPrefix::all(), revision).await,
            Err(error) => Err(error),
        };
        let mut watcher = match watcher {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::debug!(controller = name, error = %error, "cannot watch; retrying");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let started = tokio::time::Instant::now();
            if let Err(error) = pass(Arc::clone(&resources)).await {
                tracing::warn!(controller = name, error = %error, "reconcile pass failed");
            }
            // A pass that takes long (a big cluster) waits longer before the next, so a
            // controller never takes more than about a third of a core while changes stream.
            let pause = (started.elapsed() * 2).clamp(DEBOUNCE, MAX_DEBOUNCE);
            let woke = tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(RESYNC) => Ok(()),
                woke = next_wake(&mut watcher, interest) => woke,
            };
            match woke {
                Ok(()) => {}
                Err(StoreError::Gone { .. }) => break,
                Err(error) => {
                    tracing::debug!(controller = name, error = %error, "watch ended; restarting");
                    break;
                }
            }
            // Let a burst of changes land, then take them all: one pass covers them.
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            let mut restart = false;
            while let Ok(event) = tokio::time::timeout(Duration::ZERO, watcher.next()).await {
                if event.is_err() {
                    restart = true;
                    break;
                }
            }
            if restart {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Object, ObjectKey, Revision, Uid};

    fn event(kind: EventKind, resource: &str, value: &str) -> WatchEvent {
        let key = ObjectKey::new(resource, "default", "x").expect("a valid key");
        WatchEvent {
            revision: Revision(7),
            kind,
            object: Object {
                key,
                uid: Uid("u".to_owned()),
                value: value.as_bytes().to_vec(),
                create_revision: Revision(7),
                mod_revision: Revision(7),
            },
            previous: None,
        }
    }

    const PLAIN: &str = r#"{"metadata":{"name":"x","labels":{"finalizers":"no"}},"data":{}}"#;

    #[test]
    fn a_plain_object_wakes_only_controllers_of_its_resource() {
        let created = event(EventKind::Added, "configmaps", PLAIN);
        assert!(!Interest::Ownership.wakes(&created));
        assert!(!Interest::Namespaces.wakes(&created));
        assert!(!Interest::Resources(&["pods", "services"]).wakes(&created));
        assert!(Interest::Resources(&["pods", "configmaps"]).wakes(&created));
        let pod = event(EventKind::Modified, "pods", PLAIN);
        assert!(Interest::Resources(&["replicasets.apps", "pods"]).wakes(&pod));
        let set = event(EventKind::Modified, "replicasets.apps", PLAIN);
        assert!(!Interest::Resources(&["pods"]).wakes(&set));
    }

    #[test]
    fn ownership_wakes_for_owners_finalizers_deletions_and_undecodable_values() {
        for value in [
            r#"{"metadata":{"ownerReferences":[{"uid":"o"}]}}"#,
            r#"{"metadata":{"finalizers":["foregroundDeletion"]}}"#,
            r#"{"metadata":{"deletionTimestamp":"2026-12-04T00:00:00Z"}}"#,
            r#"{"metadata":"not an object"}"#,
        ] {
            assert!(
                Interest::Ownership.wakes(&event(EventKind::Modified, "configmaps", value)),
                "{value}"
            );
        }
        assert!(Interest::Ownership.wakes(&event(EventKind::Deleted, "configmaps", PLAIN)));
        // Owner references dropped by the change: the previous state still counts.
        let mut dropped = event(EventKind::Modified, "configmaps", PLAIN);
        dropped.previous = Some(
            event(
                EventKind::Modified,
                "configmaps",
                r#"{"metadata":{"ownerReferences":[{"uid":"o"}]}}"#,
            )
            .object,
        );
        assert!(Interest::Ownership.wakes(&dropped));
        for value in [
            r#"{"metadata":{"ownerReferences":[]}}"#,
            r#"{"metadata":{"deletionTimestamp":null,"finalizers":[]}}"#,
            r#"{"kind":"ConfigMap"}"#,
        ] {
            assert!(
                !Interest::Ownership.wakes(&event(EventKind::Modified, "configmaps", value)),
                "{value}"
            );
        }
    }

    #[test]
    fn namespaces_wake_for_namespaces_and_deletions() {
        assert!(Interest::Namespaces.wakes(&event(EventKind::Modified, "namespaces", PLAIN)));
        assert!(Interest::Namespaces.wakes(&event(EventKind::Deleted, "pods", PLAIN)));
        assert!(!Interest::Namespaces.wakes(&event(EventKind::Added, "pods", PLAIN)));
    }
}
