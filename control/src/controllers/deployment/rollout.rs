//! Rollout arithmetic and strategies, as kube-controller-manager has them: `maxSurge` and
//! `maxUnavailable` resolved against `spec.replicas`, proportional scaling of every active
//! ReplicaSet when the Deployment is resized mid-rollout, RollingUpdate (scale the new
//! ReplicaSet up within the surge, the old ones down within the unavailability budget),
//! Recreate (old to zero, wait for their pods to go, new up), and history cleanup.

use std::cmp::Ordering;

use shoal_manifests::k8s_openapi::api::apps::v1::Deployment;
use shoal_manifests::k8s_openapi::api::core::v1::Pod;
use shoal_manifests::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{DESIRED_REPLICAS, MAX_REPLICAS, Stop, Work, int_annotation, revision, spec_replicas};
use crate::controllers::claim;

/// `GetScaledValueFromIntOrPercent`: an integer as is, `"N%"` of `total` rounded up or down.
pub(super) fn scaled(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(text)) => {
            let Some(percent) = text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let product = percent * i64::from(total);
            let value = if round_up {
                product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(value).unwrap_or(i32::MAX)
        }
    }
}

fn rolling(d: &Deployment) -> Option<(Option<&IntOrString>, Option<&IntOrString>)> {
    let strategy = d.spec.strategy.as_ref();
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return None;
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    Some((
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
    ))
}

