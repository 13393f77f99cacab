//! Tests of the ReplicaSet planner: creation from the template, claiming, the scale-down
//! order, and the status it reports.

use serde_json::{Value, json};

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn time(seconds: i64) -> String {
    at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn rs(replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "default", "uid": "rs-1", "generation": 3},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}},
            "template": {
                "metadata": {
                    "labels": {"app": "web", "pod-template-hash": "abc", "tier": "front"},
                    "annotations": {"note": "x"},
                },
                "spec": {"containers": [{"name": "app", "image": "web:1"}]},
            },
        },
    }))
    .unwrap()
}

/// A pod of `rs()`'s selector, owned by it unless `owner` says otherwise.
fn pod(name: &str, patch: Value) -> Pod {
    let mut value = json!({
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": format!("uid-{name}"),
            "labels": {"app": "web", "pod-template-hash": "abc", "tier": "front"},
            "creationTimestamp": time(0),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                "uid": "rs-1", "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {"containers": [{"name": "app", "image": "web:1"}]},
        "status": {"phase": "Pending"},
    });
    merge(&mut value, patch);
    serde_json::from_value(value).unwrap()
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

fn running_ready(since: i64) -> Value {
    json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": time(since)},
    ]}})
}

fn deleted(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { pod, .. } => Some(pod.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn creates_the_missing_pods_from_the_template() {
    let pods = [pod("web-abc-1", json!({}))];
    let actions = plan(&rs(3), &pods);
    assert_eq!(actions.len(), 2);
    let Action::Create(created) = &actions[0] else {
        panic!("{actions:?}");
    };
    assert_eq!(actions[0], actions[1]);
    let created = serde_json::to_value(created).unwrap();
    assert_eq!(created["metadata"]["generateName"], "web-abc-");
    assert!(created["metadata"].get("name").is_none());
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(
        created["metadata"]["labels"],
        json!({"app": "web", "pod-template-hash": "abc", "tier": "front"})
    );
    assert_eq!(created["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(
        created["metadata"]["ownerReferences"],
        json!([{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs-1",
            "controller": true, "blockOwnerDeletion": true,
        }])
    );
    assert_eq!(created["spec"]["containers"][0]["image"], "web:1");
    assert_eq!(created["kind"], "Pod");
    assert!(
        plan(&rs(1), &pods).is_empty(),
        "at the desired count nothing happens"
    );
}

#[test]
fn pods_being_deleted_or_finished_are_replaced() {
    let pods = [
        pod("a", json!({"metadata": {"deletionTimestamp": time(5)}})),
        pod("b", json!({"status": {"phase": "Succeeded"}})),
        pod("c", json!({"status": {"phase": "Failed"}})),
        pod("d", json!({"status": {"phase": "Running"}})),
    ];
    let creates = plan(&rs(2), &pods)
        .iter()
        .filter(|a| matches!(a, Action::Create(_)))
        .count();
    assert_eq!(creates, 1);
    let status = status(&rs(2), &pods, at(10), None);
    assert_eq!(status.replicas, 1, "only the live pod counts");
}

#[test]
fn adopts_selected_orphans_and_releases_pods_it_no_longer_selects() {
    let orphan = pod("orphan", json!({"metadata": {"ownerReferences": null}}));
    let foreign = pod(
        "foreign",
        json!({"metadata": {"ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "other", "uid": "rs-2",
            "controller": true,
        }]}}),
    );
    let relabelled = pod(
        "relabelled",
        json!({"metadata": {"labels": {"app": "debug"}}}),
    );
    let unselected_orphan = pod(
        "stranger",
        json!({"metadata": {"ownerReferences": null, "labels": {"app": "db"}}}),
    );
    let other_namespace = pod(
        "elsewhere",
        json!({"metadata": {"ownerReferences": null, "namespace": "prod"}}),
    );
    let dying_orphan = pod(
        "dying",
        json!({"metadata": {"ownerReferences": null, "deletionTimestamp": time(1)}}),
    );
    let pods = [
        orphan,
        foreign,
        relabelled,
        unselected_orphan,
        other_namespace,
        dying_orphan,
    ];
    let actions = plan(&rs(1), &pods);
    assert_eq!(
        actions,
        [
            Action::Adopt {
                pod: "orphan".into(),
                uid: "uid-orphan".into()
            },
            Action::Release {
                pod: "relabelled".into(),
                uid: "uid-relabelled".into()
            },
        ],
        "the adopted orphan makes one; the released pod is replaced by nobody here"
    );
    let status = status(&rs(1), &pods, at(0), None);
    assert_eq!(status.replicas, 1);
}

#[test]
fn a_replica_set_being_deleted_neither_adopts_nor_creates() {
    let mut dying = rs(3);
    dying.metadata.deletion_timestamp = Some(Time(at(0)));
    let pods = [
        pod("orphan", json!({"metadata": {"ownerReferences": null}})),
        pod("relabelled", json!({"metadata": {"labels": {"app": "x"}}})),
    ];
    assert!(plan(&dying, &pods).is_empty());
}

#[test]
fn surplus_pods_go_in_the_kubernetes_order() {
    let pods = [
        pod("running-ready-old", {
            let mut p = running_ready(10);
            merge(&mut p, json!({"spec": {"nodeName": "n4"}}));
            p
        }),
        pod("pending-unassigned", json!({})),
        pod("pending-assigned", json!({"spec": {"nodeName": "n1"}})),
        pod(
            "unknown",
            json!({"spec": {"nodeName": "n2"}, "status": {"phase": "Unknown"}}),
        ),
        pod(
            "running-not-ready",
            json!({"spec": {"nodeName": "n2"}, "status": {"phase": "Running"}}),
        ),
        pod("running-ready-new", {
            let mut p = running_ready(50);
            merge(&mut p, json!({"spec": {"nodeName": "n3"}}));
            p
        }),
    ];
    let order = deleted(&plan(&rs(0), &pods));
    assert_eq!(
        order,
        [
            "pending-unassigned",
            "pending-assigned",
            "unknown",
            "running-not-ready",
            "running-ready-new",
            "running-ready-old",
        ]
    );
    assert_eq!(
        deleted(&plan(&rs(4), &pods)),
        ["pending-unassigned", "pending-assigned"],
        "only the surplus goes"
    );
}

#[test]
fn among_equals_restarts_then_age_then_cost_decide() {
    let restarted = |name: &str, restarts: i32, created: i64| {
        let mut p = running_ready(10);
        merge(
            &mut p,
            json!({
                "metadata": {"creationTimestamp": time(created)},
                "spec": {"nodeName": format!("node-{name}")},
                "status": {"containerStatuses": [{
                    "name": "app", "image": "web:1", "imageID": "", "ready": true,
                    "restartCount": restarts,
                }]},
            }),
        );
        pod(name, p)
    };
    let pods = [
        restarted("old-calm", 0, 0),
        restarted("new-calm", 0, 5),
        restarted("crashy", 4, 0),
    ];
    assert_eq!(
        deleted(&plan(&rs(0), &pods)),
        ["crashy", "new-calm", "old-calm"],
        "more restarts first, then the newer"
    );
    let mut cheap = restarted("cheap", 4, 0);
    cheap.metadata.annotations = Some(BTreeMap::from([(
        DELETION_COST.to_owned(),
        "-10".to_owned(),
    )]));
    let mut dear = restarted("dear", 0, 9);
    dear.metadata.annotations = Some(BTreeMap::from([(
        DELETION_COST.to_owned(),
        "100".to_owned(),
    )]));
    let pods = [dear, restarted("plain", 0, 0), cheap];
    assert_eq!(deleted(&plan(&rs(0), &pods)), ["cheap", "plain", "dear"]);
}

#[test]
fn pods_doubled_up_on_a_node_go_before_lone_ones() {
    let on = |name: &str, node: &str| {
        let mut p = running_ready(10);
        merge(&mut p, json!({"spec": {"nodeName": node}}));
        pod(name, p)
    };
    let pods = [on("alone", "n1"), on("crowd-a", "n2"), on("crowd-b", "n2")];
    assert_eq!(deleted(&plan(&rs(1), &pods)), ["crowd-a", "crowd-b"]);
}

#[test]
fn status_counts_labels_readiness_and_availability() {
    let mut set = rs(4);
    set.spec.min_ready_seconds = Some(30);
    let pods = [
        pod("pending", json!({})),
        pod("ready-long", running_ready(0)),
        pod("ready-recent", running_ready(90)),
        pod("partly-labelled", {
            let mut p = running_ready(0);
            merge(&mut p, json!({"metadata": {"labels": {"tier": null}}}));
            p
        }),
        pod(
            "someone-elses",
            json!({"metadata": {"ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "x", "controller": true,
            }]}}),
        ),
    ];
    let next = status(&set, &pods, at(100), None);
    assert_eq!(next.replicas, 4);
    assert_eq!(next.fully_labeled_replicas, Some(3));
    assert_eq!(next.ready_replicas, Some(3));
    assert_eq!(
        next.available_replicas,
        Some(2),
        "ready for 10s of the 30 minReadySeconds is not yet available"
    );
    assert_eq!(next.observed_generation, Some(3));
    assert_eq!(next.conditions, None);

    set.spec.min_ready_seconds = None;
    let next = status(&set, &pods, at(100), None);
    assert_eq!(next.available_replicas, Some(3));

    let empty = status(&rs(0), &[], at(0), None);
    assert_eq!(empty.replicas, 0);
    assert_eq!(
        (
            empty.ready_replicas,
            empty.available_replicas,
            empty.fully_labeled_replicas
        ),
        (None, None, None),
        "zero counts are left out, as Kubernetes' omitempty does"
    );
}

