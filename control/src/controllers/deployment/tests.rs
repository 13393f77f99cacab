//! Tests of the Deployment planner. A small world plays the store, the ReplicaSet controller
//! and the kubelet: [`World::step`] runs one pass of [`plan`] and applies its actions, and
//! [`World::observe`] reports each ReplicaSet's pods as the test says they are. The rollout
//! strategies are in [`strategies`].

mod strategies;

use serde_json::{Value, json};
use shoal_manifests::k8s_openapi::api::apps::v1::ReplicaSetStatus;

use super::*;

pub(super) fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

/// A Deployment `web` of `replicas` running `image`, with `spec` merged over the defaults.
pub(super) fn deployment(replicas: i32, image: &str, spec: Value) -> Deployment {
    let mut value = json!({
        "metadata": {
            "name": "web", "namespace": "default", "uid": "d-1", "generation": 1,
            "resourceVersion": "1", "annotations": {"kubernetes.io/change-cause": "first"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    });
    for (key, field) in spec.as_object().cloned().unwrap_or_default() {
        value["spec"][key] = field;
    }
    serde_json::from_value(value).unwrap()
}

/// The store, the ReplicaSet controller and the kubelet, as far as the planner can tell.
#[derive(Debug)]
pub(super) struct World {
    pub(super) d: Deployment,
    pub(super) sets: Vec<ReplicaSet>,
    pub(super) pods: Vec<Pod>,
    pub(super) clock: i64,
}

impl World {
    pub(super) fn new(d: Deployment) -> Self {
        World {
            d,
            sets: Vec::new(),
            pods: Vec::new(),
            clock: 0,
        }
    }

    /// One pass of the planner, one second later, with its actions applied.
    pub(super) fn step(&mut self) -> Vec<Action> {
        self.clock += 1;
        let actions = plan(&self.d, &self.sets, &self.pods, at(self.clock));
        for action in &actions {
            self.apply(action);
        }
        actions
    }

    /// Steps until a pass changes nothing; panics if that does not happen.
    pub(super) fn settle(&mut self) {
        for _ in 0..20 {
            if self.step().is_empty() {
                return;
            }
        }
        panic!("the planner does not settle: {:?}", self.step());
    }

    fn apply(&mut self, action: &Action) {
        match action {
            Action::Create(rs) => {
                assert!(
                    !self
                        .sets
                        .iter()
                        .any(|s| s.metadata.name == rs.metadata.name),
                    "created twice: {:?}",
                    rs.metadata.name
                );
                let mut rs = (**rs).clone();
                rs.metadata.uid = Some(format!("uid-{}", name(&rs)));
                rs.metadata.creation_timestamp = Some(Time(at(self.clock)));
                rs.metadata.generation = Some(1);
                self.sets.push(rs);
            }
            Action::Update(rs) => {
                let current = self
                    .sets
                    .iter_mut()
                    .find(|s| s.metadata.uid == rs.metadata.uid)
                    .expect("updates an existing replica set");
                if current.spec != rs.spec {
                    current.metadata.generation =
                        Some(current.metadata.generation.unwrap_or(0) + 1);
                }
                current.spec = rs.spec.clone();
                current.metadata.annotations = rs.metadata.annotations.clone();
            }
            Action::Delete { uid, .. } => {
                self.sets.retain(|s| s.metadata.uid.as_ref() != Some(uid));
            }
            Action::SetRevision(revision) => {
                self.d
                    .metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(REVISION.to_owned(), revision.clone());
            }
            Action::Status(status) => self.d.status = Some((**status).clone()),
            Action::Adopt { uid, .. } => {
                let owner = claim::controller_ref("apps/v1", "Deployment", &self.d.metadata);
                let rs = self.by_uid(uid);
                rs.metadata.owner_references = Some(vec![owner]);
            }
            Action::Release { uid, .. } => {
                self.by_uid(uid).metadata.owner_references = None;
            }
        }
    }

    fn by_uid(&mut self, uid: &str) -> &mut ReplicaSet {
        self.sets
            .iter_mut()
            .find(|s| s.metadata.uid.as_deref() == Some(uid))
            .expect("a replica set with this uid")
    }

    /// The ReplicaSet whose template runs `image`.
    pub(super) fn rs(&self, image: &str) -> &ReplicaSet {
        self.sets
            .iter()
            .find(|rs| image_of(rs) == image)
            .unwrap_or_else(|| panic!("no replica set runs {image}: {:?}", self.sets))
    }

    /// `spec.replicas` of the ReplicaSet running `image` (0 if there is none).
    pub(super) fn size(&self, image: &str) -> i32 {
        self.sets
            .iter()
            .find(|rs| image_of(rs) == image)
            .map_or(0, spec_replicas)
    }

    /// Every ReplicaSet reports pods matching its spec, `available(rs)` of them ready and
    /// available (capped at the spec).
    pub(super) fn observe(&mut self, available: impl Fn(&ReplicaSet) -> i32) {
        for rs in &mut self.sets {
            let replicas = spec_replicas(rs);
            let ready = available(rs).min(replicas);
            rs.status = Some(ReplicaSetStatus {
                replicas,
                ready_replicas: (ready != 0).then_some(ready),
                available_replicas: (ready != 0).then_some(ready),
                observed_generation: rs.metadata.generation,
                ..ReplicaSetStatus::default()
            });
        }
    }

    /// Every pod of every ReplicaSet ready.
    pub(super) fn all_ready(&mut self) {
        self.observe(spec_replicas);
    }

    /// Changes the pod template's image, as `kubectl set image` does.
    pub(super) fn set_image(&mut self, image: &str) {
        self.d.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.to_owned());
        self.bump();
    }

    pub(super) fn bump(&mut self) {
        self.d.metadata.generation = Some(self.d.metadata.generation.unwrap_or(0) + 1);
    }

    pub(super) fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    /// `(status, reason)` of a condition of the Deployment.
    pub(super) fn condition(&self, kind: &str) -> Option<(String, String)> {
        let status = self.status();
        let c = status::condition(&status, kind)?;
        Some((
            c.status.clone().unwrap_or_default(),
            c.reason.clone().unwrap_or_default(),
        ))
    }

    pub(super) fn revision_of(&self, image: &str) -> String {
        annotation(&self.rs(image).metadata, REVISION)
            .unwrap_or_default()
            .to_owned()
    }
}

pub(super) fn image_of(rs: &ReplicaSet) -> &str {
    rs.spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers[0].image.as_deref())
        .unwrap_or_default()
}

