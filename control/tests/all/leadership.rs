//! Leadership as a service: a single node leads, and leader-only work is told when it stops.

use crate::common::{open, within};

#[tokio::test]
async fn a_single_node_leads_and_controllers_learn_when_it_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let mut leadership = store.leadership();
    let now = leadership.current();
    assert!(now.is_leader);
    assert_eq!(now.leader, Some(store.node_id()));
    let term = within(leadership.acquired()).await.expect("leads");
    assert_eq!(term, now.term);
    assert!(term >= 1);

    // A leader-only task runs until leadership for its term is lost.
    let mut watch = store.leadership();
    let controller = tokio::spawn(async move {
        watch.lost(term).await;
        watch.current()
    });
    store.shutdown().await.expect("shutdown");
    let after = within(controller).await.expect("controller task");
    assert!(!after.is_leader, "{after:?}");
}
