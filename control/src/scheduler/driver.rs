//! The scheduler's driver, on the leader only. It lists Nodes and Pods once, keeps them
//! current from its watches (each object decoded once per change, never per pass), and
//! after every burst of changes and every resync builds a [`ClusterView`], asks [`schedule`]
//! about every pending pod of `default-scheduler` and writes the outcome. A placement is a binding (the
//! `pods/binding` rule) and `PodScheduled=True`; a pod that fits nowhere gets
//! `PodScheduled=False` with reason `Unschedulable` and a `FailedScheduling` Event, once per
//! message and per resync rather than on every pass.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shoal_manifests::k8s_openapi::api::core::v1::{Node, Pod};
use shoal_manifests::registry::{self, KindInfo, Subresource};
use tokio_util::sync::CancellationToken;

use super::{ClusterView, NodeName, Placement, schedule};
use crate::api::ApiError;
use crate::api::resources::{
    Change, Resources, WriteOptions, now_rfc3339, resource_version, to_api,
};
use crate::api::subresources::{bind_pod, set_pod_scheduled};
use crate::store::{Consistency, EventKind, WatchEvent, Watcher};

/// The scheduler's name: pods with this `spec.schedulerName` (or none) are its to place. It
/// is also the field manager and the Events' source.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// How long changes are gathered before a pass runs, at least: a pass follows the first
/// change after a quiet spell almost at once; under load the pause grows to the last pass's
/// length (up to [`MAX_DEBOUNCE`]), so the scheduler takes at most about half a core while
/// the changes it waits for pile up into one pass.
const MIN_DEBOUNCE: Duration = Duration::from_millis(2);
const MAX_DEBOUNCE: Duration = Duration::from_millis(100);
/// Bindings written at once.
const BINDS_IN_FLIGHT: usize = 32;
/// How often a pass runs without any change; unschedulable pods get a fresh Event then.
const RESYNC: Duration = Duration::from_secs(30);
/// The longest Event message, as kube-scheduler truncates (`NoteLengthLimit`).
const MESSAGE_LIMIT: usize = 1024;

/// What started a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Start,
    Change,
    Resync,
}

/// Places pending pods whenever Nodes or Pods change and every [`RESYNC`], until `cancel`.
pub async fn run(resources: Resources, cancel: CancellationToken) {
    let mut scheduler = Scheduler {
        resources,
        reported: HashMap::new(),
        last_bound: None,
        nodes: Cache::default(),
        pods: Cache::default(),
    };
    loop {
        let (mut nodes, mut pods) = match scheduler.watch().await {
            Ok(watchers) => watchers,
            Err(error) => {
                tracing::debug!(error = %error, "scheduler cannot watch; retrying");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut wake = Wake::Start;
        loop {
            let started = tokio::time::Instant::now();
            if let Err(error) = scheduler.pass(wake).await {
                tracing::warn!(error = %error, "scheduling pass failed");
            }
            let pause = started.elapsed().clamp(MIN_DEBOUNCE, MAX_DEBOUNCE);
            let woke = tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(RESYNC) => Ok(Wake::Resync),
                event = nodes.next() => event.map(|e| scheduler.nodes.apply(&e)).map(|()| Wake::Change),
                event = pods.next() => event.map(|e| scheduler.pods.apply(&e)).map(|()| Wake::Change),
            };
            match woke {
                Ok(next) => wake = next,
                Err(error) => {
                    tracing::debug!(error = %error, "scheduler watch ended; restarting");
                    break;
                }
            }
            // Let a burst of changes land, then take them all: one pass covers them.
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            if !drain(&mut nodes, &mut scheduler.nodes).await
                || !drain(&mut pods, &mut scheduler.pods).await
            {
                break;
            }
        }
    }
}

/// Applies every event already waiting; `false` if the watch ended.
async fn drain<T: DeserializeOwned>(watcher: &mut Watcher, cache: &mut Cache<T>) -> bool {
    while let Ok(event) = tokio::time::timeout(Duration::ZERO, watcher.next()).await {
        match event {
            Ok(event) => cache.apply(&event),
            Err(_) => return false,
        }
    }
    true
}

/// Objects of one kind by `namespace/name`, each with the revision it was read at.
struct Cache<T> {
    objects: HashMap<String, (u64, T)>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Self {
            objects: HashMap::new(),
        }
    }
}

