//! Rollouts step by step: RollingUpdate within maxSurge and maxUnavailable, Recreate,
//! `rollout undo`, `paused`, resizing (plain and proportional) and history cleanup.

use serde_json::json;

use super::super::{Action, HASH_LABEL, REVISION, REVISION_HISTORY, annotation, spec_replicas};
use super::{World, at, deployment, image_of};
use crate::controllers::deployment::template;

/// Pods kept available after the pass: what each ReplicaSet reported, capped at its new size.
fn kept_available(world: &World) -> i32 {
    world
        .sets
        .iter()
        .map(|rs| {
            let available = rs
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            available.min(spec_replicas(rs))
        })
        .sum()
}

fn total(world: &World) -> i32 {
    world.sets.iter().map(spec_replicas).sum()
}

/// Runs passes with every pod ready until the Deployment is steady.
fn roll_out(world: &mut World) {
    for _ in 0..50 {
        world.all_ready();
        if world.step().is_empty() {
            return;
        }
    }
    panic!("the rollout does not finish: {:?}", world.sets);
}

fn steady(replicas: i32, spec: serde_json::Value) -> World {
    let mut world = World::new(deployment(replicas, "web:1", spec));
    roll_out(&mut world);
    world
}

#[test]
fn rolling_update_with_25_percent_over_4_replicas() {
    let mut world = steady(4, json!({}));
    assert_eq!(world.size("web:1"), 4);
    world.set_image("web:2");
    let sizes = |w: &World| (w.size("web:1"), w.size("web:2"));
    // New pods become ready only when the test says so.
    let mut new_ready = 0;
    let observe = |w: &mut World, new_ready: i32| {
        w.observe(|rs| {
            if image_of(rs) == "web:2" {
                new_ready
            } else {
                spec_replicas(rs)
            }
        });
    };

    world.step();
    assert_eq!(
        sizes(&world),
        (3, 1),
        "one pod of surge and one of unavailability at once"
    );
    observe(&mut world, new_ready);
    world.step();
    assert_eq!(
        sizes(&world),
        (3, 2),
        "the old pod went: one more surge pod"
    );
    observe(&mut world, new_ready);
    world.step();
    assert_eq!(sizes(&world), (3, 2), "waits for new pods to be ready");
    new_ready = 2;
    observe(&mut world, new_ready);
    world.step();
    assert_eq!(sizes(&world), (1, 2));
    observe(&mut world, new_ready);
    world.step();
    assert_eq!(sizes(&world), (1, 4));
    observe(&mut world, new_ready);
    world.step();
    assert_eq!(sizes(&world), (1, 4), "two new pods are not ready yet");
    new_ready = 4;
    observe(&mut world, new_ready);
    world.step();
    assert_eq!(sizes(&world), (0, 4));
    roll_out(&mut world);
    assert_eq!(sizes(&world), (0, 4));
    let status = world.status();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.available_replicas,
            status.observed_generation
        ),
        (Some(4), Some(4), Some(4), Some(2))
    );
    assert_eq!(
        world.condition("Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
    assert_eq!(world.sets.len(), 2, "the old ReplicaSet stays as history");
}

#[test]
fn max_unavailable_zero_replaces_one_pod_at_a_time() {
    // 25% of 3: a surge of 1, none unavailable.
    let mut world = steady(3, json!({}));
    world.set_image("web:2");
    world.step();
    assert_eq!((world.size("web:1"), world.size("web:2")), (3, 1));
    for _ in 0..3 {
        world.observe(|rs| {
            if image_of(rs) == "web:2" {
                0
            } else {
                spec_replicas(rs)
            }
        });
        world.step();
        assert_eq!(
            world.size("web:1"),
            3,
            "no old pod goes before a new one is ready"
        );
    }
    for _ in 0..20 {
        world.all_ready();
        world.step();
        assert!(
            total(&world) <= 4,
            "never more than 3 + 1: {:?}",
            world.sets
        );
        assert!(kept_available(&world) >= 3, "never fewer than 3 available");
    }
    assert_eq!((world.size("web:1"), world.size("web:2")), (0, 3));
}

#[test]
fn recreate_scales_old_to_zero_and_waits_for_its_pods() {
    let mut world = steady(3, json!({"strategy": {"type": "Recreate"}}));
    assert_eq!(world.size("web:1"), 3);
    world.set_image("web:2");
    world.step();
    assert_eq!(world.size("web:1"), 0);
    assert_eq!(world.sets.len(), 1, "no new ReplicaSet while old pods run");
    // The old ReplicaSet still reports its pods.
    world.step();
    assert_eq!(world.sets.len(), 1);
    // It reports none, but one is still terminating.
    world.observe(|_| 0);
    let old_uid = world.rs("web:1").metadata.uid.clone().unwrap();
    let terminating: shoal_manifests::k8s_openapi::api::core::v1::Pod =
        serde_json::from_value(json!({
            "metadata": {
                "name": "web-old-1", "namespace": "default", "uid": "p1",
                "deletionTimestamp": "2023-11-14T22:13:20Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": old_uid, "controller": true}],
            },
            "status": {"phase": "Running"},
        }))
        .unwrap();
    world.pods.push(terminating);
    world.step();
    assert_eq!(world.sets.len(), 1, "waits for the terminating pod");
    world.pods[0].status.as_mut().unwrap().phase = Some("Succeeded".into());
    world.step();
    assert_eq!(
        world.size("web:2"),
        3,
        "then the new ReplicaSet at full size"
    );
    assert_eq!(world.revision_of("web:2"), "2");
    roll_out(&mut world);
    assert_eq!(
        world.condition("Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
}

#[test]
fn undo_reuses_the_old_replica_set_and_raises_its_revision() {
    let mut world = steady(2, json!({}));
    world.set_image("web:2");
    roll_out(&mut world);
    assert_eq!((world.size("web:1"), world.size("web:2")), (0, 2));
    let old_name = world.rs("web:1").metadata.name.clone();

    // What `kubectl rollout undo` sends: the old template without its hash label.
    let mut template = world.rs("web:1").spec.template.clone().unwrap();
    let labels = template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
    labels.remove(HASH_LABEL);
    world.d.spec.template = template;
    world.bump();

    let actions = world.step();
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Create(_))),
        "{actions:?}"
    );
    assert_eq!(world.rs("web:1").metadata.name, old_name);
    assert_eq!(world.revision_of("web:1"), "3");
    assert_eq!(
        annotation(&world.rs("web:1").metadata, REVISION_HISTORY),
        Some("1")
    );
    assert_eq!(world.size("web:1"), 1, "and it scales up at once");
    world.step();
    assert_eq!(annotation(&world.d.metadata, REVISION), Some("3"));
    roll_out(&mut world);
    assert_eq!((world.size("web:1"), world.size("web:2")), (2, 0));
    assert_eq!(world.revision_of("web:2"), "2");

    // Undo again: revision 2 comes back as 4, with its history.
    let mut template = world.rs("web:2").spec.template.clone().unwrap();
    template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .remove(HASH_LABEL);
    world.d.spec.template = template;
    world.bump();
    roll_out(&mut world);
    assert_eq!(world.revision_of("web:2"), "4");
    assert_eq!(
        annotation(&world.rs("web:2").metadata, REVISION_HISTORY),
        Some("2")
    );
    assert_eq!(annotation(&world.d.metadata, REVISION), Some("4"));
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out() {
    let mut world = steady(2, json!({}));
    world.d.spec.paused = Some(true);
    world.set_image("web:2");
    world.step();
    assert_eq!(world.sets.len(), 1, "no new ReplicaSet while paused");
    assert_eq!(
        world.condition("Progressing"),
        Some(("Unknown".into(), "DeploymentPaused".into()))
    );
    assert_eq!(world.status().observed_generation, Some(2));
    assert!(world.step().is_empty());

    world.d.spec.replicas = Some(4);
    world.bump();
    world.step();
    assert_eq!(world.size("web:1"), 4, "scaling still applies");
    let rs = world.rs("web:1");
    assert_eq!(
        annotation(&rs.metadata, super::super::DESIRED_REPLICAS),
        Some("4")
    );
    assert_eq!(
        annotation(&rs.metadata, super::super::MAX_REPLICAS),
        Some("5")
    );

    world.all_ready();
    world.step();
    world.d.spec.paused = None;
    world.bump();
    world.step();
    assert_eq!(world.sets.len(), 2, "resumed: the rollout starts");
    assert_eq!(
        world.condition("Progressing"),
        Some(("True".into(), "NewReplicaSetCreated".into()))
    );
    roll_out(&mut world);
    assert_eq!((world.size("web:1"), world.size("web:2")), (0, 4));
}

