//! The pods bound to this node, by list and watch (`spec.nodeName=<node>`): one worker per
//! pod, told to stop when the pod is being deleted and forgotten once it is gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shoal_manifests::k8s_openapi::api::core::v1::Pod;
use tokio_util::sync::CancellationToken;

use crate::client::{WatchEvent, resource_version};
use crate::pod::{Context, PodWorker};

/// The grace period a pod gets when nothing says otherwise.
const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Keeps a worker for every pod bound here, until `cancel`; then stops them all at once.
pub(crate) async fn run(ctx: Arc<Context>, cancel: CancellationToken) {
    let collection = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{}", ctx.node);
    let mut workers: HashMap<String, PodWorker> = HashMap::new();
    'relist: loop {
        if cancel.is_cancelled() {
            break;
        }
        let (pods, mut revision) = match ctx.api.list(&collection).await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(%error, "listing this node's pods; retrying");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut present = std::collections::HashSet::new();
        for pod in pods {
            if let Some(uid) = uid(&pod) {
                present.insert(uid.to_owned());
            }
            reconcile(&ctx, &mut workers, pod);
        }
        // Pods deleted while we were not watching.
        for (uid, worker) in &workers {
            if !present.contains(uid) {
                worker.terminate(Duration::ZERO);
            }
        }
        workers.retain(|_, w| !w.finished());
        loop {
            let mut stream = match ctx.api.watch(&collection, &revision).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%error, "watching this node's pods; listing again");
                    tokio::select! {
                        () = cancel.cancelled() => break 'relist,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue 'relist,
                    }
                }
            };
            loop {
                let event = tokio::select! {
                    () = cancel.cancelled() => break 'relist,
                    event = stream.next() => event,
                };
                match event {
                    Ok(Some(WatchEvent::Applied(pod))) => {
                        revision = resource_version(&pod).to_owned();
                        reconcile(&ctx, &mut workers, pod);
                    }
                    Ok(Some(WatchEvent::Deleted(pod))) => {
                        revision = resource_version(&pod).to_owned();
                        if let Some(worker) = uid(&pod).and_then(|u| workers.get(u)) {
                            worker.terminate(Duration::ZERO);
                        }
                    }
                    Ok(Some(WatchEvent::Bookmark(at))) => revision = at,
                    // The server ended the watch (its timeout): watch on from where we are.
                    Ok(None) => break,
                    Err(error) => {
                        tracing::debug!(%error, "the pod watch failed; listing again");
                        continue 'relist;
                    }
                }
                workers.retain(|_, w| !w.finished());
            }
        }
    }
    for worker in workers.values() {
        worker.terminate(Duration::ZERO);
    }
    // Give the workers a moment to stop their guests; the process is ending anyway.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while workers.values().any(|w| !w.finished()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn uid(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/uid").and_then(Value::as_str)
}

/// Starts a worker for a new pod, or tells an existing one its pod is being deleted.
fn reconcile(ctx: &Arc<Context>, workers: &mut HashMap<String, PodWorker>, pod: Value) {
    let Some(uid) = uid(&pod).map(str::to_owned) else {
        return;
    };
    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_GRACE, Duration::from_secs);
    if let Some(worker) = workers.get(&uid) {
        if deleting {
            worker.terminate(grace);
        }
        return;
    }
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed")) && !deleting {
        // Finished before (perhaps before this agent restarted): nothing more to run.
        return;
    }
    let typed: Pod = match serde_json::from_value(pod) {
        Ok(typed) => typed,
        Err(error) => {
            tracing::warn!(%uid, %error, "a pod this agent cannot read");
            return;
        }
    };
    let worker = PodWorker::spawn(Arc::clone(ctx), typed);
    if deleting {
        worker.terminate(grace);
    }
    workers.insert(uid, worker);
}