fn cache_key(value: &Value) -> String {
    let field = |name: &str| {
        value
            .pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    format!("{}/{}", field("namespace"), field("name"))
}

impl<T: DeserializeOwned> Cache<T> {
    /// Everything as listed.
    fn fill(&mut self, listed: Vec<Value>) {
        self.objects.clear();
        for value in listed {
            let revision = resource_version(&value).parse().unwrap_or(0);
            self.insert(revision, value);
        }
    }

    fn insert(&mut self, revision: u64, value: Value) {
        let key = cache_key(&value);
        match serde_json::from_value(value) {
            Ok(object) => {
                self.objects.insert(key, (revision, object));
            }
            Err(error) => {
                tracing::debug!(%key, error = %error, "skipping an undecodable object");
                self.objects.remove(&key);
            }
        }
    }

    /// A watched change, unless the cache already holds that revision or a later one (the
    /// list it was filled from may have been newer than the watch's start).
    fn apply(&mut self, event: &WatchEvent) {
        let Ok(value) = to_api(&event.object) else {
            return;
        };
        let revision = event.revision.0;
        let key = cache_key(&value);
        if self
            .objects
            .get(&key)
            .is_some_and(|(held, _)| *held >= revision)
        {
            return;
        }
        if event.kind == EventKind::Deleted {
            self.objects.remove(&key);
        } else {
            self.insert(revision, value);
        }
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.objects.values().map(|(_, object)| object)
    }
}

/// The driver's memory between passes.
struct Scheduler {
    resources: Resources,
    /// Per unschedulable pod (uid), the message its last Event carried.
    reported: HashMap<String, String>,
    /// The node bound last, where round-robin continues.
    last_bound: Option<NodeName>,
    nodes: Cache<Node>,
    pods: Cache<Pod>,
}

impl Scheduler {
    async fn watch(&mut self) -> Result<(Watcher, Watcher), ApiError> {
        let store = self.resources.store();
        let revision = store
            .read(Consistency::Local)
            .await?
            .applied_revision()
            .await?;
        let watch = async |kind: &KindInfo| -> Result<Watcher, ApiError> {
            let prefix = Resources::prefix(kind, None)?;
            Ok(store.watch(prefix, revision).await?)
        };
        let watchers = (watch(nodes_kind()).await?, watch(pods_kind()).await?);
        // Listed after the watches start, so nothing falls between the two.
        self.nodes.fill(self.list(nodes_kind()).await?);
        self.pods.fill(self.list(pods_kind()).await?);
        Ok(watchers)
    }

    /// One pass over every pending pod.
    async fn pass(&mut self, wake: Wake) -> Result<(), ApiError> {
        let mut view = ClusterView::from_objects(self.nodes.values(), self.pods.values());
        if let Some(last) = &self.last_bound {
            view.resume_after(last);
        }
        let mut pending: Vec<&Pod> = self
            .pods
            .values()
            .filter(|pod| wants_scheduling(pod))
            .collect();
        pending.sort_by_key(|pod| queue_order(pod));
        // Decisions are made one after another against the view, each placement counted in
        // it at once; the bindings are then written many at a time. One that fails (the pod
        // changed meanwhile) is decided again in the next pass, on a fresh view.
        let mut unschedulable = HashSet::new();
        let mut binds = Vec::new();
        let mut reports = Vec::new();
        let mut last_bound = None;
        for pod in pending {
            match schedule(&view, pod) {
                Placement::Bind(node) => {
                    view.bind(pod, &node);
                    last_bound = Some(node.clone());
                    let id = PodId::of(pod);
                    binds.push((
                        id.namespace.to_owned(),
                        id.name.to_owned(),
                        id.uid.to_owned(),
                        node,
                    ));
                }
                Placement::Unschedulable(reasons) => {
                    reports.push((pod.clone(), reasons.to_string()));
                }
            }
        }
        let scheduler = &*self;
        let bound: Vec<Value> = futures::stream::iter(binds)
            .map(|(namespace, name, uid, node)| async move {
                let id = PodId {
                    namespace: &namespace,
                    name: &name,
                    uid: &uid,
                };
                match scheduler.bind(&id, &node).await {
                    Ok(written) => Some(written),
                    Err(error) => {
                        tracing::debug!(
                            namespace = id.namespace,
                            pod = id.name,
                            node = %node,
                            error = %error,
                            "binding failed"
                        );
                        None
                    }
                }
            })
            .buffer_unordered(BINDS_IN_FLIGHT)
            .filter_map(std::future::ready)
            .collect()
            .await;
        // The bindings are known before their watch events arrive: the next pass must not
        // see these pods pending.
        for object in bound {
            let revision = resource_version(&object).parse().unwrap_or(0);
            self.pods.insert(revision, object);
        }
        if last_bound.is_some() {
            self.last_bound = last_bound;
        }
        for (pod, message) in reports {
            let id = PodId::of(&pod);
            unschedulable.insert(id.uid.to_owned());
            self.report(&pod, &id, &message, wake == Wake::Resync).await;
        }
        self.reported.retain(|uid, _| unschedulable.contains(uid));
        Ok(())
    }

    async fn list(&self, kind: &KindInfo) -> Result<Vec<Value>, ApiError> {
        Ok(self
            .resources
            .list(kind, None, 0, None, Consistency::Local, |_| true)
            .await?
            .items)
    }

    /// Binds the pod; the binding marks it scheduled in the same write. Returns the pod as
    /// written.
    async fn bind(&self, id: &PodId<'_>, node: &NodeName) -> Result<Value, ApiError> {
        let written = bind_pod(
            &self.resources,
            pods_kind(),
            id.namespace,
            id.name,
            node.as_str(),
            Some(id.uid),
            SCHEDULER_NAME,
        )
        .await?;
        tracing::info!(namespace = id.namespace, pod = id.name, node = %node, "scheduled");
        Ok(written.object)
    }

    /// Marks the pod unschedulable and, on a new message or a resync, records an Event.
    async fn report(&mut self, pod: &Pod, id: &PodId<'_>, message: &str, resync: bool) {
        if !says_unschedulable(pod, message)
            && let Err(error) = self.set_scheduled(id, "False", Some(message)).await
        {
            tracing::debug!(
                namespace = id.namespace,
                pod = id.name,
                error = %error,
                "cannot set PodScheduled"
            );
        }
        let due = resync || self.reported.get(id.uid).is_none_or(|last| last != message);
        if !due {
            return;
        }
        tracing::debug!(
            namespace = id.namespace,
            pod = id.name,
            message,
            "unschedulable"
        );
        match self.record_event(pod, id, message).await {
            Ok(()) => {
                self.reported.insert(id.uid.to_owned(), message.to_owned());
            }
            Err(error) => tracing::debug!(
                namespace = id.namespace,
                pod = id.name,
                error = %error,
                "cannot record the FailedScheduling event"
            ),
        }
    }

    /// Sets `PodScheduled` through the status subresource, on the pod with this uid only.
    async fn set_scheduled(
        &self,
        id: &PodId<'_>,
        status: &str,
        message: Option<&str>,
    ) -> Result<(), ApiError> {
        let options = WriteOptions::controller(SCHEDULER_NAME);
        let now = now_rfc3339();
        self.resources
            .modify(
                pods_kind(),
                id.namespace,
                id.name,
                Some(Subresource::Status),
                &options,
                |current| {
                    if current.pointer("/metadata/uid").and_then(Value::as_str) != Some(id.uid) {
                        return Err(ApiError::NotFound {
                            resource: "pods".to_owned(),
                            name: id.name.to_owned(),
                        });
                    }
                    let mut next = current.clone();
                    set_pod_scheduled(&mut next, status, message, &now);
                    Ok(Change::Replace(next))
                },
            )
            .await
            .map(drop)
    }

    /// Creates the pod's `FailedScheduling` Event for this message, or counts one more
    /// occurrence of it, as client-go's event correlator does.
    async fn record_event(&self, pod: &Pod, id: &PodId<'_>, message: &str) -> Result<(), ApiError> {
        let events = events_kind();
        let options = WriteOptions::controller(SCHEDULER_NAME);
        let name = event_name(id, message);
        let now = now_rfc3339();
        let repeat = |current: &Value| -> Result<Change, ApiError> {
            let mut next = current.clone();
            let count = current.get("count").and_then(Value::as_i64).unwrap_or(1);
            next["count"] = Value::from(count + 1);
            next["lastTimestamp"] = Value::from(now.as_str());
            Ok(Change::Replace(next))
        };
        match self
            .resources
            .modify(events, id.namespace, &name, None, &options, &repeat)
            .await
        {
            Err(ApiError::NotFound { .. }) => {}
            other => return other.map(drop),
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": id.namespace},
            "involvedObject": {
                "kind": "Pod",
                "apiVersion": "v1",
                "namespace": id.namespace,
                "name": id.name,
                "uid": id.uid,
                "resourceVersion": pod.metadata.resource_version.as_deref().unwrap_or_default(),
            },
            "reason": "FailedScheduling",
            "message": truncate(message),
            "type": "Warning",
            "source": {"component": SCHEDULER_NAME},
            "reportingComponent": SCHEDULER_NAME,
            "action": "Scheduling",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        match self
            .resources
            .create(events, Some(id.namespace), event, &options)
            .await
        {
            // Another pass created it in between: count this one on it.
            Err(ApiError::AlreadyExists { .. }) => self
                .resources
                .modify(events, id.namespace, &name, None, &options, &repeat)
                .await
                .map(drop),
            other => other.map(drop),
        }
    }
}

/// The names a pass addresses a pod by.
#[derive(Debug, Clone, Copy)]
struct PodId<'p> {
    namespace: &'p str,
    name: &'p str,
    uid: &'p str,
}

impl<'p> PodId<'p> {
    fn of(pod: &'p Pod) -> PodId<'p> {
        let meta = &pod.metadata;
        PodId {
            namespace: meta.namespace.as_deref().unwrap_or_default(),
            name: meta.name.as_deref().unwrap_or_default(),
            uid: meta.uid.as_deref().unwrap_or_default(),
        }
    }
}

/// Whether the pod is this scheduler's to place now: not on a node, not finished, not being
/// deleted, and for `default-scheduler`.
pub fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let ours = matches!(
        spec.scheduler_name.as_deref(),
        None | Some("") | Some(SCHEDULER_NAME)
    );
    let unbound = spec.node_name.as_deref().is_none_or(str::is_empty);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let finished = matches!(phase, Some("Succeeded" | "Failed"));
    ours && unbound && !finished && pod.metadata.deletion_timestamp.is_none()
}

/// The scheduling queue's order: higher priority first, then older pods, then by name.
fn queue_order(pod: &Pod) -> impl Ord + '_ {
    let meta = &pod.metadata;
    (
        std::cmp::Reverse(pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)),
        meta.creation_timestamp.as_ref().map(|t| t.0),
        meta.namespace.as_deref(),
        meta.name.as_deref(),
    )
}

