//! The Deployment controller's decisions, as one pure function over a snapshot:
//! [`plan`]`(deployment, replica sets, pods, now)` runs kube-controller-manager's
//! `syncDeployment` against working copies of the Deployment's ReplicaSets (claiming them,
//! finding or creating the one for the current template, syncing revisions, scaling by the
//! strategy, cleaning up history) and returns the writes that take the store there. The
//! driver that reads the snapshot and performs them is in [`driver`].
//!
//! Rollout arithmetic and strategies are in [`rollout`], status and conditions in
//! [`status`], the template hash in [`template`].

mod driver;
mod rollout;
mod status;
mod template;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use shoal_manifests::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use shoal_manifests::k8s_openapi::api::core::v1::Pod;
use shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use shoal_manifests::k8s_openapi::jiff::Timestamp;
use shoal_manifests::selector::LabelSelector;

use super::claim::{self, Claim};

pub(crate) use driver::reconcile;

/// The revision of a ReplicaSet, and of the Deployment (its newest ReplicaSet's).
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
/// The revisions a reused ReplicaSet had before (after `rollout undo`).
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when it last scaled the ReplicaSet.
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when it last scaled the ReplicaSet.
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The label that tells the ReplicaSets of one Deployment apart.
pub(crate) const HASH_LABEL: &str = "pod-template-hash";
/// How long `deployment.kubernetes.io/revision-history` may grow.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;
/// Deployment annotations that are not copied to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// One write of a pass, in the order the driver performs them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Take an orphan ReplicaSet the selector matches. A pass that adopts does nothing else:
    /// the next one decides over what the Deployment then owns.
    Adopt { name: String, uid: String },
    /// Let go of an owned ReplicaSet the selector no longer matches.
    Release { name: String, uid: String },
    /// Create the ReplicaSet for the current template.
    Create(Box<ReplicaSet>),
    /// Replace a ReplicaSet (its snapshot `resourceVersion` is the precondition).
    Update(Box<ReplicaSet>),
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit`.
    Delete { name: String, uid: String },
    /// Set the Deployment's `deployment.kubernetes.io/revision` annotation.
    SetRevision(String),
    /// Write the Deployment's status.
    Status(Box<DeploymentStatus>),
}

/// A pass stopped early, as `syncDeployment` returns an error (a name collision, an
/// inconsistent ReplicaSet): what was decided so far is still written.
#[derive(Debug)]
struct Stop;

/// A claimed ReplicaSet: the working copy and the snapshot it started from (none if this
/// pass creates it).
#[derive(Debug)]
struct Set<'a> {
    rs: ReplicaSet,
    original: Option<&'a ReplicaSet>,
    deleted: bool,
}

/// The state one pass works on, as `syncDeployment` sees it between its API calls.
#[derive(Debug)]
struct Work<'a> {
    d: &'a Deployment,
    /// Every ReplicaSet of the namespace (for name collisions).
    all: &'a [ReplicaSet],
    now: Time,
    sets: Vec<Set<'a>>,
    /// The Deployment's status as it evolves through the pass.
    status: DeploymentStatus,
    /// The Deployment's revision annotation as it evolves through the pass.
    revision: Option<String>,
}

/// Decides one pass for `d` over the ReplicaSets and pods of its namespace.
pub(crate) fn plan(
    d: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    now: Timestamp,
) -> Vec<Action> {
    let Ok(selector) = LabelSelector::from_k8s(&d.spec.selector) else {
        return Vec::new();
    };
    let mut work = Work {
        d,
        all: replica_sets,
        now: Time(now),
        sets: Vec::new(),
        status: d.status.clone().unwrap_or_default(),
        revision: annotation(&d.metadata, REVISION).map(str::to_owned),
    };
    if selector.is_empty() {
        // A Deployment that selects everything would fight every other controller.
        work.status.observed_generation = d.metadata.generation;
        return work.finish(Vec::new());
    }
    let mut claims = Vec::new();
    for rs in replica_sets {
        let name = rs.metadata.name.clone().unwrap_or_default();
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        match claim::claim(&d.metadata, &selector, &rs.metadata) {
            Claim::Keep => work.sets.push(Set {
                rs: rs.clone(),
                original: Some(rs),
                deleted: false,
            }),
            Claim::Adopt => claims.push(Action::Adopt { name, uid }),
            Claim::Release => claims.push(Action::Release { name, uid }),
            Claim::Ignore => {}
        }
    }
    if claims.iter().any(|a| matches!(a, Action::Adopt { .. })) {
        return claims;
    }
    // Every step records what it decided in `work` before it can stop; a stop only ends the
    // pass early.
    let _stopped = work.sync(pods);
    work.finish(claims)
}

impl<'a> Work<'a> {
    /// `syncDeployment` after the claim.
    fn sync(&mut self, pods: &[Pod]) -> Result<(), Stop> {
        if claim::deleting(&self.d.metadata) {
            let new = self.sync_revision(false)?;
            self.sync_deployment_status(new);
            return Ok(());
        }
        self.check_paused_conditions();
        if self.paused() || self.is_scaling_event()? {
            return self.sync_scale();
        }
        if self.recreate() {
            self.rollout_recreate(pods)
        } else {
            self.rollout_rolling()
        }
    }

    /// `spec.replicas` (1 when unset, the API default).
    fn replicas(&self) -> i32 {
        self.d.spec.replicas.unwrap_or(1)
    }

    fn paused(&self) -> bool {
        self.d.spec.paused == Some(true)
    }

    fn recreate(&self) -> bool {
        self.d
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            == Some("Recreate")
    }

    /// The live (not deleted in this pass) ReplicaSets other than `new`.
    fn old(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.sets.len())
            .filter(|&i| Some(i) != new && !self.sets[i].deleted)
            .collect()
    }

    /// The live ReplicaSets, `new` included.
    fn live(&self) -> Vec<usize> {
        (0..self.sets.len())
            .filter(|&i| !self.sets[i].deleted)
            .collect()
    }

    /// Of `indices`, those with a non-zero `spec.replicas` (`FilterActiveReplicaSets`).
    fn active(&self, indices: &[usize]) -> Vec<usize> {
        indices
            .iter()
            .copied()
            .filter(|&i| spec_replicas(&self.sets[i].rs) > 0)
            .collect()
    }

    /// The oldest ReplicaSet whose template is the Deployment's (`FindNewReplicaSet`).
    fn find_new(&self) -> Option<usize> {
        let mut candidates = self.live();
        self.sort_by_creation(&mut candidates);
        candidates.into_iter().find(|&i| {
            self.sets[i]
                .rs
                .spec
                .template
                .as_ref()
                .is_some_and(|t| template::equal_ignoring_hash(t, &self.d.spec.template))
        })
    }

    /// `getAllReplicaSetsAndSyncRevision`: finds the new ReplicaSet and brings its revision
    /// and annotations up to date, or (with `create`) creates it.
    fn sync_revision(&mut self, create: bool) -> Result<Option<usize>, Stop> {
        let existing = self.find_new();
        let max_old = self
            .old(existing)
            .into_iter()
            .map(|i| revision(&self.sets[i].rs))
            .max()
            .unwrap_or(0);
        let new_revision = (max_old + 1).to_string();
        let d = self.d;
        if let Some(i) = existing {
            let rs = &mut self.sets[i].rs;
            let annotated = set_new_annotations(d, rs, &new_revision, None);
            if annotated || rs.spec.min_ready_seconds != d.spec.min_ready_seconds {
                rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
                return Ok(Some(i));
            }
            if let Some(current) = annotation(&rs.metadata, REVISION) {
                self.revision = Some(current.to_owned());
            }
            if status::condition(&self.status, status::PROGRESSING).is_none() {
                let message = format!("Found new replica set \"{}\"", name(rs));
                let found =
                    self.condition(status::PROGRESSING, "True", "FoundNewReplicaSet", message);
                status::set_condition(&mut self.status, found);
            }
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        let collisions = self.status.collision_count;
        let hash = template::hash(&d.spec.template, collisions);
        let rs_name = format!("{}-{hash}", name_of(&d.metadata));
        let taken = self
            .all
            .iter()
            .any(|rs| rs.metadata.name.as_deref() == Some(rs_name.as_str()));
        if taken {
            // Another template (or another owner) has this name: hash again with a higher
            // collision count on the next pass.
            self.status.collision_count = Some(collisions.unwrap_or(0) + 1);
            return Err(Stop);
        }
        let mut template = template::without_hash(&d.spec.template);
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(HASH_LABEL.to_owned(), hash.clone());
        let labels = meta.labels.clone();
        let mut selector = d.spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(HASH_LABEL.to_owned(), hash);
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(rs_name.clone()),
                namespace: d.metadata.namespace.clone(),
                labels,
                owner_references: Some(vec![claim::controller_ref(
                    "apps/v1",
                    "Deployment",
                    &d.metadata,
                )]),
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.min_ready_seconds,
                selector,
                template: Some(template),
            },
            status: None,
        };
        self.sets.push(Set {
            rs,
            original: None,
            deleted: false,
        });
        let i = self.sets.len() - 1;
        let replicas = self.new_rs_new_replicas(i);
        let desired = (self.replicas(), self.replicas() + rollout::max_surge(d));
        let rs = &mut self.sets[i].rs;
        rs.spec.replicas = Some(replicas);
        set_new_annotations(d, rs, &new_revision, Some(desired));
        self.revision = Some(new_revision);
        if status::has_progress_deadline(d) {
            let message = format!("Created new replica set \"{rs_name}\"");
            let created =
                self.condition(status::PROGRESSING, "True", "NewReplicaSetCreated", message);
            status::set_condition(&mut self.status, created);
        }
        Ok(Some(i))
    }

    /// Sorts indices by creation time, then name (`ReplicaSetsByCreationTimestamp`); a
    /// ReplicaSet this pass creates counts as created now.
    fn sort_by_creation(&self, indices: &mut [usize]) {
        indices.sort_by(|&a, &b| self.created(a).cmp(&self.created(b)));
    }

    fn created(&self, i: usize) -> (&Time, &str) {
        let meta = &self.sets[i].rs.metadata;
        (
            meta.creation_timestamp.as_ref().unwrap_or(&self.now),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    /// The writes that take the snapshot to the working state.
    fn finish(self, mut actions: Vec<Action>) -> Vec<Action> {
        let mut updates = Vec::new();
        let mut deletes = Vec::new();
        for set in self.sets {
            match set.original {
                None if !set.deleted => actions.push(Action::Create(Box::new(set.rs))),
                None => {}
                Some(original) if set.deleted => deletes.push(Action::Delete {
                    name: name(original).to_owned(),
                    uid: original.metadata.uid.clone().unwrap_or_default(),
                }),
                Some(original) if set.rs != *original => {
                    updates.push(Action::Update(Box::new(set.rs)));
                }
                Some(_) => {}
            }
        }
        actions.extend(updates);
        actions.extend(deletes);
        if let Some(revision) = self.revision
            && annotation(&self.d.metadata, REVISION) != Some(revision.as_str())
        {
            actions.push(Action::SetRevision(revision));
        }
        if self.d.status.clone().unwrap_or_default() != self.status {
            actions.push(Action::Status(Box::new(self.status)));
        }
        actions
    }
}

fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn name(rs: &ReplicaSet) -> &str {
    name_of(&rs.metadata)
}

fn annotation<'m>(meta: &'m ObjectMeta, key: &str) -> Option<&'m str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// A ReplicaSet's `spec.replicas`.
fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// A ReplicaSet's revision; 0 when it has none (or an unreadable one).
fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Copies the Deployment's own annotations to the ReplicaSet
/// (`copyDeploymentAnnotationsToReplicaSet`).
fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (key, value) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&key.as_str()) {
            continue;
        }
        let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
        if annotations.get(key) != Some(value) {
            annotations.insert(key.clone(), value.clone());
            changed = true;
        }
    }
    changed
}

/// `SetNewReplicaSetAnnotations`: the Deployment's annotations, a revision raised to
/// `new_revision` (keeping the old one in the history, as after `rollout undo`), and for a
/// ReplicaSet about to be created (`desired` = replicas and max replicas) the replica
/// annotations.
fn set_new_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: &str,
    desired: Option<(i32, i32)>,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let old = annotation(&rs.metadata, REVISION).map(str::to_owned);
    let old_number = match old.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(number)) => number,
        Some(Err(_)) => return changed,
    };
    let new_number: i64 = new_revision.parse().unwrap_or(0);
    if old_number < new_number {
        let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
        annotations.insert(REVISION.to_owned(), new_revision.to_owned());
        changed = true;
        if let Some(old) = old {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.to_owned(), old);
            } else {
                let mut entries: Vec<&str> = history.split(',').collect();
                let mut length = history.len() + old.len() + 1;
                let mut start = 0;
                while length > MAX_REVISION_HISTORY_CHARS && start < entries.len() {
                    length -= entries[start].len() + 1;
                    start += 1;
                }
                if length <= MAX_REVISION_HISTORY_CHARS {
                    entries = entries.split_off(start);
                    entries.push(&old);
                    annotations.insert(REVISION_HISTORY.to_owned(), entries.join(","));
                }
            }
        }
    }
    if let Some((replicas, max)) = desired {
        changed |= set_replicas_annotations(rs, replicas, max);
    }
    changed
}

/// Records the Deployment's size on the ReplicaSet (`SetReplicasAnnotations`).
fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_owned(), value);
            changed = true;
        }
    }
    changed
}

/// Whether the replica annotations differ from these values.
fn replicas_annotations_differ(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// An integer annotation of the ReplicaSet.
fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(&rs.metadata, key).and_then(|v| v.parse().ok())
}
