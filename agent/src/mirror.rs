//! A local copy of one API collection, kept by list and watch: what the service proxy reads
//! Services, EndpointSlices and Nodes from. Relists after a broken watch or a 410 Gone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::client::{ApiClient, WatchEvent, resource_version};

/// The objects of one collection by `namespace/name` (`name` when cluster-scoped).
#[derive(Debug, Clone, Default)]
pub(crate) struct Mirror {
    objects: Arc<RwLock<HashMap<String, Value>>>,
}

impl Mirror {
    /// Starts keeping `collection`; `changed` is notified after every change.
    pub(crate) fn spawn(
        api: ApiClient,
        collection: String,
        changed: Arc<Notify>,
        cancel: CancellationToken,
    ) -> Self {
        let mirror = Self::default();
        let kept = mirror.clone();
        tokio::spawn(async move { kept.keep(&api, &collection, &changed, &cancel).await });
        mirror
    }

    /// Every object, cloned.
    pub(crate) fn objects(&self) -> Vec<Value> {
        self.objects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Value>> {
        self.objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn keep(
        &self,
        api: &ApiClient,
        collection: &str,
        changed: &Notify,
        cancel: &CancellationToken,
    ) {
        let pause = || tokio::time::sleep(Duration::from_secs(1));
        'relist: while !cancel.is_cancelled() {
            let (objects, mut revision) = match api.list(collection).await {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::debug!(%collection, %error, "listing; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = pause() => continue,
                    }
                }
            };
            *self.write() = objects.into_iter().map(|o| (key(&o), o)).collect();
            changed.notify_one();
            loop {
                let mut stream = match api.watch(collection, &revision).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::debug!(%collection, %error, "watching; listing again");
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = pause() => continue 'relist,
                        }
                    }
                };
                loop {
                    let event = tokio::select! {
                        () = cancel.cancelled() => return,
                        event = stream.next() => event,
                    };
                    match event {
                        Ok(Some(WatchEvent::Applied(object))) => {
                            revision = resource_version(&object).to_owned();
                            self.write().insert(key(&object), object);
                        }
                        Ok(Some(WatchEvent::Deleted(object))) => {
                            revision = resource_version(&object).to_owned();
                            self.write().remove(&key(&object));
                        }
                        Ok(Some(WatchEvent::Bookmark(at))) => {
                            revision = at;
                            continue;
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::debug!(%collection, %error, "the watch failed; listing again");
                            continue 'relist;
                        }
                    }
                    changed.notify_one();
                }
            }
        }
    }
}

fn key(object: &Value) -> String {
    let field = |name: &str| {
        object
            .pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match field("namespace") {
        "" => field("name").to_owned(),
        namespace => format!("{namespace}/{}", field("name")),
    }
}
