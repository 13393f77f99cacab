//! Three-node clusters on loopback: formation, writes forwarded from followers, leader
//! failover, watches across a leader change, membership changes and peer authentication.

use shoal_control::store::{
    ClusterMode, EventKind, KeyPrefix, Preconditions, Revision, Store, StoreError,
};

use crate::common::{create, key, must_write, next_event, update, value_text, within, write};
use crate::nodes::{Cluster, Node, bind, cluster_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_forward_writes_and_linearizable_reads_to_the_leader() {
    let cluster = Cluster::form(3).await;
    let leader = cluster.leader().await;
    assert_eq!(cluster.voters(leader), [1, 2, 3].into());

    // Exactly one node leads, and the others know which.
    for id in cluster.running() {
        let now = cluster.store(id).leadership().current();
        assert_eq!(now.is_leader, id == leader, "node {id}: {now:?}");
        let mut metrics = cluster.store(id).metrics();
        within(metrics.wait_for(|m| m.current_leader == Some(leader)))
            .await
            .expect("node runs");
    }

    let mut revisions = Vec::new();
    for id in cluster.running() {
        let k = key("configmaps", "default", &format!("from-{id}"));
        let revision =
            must_write(cluster.store(id), create(&k, &format!(r#"{{"by":{id}}}"#))).await;
        revisions.push(revision);
    }
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "one log orders writes from every node: {revisions:?}"
    );

    // A conditional write from a follower is decided by the leader's state machine.
    let follower = cluster.other_than(&[leader]);
    let k = key("configmaps", "default", "from-1");
    let stale = write(
        cluster.store(follower),
        update(&k, "{}", Preconditions::revision(Revision(1))),
    )
    .await;
    assert!(!stale.succeeded, "{stale:?}");

    // A linearizable read on any node sees every acknowledged write at once.
    for id in cluster.running() {
        for writer in cluster.running() {
            let k = key("configmaps", "default", &format!("from-{writer}"));
            let object = cluster.get(id, &k).await.expect("written object");
            assert_eq!(value_text(&object.value), format!(r#"{{"by":{writer}}}"#));
        }
    }
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_and_the_old_one_catches_up_after_restart() {
    let mut cluster = Cluster::form(3).await;
    let old = cluster.leader().await;
    let before = must_write(
        cluster.store(old),
        create(&key("pods", "a", "before"), "{}"),
    )
    .await;

    let follower = cluster.other_than(&[old]);
    let mut demoted = cluster.store(old).leadership();
    tracing::info!("--- stop the leader");
    cluster.stop(old).await;
    assert!(!demoted.current().is_leader, "a stopped node does not lead");

    let remaining: Vec<_> = cluster.running();
    let new = cluster.leader_among(&remaining).await;
    assert_ne!(new, old);
    let term = within(cluster.store(new).leadership().acquired())
        .await
        .expect("the new leader leads");
    assert!(term > 0);

    // Writes continue, from the leader and forwarded from the follower alike.
    let other = cluster.other_than(&[new]);
    let mut written = vec![before];
    for (i, id) in [new, other, follower].into_iter().enumerate() {
        let k = key("pods", "a", &format!("after-{i}"));
        written.push(must_write(cluster.store(id), create(&k, "{}")).await);
    }

    tracing::info!("--- restart the old leader");
    cluster.restart(old).await.expect("the old leader restarts");
    // Its leadership watch follows as it learns of the new leader.
    demoted = cluster.store(old).leadership();
    let seen = *within(demoted.receiver().wait_for(|l| l.leader == Some(new)))
        .await
        .expect("node runs");
    assert!(!seen.is_leader, "{seen:?}");
    for i in 0..3 {
        let k = key("pods", "a", &format!("after-{i}"));
        assert!(
            cluster.get(old, &k).await.is_some(),
            "{k} reached the restarted node"
        );
    }
    let last = must_write(cluster.store(old), create(&key("pods", "a", "last"), "{}")).await;
    assert!(last > *written.iter().max().expect("writes"));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_sees_every_change_once_across_a_leader_change() {
    let mut cluster = Cluster::form(3).await;
    let leader = cluster.leader().await;
    let watcher_node = cluster.other_than(&[leader]);
    let start = must_write(
        cluster.store(leader),
        create(&key("pods", "w", "start"), "{}"),
    )
    .await;

    let mut written = Vec::new();
    for i in 0..5 {
        let k = key("pods", "w", &format!("p{i}"));
        written.push((
            must_write(cluster.store(watcher_node), create(&k, "{}")).await,
            k,
        ));
    }
    // The watch starts in the past: part of it is replayed, the rest arrives live.
    let mut watcher = within(
        cluster
            .store(watcher_node)
            .watch(KeyPrefix::resource("pods").expect("prefix"), start),
    )
    .await
    .expect("watch");

    tracing::info!("--- stop the leader while the watch runs");
    cluster.stop(leader).await;
    let remaining = cluster.running();
    let new = cluster.leader_among(&remaining).await;
    for i in 5..10 {
        let k = key("pods", "w", &format!("p{i}"));
        written.push((must_write(cluster.store(new), create(&k, "{}")).await, k));
    }
    for (revision, k) in &written {
        let event = next_event(&mut watcher).await;
        assert_eq!(
            (event.revision, &event.object.key, event.kind),
            (*revision, k, EventKind::Added),
            "events arrive in order, without gap or repeat"
        );
    }
    // Nothing more is pending: the next event is the next write.
    let sentinel = must_write(cluster.store(new), create(&key("pods", "w", "z"), "{}")).await;
    assert_eq!(next_event(&mut watcher).await.revision, sentinel);
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_added_promoted_and_removed_and_ids_are_never_reused() {
    let mut cluster = Cluster::form(3).await;
    let leader = cluster.leader().await;
    for i in 0..5 {
        must_write(
            cluster.store(leader),
            create(&key("pods", "m", &format!("p{i}")), "{}"),
        )
        .await;
    }

    tracing::info!("--- add node 4 as a learner, from a follower");
    cluster.start_joiner(4).await.expect("node 4 starts");
    let follower = cluster.other_than(&[leader]);
    let addr4 = cluster.addrs[&4].clone();
    within(cluster.store(follower).add_learner(4, &addr4))
        .await
        .expect("learner added");
    let seen = cluster.store(leader).membership();
    assert!(
        seen.learners.contains(&4) && !seen.voters.contains(&4),
        "{seen:?}"
    );
    assert_eq!(seen.members[&4].incarnation, cluster.store(4).incarnation());
    // Adding it again is a no-op; the learner has the log.
    within(cluster.store(leader).add_learner(4, &addr4))
        .await
        .expect("adding twice is harmless");
    cluster.converged_with(leader).await;
    let local = cluster
        .store(4)
        .read(shoal_control::store::Consistency::Local)
        .await
        .expect("local read");
    assert!(
        local
            .get(&key("pods", "m", "p4"))
            .await
            .expect("get")
            .is_some()
    );

    tracing::info!("--- promote node 4");
    within(cluster.store(4).promote(4)).await.expect("promoted");
    let mut metrics = cluster.store(leader).metrics();
    within(metrics.wait_for(|m| m.membership_config.membership().voter_ids().count() == 4))
        .await
        .expect("node runs");
    assert_eq!(cluster.voters(leader), [1, 2, 3, 4].into());
    // Node 4 now reads linearizably and takes writes.
    must_write(cluster.store(4), create(&key("pods", "m", "by-4"), "{}")).await;

    tracing::info!("--- remove a voter that is not the leader");
    let victim = cluster.other_than(&[leader, 4]);
    within(cluster.store(4).remove(victim))
        .await
        .expect("removed");
    let mut metrics = cluster.store(leader).metrics();
    within(metrics.wait_for(|m| {
        m.membership_config.membership().get_node(&victim).is_none()
            && m.membership_config.membership().get_joint_config().len() == 1
    }))
    .await
    .expect("node runs");
    let mut expected: std::collections::BTreeSet<_> = [1, 2, 3, 4].into();
    expected.remove(&victim);
    assert_eq!(cluster.voters(leader), expected);
    must_write(
        cluster.store(leader),
        create(&key("pods", "m", "after-remove"), "{}"),
    )
    .await;

    // The removed node was told: it refuses to start again with its directory.
    cluster.stop(victim).await;
    match cluster.restart(victim).await {
        Err(StoreError::Removed { node }) => assert_eq!(node, victim),
        Err(other) => panic!("expected Removed, got {other}"),
        Ok(()) => panic!("a removed node started again"),
    }

    // Its id is retired: a new node under that id is refused, and so is an id in use.
    let dir = tempfile::tempdir().expect("temp dir");
    let (listener, addr) = bind().await;
    let fresh = Node::start(
        dir.path(),
        cluster_config(victim, &addr, ClusterMode::Join),
        listener,
    )
    .await
    .expect("a fresh node starts");
    let refused = within(cluster.store(leader).add_learner(victim, &addr)).await;
    assert!(
        matches!(refused, Err(StoreError::NodeIdRetired { node }) if node == victim),
        "{refused:?}"
    );
    fresh.stop().await;
    let (listener, addr) = bind().await;
    let impostor_dir = tempfile::tempdir().expect("temp dir");
    let impostor = Node::start(
        impostor_dir.path(),
        cluster_config(4, &addr, ClusterMode::Join),
        listener,
    )
    .await
    .expect("an impostor starts");
    let refused = within(cluster.store(leader).add_learner(4, &addr)).await;
    assert!(
        matches!(refused, Err(StoreError::NodeIdInUse { node: 4, .. })),
        "{refused:?}"
    );
    impostor.stop().await;
    cluster.stop_all().await;
}

#[tokio::test]
async fn a_directory_keeps_its_node_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = crate::common::config(Default::default());
    let store = within(Store::open(dir.path(), config.clone()))
        .await
        .expect("opens");
    let incarnation = store.incarnation();
    store.shutdown().await.expect("shutdown");
    let other_id = shoal_control::store::StoreConfig {
        node_id: 2,
        ..config.clone()
    };
    match within(Store::open(dir.path(), other_id)).await {
        Err(StoreError::IdentityMismatch {
            recorded,
            configured,
        }) => assert_eq!((recorded, configured), (1, 2)),
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
    let store = within(Store::open(dir.path(), config))
        .await
        .expect("reopens");
    assert_eq!(store.incarnation(), incarnation, "the incarnation is kept");
    store.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_endpoints_require_the_secret_and_the_right_target() {
    let cluster = Cluster::form(3).await;
    let addr = &cluster.addrs[&1];
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let url = |endpoint: &str| format!("http://{addr}/raft/v1/{endpoint}");
    let post = |endpoint: &str, auth: Option<&str>| {
        let mut request = client.post(url(endpoint)).body("{}");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer test-cluster-secre"),
    ] {
        for endpoint in ["vote", "append", "write", "identity"] {
            let response = within(post(endpoint, auth)).await.expect("answer");
            assert_eq!(response.status(), 401, "{endpoint} with {auth:?}");
        }
    }
    let secret = Some("Bearer test-cluster-secret");
    let response = within(post("identity", secret)).await.expect("answer");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(body.contains(r#""node_id":1"#), "{body}");
    // A Raft request must name this node's current incarnation.
    let response = within(post("vote", secret)).await.expect("answer");
    assert_eq!(response.status(), 409);
    let response = within(
        client
            .post(url("vote"))
            .header("authorization", "Bearer test-cluster-secret")
            .header("x-shoal-target", "1.0000000000000001")
            .body("{}")
            .send(),
    )
    .await
    .expect("answer");
    assert_eq!(response.status(), 409);
    let response = within(post("nothing", secret)).await.expect("answer");
    assert_eq!(response.status(), 404);
    cluster.stop_all().await;
}

/// Snapshots every few entries and keeps no log behind them, so a lagging node needs one.
fn compacting(config: shoal_control::store::StoreConfig) -> shoal_control::store::StoreConfig {
    shoal_control::store::StoreConfig {
        snapshot_after_entries: 10,
        logs_kept_after_snapshot: 0,
        ..config
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_catches_up_from_a_snapshot_sent_over_http() {
    let mut cluster = Cluster::form_with(3, compacting).await;
    let leader = cluster.leader().await;
    let lagging = cluster.other_than(&[leader]);
    let early = must_write(
        cluster.store(leader),
        create(&key("pods", "s", "early"), "{}"),
    )
    .await;
    cluster.converged_with(leader).await;
    cluster.stop(lagging).await;

    for i in 0..40 {
        let k = key("pods", "s", &format!("p{i:02}"));
        must_write(
            cluster.store(leader),
            create(&k, &format!(r#"{{"i":{i}}}"#)),
        )
        .await;
    }
    let mut metrics = cluster.store(leader).metrics();
    let purged =
        within(metrics.wait_for(|m| m.purged.is_some_and(|p| p.index > early.entry_index())))
            .await
            .expect("node runs")
            .purged;
    assert!(
        purged.is_some(),
        "the leader purged the entries the follower misses"
    );

    tracing::info!("--- restart the lagging follower");
    cluster.restart(lagging).await.expect("restarts");
    cluster.converged_with(leader).await;
    let snapshot = cluster.store(lagging).metrics().borrow().snapshot;
    assert!(
        snapshot.is_some_and(|s| s.index > early.entry_index()),
        "the follower installed a snapshot: {snapshot:?}"
    );
    let reader = cluster
        .store(lagging)
        .read(shoal_control::store::Consistency::Local)
        .await
        .expect("local read");
    let page = reader
        .list(shoal_control::store::ListOptions::all(
            KeyPrefix::resource("pods").expect("prefix"),
        ))
        .await
        .expect("list");
    assert_eq!(page.items.len(), 41);
    assert_eq!(
        value_text(&page.items[40].value),
        r#"{"i":39}"#,
        "values arrive intact"
    );
    // History from before the snapshot is gone on the follower; later changes are watchable.
    assert!(matches!(
        cluster.store(lagging).watch(KeyPrefix::all(), early).await,
        Err(StoreError::Gone { .. })
    ));
    cluster.stop_all().await;
}
