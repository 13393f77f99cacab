//! Lists by prefix, paginated with continue tokens that keep every page at one revision.

use std::time::Duration;

use shoal_control::store::{
    Consistency, HistoryWindow, KeyPrefix, ListOptions, ListPage, MachineConfig, Preconditions,
    Reader, StoreError,
};

use crate::common::{
    assert_gone, create, delete, key, must_write, open, open_with, update, value_text,
};

fn prefix(resource: &str, namespace: &str) -> KeyPrefix {
    KeyPrefix::namespace(resource, namespace).expect("valid prefix")
}

async fn page(
    reader: &Reader,
    prefix: &KeyPrefix,
    limit: usize,
    token: Option<String>,
) -> ListPage {
    reader
        .list(ListOptions {
            prefix: prefix.clone(),
            limit,
            continue_token: token,
        })
        .await
        .expect("list page")
}

#[tokio::test]
async fn later_pages_show_the_first_pages_revision() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    for i in 0..10 {
        let k = key("pods", "web", &format!("p{i}"));
        must_write(&store, create(&k, &format!(r#"{{"i":{i}}}"#))).await;
    }
    let reader = store.read(Consistency::Linearizable).await.expect("read");
    let web = prefix("pods", "web");
    let first = page(&reader, &web, 3, None).await;
    let names: Vec<&str> = first.items.iter().map(|o| o.key.name()).collect();
    assert_eq!(names, ["p0", "p1", "p2"]);

    // Change the objects the next pages will cover, and add one among them.
    must_write(
        &store,
        update(
            &key("pods", "web", "p4"),
            r#"{"i":"changed"}"#,
            Preconditions::none(),
        ),
    )
    .await;
    must_write(
        &store,
        update(
            &key("pods", "web", "p4"),
            r#"{"i":"again"}"#,
            Preconditions::none(),
        ),
    )
    .await;
    must_write(
        &store,
        delete(&key("pods", "web", "p7"), Preconditions::none()),
    )
    .await;
    must_write(&store, create(&key("pods", "web", "p5a"), "{}")).await;
    must_write(
        &store,
        delete(&key("pods", "web", "p1"), Preconditions::none()),
    )
    .await;

    let mut all = first.items.clone();
    let mut token = first.continue_token.clone();
    while let Some(t) = token {
        let next = page(&reader, &web, 3, Some(t)).await;
        assert_eq!(
            next.revision, first.revision,
            "every page is at the first page's revision"
        );
        assert!(next.items.len() <= 3);
        all.extend(next.items);
        token = next.continue_token;
    }
    let names: Vec<&str> = all.iter().map(|o| o.key.name()).collect();
    assert_eq!(
        names,
        ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]
    );
    let p4 = &all[4];
    assert_eq!(
        value_text(&p4.value),
        r#"{"i":4}"#,
        "the value as of the list's revision"
    );
    assert!(all.iter().all(|o| o.mod_revision <= first.revision));

    // A fresh list sees the current state.
    let now = page(&reader, &web, 0, None).await;
    let names: Vec<&str> = now.items.iter().map(|o| o.key.name()).collect();
    assert_eq!(
        names,
        ["p0", "p2", "p3", "p4", "p5", "p5a", "p6", "p8", "p9"]
    );
    assert!(now.revision > first.revision);
    assert_eq!(now.continue_token, None);
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn prefixes_select_resources_and_namespaces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    for (ns, name) in [("a", "x"), ("a", "y"), ("b", "x")] {
        must_write(&store, create(&key("pods", ns, name), "{}")).await;
    }
    must_write(&store, create(&key("podtemplates", "a", "t"), "{}")).await;
    must_write(&store, create(&key("nodes", "", "edge-1"), "{}")).await;
    let reader = store.read(Consistency::Local).await.expect("read");

    let keys = |page: ListPage| -> Vec<String> {
        page.items
            .iter()
            .map(|o| o.key.as_str().to_owned())
            .collect()
    };
    let pods = KeyPrefix::resource("pods").expect("prefix");
    assert_eq!(
        keys(page(&reader, &pods, 0, None).await),
        ["pods/a/x", "pods/a/y", "pods/b/x"]
    );
    assert_eq!(
        keys(page(&reader, &prefix("pods", "a"), 0, None).await),
        ["pods/a/x", "pods/a/y"]
    );
    assert_eq!(
        keys(page(&reader, &prefix("nodes", ""), 0, None).await),
        ["nodes//edge-1"]
    );
    assert_eq!(
        page(&reader, &KeyPrefix::all(), 0, None).await.items.len(),
        5
    );
    assert!(
        page(&reader, &prefix("pods", "c"), 0, None)
            .await
            .items
            .is_empty()
    );

    // Exactly `limit` items left: the last page has no token.
    let first = page(&reader, &pods, 2, None).await;
    let second = page(&reader, &pods, 2, first.continue_token.clone()).await;
    assert_eq!(keys(second.clone()), ["pods/b/x"]);
    assert_eq!(second.continue_token, None);

    // A token only continues the list it came from.
    let foreign = reader
        .list(ListOptions {
            prefix: KeyPrefix::resource("nodes").expect("prefix"),
            limit: 1,
            continue_token: first.continue_token,
        })
        .await;
    assert!(
        matches!(foreign, Err(StoreError::InvalidContinue { .. })),
        "{foreign:?}"
    );
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_token_older_than_the_history_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let window = HistoryWindow {
        max_events: 4,
        max_age: Duration::from_secs(3600),
    };
    let machine = MachineConfig {
        history: window,
        ..MachineConfig::default()
    };
    let store = open_with(dir.path(), machine).await;
    for i in 0..3 {
        must_write(&store, create(&key("pods", "a", &format!("p{i}")), "{}")).await;
    }
    let reader = store.read(Consistency::Local).await.expect("read");
    let a = prefix("pods", "a");
    let first = page(&reader, &a, 1, None).await;
    for i in 0..6 {
        must_write(&store, create(&key("pods", "b", &format!("q{i}")), "{}")).await;
    }
    let expired = reader
        .list(ListOptions {
            prefix: a,
            limit: 1,
            continue_token: first.continue_token,
        })
        .await;
    assert_gone(expired);
    store.shutdown().await.expect("shutdown");
}
