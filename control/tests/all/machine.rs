//! Conditional writes, transactions and revisions through a single-node store, and durability
//! across a reopen.

use std::collections::BTreeMap;

use shoal_control::store::{
    Command, Consistency, KeyPrefix, ListOptions, ObjectValue, OpOutcome, Preconditions, Revision,
    StoreError, Timestamp, Uid,
};

use crate::common::{create, delete, key, must_write, open, update, value_text, within, write};

#[tokio::test]
async fn conditional_writes_report_what_happened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let cm = key("configmaps", "default", "settings");

    let created = write(&store, create(&cm, r#"{"v":1}"#)).await;
    let r1 = created.revision;
    assert_eq!(created.outcomes, vec![OpOutcome::Created { revision: r1 }]);

    let again = write(&store, create(&cm, r#"{"v":0}"#)).await;
    assert!(!again.succeeded);
    assert_eq!(
        again.outcomes,
        vec![OpOutcome::AlreadyExists {
            current_revision: r1
        }]
    );

    let stale = write(
        &store,
        update(
            &cm,
            r#"{"v":2}"#,
            Preconditions::revision(Revision(r1.0 - 1)),
        ),
    )
    .await;
    assert_eq!(
        stale.outcomes,
        vec![OpOutcome::Conflict {
            current_revision: r1,
            current_uid: Uid(format!("uid-{cm}")),
        }]
    );

    let updated = write(
        &store,
        update(&cm, r#"{"v":2}"#, Preconditions::revision(r1)),
    )
    .await;
    let r2 = updated.revision;
    assert!(r2 > r1);
    assert_eq!(updated.outcomes, vec![OpOutcome::Updated { revision: r2 }]);

    let reader = store.read(Consistency::Linearizable).await.expect("read");
    let object = reader.get(&cm).await.expect("get").expect("object exists");
    assert_eq!(value_text(&object.value), r#"{"v":2}"#);
    assert_eq!((object.create_revision, object.mod_revision), (r1, r2));
    assert_eq!(object.uid, Uid(format!("uid-{cm}")));

    let wrong_uid = write(&store, delete(&cm, Preconditions::uid(Uid("other".into())))).await;
    assert!(matches!(
        wrong_uid.outcomes[..],
        [OpOutcome::Conflict { current_revision, .. }] if current_revision == r2
    ));

    let deleted = write(&store, delete(&cm, Preconditions::uid(object.uid.clone()))).await;
    match &deleted.outcomes[..] {
        [OpOutcome::Deleted { revision, previous }] => {
            assert_eq!(*revision, deleted.revision);
            assert_eq!(**previous, object);
        }
        other => panic!("unexpected outcomes {other:?}"),
    }
    assert_eq!(reader.get(&cm).await.expect("get"), None);

    let missing_update = write(&store, update(&cm, "{}", Preconditions::none())).await;
    assert_eq!(missing_update.outcomes, vec![OpOutcome::NotFound]);
    let missing_delete = write(&store, delete(&cm, Preconditions::none())).await;
    assert_eq!(missing_delete.outcomes, vec![OpOutcome::NotFound]);

    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn transactions_commit_all_or_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let a = key("pods", "ns", "a");
    let b = key("pods", "ns", "b");
    let c = key("pods", "ns", "c");
    let rb = must_write(&store, create(&b, r#"{"b":1}"#)).await;

    let failed = within(store.write(Command::txn(
        Timestamp::now(),
        vec![
            create(&a, "{}"),
            create(&b, "{}"),
            update(&c, "{}", Preconditions::none()),
        ],
    )))
    .await
    .expect("applied");
    assert!(!failed.succeeded);
    assert_eq!(
        failed.outcomes,
        vec![
            OpOutcome::Aborted,
            OpOutcome::AlreadyExists {
                current_revision: rb
            },
            OpOutcome::NotFound,
        ]
    );
    let reader = store.read(Consistency::Local).await.expect("read");
    assert_eq!(
        reader.get(&a).await.expect("get"),
        None,
        "nothing of a failed txn is written"
    );

    // A later op sees an earlier one's effect; every change shares the entry's revision.
    let ok = within(store.write(Command::txn(
        Timestamp::now(),
        vec![
            create(&a, r#"{"a":1}"#),
            update(&a, r#"{"a":2}"#, Preconditions::none()),
            delete(&b, Preconditions::revision(rb)),
        ],
    )))
    .await
    .expect("applied");
    assert!(ok.succeeded, "{ok:?}");
    let r = ok.revision;
    assert_eq!(ok.outcomes[0], OpOutcome::Created { revision: r });
    assert_eq!(ok.outcomes[1], OpOutcome::Updated { revision: r });
    let a_now = reader.get(&a).await.expect("get").expect("a exists");
    assert_eq!(value_text(&a_now.value), r#"{"a":2}"#);
    assert_eq!((a_now.create_revision, a_now.mod_revision), (r, r));
    assert_eq!(reader.get(&b).await.expect("get"), None);

    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn revisions_are_log_indexes_and_strictly_increase() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).await;
    let mut last = Revision(0);
    for i in 0..10 {
        let op = create(&key("configmaps", "default", &format!("c{i}")), "{}");
        let revision = must_write(&store, op).await;
        assert!(revision > last, "{revision} after {last}");
        let applied = store.metrics().borrow().last_applied.map(|id| id.index);
        assert_eq!(
            applied,
            Some(revision.entry_index()),
            "the revision names the entry's log index"
        );
        last = revision;
    }
    // A failed write still occupies a log index, so later writes stay above it.
    let failed = write(&store, create(&key("configmaps", "default", "c0"), "{}")).await;
    assert!(!failed.succeeded && failed.revision > last);
    store.shutdown().await.expect("shutdown");
}

#[test]
fn values_and_keys_are_checked_before_proposing() {
    assert!(matches!(
        ObjectValue::from_json(b"{not json"),
        Err(StoreError::InvalidValue { .. })
    ));
    assert!(matches!(
        shoal_control::store::ObjectKey::new("pods", "a/b", "c"),
        Err(StoreError::InvalidKey { .. })
    ));
    assert!(KeyPrefix::resource("").is_err());
}

#[tokio::test]
async fn reopening_finds_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut expected = BTreeMap::new();
    let mut last = Revision(0);
    {
        let store = open(dir.path()).await;
        for i in 0..30 {
            let k = key("secrets", "prod", &format!("s{i:02}"));
            must_write(&store, create(&k, &format!(r#"{{"n":{i}}}"#))).await;
            expected.insert(k.as_str().to_owned(), format!(r#"{{"n":{i}}}"#));
        }
        for i in (0..30).step_by(3) {
            let k = key("secrets", "prod", &format!("s{i:02}"));
            must_write(
                &store,
                update(&k, r#"{"n":"updated"}"#, Preconditions::none()),
            )
            .await;
            expected.insert(k.as_str().to_owned(), r#"{"n":"updated"}"#.to_owned());
        }
        for i in (1..30).step_by(5) {
            let k = key("secrets", "prod", &format!("s{i:02}"));
            last = must_write(&store, delete(&k, Preconditions::none())).await;
            expected.remove(k.as_str());
        }
        store.shutdown().await.expect("shutdown");
    }

    let store = open(dir.path()).await;
    let reader = store.read(Consistency::Linearizable).await.expect("read");
    let page = reader
        .list(ListOptions::all(
            KeyPrefix::resource("secrets").expect("prefix"),
        ))
        .await
        .expect("list");
    let found: BTreeMap<String, String> = page
        .items
        .iter()
        .map(|o| (o.key.as_str().to_owned(), value_text(&o.value).to_owned()))
        .collect();
    assert_eq!(found, expected);
    assert!(page.revision >= last);
    let next = must_write(&store, create(&key("secrets", "prod", "after"), "{}")).await;
    assert!(next > last, "revisions keep increasing across a restart");
    store.shutdown().await.expect("shutdown");
}