/// `ResolveFenceposts`: surge rounds up, unavailability down, and they are never both zero.
fn fenceposts(d: &Deployment) -> (i32, i32) {
    let Some((surge, unavailable)) = rolling(d) else {
        return (0, 0);
    };
    let desired = d.spec.replicas.unwrap_or(1);
    let surge = scaled(surge, desired, true);
    let unavailable = scaled(unavailable, desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// How many pods above `spec.replicas` a rolling update may run (`MaxSurge`).
pub(crate) fn max_surge(d: &Deployment) -> i32 {
    fenceposts(d).0
}

/// How many of `spec.replicas` may be unavailable during a rolling update
/// (`MaxUnavailable`).
pub(crate) fn max_unavailable(d: &Deployment) -> i32 {
    let desired = d.spec.replicas.unwrap_or(1);
    if rolling(d).is_none() || desired == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired)
}

impl Work<'_> {
    fn spec(&self, i: usize) -> i32 {
        spec_replicas(&self.sets[i].rs)
    }

    fn observed(&self, i: usize) -> (i32, i32, i32) {
        let status = self.sets[i].rs.status.as_ref();
        (
            status.map_or(0, |s| s.replicas),
            status.and_then(|s| s.ready_replicas).unwrap_or(0),
            status.and_then(|s| s.available_replicas).unwrap_or(0),
        )
    }

    fn available(&self, i: usize) -> i32 {
        self.observed(i).2
    }

    fn sum(&self, indices: &[usize], f: impl Fn(usize) -> i32) -> i32 {
        indices.iter().map(|&i| f(i)).sum()
    }

    /// The `sync` path (paused, or a resize): no rollout progress, only scaling.
    pub(super) fn sync_scale(&mut self) -> Result<(), Stop> {
        let new = self.sync_revision(false)?;
        self.scale(new);
        if self.paused() {
            self.cleanup(new);
        }
        self.sync_deployment_status(new);
        Ok(())
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another `spec.replicas`.
    pub(super) fn is_scaling_event(&mut self) -> Result<bool, Stop> {
        self.sync_revision(false)?;
        let replicas = self.replicas();
        let live = self.live();
        Ok(self.active(&live).into_iter().any(|i| {
            int_annotation(&self.sets[i].rs, DESIRED_REPLICAS).is_some_and(|d| d != replicas)
        }))
    }

    /// `scale`: resize the one active ReplicaSet, or all of them in proportion.
    fn scale(&mut self, new: Option<usize>) {
        let replicas = self.replicas();
        if let Some(i) = self.active_or_latest(new) {
            if self.spec(i) != replicas {
                self.scale_and_record(i, replicas);
            }
            return;
        }
        if self.is_saturated(new) {
            for i in self.active(&self.old(new)) {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if rolling(self.d).is_none() {
            return;
        }
        let mut all = self.active(&self.live());
        let total = self.sum(&all, |i| self.spec(i));
        let allowed = if replicas > 0 {
            replicas + max_surge(self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        match to_add.cmp(&0) {
            // Larger first; among equals the newer first when growing, the older when
            // shrinking.
            Ordering::Greater => all.sort_by(|&a, &b| {
                self.spec(b)
                    .cmp(&self.spec(a))
                    .then_with(|| self.created(b).cmp(&self.created(a)))
            }),
            Ordering::Less => all.sort_by(|&a, &b| {
                self.spec(b)
                    .cmp(&self.spec(a))
                    .then_with(|| self.created(a).cmp(&self.created(b)))
            }),
            Ordering::Equal => {}
        }
        let mut added = 0;
        let mut sizes = Vec::with_capacity(all.len());
        for &i in &all {
            let proportion = if to_add == 0 {
                0
            } else {
                self.proportion(i, to_add, added)
            };
            sizes.push(self.spec(i) + proportion);
            added += proportion;
        }
        for (k, &i) in all.iter().enumerate() {
            let mut size = sizes[k];
            if k == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_set(i, size);
        }
    }

    /// `FindActiveOrLatest`: the only active ReplicaSet, or the newest if none is active.
    fn active_or_latest(&self, new: Option<usize>) -> Option<usize> {
        let mut old = self.old(new);
        if new.is_none() && old.is_empty() {
            return None;
        }
        old.sort_by(|&a, &b| self.created(b).cmp(&self.created(a)));
        let mut candidates = old.clone();
        candidates.extend(new);
        let active = self.active(&candidates);
        match active.as_slice() {
            [] => new.or_else(|| old.first().copied()),
            [only] => Some(*only),
            _ => None,
        }
    }

    /// `IsSaturated`: the new ReplicaSet is sized for the Deployment and fully available.
    fn is_saturated(&self, new: Option<usize>) -> bool {
        let Some(i) = new else { return false };
        let replicas = self.replicas();
        int_annotation(&self.sets[i].rs, DESIRED_REPLICAS) == Some(replicas)
            && self.spec(i) == replicas
            && self.available(i) == replicas
    }

    /// `GetProportion`: this ReplicaSet's share of a resize, bounded by what is left.
    fn proportion(&self, i: usize, to_add: i32, added: i32) -> i32 {
        if self.spec(i) == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(i);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `getReplicaSetFraction`: how the ReplicaSet would grow or shrink to keep its share of
    /// the Deployment's new size.
    fn fraction(&self, i: usize) -> i32 {
        let replicas = self.replicas();
        if replicas == 0 {
            return -self.spec(i);
        }
        let target = f64::from(replicas + max_surge(self.d));
        let annotated = int_annotation(&self.sets[i].rs, MAX_REPLICAS)
            .unwrap_or_else(|| self.status.replicas.unwrap_or(0));
        if annotated <= 0 {
            return 0;
        }
        let size = f64::from(self.spec(i)) * target / f64::from(annotated);
        // Rounds half away from zero, as Go's math.Round; sizes are far inside i32.
        #[allow(clippy::cast_possible_truncation)]
        let rounded = size.round() as i32;
        rounded - self.spec(i)
    }

    /// `scaleReplicaSet`: sets the size and the replica annotations; true if the size changed.
    fn scale_set(&mut self, i: usize, size: i32) -> bool {
        let replicas = self.replicas();
        let max = replicas + max_surge(self.d);
        let resized = self.spec(i) != size;
        let rs = &mut self.sets[i].rs;
        if resized || super::replicas_annotations_differ(rs, replicas, max) {
            rs.spec.replicas = Some(size);
            super::set_replicas_annotations(rs, replicas, max);
        }
        resized
    }

    /// `scaleReplicaSetAndRecordEvent`: [`Self::scale_set`] unless the size is already right.
    fn scale_and_record(&mut self, i: usize, size: i32) -> bool {
        self.spec(i) != size && self.scale_set(i, size)
    }

    /// `NewRSNewReplicas`: the size the new ReplicaSet may grow to now.
    pub(super) fn new_rs_new_replicas(&self, new: usize) -> i32 {
        let replicas = self.replicas();
        let Some((surge, _)) = rolling(self.d) else {
            return replicas;
        };
        let surge = scaled(surge, replicas, true);
        let current = self.sum(&self.live(), |i| self.spec(i));
        let ceiling = replicas + surge;
        if current >= ceiling {
            return self.spec(new);
        }
        let up = (ceiling - current).min(replicas - self.spec(new));
        self.spec(new) + up
    }

    /// `rolloutRolling`.
    pub(super) fn rollout_rolling(&mut self) -> Result<(), Stop> {
        let new = self.sync_revision(true)?.ok_or(Stop)?;
        if self.reconcile_new(new) {
            self.sync_rollout_status(Some(new));
            return Ok(());
        }
        if self.reconcile_old(new)? {
            self.sync_rollout_status(Some(new));
            return Ok(());
        }
        if super::status::deployment_complete(self.d, &self.status)
            && self.d.spec.revision_history_limit.is_some()
        {
            self.cleanup(Some(new));
        }
        self.sync_rollout_status(Some(new));
        Ok(())
    }

    /// `reconcileNewReplicaSet`: grow (or shrink) the new ReplicaSet within the surge.
    fn reconcile_new(&mut self, new: usize) -> bool {
        let replicas = self.replicas();
        match self.spec(new).cmp(&replicas) {
            Ordering::Equal => false,
            Ordering::Greater => self.scale_and_record(new, replicas),
            Ordering::Less => {
                let size = self.new_rs_new_replicas(new);
                self.scale_and_record(new, size)
            }
        }
    }

    /// `reconcileOldReplicaSets`: shrink the old ReplicaSets as far as availability allows,
    /// unhealthy pods first.
    fn reconcile_old(&mut self, new: usize) -> Result<bool, Stop> {
        let old = self.active(&self.old(Some(new)));
        let old_pods = self.sum(&old, |i| self.spec(i));
        if old_pods == 0 {
            return Ok(false);
        }
        let all_pods = self.sum(&self.live(), |i| self.spec(i));
        let min_available = self.replicas() - max_unavailable(self.d);
        let new_unavailable = self.spec(new) - self.available(new);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let cleaned = self.cleanup_unhealthy(&old, max_scaled_down)?;
        let scaled = self.scale_down_old(&old, new);
        Ok(cleaned + scaled > 0)
    }

    /// `cleanupUnhealthyReplicas`: drop old replicas that are not available anyway.
    fn cleanup_unhealthy(&mut self, old: &[usize], max: i32) -> Result<i32, Stop> {
        let mut old = old.to_vec();
        self.sort_by_creation(&mut old);
        let mut total = 0;
        for i in old {
            if total >= max {
                break;
            }
            let (spec, available) = (self.spec(i), self.available(i));
            if spec == 0 || spec == available {
                continue;
            }
            let down = (max - total).min(spec - available);
            if down < 0 {
                // More available than wanted: the status is behind; wait for it.
                return Err(Stop);
            }
            self.scale_and_record(i, spec - down);
            total += down;
        }
        Ok(total)
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`: shrink the oldest first while more than
    /// `replicas - maxUnavailable` pods are available.
    fn scale_down_old(&mut self, old: &[usize], new: usize) -> i32 {
        let min_available = self.replicas() - max_unavailable(self.d);
        let mut counted = old.to_vec();
        counted.push(new);
        let available = self.sum(&counted, |i| self.available(i));
        if available <= min_available {
            return 0;
        }
        let budget = available - min_available;
        let mut old = old.to_vec();
        self.sort_by_creation(&mut old);
        let mut total = 0;
        for i in old {
            if total >= budget {
                break;
            }
            let spec = self.spec(i);
            if spec == 0 {
                continue;
            }
            let down = spec.min(budget - total);
            self.scale_and_record(i, spec - down);
            total += down;
        }
        total
    }

    /// `rolloutRecreate`.
    pub(super) fn rollout_recreate(&mut self, pods: &[Pod]) -> Result<(), Stop> {
        let new = self.sync_revision(false)?;
        let mut scaled_down = false;
        for i in self.active(&self.old(new)) {
            scaled_down |= self.scale_and_record(i, 0);
        }
        if scaled_down || self.old_pods_running(new, pods) {
            self.sync_rollout_status(new);
            return Ok(());
        }
        let new = match new {
            Some(new) => new,
            None => self.sync_revision(true)?.ok_or(Stop)?,
        };
        let replicas = self.replicas();
        self.scale_and_record(new, replicas);
        if super::status::deployment_complete(self.d, &self.status) {
            self.cleanup(Some(new));
        }
        self.sync_rollout_status(Some(new));
        Ok(())
    }

    /// `oldPodsRunning`: an old ReplicaSet still reports pods, or a pod it controls (even one
    /// being deleted) has not finished.
    fn old_pods_running(&self, new: Option<usize>, pods: &[Pod]) -> bool {
        let old = self.old(new);
        if self.sum(&old, |i| self.observed(i).0) > 0 {
            return true;
        }
        let uids: Vec<&str> = old
            .iter()
            .filter_map(|&i| self.sets[i].rs.metadata.uid.as_deref())
            .collect();
        pods.iter().any(|pod| {
            claim::controller_of(&pod.metadata).is_some_and(|r| uids.contains(&r.uid.as_str()))
                && !matches!(
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
    }

    /// `cleanupDeployment`: delete the oldest old ReplicaSets beyond `revisionHistoryLimit`
    /// that have no replicas, asked for or observed.
    pub(super) fn cleanup(&mut self, new: Option<usize>) {
        let Some(limit) = self.d.spec.revision_history_limit else {
            return;
        };
        let mut cleanable: Vec<usize> = self
            .old(new)
            .into_iter()
            .filter(|&i| !claim::deleting(&self.sets[i].rs.metadata))
            .collect();
        let excess = i64::try_from(cleanable.len()).unwrap_or(i64::MAX) - i64::from(limit);
        if excess <= 0 {
            return;
        }
        cleanable.sort_by(|&a, &b| {
            revision(&self.sets[a].rs)
                .cmp(&revision(&self.sets[b].rs))
                .then_with(|| self.created(a).cmp(&self.created(b)))
        });
        for i in cleanable
            .into_iter()
            .take(usize::try_from(excess).unwrap_or(0))
        {
            let set = &self.sets[i];
            let rs = set.original.unwrap_or(&set.rs);
            let observed = rs.status.as_ref();
            let busy = observed.map_or(0, |s| s.replicas) != 0
                || spec_replicas(rs) != 0
                || spec_replicas(&set.rs) != 0
                || rs.metadata.generation.unwrap_or(0)
                    > observed.and_then(|s| s.observed_generation).unwrap_or(0);
            if !busy {
                self.sets[i].deleted = true;
            }
        }
    }
}
