//! Snapshots: build on one state machine, install on another (what its live watchers and
//! readers see), and snapshot thresholds with log purges through a store.

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload};
use shoal_control::store::{
    Batch, Command, EventKind, KeyPrefix, ListOptions, MachineConfig, Op, Preconditions, Revision,
    StateMachine, Timestamp, TypeConfig,
};

use crate::common::{
    assert_gone, create, delete, key, next_event, rev, update, value_text, within,
};

fn entry(index: u64, ops: Vec<Op>) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(Batch {
            commands: vec![Command::txn(Timestamp(index), ops)],
        }),
    }
}

fn open(dir: &tempfile::TempDir, name: &str) -> StateMachine {
    StateMachine::open(&dir.path().join(name), MachineConfig::default())
        .expect("state machine opens")
}

#[tokio::test]
async fn installing_a_snapshot_replaces_the_state_and_live_watchers_see_the_difference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let same = key("pods", "a", "same");
    let changed = key("pods", "a", "changed");
    let gone = key("pods", "a", "gone");
    let fresh = key("pods", "a", "fresh");

    // The leader's history: four entries.
    let mut leader = open(&dir, "leader.redb");
    leader
        .apply(vec![
            entry(1, vec![create(&same, "{}"), create(&changed, r#"{"v":1}"#)]),
            entry(
                2,
                vec![update(&changed, r#"{"v":2}"#, Preconditions::none())],
            ),
            entry(3, vec![create(&fresh, "{}")]),
            entry(4, vec![create(&key("pods", "a", "temp"), "{}")]),
            entry(
                5,
                vec![delete(&key("pods", "a", "temp"), Preconditions::none())],
            ),
        ])
        .await
        .expect("leader applies");
    let snapshot = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("snapshot builds");
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 1, 5)));

    // A follower that only saw the first entry, plus a different second one of its own.
    let mut follower = open(&dir, "follower.redb");
    follower
        .apply(vec![
            entry(1, vec![create(&same, "{}"), create(&changed, r#"{"v":1}"#)]),
            entry(2, vec![create(&gone, "{}")]),
        ])
        .await
        .expect("follower applies");
    let reader = follower.reader();
    let mut watcher = reader.watch(KeyPrefix::all(), rev(2)).await.expect("watch");

    let mut data = follower
        .begin_receiving_snapshot()
        .await
        .expect("receiving");
    *data = *snapshot.snapshot;
    follower
        .install_snapshot(&snapshot.meta, data)
        .await
        .expect("snapshot installs");

    // The live watcher gets the net difference, at the snapshot's revision, in key order.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut watcher).await;
        assert_eq!(e.revision, Revision::through_entry(5));
        seen.push((e.kind, e.object.key.name().to_owned()));
    }
    assert_eq!(
        seen,
        [
            (EventKind::Modified, "changed".to_owned()),
            (EventKind::Added, "fresh".to_owned()),
            (EventKind::Deleted, "gone".to_owned()),
        ]
    );
    assert_eq!(watcher.revision(), Revision::through_entry(5));

    // Readers see the leader's objects at the snapshot's revision.
    let page = reader
        .list(ListOptions::all(KeyPrefix::all()))
        .await
        .expect("list");
    assert_eq!(page.revision, Revision::through_entry(5));
    let names: Vec<&str> = page.items.iter().map(|o| o.key.name()).collect();
    assert_eq!(names, ["changed", "fresh", "same"]);
    assert_eq!(value_text(&page.items[0].value), r#"{"v":2}"#);
    assert_eq!(page.items[0].mod_revision, rev(2));

    // History from before the snapshot is gone; the watcher continues with later entries.
    assert_gone(reader.watch(KeyPrefix::all(), rev(2)).await);
    follower
        .apply(vec![entry(6, vec![delete(&same, Preconditions::none())])])
        .await
        .expect("follower applies after the snapshot");
    let e = within(watcher.next()).await.expect("event after install");
    assert_eq!((e.kind, e.revision), (EventKind::Deleted, rev(6)));

    // The installed snapshot is the follower's current one, and survives a reopen.
    let current = follower
        .get_current_snapshot()
        .await
        .expect("read snapshot")
        .expect("a current snapshot");
    assert_eq!(current.meta, snapshot.meta);
    drop((watcher, reader, follower, current));
    let mut reopened = open(&dir, "follower.redb");
    let (applied, _) = reopened.applied_state().await.expect("applied state");
    assert_eq!(applied, Some(log_id(1, 1, 6)));
    let names: Vec<String> = reopened
        .reader()
        .list(ListOptions::all(KeyPrefix::all()))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|o| o.key.name().to_owned())
        .collect();
    assert_eq!(names, ["changed", "fresh"]);
}

#[tokio::test]
async fn snapshots_and_log_purges_lose_nothing_across_a_reopen() {
    use shoal_control::store::{Consistency, Store, StoreConfig};

    use crate::common::{config, must_write};

    let dir = tempfile::tempdir().expect("temp dir");
    let store_config = StoreConfig {
        snapshot_after_entries: 5,
        logs_kept_after_snapshot: 0,
        ..config(MachineConfig::default())
    };
    let store = within(Store::open(dir.path(), store_config.clone()))
        .await
        .expect("store opens");
    let mut last = Revision(0);
    for i in 0..20 {
        last = must_write(&store, create(&key("pods", "a", &format!("p{i:02}")), "{}")).await;
    }
    let mut metrics = store.metrics();
    within(metrics.wait_for(|m| m.snapshot.is_some() && m.purged.is_some()))
        .await
        .expect("a snapshot is built and the log purged");
    store.shutdown().await.expect("shutdown");

    let store = within(Store::open(dir.path(), store_config))
        .await
        .expect("store reopens");
    let page = store
        .read(Consistency::Linearizable)
        .await
        .expect("read")
        .list(ListOptions::all(KeyPrefix::all()))
        .await
        .expect("list");
    assert_eq!(page.items.len(), 20);
    assert!(page.revision >= last);
    assert!(
        store.metrics().borrow().purged.is_some(),
        "the purge survives the restart"
    );
    store.shutdown().await.expect("shutdown");
}
