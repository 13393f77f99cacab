//! Events about pods, as the kubelet records them (`kubectl describe pod` shows them).

use serde_json::json;

use crate::client::{ApiClient, now};

/// Whom an event is about.
#[derive(Debug, Clone)]
pub(crate) struct PodRef {
    /// Namespace.
    pub(crate) namespace: String,
    /// Name.
    pub(crate) name: String,
    /// UID.
    pub(crate) uid: String,
}

/// Posts events in the background; a failed post is logged, never retried (events are
/// best-effort in Kubernetes too).
#[derive(Debug, Clone)]
pub(crate) struct Events {
    api: ApiClient,
    node: String,
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Expected progress.
    Normal,
    /// Something a person should look at.
    Warning,
}

impl Events {
    /// Events reported as the agent on `node`.
    pub(crate) fn new(api: ApiClient, node: &str) -> Self {
        Self {
            api,
            node: node.to_owned(),
        }
    }

    /// Records an event about `pod` (and one of its containers, if given).
    pub(crate) fn record(
        &self,
        pod: &PodRef,
        container: Option<&str>,
        severity: Severity,
        reason: &str,
        message: String,
    ) {
        let mut suffix = jiff::Timestamp::now().as_nanosecond().to_le_bytes();
        // Random where the system allows; the clock alone is unique enough otherwise.
        let _ = getrandom::fill(&mut suffix[..8]);
        let hex: String = suffix[..8].iter().map(|b| format!("{b:02x}")).collect();
        let time = now();
        let mut involved = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": pod.namespace,
            "name": pod.name,
            "uid": pod.uid,
        });
        if let Some(container) = container {
            involved["fieldPath"] = json!(format!("spec.containers{{{container}}}"));
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": format!("{}.{hex}", pod.name), "namespace": pod.namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": match severity { Severity::Normal => "Normal", Severity::Warning => "Warning" },
            "source": {"component": "kubelet", "host": self.node},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
            "firstTimestamp": time,
            "lastTimestamp": time,
            "count": 1,
        });
        let api = self.api.clone();
        let path = format!("/api/v1/namespaces/{}/events", pod.namespace);
        tokio::spawn(async move {
            if let Err(error) = api.create(&path, &event).await {
                tracing::debug!(%error, "recording an event failed");
            }
        });
    }
}
