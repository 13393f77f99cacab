//! The Deployment's status as kube-controller-manager computes it: the replica counts summed
//! over its ReplicaSets, the `Available` condition against `maxUnavailable`, and the
//! `Progressing` condition (created, found, updated, available, paused, resumed, and
//! `ProgressDeadlineExceeded` once `progressDeadlineSeconds` pass without progress), with
//! `lastUpdateTime` moving on progress and `lastTransitionTime` only when the status flips.

use shoal_manifests::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus,
};
use shoal_manifests::k8s_openapi::jiff::SignedDuration;

use super::{Work, name, name_of, rollout, spec_replicas};

pub(super) const PROGRESSING: &str = "Progressing";
const AVAILABLE: &str = "Available";
const REPLICA_FAILURE: &str = "ReplicaFailure";
/// The reason that means the rollout finished.
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// The reason that makes `kubectl rollout status` fail.
pub(super) const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const PAUSED: &str = "DeploymentPaused";

/// The condition of this type.
pub(super) fn condition<'s>(
    status: &'s DeploymentStatus,
    kind: &str,
) -> Option<&'s DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(kind))
}

/// `SetDeploymentCondition`: a condition with the same status and reason is left as it is;
/// one with the same status keeps its transition time.
pub(super) fn set_condition(status: &mut DeploymentStatus, mut next: DeploymentCondition) {
    if let Some(current) = condition(status, next.type_.as_deref().unwrap_or_default()) {
        if current.status == next.status && current.reason == next.reason {
            return;
        }
        if current.status == next.status {
            next.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, next.type_.as_deref().unwrap_or_default());
    status.conditions.get_or_insert_with(Vec::new).push(next);
}

fn remove_condition(status: &mut DeploymentStatus, kind: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_.as_deref() != Some(kind));
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// Whether `progressDeadlineSeconds` is set (and not the "never" value).
pub(super) fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

/// `DeploymentComplete`: every replica updated and available, and the spec observed.
pub(super) fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = d.spec.replicas.unwrap_or(1);
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: more updated, ready or available replicas, or fewer old ones.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let count = |v: Option<i32>| v.unwrap_or(0);
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

impl Work<'_> {
    /// A condition stamped now.
    pub(super) fn condition(
        &self,
        kind: &str,
        status: &str,
        reason: &str,
        message: String,
    ) -> DeploymentCondition {
        DeploymentCondition {
            type_: Some(kind.to_owned()),
            status: Some(status.to_owned()),
            reason: Some(reason.to_owned()),
            message: Some(message),
            last_update_time: Some(self.now.clone()),
            last_transition_time: Some(self.now.clone()),
        }
    }

    /// `calculateStatus`. The sum of `spec.replicas` behind `unavailableReplicas` is taken
    /// before this pass's scaling, as Kubernetes computes it from the objects it listed.
    fn calculate_status(&self, new: Option<usize>) -> DeploymentStatus {
        let live = self.live();
        let observed =
            |f: &dyn Fn(&shoal_manifests::k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32| {
                live.iter()
                    .filter_map(|&i| self.sets[i].rs.status.as_ref())
                    .map(f)
                    .sum::<i32>()
            };
        let available = observed(&|s| s.available_replicas.unwrap_or(0));
        let total: i32 = live
            .iter()
            .map(|&i| spec_replicas(self.sets[i].original.unwrap_or(&self.sets[i].rs)))
            .sum();
        let updated = new
            .and_then(|i| self.sets[i].rs.status.as_ref())
            .map_or(0, |s| s.replicas);
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: nonzero(observed(&|s| s.replicas)),
            updated_replicas: nonzero(updated),
            ready_replicas: nonzero(observed(&|s| s.ready_replicas.unwrap_or(0))),
            available_replicas: nonzero(available),
            unavailable_replicas: nonzero((total - available).max(0)),
            collision_count: self.status.collision_count,
            conditions: self.status.conditions.clone(),
            terminating_replicas: self.status.terminating_replicas,
        };
        let replicas = self.replicas();
        let minimum = if available >= replicas - rollout::max_unavailable(self.d) {
            self.condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".to_owned(),
            )
        } else {
            self.condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".to_owned(),
            )
        };
        set_condition(&mut status, minimum);
        status
    }

    /// `syncDeploymentStatus`: the counts, without judging progress.
    pub(super) fn sync_deployment_status(&mut self, new: Option<usize>) {
        self.status = self.calculate_status(new);
    }

    /// `syncRolloutStatus`: the counts and the `Progressing` verdict.
    pub(super) fn sync_rollout_status(&mut self, new: Option<usize>) {
        let mut next = self.calculate_status(new);
        let deadline = has_progress_deadline(self.d);
        if !deadline {
            remove_condition(&mut next, PROGRESSING);
        }
        let current = condition(&self.status, PROGRESSING).cloned();
        let complete = next.replicas == next.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
        let subject = match new {
            Some(i) => format!("ReplicaSet \"{}\"", name(&self.sets[i].rs)),
            None => format!("Deployment \"{}\"", name_of(&self.d.metadata)),
        };
        if deadline && !complete {
            if deployment_complete(self.d, &next) {
                let available = self.condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE,
                    format!("{subject} has successfully progressed."),
                );
                set_condition(&mut next, available);
            } else if deployment_progressing(&self.status, &next) {
                let mut updated = self.condition(
                    PROGRESSING,
                    "True",
                    "ReplicaSetUpdated",
                    format!("{subject} is progressing."),
                );
                // Progress moves lastUpdateTime even when the reason stays the same.
                if let Some(current) = &current {
                    if current.status.as_deref() == Some("True") {
                        updated.last_transition_time = current.last_transition_time.clone();
                    }
                    remove_condition(&mut next, PROGRESSING);
                }
                set_condition(&mut next, updated);
            } else if self.timed_out(&next) {
                let timed_out = self.condition(
                    PROGRESSING,
                    "False",
                    TIMED_OUT,
                    format!("{subject} has timed out progressing."),
                );
                set_condition(&mut next, timed_out);
            }
        }
        match self.replica_failure(new) {
            Some(failure) => set_condition(&mut next, failure),
            None => remove_condition(&mut next, REPLICA_FAILURE),
        }
        self.status = next;
    }

    /// `DeploymentTimedOut`: no progress recorded for `progressDeadlineSeconds`.
    fn timed_out(&self, status: &DeploymentStatus) -> bool {
        let Some(current) = condition(status, PROGRESSING) else {
            return false;
        };
        match current.reason.as_deref() {
            Some(NEW_RS_AVAILABLE) => false,
            Some(TIMED_OUT) => true,
            _ => {
                let seconds = self.d.spec.progress_deadline_seconds.unwrap_or(i32::MAX);
                current.last_update_time.as_ref().is_some_and(|from| {
                    from.0 + SignedDuration::from_secs(i64::from(seconds)) < self.now.0
                })
            }
        }
    }

    /// `getReplicaFailures`: the new ReplicaSet's `ReplicaFailure`, else any other's.
    fn replica_failure(&self, new: Option<usize>) -> Option<DeploymentCondition> {
        let mut order: Vec<usize> = new.into_iter().collect();
        order.extend(self.old(new));
        order.into_iter().find_map(|i| {
            let status = self.sets[i].rs.status.as_ref()?;
            let failure = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_.as_deref() == Some(REPLICA_FAILURE))?;
            Some(DeploymentCondition {
                type_: failure.type_.clone(),
                status: failure.status.clone(),
                reason: failure.reason.clone(),
                message: failure.message.clone(),
                last_update_time: failure.last_transition_time.clone(),
                last_transition_time: failure.last_transition_time.clone(),
            })
        })
    }

    /// `checkPausedConditions`: `Progressing` becomes Unknown with `DeploymentPaused` when
    /// paused, `DeploymentResumed` when resumed; a timeout is never overwritten.
    pub(super) fn check_paused_conditions(&mut self) {
        if !has_progress_deadline(self.d) {
            return;
        }
        let current = condition(&self.status, PROGRESSING);
        if current.is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT)) {
            return;
        }
        let paused_now = current.is_some_and(|c| c.reason.as_deref() == Some(PAUSED));
        let next = if self.paused() && !paused_now {
            self.condition(
                PROGRESSING,
                "Unknown",
                PAUSED,
                "Deployment is paused".to_owned(),
            )
        } else if !self.paused() && paused_now {
            self.condition(
                PROGRESSING,
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed".to_owned(),
            )
        } else {
            return;
        };
        set_condition(&mut self.status, next);
    }
}

/// The status after the new ReplicaSet could not be created: `Progressing` False with
/// `ReplicaSetCreateError`, as Kubernetes reports it. `None` without a progress deadline.
pub(super) fn create_failed(
    d: &Deployment,
    replica_set: &str,
    error: &str,
    now: shoal_manifests::k8s_openapi::jiff::Timestamp,
) -> Option<DeploymentStatus> {
    if !has_progress_deadline(d) {
        return None;
    }
    let mut status = d.status.clone().unwrap_or_default();
    let now = shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now);
    set_condition(
        &mut status,
        DeploymentCondition {
            type_: Some(PROGRESSING.to_owned()),
            status: Some("False".to_owned()),
            reason: Some("ReplicaSetCreateError".to_owned()),
            message: Some(format!(
                "Failed to create new replica set \"{replica_set}\": {error}"
            )),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(now),
        },
    );
    Some(status)
}
