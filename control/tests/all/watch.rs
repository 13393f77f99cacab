//! Watches: replay from a revision, then live changes, exactly once; `Gone` outside the window.

use std::time::Duration;

use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload};
use shoal_control::store::{
    Batch, Command, EventKind, HistoryWindow, KeyPrefix, MachineConfig, Preconditions, Revision,
    StateMachine, StoreError, Timestamp, TypeConfig,
};

use crate::common::{
    assert_gone, create, delete, key, must_write, next_event, open, open_with, rev, update,
    value_text, within,
};

fn pods() -> KeyPrefix {
    KeyPrefix::resource("pods").expect("prefix")
}

#[tokio::test]
async fn replays_from_a_revision_then_follows_live_changes_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let mut revisions = Vec::new();
    for i in 0..5 {
        revisions.push(must_write(&store, create(&key("pods", "a", &format!("p{i}")), "{}")).await);
    }
    let mut watcher = store.watch(pods(), revisions[1]).await.expect("watch");
    for (i, revision) in revisions.iter().enumerate().skip(2) {
        let event = next_event(&mut watcher).await;
        assert_eq!(event.revision, *revision);
        assert_eq!(event.object.key.name(), format!("p{i}"));
        assert_eq!(event.kind, EventKind::Added);
    }
    // The bookmark covers the whole entry of the last replayed change, and nothing later.
    assert_eq!(watcher.revision().entry_index(), revisions[4].entry_index());
    assert!(watcher.revision() >= revisions[4]);

    let live = must_write(&store, create(&key("pods", "a", "p5"), "{}")).await;
    let event = next_event(&mut watcher).await;
    assert_eq!((event.revision, event.object.key.name()), (live, "p5"));

    // Nothing is repeated: the next event is the next change.
    let sentinel = must_write(&store, create(&key("pods", "a", "sentinel"), "{}")).await;
    let event = next_event(&mut watcher).await;
    assert_eq!(
        (event.revision, event.object.key.name()),
        (sentinel, "sentinel")
    );
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn events_carry_kind_object_and_previous_state_for_the_prefix_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let start = must_write(&store, create(&key("nodes", "", "n1"), "{}")).await;
    let mut watcher = store
        .watch(KeyPrefix::namespace("pods", "a").expect("prefix"), start)
        .await
        .expect("watch");
    let p = key("pods", "a", "p");
    let added = must_write(&store, create(&p, r#"{"v":1}"#)).await;
    must_write(&store, create(&key("pods", "b", "other"), "{}")).await;
    let modified = must_write(
        &store,
        update(&p, r#"{"v":2}"#, Preconditions::revision(added)),
    )
    .await;
    let deleted = must_write(&store, delete(&p, Preconditions::none())).await;

    let e = next_event(&mut watcher).await;
    assert_eq!(
        (e.kind, e.revision, e.previous.is_none()),
        (EventKind::Added, added, true)
    );
    let e = next_event(&mut watcher).await;
    assert_eq!((e.kind, e.revision), (EventKind::Modified, modified));
    assert_eq!(value_text(&e.object.value), r#"{"v":2}"#);
    assert_eq!(e.previous.map(|o| o.mod_revision), Some(added));
    let e = next_event(&mut watcher).await;
    assert_eq!((e.kind, e.revision), (EventKind::Deleted, deleted));
    assert_eq!(
        e.object.mod_revision, modified,
        "a deletion carries the last state"
    );
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_revision_compacted_by_count_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let machine = MachineConfig {
        history: HistoryWindow {
            max_events: 3,
            max_age: Duration::from_secs(3600),
        },
        ..MachineConfig::default()
    };
    let store = open_with(dir.path(), machine).await;
    let mut revisions = Vec::new();
    for i in 0..8 {
        revisions.push(must_write(&store, create(&key("pods", "a", &format!("p{i}")), "{}")).await);
    }
    assert_gone(store.watch(pods(), revisions[0]).await);
    // The last three events are kept: watching from just before them replays all three.
    let mut watcher = store.watch(pods(), revisions[4]).await.expect("watch");
    for revision in &revisions[5..] {
        assert_eq!(next_event(&mut watcher).await.revision, *revision);
    }
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn history_older_than_the_window_age_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let machine = MachineConfig {
        history: HistoryWindow {
            max_events: 1000,
            max_age: Duration::from_secs(60),
        },
        ..MachineConfig::default()
    };
    let store = open_with(dir.path(), machine).await;
    let t0 = Timestamp(1_000_000);
    let write_at =
        |at: Timestamp, name: &str| Command::single(at, create(&key("pods", "a", name), "{}"));
    let old = within(store.write(write_at(t0, "old")))
        .await
        .expect("write")
        .revision;
    let middle = within(store.write(write_at(Timestamp(t0.0 + 30_000), "middle")))
        .await
        .expect("write")
        .revision;
    let mut watcher = store
        .watch(pods(), Revision(old.0 - 1))
        .await
        .expect("watch");
    assert_eq!(
        next_event(&mut watcher).await.revision,
        old,
        "within the age, nothing expired"
    );
    // The clock read by the proposer drives compaction: two minutes later both are too old.
    let late = within(store.write(write_at(Timestamp(t0.0 + 120_000), "late")))
        .await
        .expect("write")
        .revision;
    assert_gone(store.watch(pods(), old).await);
    let mut watcher = store.watch(pods(), middle).await.expect("watch");
    assert_eq!(next_event(&mut watcher).await.revision, late);
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_watcher_that_falls_behind_catches_up_from_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let machine = MachineConfig {
        watch_buffer: 2,
        ..MachineConfig::default()
    };
    let store = open_with(dir.path(), machine).await;
    let start = must_write(&store, create(&key("nodes", "", "n"), "{}")).await;
    let mut watcher = store.watch(pods(), start).await.expect("watch");
    let mut revisions = Vec::new();
    for i in 0..20 {
        revisions
            .push(must_write(&store, create(&key("pods", "a", &format!("p{i:02}")), "{}")).await);
    }
    for (i, revision) in revisions.iter().enumerate() {
        let event = next_event(&mut watcher).await;
        assert_eq!(event.revision, *revision, "event {i} in order, none lost");
    }
    let sentinel = must_write(&store, create(&key("pods", "a", "sentinel"), "{}")).await;
    assert_eq!(
        next_event(&mut watcher).await.revision,
        sentinel,
        "none repeated"
    );
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn watchers_end_when_the_store_shuts_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let start = must_write(&store, create(&key("pods", "a", "p"), "{}")).await;
    let mut watcher = store.watch(pods(), start).await.expect("watch");
    store.shutdown().await.expect("shutdown");
    let end = within(watcher.next()).await;
    assert!(matches!(end, Err(StoreError::WatchClosed)), "{end:?}");
}

fn create_entry(index: u64) -> Entry<TypeConfig> {
    let op = create(&key("pods", "a", &format!("p{index:04}")), "{}");
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(Batch {
            commands: vec![Command::single(Timestamp(index), op)],
        }),
    }
}

#[tokio::test]
async fn changes_seen_in_history_are_not_repeated_from_the_live_feed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut machine = StateMachine::open(&dir.path().join("state.redb"), MachineConfig::default())
        .expect("state machine opens");
    // More history than one read hands out, so the watcher is still replaying when the next
    // changes are applied; they reach it both through the history table and the live feed.
    machine
        .apply((1..=700).map(create_entry).collect::<Vec<_>>())
        .await
        .expect("applies");
    let mut watcher = machine
        .reader()
        .watch(pods(), Revision(0))
        .await
        .expect("watch");
    let first = next_event(&mut watcher).await;
    assert_eq!(first.revision, rev(1));
    for index in 701..=705 {
        machine
            .apply(vec![create_entry(index)])
            .await
            .expect("applies");
    }
    for expected in 2..=705 {
        assert_eq!(next_event(&mut watcher).await.revision, rev(expected));
    }
    machine
        .apply(vec![create_entry(706)])
        .await
        .expect("applies");
    assert_eq!(next_event(&mut watcher).await.revision, rev(706));
}
