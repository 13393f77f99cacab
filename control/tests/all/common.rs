//! Helpers shared by the store tests: opening a store in a temp dir and building commands.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use shoal_control::store::{
    Command, MachineConfig, ObjectKey, ObjectValue, Op, Preconditions, Revision, Store,
    StoreConfig, StoreError, Timestamp, TxnResponse, Uid, WatchEvent, Watcher,
};

/// How long any single awaited condition may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

pub(crate) fn config(machine: MachineConfig) -> StoreConfig {
    StoreConfig {
        machine,
        election_timeout_min: Duration::from_millis(50),
        election_timeout_max: Duration::from_millis(100),
        heartbeat_interval: Duration::from_millis(20),
        ..StoreConfig::default()
    }
}

pub(crate) async fn open(dir: &Path) -> Store {
    open_with(dir, MachineConfig::default()).await
}

pub(crate) async fn open_with(dir: &Path, machine: MachineConfig) -> Store {
    within(Store::open(dir, config(machine)))
        .await
        .expect("store opens")
}

/// Installs a tracing subscriber once, writing to the test's captured output, when `RUST_LOG`
/// asks for one.
pub(crate) fn trace() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("RUST_LOG").is_some() {
        ONCE.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        });
    }
}

/// Awaits `f`, failing the test if it takes longer than [`DEADLINE`].
pub(crate) async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(DEADLINE, f)
        .await
        .expect("condition reached before the deadline")
}

pub(crate) fn key(resource: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(resource, namespace, name).expect("valid key")
}

pub(crate) fn json(text: &str) -> ObjectValue {
    ObjectValue::from_json(text.as_bytes()).expect("valid JSON")
}

pub(crate) fn create(key: &ObjectKey, value: &str) -> Op {
    Op::Create {
        key: key.clone(),
        uid: Uid(format!("uid-{key}")),
        value: json(value),
    }
}

pub(crate) fn update(key: &ObjectKey, value: &str, preconditions: Preconditions) -> Op {
    Op::Update {
        key: key.clone(),
        value: json(value),
        preconditions,
    }
}

pub(crate) fn delete(key: &ObjectKey, preconditions: Preconditions) -> Op {
    Op::Delete {
        key: key.clone(),
        preconditions,
    }
}

/// Writes one op and returns the response.
/// The revision of the first (or only) command of the entry at log `index`.
pub(crate) fn rev(index: u64) -> Revision {
    Revision::of(index, 0)
}

pub(crate) async fn write(store: &Store, op: Op) -> TxnResponse {
    within(store.write(Command::single(Timestamp::now(), op)))
        .await
        .expect("write is applied")
}

/// Writes one op that must succeed and returns its revision.
pub(crate) async fn must_write(store: &Store, op: Op) -> Revision {
    let response = write(store, op).await;
    assert!(response.succeeded, "write failed: {response:?}");
    response.revision
}

pub(crate) async fn next_event(watcher: &mut Watcher) -> WatchEvent {
    within(watcher.next()).await.expect("watch event")
}

pub(crate) fn value_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 value")
}

pub(crate) fn assert_gone<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Gone { .. }) => {}
        other => panic!("expected Gone, got {other:?}"),
    }
}