/// Whether the pod already says `PodScheduled=False` with reason `Unschedulable` and this
/// message.
fn says_unschedulable(pod: &Pod, message: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message.as_deref() == Some(message)
        })
}

/// The Event's name: the pod's, then 16 hex digits that stand for the pod and the message, so
/// one message on one pod is one Event whose count grows, and a new message is a new Event.
fn event_name(id: &PodId<'_>, message: &str) -> String {
    let digest = Sha256::new()
        .chain_update(id.uid.as_bytes())
        .chain_update([0])
        .chain_update(message.as_bytes())
        .finalize();
    let suffix: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    // Names are DNS subdomains (at most 253 characters); the suffix takes 17.
    let mut prefix = id.name;
    while prefix.len() > 236 {
        let mut end = 236;
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        prefix = &prefix[..end];
    }
    format!("{prefix}.{suffix}")
}

/// An Event message at most [`MESSAGE_LIMIT`] bytes long, ending in ` ...` when cut.
fn truncate(message: &str) -> String {
    if message.len() <= MESSAGE_LIMIT {
        return message.to_owned();
    }
    let mut end = MESSAGE_LIMIT - 4;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ...", &message[..end])
}

fn pods_kind() -> &'static KindInfo {
    core_kind("pods")
}

fn nodes_kind() -> &'static KindInfo {
    core_kind("nodes")
}