fn pair(status: &str, reason: &str) -> Option<(String, String)> {
    Some((status.to_owned(), reason.to_owned()))
}

#[test]
fn the_first_pass_creates_revision_1_with_the_template_hash() {
    let mut world = World::new(deployment(3, "web:1", json!({})));
    let actions = world.step();
    let Action::Create(rs) = &actions[0] else {
        panic!("{actions:?}")
    };
    let hash = template::hash(&world.d.spec.template, None);
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    assert_eq!(rs.metadata.namespace.as_deref(), Some("default"));
    let labels = BTreeMap::from([
        ("app".to_owned(), "web".to_owned()),
        (HASH_LABEL.to_owned(), hash.clone()),
    ]);
    assert_eq!(rs.metadata.labels.as_ref(), Some(&labels));
    assert_eq!(rs.spec.selector.match_labels.as_ref(), Some(&labels));
    let template_meta = rs
        .spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap();
    assert_eq!(template_meta.labels.as_ref(), Some(&labels));
    assert_eq!(rs.spec.replicas, Some(3));
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("apps/v1", "Deployment", "web", "d-1")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    let annotations = rs.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations[REVISION], "1");
    assert_eq!(annotations[DESIRED_REPLICAS], "3");
    assert_eq!(annotations[MAX_REPLICAS], "4", "3 + 25% rounded up");
    assert_eq!(
        annotations["kubernetes.io/change-cause"], "first",
        "the Deployment's own annotations are copied"
    );
    assert_eq!(actions[1], Action::SetRevision("1".to_owned()));
    let Action::Status(status) = &actions[2] else {
        panic!("{actions:?}")
    };
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        world.condition("Progressing"),
        pair("True", "NewReplicaSetCreated")
    );
    assert_eq!(
        world.condition("Available"),
        pair("False", "MinimumReplicasUnavailable")
    );
    assert_eq!(actions.len(), 3);
}