#[test]
fn resizing_a_steady_deployment_resizes_its_replica_set() {
    let mut world = steady(3, json!({}));
    world.d.spec.replicas = Some(1);
    world.bump();
    world.step();
    assert_eq!(world.size("web:1"), 1);
    let rs = world.rs("web:1");
    assert_eq!(
        annotation(&rs.metadata, super::super::DESIRED_REPLICAS),
        Some("1")
    );
    assert_eq!(
        annotation(&rs.metadata, super::super::MAX_REPLICAS),
        Some("2")
    );
    roll_out(&mut world);
    assert_eq!(world.status().replicas, Some(1));
}

#[test]
fn resizing_mid_rollout_spreads_replicas_in_proportion() {
    // The example of the Kubernetes documentation: 10 replicas, maxSurge 3, maxUnavailable 2.
    let strategy = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}});
    let mut world = steady(10, strategy);
    world.set_image("web:2");
    world.step();
    assert_eq!((world.size("web:1"), world.size("web:2")), (8, 3));
    world.observe(|rs| {
        if image_of(rs) == "web:2" {
            0
        } else {
            spec_replicas(rs)
        }
    });
    world.step();
    assert_eq!((world.size("web:1"), world.size("web:2")), (8, 5));
    world.d.spec.replicas = Some(15);
    world.bump();
    world.step();
    assert_eq!(
        (world.size("web:1"), world.size("web:2")),
        (11, 7),
        "3 more to the old ReplicaSet, 2 to the new"
    );
    roll_out(&mut world);
    assert_eq!((world.size("web:1"), world.size("web:2")), (0, 15));
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_first() {
    let mut world = steady(1, json!({"revisionHistoryLimit": 2}));
    for image in ["web:2", "web:3", "web:4", "web:5"] {
        world.set_image(image);
        roll_out(&mut world);
    }
    let mut images: Vec<&str> = world.sets.iter().map(image_of).collect();
    images.sort_unstable();
    assert_eq!(images, ["web:3", "web:4", "web:5"]);
    assert_eq!(world.revision_of("web:5"), "5");
}

