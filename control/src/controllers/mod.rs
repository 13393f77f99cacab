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
use crate::store::{KeyPrefix, LeaderWatch, StoreError};

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
            Arc::clone(&resources),
            leading.clone(),
            gc::reconcile,
        ));
        tasks.spawn(drive(
            "namespace",
            Arc::clone(&resources),
            leading.clone(),
            namespace::reconcile,
        ));
        tasks.spawn(drive(
            "replicaset",
            Arc::clone(&resources),
            leading.clone(),
            replicaset::reconcile,
        ));
        tasks.spawn(drive(
            "deployment",
            Arc::clone(&resources),
            leading.clone(),
            deployment::reconcile,
        ));
        tasks.spawn(drive(
            "node ipam",
            Arc::clone(&resources),
            leading.clone(),
            nodes::assign_pod_cidrs,
        ));
        tasks.spawn(drive(
            "service allocations",
            Arc::clone(&resources),
            leading.clone(),
            |resources: Arc<Resources>| async move { crate::api::services::repair(&resources).await },
        ));
        tasks.spawn(drive(
            "endpoints",
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

/// Runs `pass` after every burst of changes to the store and every [`RESYNC`], until `cancel`.
async fn drive<F, Fut>(
    name: &'static str,
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
                event = watcher.next() => event.map(|_| ()),
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