#[test]
fn status_follows_the_replica_sets_and_completes() {
    let mut world = World::new(deployment(3, "web:1", json!({})));
    world.step();
    world.observe(|_| 0);
    world.step();
    let status = world.status();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas,
            status.unavailable_replicas
        ),
        (Some(3), Some(3), None, None, Some(3))
    );
    assert_eq!(
        world.condition("Available"),
        pair("False", "MinimumReplicasUnavailable")
    );
    world.observe(|_| 2);
    world.step();
    assert_eq!(
        world.condition("Available"),
        pair("False", "MinimumReplicasUnavailable"),
        "25% of 3 rounds down: none may be unavailable"
    );
    assert_eq!(
        world.condition("Progressing"),
        pair("True", "ReplicaSetUpdated")
    );
    world.all_ready();
    world.step();
    let status = world.status();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas,
            status.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), None)
    );
    assert_eq!(
        world.condition("Progressing"),
        pair("True", "NewReplicaSetAvailable")
    );
    let message = status::condition(&status, "Progressing")
        .unwrap()
        .message
        .clone();
    let rs_name = name(world.rs("web:1")).to_owned();
    assert_eq!(
        message,
        Some(format!(
            "ReplicaSet \"{rs_name}\" has successfully progressed."
        ))
    );
    assert!(world.step().is_empty(), "a finished rollout writes nothing");
}

#[test]
fn condition_times_move_only_on_change_and_progress() {
    let mut world = World::new(deployment(2, "web:1", json!({})));
    world.step();
    let created = status::condition(&world.status(), "Progressing")
        .unwrap()
        .clone();
    world.observe(|_| 0);
    world.clock += 30;
    world.step();
    world.clock += 30;
    world.step();
    let waiting = status::condition(&world.status(), "Progressing")
        .unwrap()
        .clone();
    assert_eq!(
        waiting.reason.as_deref(),
        Some("ReplicaSetUpdated"),
        "pods appeared"
    );
    assert_eq!(
        waiting.last_transition_time, created.last_transition_time,
        "still True"
    );
    let first_update = waiting.last_update_time.clone();
    world.clock += 30;
    assert!(world.step().is_empty(), "no progress, no write");
    world.observe(|_| 1);
    world.step();
    let progressed = status::condition(&world.status(), "Progressing")
        .unwrap()
        .clone();
    assert!(
        progressed.last_update_time > first_update,
        "progress moves lastUpdateTime"
    );
    assert_eq!(
        progressed.last_transition_time,
        created.last_transition_time
    );
}

#[test]
fn the_progress_deadline_fails_a_stuck_rollout() {
    let mut world = World::new(deployment(
        2,
        "web:1",
        json!({"progressDeadlineSeconds": 60}),
    ));
    world.step();
    world.observe(|_| 0);
    world.step();
    world.clock += 59;
    assert!(world.step().is_empty(), "within the deadline");
    world.clock += 2;
    world.step();
    assert_eq!(
        world.condition("Progressing"),
        pair("False", "ProgressDeadlineExceeded")
    );
    let rs_name = name(world.rs("web:1")).to_owned();
    let message = status::condition(&world.status(), "Progressing")
        .unwrap()
        .message
        .clone();
    assert_eq!(
        message,
        Some(format!(
            "ReplicaSet \"{rs_name}\" has timed out progressing."
        ))
    );
    assert!(world.step().is_empty(), "the verdict stands");
    world.all_ready();
    world.step();
    assert_eq!(
        world.condition("Progressing"),
        pair("True", "NewReplicaSetAvailable"),
        "finishing late still completes"
    );
}

#[test]
fn without_a_deadline_there_is_no_progressing_condition() {
    let mut world = World::new(deployment(
        1,
        "web:1",
        json!({"progressDeadlineSeconds": i32::MAX}),
    ));
    world.step();
    world.all_ready();
    world.settle();
    assert_eq!(world.condition("Progressing"), None);
    assert_eq!(
        world.condition("Available"),
        pair("True", "MinimumReplicasAvailable")
    );
}