#[test]
fn history_cleanup_spares_replica_sets_that_still_report_pods() {
    let mut world = steady(1, json!({}));
    world.set_image("web:2");
    roll_out(&mut world);
    assert_eq!(world.sets.len(), 2);
    // Paused, cleanup runs on every pass; the old ReplicaSet still reports a pod.
    world.d.spec.paused = Some(true);
    world.d.spec.revision_history_limit = Some(0);
    world.bump();
    for rs in &mut world.sets {
        if image_of(rs) == "web:1" {
            rs.status.as_mut().unwrap().replicas = 1;
        }
    }
    world.step();
    assert_eq!(world.sets.len(), 2, "a ReplicaSet with pods is not deleted");
    world.all_ready();
    let actions = world.step();
    assert!(
        matches!(actions.as_slice(), [Action::Delete { .. }, ..]),
        "{actions:?}"
    );
    assert_eq!(world.sets.len(), 1);
    assert_eq!(image_of(&world.sets[0]), "web:2");
}

#[test]
fn an_old_template_hash_label_on_the_template_does_not_matter() {
    let mut world = World::new(deployment(1, "web:1", json!({})));
    world
        .d
        .spec
        .template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(HASH_LABEL.into(), "stale".into());
    let actions = world.step();
    let Action::Create(rs) = &actions[0] else {
        panic!("{actions:?}")
    };
    let hash = template::hash(&world.d.spec.template, None);
    assert_eq!(
        rs.metadata.labels.as_ref().unwrap()[HASH_LABEL],
        hash,
        "the controller's hash wins"
    );
    assert_eq!(
        plan_again(&mut world),
        0,
        "and the ReplicaSet is found again"
    );
}

fn plan_again(world: &mut World) -> usize {
    world.all_ready();
    world.settle();
    let actions = super::super::plan(&world.d, &world.sets, &world.pods, at(world.clock + 1));
    actions.len()
}