#[test]
fn a_failed_create_is_reported_and_cleared() {
    let mut set = rs(2);
    let failure = Failure("pods is forbidden: quota".to_owned());
    let next = status(&set, &[], at(0), Some(&failure));
    let condition = &next.conditions.as_ref().unwrap()[0];
    assert_eq!(condition.type_.as_deref(), Some("ReplicaFailure"));
    assert_eq!(condition.status.as_deref(), Some("True"));
    assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
    assert_eq!(
        condition.message.as_deref(),
        Some("pods is forbidden: quota")
    );

    set.status = Some(next.clone());
    let again = status(&set, &[], at(60), Some(&failure));
    assert_eq!(again, next, "an existing failure keeps its time");

    let cleared = status(&set, &[], at(60), None);
    assert_eq!(cleared.conditions, None);
}

#[test]
fn availability_needs_a_ready_condition_and_its_time() {
    let ready = pod("p", running_ready(0));
    assert!(is_ready(&ready));
    assert!(is_available(&ready, 0, at(0)));
    assert!(
        !is_available(&ready, 10, at(10)),
        "strictly after the window"
    );
    assert!(is_available(&ready, 10, at(11)));
    let timeless = pod(
        "q",
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    assert!(is_available(&timeless, 0, at(0)));
    assert!(!is_available(&timeless, 5, at(100)));
    let not_ready = pod(
        "r",
        json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
    );
    assert!(!is_ready(&not_ready));
}