#[test]
fn surge_rounds_up_unavailability_down_and_never_both_zero() {
    let strategy = |surge: Value, unavailable: Value| json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}});
    let d = deployment(4, "a", strategy(json!("25%"), json!("25%")));
    assert_eq!(
        (rollout::max_surge(&d), rollout::max_unavailable(&d)),
        (1, 1)
    );
    let d = deployment(3, "a", strategy(json!("25%"), json!("25%")));
    assert_eq!(
        (rollout::max_surge(&d), rollout::max_unavailable(&d)),
        (1, 0)
    );
    let d = deployment(10, "a", strategy(json!("33%"), json!("33%")));
    assert_eq!(
        (rollout::max_surge(&d), rollout::max_unavailable(&d)),
        (4, 3)
    );
    let d = deployment(3, "a", strategy(json!(0), json!("10%")));
    assert_eq!(
        (rollout::max_surge(&d), rollout::max_unavailable(&d)),
        (0, 1),
        "both zero after rounding: one may be unavailable"
    );
    let d = deployment(2, "a", strategy(json!(2), json!(5)));
    assert_eq!(
        rollout::max_unavailable(&d),
        2,
        "never more than the replicas"
    );
    let d = deployment(0, "a", strategy(json!(2), json!(5)));
    assert_eq!(rollout::max_unavailable(&d), 0);
    let d = deployment(4, "a", json!({"strategy": {"type": "Recreate"}}));
    assert_eq!(
        (rollout::max_surge(&d), rollout::max_unavailable(&d)),
        (0, 0)
    );
}

#[test]
fn orphans_are_adopted_first_and_strangers_released() {
    let mut world = World::new(deployment(1, "web:1", json!({})));
    world.step();
    world.all_ready();
    world.settle();
    let mut orphan = world.rs("web:1").clone();
    orphan.metadata.owner_references = None;
    orphan.metadata.name = Some("web-orphan".to_owned());
    orphan.metadata.uid = Some("uid-orphan".to_owned());
    let mut stranger = world.rs("web:1").clone();
    stranger.metadata.name = Some("web-stranger".to_owned());
    stranger.metadata.uid = Some("uid-stranger".to_owned());
    stranger.metadata.labels = Some(BTreeMap::from([("app".to_owned(), "db".to_owned())]));
    world.sets.push(orphan);
    world.sets.push(stranger);
    let actions = world.step();
    assert_eq!(
        actions,
        [
            Action::Adopt {
                name: "web-orphan".into(),
                uid: "uid-orphan".into()
            },
            Action::Release {
                name: "web-stranger".into(),
                uid: "uid-stranger".into()
            },
        ],
        "a pass that adopts only claims"
    );
    let mut deleting = world.d.clone();
    deleting.metadata.deletion_timestamp = Some(Time(at(0)));
    let mut foreign = world.rs("web:1").clone();
    foreign.metadata.owner_references = None;
    let claims = plan(&deleting, &[foreign], &[], at(100));
    assert!(
        !claims.iter().any(|a| matches!(a, Action::Adopt { .. })),
        "a Deployment being deleted adopts nothing"
    );
}

#[test]
fn a_deployment_selecting_everything_only_observes() {
    let d = deployment(2, "web:1", json!({"selector": {}}));
    let actions = plan(&d, &[], &[], at(0));
    let [Action::Status(status)] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(status.observed_generation, Some(1));
}

#[test]
fn a_taken_name_bumps_the_collision_count() {
    let mut world = World::new(deployment(1, "web:1", json!({})));
    let hash = template::hash(&world.d.spec.template, None);
    let squatter: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": format!("web-{hash}"), "namespace": "default", "uid": "sq"},
        "spec": {"selector": {"matchLabels": {"other": "x"}}},
    }))
    .unwrap();
    world.sets.push(squatter);
    let actions = world.step();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(world.status().collision_count, Some(1));
    let actions = world.step();
    let Action::Create(rs) = &actions[0] else {
        panic!("{actions:?}")
    };
    let rehashed = template::hash(&world.d.spec.template, Some(1));
    assert_eq!(rs.metadata.name, Some(format!("web-{rehashed}")));
}

#[test]
fn a_rollout_records_the_revisions_and_copies_annotations() {
    let mut world = World::new(deployment(2, "web:1", json!({})));
    world.step();
    world.all_ready();
    world.settle();
    world
        .d
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert("kubernetes.io/change-cause".into(), "second".into());
    world.set_image("web:2");
    world.step();
    assert_eq!(world.revision_of("web:1"), "1");
    assert_eq!(world.revision_of("web:2"), "2");
    assert_eq!(annotation(&world.d.metadata, REVISION), Some("2"));
    let copied = annotation(&world.rs("web:2").metadata, "kubernetes.io/change-cause");
    assert_eq!(copied, Some("second"));
    assert_eq!(
        annotation(&world.rs("web:1").metadata, "kubernetes.io/change-cause"),
        Some("first"),
        "old ReplicaSets keep theirs"
    );
    assert_eq!(
        world.condition("Progressing"),
        pair("True", "NewReplicaSetCreated")
    );
}
