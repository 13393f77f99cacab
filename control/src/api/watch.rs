//! Watch streams: `?watch=true` on any collection. A watch replays the current objects as
//! ADDED when it starts without a resourceVersion, then streams every later change as one JSON
//! object per line, filtered by the label and field selectors (an object that stops matching
//! is sent as DELETED, one that starts matching as ADDED), with BOOKMARKs when asked, until
//! `timeoutSeconds`, the client leaving, or the server stopping. A resourceVersion older than
//! the store's history gets an ERROR event with a 410 `Expired` Status, as kube-apiserver
//! sends it, so the client lists again.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use shoal_manifests::registry::KindInfo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::Reply;
use warp::reply::Response;

use super::error::ApiError;
use super::request::{ListQuery, VersionMatch};
use super::resources::{Resources, to_api};
use super::table::{self, Include, Output};
use crate::store::{Consistency, EventKind, Revision, StoreError, WatchEvent, Watcher};

/// Everything a watch needs to run after the request returns.
#[derive(Debug)]
pub(super) struct WatchRequest {
    pub kind: &'static KindInfo,
    pub namespace: Option<String>,
    pub query: ListQuery,
    pub output: Output,
    pub bookmark_interval: Duration,
}

impl WatchRequest {
    fn matches(&self, object: &Value) -> bool {
        self.query.fields.matches(object) && self.query.labels.matches(&labels(object))
    }
}

/// The labels of an object as a map.
pub(super) fn labels(object: &Value) -> std::collections::BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts a watch: settles where it begins (listing first when it must replay), then hands
/// the stream to a task owned by `tasks` and answers with its body.
pub(super) async fn start(
    resources: &Resources,
    request: WatchRequest,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<Response, ApiError> {
    let (initial, from) = match request.query.version {
        VersionMatch::Exact(revision) => (Vec::new(), Revision(revision)),
        VersionMatch::Latest | VersionMatch::Any => {
            let consistency = if request.query.version == VersionMatch::Any {
                Consistency::Local
            } else {
                Consistency::Linearizable
            };
            let listed = resources
                .list(
                    request.kind,
                    request.namespace.as_deref(),
                    0,
                    None,
                    consistency,
                    |o| request.matches(o),
                )
                .await?;
            (listed.items, listed.revision)
        }
    };
    let prefix = Resources::prefix(request.kind, request.namespace.as_deref())?;
    let watcher = match resources.store().watch(prefix, from).await {
        Ok(watcher) => Some(watcher),
        Err(StoreError::Gone { .. }) => None,
        Err(other) => return Err(other.into()),
    };
    let timeout = request
        .query
        .timeout_seconds
        .map_or_else(default_timeout, Duration::from_secs);
    let (lines, body) = mpsc::channel::<Bytes>(64);
    let stream = Stream {
        request,
        lines,
        sent_columns: false,
    };
    tasks.spawn(stream.run(initial, watcher, from, timeout, shutdown));
    let chunks = futures::stream::unfold(body, |mut body| async move {
        body.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), body))
    });
    let mut response = warp::reply::stream(chunks).into_response();
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Kubernetes ends watches after a random time between its minimum request timeout (30 min)
/// and twice that, so clients spread their re-watches.
fn default_timeout() -> Duration {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 1800 / 255;
    Duration::from_secs(1800 + jitter)
}

struct Stream {
    request: WatchRequest,
    lines: mpsc::Sender<Bytes>,
    sent_columns: bool,
}

impl Stream {
    async fn run(
        mut self,
        initial: Vec<Value>,
        watcher: Option<Watcher>,
        from: Revision,
        timeout: Duration,
        shutdown: CancellationToken,
    ) {
        let Some(mut watcher) = watcher else {
            let status = ApiError::Gone(format!("too old resource version: {}", from.0)).status();
            let _ = self.send("ERROR", status).await;
            return;
        };
        for object in initial {
            if self.emit("ADDED", &object).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval(self.request.bookmark_interval);
        bookmarks.reset();
        loop {
            tokio::select! {
                () = &mut deadline => return,
                () = shutdown.cancelled() => return,
                () = self.lines.closed() => return,
                _ = bookmarks.tick(), if self.request.query.bookmarks => {
                    if self.bookmark(watcher.revision()).await.is_err() {
                        return;
                    }
                }
                event = watcher.next() => match event {
                    Ok(event) => {
                        if self.change(event).await.is_err() {
                            return;
                        }
                    }
                    Err(StoreError::Gone { requested, .. }) => {
                        let status = ApiError::Gone(format!(
                            "too old resource version: {}", requested.0
                        )).status();
                        let _ = self.send("ERROR", status).await;
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(error = %error, "watch ended");
                        return;
                    }
                },
            }
        }
    }

    async fn change(&mut self, event: WatchEvent) -> Result<(), Closed> {
        let mut object = match to_api(&event.object) {
            Ok(object) => object,
            Err(error) => {
                tracing::warn!(error = %error, "skipping an unreadable object in a watch");
                return Ok(());
            }
        };
        let previous = event.previous.as_ref().and_then(|p| to_api(p).ok());
        let now = self.request.matches(&object);
        let before = previous.as_ref().is_some_and(|p| self.request.matches(p));
        let kind = match event.kind {
            EventKind::Added if now => "ADDED",
            EventKind::Modified if now && before => "MODIFIED",
            EventKind::Modified if now => "ADDED",
            EventKind::Modified if before => "DELETED",
            EventKind::Deleted if before || now => {
                if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert(
                        "resourceVersion".to_owned(),
                        Value::from(event.revision.0.to_string()),
                    );
                }
                "DELETED"
            }
            _ => return Ok(()),
        };
        self.emit(kind, &object).await
    }

    async fn emit(&mut self, kind: &str, object: &Value) -> Result<(), Closed> {
        let body = match self.request.output {
            Output::Json => object.clone(),
            Output::Table { version, include } => {
                let with_columns = !self.sent_columns;
                self.sent_columns = true;
                table::event_table(self.request.kind, version, include, object, with_columns)
            }
        };
        self.send(kind, body).await
    }

    async fn bookmark(&mut self, revision: Revision) -> Result<(), Closed> {
        if matches!(
            self.request.output,
            Output::Table {
                include: Include::None,
                ..
            }
        ) {
            return Ok(());
        }
        let object = json!({
            "kind": self.request.kind.kind,
            "apiVersion": self.request.kind.api_version,
            "metadata": {"resourceVersion": revision.0.to_string()},
        });
        self.send("BOOKMARK", object).await
    }

    async fn send(&self, kind: &str, object: Value) -> Result<(), Closed> {
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).map_err(|_| Closed)?;
        line.push(b'\n');
        self.lines.send(Bytes::from(line)).await.map_err(|_| Closed)
    }
}

/// The client went away.
#[derive(Debug)]
struct Closed;