fn events_kind() -> &'static KindInfo {
    core_kind("events")
}

fn core_kind(plural: &str) -> &'static KindInfo {
    registry::by_resource("", "v1", plural).expect("core/v1 kinds are registered")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let mut pod = json!({"status": {"phase": "Pending"}});
        set_pod_scheduled(&mut pod, "False", Some("0/1 nodes"), "t1");
        set_pod_scheduled(&mut pod, "False", Some("0/2 nodes"), "t2");
        let condition = &pod["status"]["conditions"][0];
        assert_eq!(condition["lastTransitionTime"], "t1");
        assert_eq!(condition["message"], "0/2 nodes");
        assert_eq!(condition["reason"], "Unschedulable");
        set_pod_scheduled(&mut pod, "True", None, "t3");
        let conditions = pod["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["status"], "True");
        assert_eq!(conditions[0]["lastTransitionTime"], "t3");
        assert!(conditions[0].get("reason").is_none());
    }

    #[test]
    fn event_names_follow_the_pod_and_the_message() {
        let id = PodId {
            namespace: "default",
            name: "web",
            uid: "u1",
        };
        let first = event_name(&id, "0/1 nodes are available");
        assert!(first.starts_with("web."));
        assert_eq!(first.len(), "web.".len() + 16);
        assert_eq!(first, event_name(&id, "0/1 nodes are available"));
        assert_ne!(first, event_name(&id, "0/2 nodes are available"));
        let long = "p".repeat(253);
        let id = PodId { name: &long, ..id };
        assert_eq!(event_name(&id, "m").len(), 253);
    }

    #[test]
    fn long_messages_are_cut_as_kube_scheduler_cuts_them() {
        assert_eq!(truncate("short"), "short");
        let cut = truncate(&"x".repeat(2000));
        assert_eq!(cut.len(), MESSAGE_LIMIT);
        assert!(cut.ends_with(" ..."));
    }

    #[test]
    fn only_pending_pods_of_the_default_scheduler_are_placed() {
        let pod = |spec: Value, extra: Value| -> Pod {
            let mut value = json!({"metadata": {"name": "p"}, "spec": spec});
            if let (Some(map), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                for (key, field) in extra {
                    map.insert(key.clone(), field.clone());
                }
            }
            serde_json::from_value(value).unwrap()
        };
        let containers = json!([{"name": "c"}]);
        assert!(wants_scheduling(&pod(
            json!({"containers": containers}),
            json!({})
        )));
        assert!(wants_scheduling(&pod(
            json!({"containers": containers, "schedulerName": "default-scheduler"}),
            json!({})
        )));
        assert!(!wants_scheduling(&pod(
            json!({"containers": containers, "schedulerName": "other"}),
            json!({})
        )));
        assert!(!wants_scheduling(&pod(
            json!({"containers": containers, "nodeName": "n1"}),
            json!({})
        )));
        assert!(!wants_scheduling(&pod(
            json!({"containers": containers}),
            json!({"status": {"phase": "Failed"}})
        )));
    }
}
