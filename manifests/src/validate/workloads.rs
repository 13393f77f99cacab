//! Workload controllers: Deployment, ReplicaSet, DaemonSet, StatefulSet, Job and CronJob —
//! selectors that must match their pod template, replica counts, update strategies and
//! schedules.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod::{self, Owner};
use super::{Errors, Path, cluster, cron, meta};
use crate::names;
use crate::selector;

/// The longest CronJob name: Jobs get an 11-character suffix and must stay a valid label.
const CRON_JOB_NAME_MAX: usize = 52;

/// Checks a required, non-empty selector and that it selects the template's labels.
fn selector_matches_template(
    errors: &mut Errors,
    selector: Option<&LabelSelector>,
    kind: &str,
    template: Option<&PodTemplateSpec>,
    spec: &Path<'_>,
) {
    let at = spec.field("selector");
    let Some(selector) =
        selector.filter(|s| s.match_labels.is_some() || s.match_expressions.is_some())
    else {
        errors.required(&at, "");
        return;
    };
    let well_formed = meta::label_selector(errors, selector, &at);
    if meta::selector_is_empty(selector) {
        errors.invalid(&at, "", format!("empty selector is invalid for {kind}"));
        return;
    }
    let Some(template) = template else { return };
    if !well_formed {
        return;
    }
    match selector::LabelSelector::from_k8s(selector) {
        Ok(parsed) => {
            let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
            let empty = BTreeMap::new();
            if !parsed.matches(labels.unwrap_or(&empty)) {
                let path = spec.field("template");
                let path = path.field("metadata");
                errors.invalid_raw(
                    &path.field("labels"),
                    names::go_map(labels),
                    "`selector` does not match template `labels`",
                );
            }
        }
        Err(error) => {
            errors.invalid_raw(
                &at,
                meta::selector_text(selector),
                format!("invalid label selector: {error}"),
            );
        }
    }
}

/// An int-or-percent such as `maxSurge`; returns its value (a percentage counts as its
/// number) when well-formed.
fn int_or_percent(
    errors: &mut Errors,
    value: Option<&IntOrString>,
    path: &Path<'_>,
) -> Option<i64> {
    match value? {
        IntOrString::Int(number) => {
            errors.non_negative(path, *number);
            Some(i64::from(*number))
        }
        IntOrString::String(text) => {
            let messages = names::percent(text);
            if !messages.is_empty() {
                errors.each(path, text, messages);
                return None;
            }
            let number = text
                .trim_end_matches('%')
                .parse::<i64>()
                .unwrap_or(i64::MAX);
            Some(number)
        }
    }
}

fn not_more_than_100_percent(errors: &mut Errors, value: Option<&IntOrString>, path: &Path<'_>) {
    if let Some(IntOrString::String(text)) = value
        && names::percent(text).is_empty()
        && text
            .trim_end_matches('%')
            .parse::<u64>()
            .is_ok_and(|n| n > 100)
    {
        errors.invalid(path, text, "must not be greater than 100%");
    }
}

fn int_or_string_text(value: Option<&IntOrString>) -> String {
    match value {
        Some(IntOrString::Int(number)) => number.to_string(),
        Some(IntOrString::String(text)) => names::quote(text),
        None => "null".to_owned(),
    }
}

fn common_counts(
    errors: &mut Errors,
    spec: &Path<'_>,
    replicas: Option<i32>,
    min_ready: Option<i32>,
    history: Option<i32>,
) {
    if let Some(replicas) = replicas {
        errors.non_negative(&spec.field("replicas"), replicas);
    }
    if let Some(min_ready) = min_ready {
        errors.non_negative(&spec.field("minReadySeconds"), min_ready);
    }
    if let Some(history) = history {
        errors.non_negative(&spec.field("revisionHistoryLimit"), history);
    }
}

/// A Deployment.
pub(crate) fn deployment(errors: &mut Errors, deployment: &Deployment) {
    let s = &deployment.spec;
    let spec = Path::ROOT.field("spec");
    common_counts(errors, &spec, s.replicas, None, None);
    selector_matches_template(
        errors,
        Some(&s.selector),
        "deployment",
        Some(&s.template),
        &spec,
    );
    pod::template(
        errors,
        &s.template,
        Owner::Replicated("Deployment"),
        &spec.field("template"),
    );
    let strategy_path = spec.field("strategy");
    if let Some(strategy) = &s.strategy {
        let kind = strategy.type_.as_deref().unwrap_or("");
        let rolling_path = strategy_path.field("rollingUpdate");
        match kind {
            "Recreate" if strategy.rolling_update.is_some() => {
                errors.forbidden(
                    &rolling_path,
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
            "Recreate" => {}
            "RollingUpdate" => match &strategy.rolling_update {
                None => errors.required(&rolling_path, "this should be defaulted and never be nil"),
                Some(rolling) => {
                    let unavailable_path = rolling_path.field("maxUnavailable");
                    let unavailable =
                        int_or_percent(errors, rolling.max_unavailable.as_ref(), &unavailable_path);
                    let surge = int_or_percent(
                        errors,
                        rolling.max_surge.as_ref(),
                        &rolling_path.field("maxSurge"),
                    );
                    if unavailable.unwrap_or(0) == 0
                        && surge.unwrap_or(0) == 0
                        && unavailable.is_some()
                        && surge.is_some()
                    {
                        errors.invalid_raw(
                            &unavailable_path,
                            int_or_string_text(rolling.max_unavailable.as_ref()),
                            "may not be 0 when `maxSurge` is 0",
                        );
                    }
                    not_more_than_100_percent(
                        errors,
                        rolling.max_unavailable.as_ref(),
                        &unavailable_path,
                    );
                }
            },
            other => errors.one_of(
                &strategy_path.field("type"),
                other,
                &["Recreate", "RollingUpdate"],
            ),
        }
    }
    common_counts(
        errors,
        &spec,
        None,
        s.min_ready_seconds,
        s.revision_history_limit,
    );
    if let Some(deadline) = s.progress_deadline_seconds {
        let at = spec.field("progressDeadlineSeconds");
        errors.non_negative(&at, deadline);
        if deadline <= s.min_ready_seconds.unwrap_or(0) {
            errors.invalid_raw(&at, deadline, "must be greater than minReadySeconds");
        }
    }
}

/// A ReplicaSet.
pub(crate) fn replica_set(errors: &mut Errors, replica_set: &ReplicaSet) {
    let s = &replica_set.spec;
    let spec = Path::ROOT.field("spec");
    common_counts(errors, &spec, s.replicas, s.min_ready_seconds, None);
    selector_matches_template(
        errors,
        Some(&s.selector),
        "deployment",
        s.template.as_ref(),
        &spec,
    );
    match &s.template {
        Some(template) => pod::template(
            errors,
            template,
            Owner::Replicated("ReplicaSet"),
            &spec.field("template"),
        ),
        None => errors.required(&spec.field("template"), ""),
    }
}

/// A DaemonSet.
pub(crate) fn daemon_set(errors: &mut Errors, daemon_set: &DaemonSet) {
    let s = &daemon_set.spec;
    let spec = Path::ROOT.field("spec");
    selector_matches_template(
        errors,
        Some(&s.selector),
        "daemonset",
        Some(&s.template),
        &spec,
    );
    pod::template(
        errors,
        &s.template,
        Owner::Replicated("DaemonSet"),
        &spec.field("template"),
    );
    common_counts(
        errors,
        &spec,
        None,
        s.min_ready_seconds,
        s.revision_history_limit,
    );
    let Some(strategy) = &s.update_strategy else {
        return;
    };
    let strategy_path = spec.field("updateStrategy");
    match strategy.type_.as_deref().unwrap_or("") {
        "OnDelete" => {}
        "RollingUpdate" => {
            let rolling_path = strategy_path.field("rollingUpdate");
            let Some(rolling) = &strategy.rolling_update else {
                errors.required(&rolling_path, "this should be defaulted and never be nil");
                return;
            };
            let unavailable_path = rolling_path.field("maxUnavailable");
            let surge_path = rolling_path.field("maxSurge");
            let unavailable =
                int_or_percent(errors, rolling.max_unavailable.as_ref(), &unavailable_path);
            let surge = int_or_percent(errors, rolling.max_surge.as_ref(), &surge_path);
            not_more_than_100_percent(errors, rolling.max_unavailable.as_ref(), &unavailable_path);
            not_more_than_100_percent(errors, rolling.max_surge.as_ref(), &surge_path);
            let has_unavailable = unavailable.unwrap_or(0) != 0;
            let has_surge = surge.unwrap_or(0) != 0;
            if has_unavailable && has_surge {
                errors.invalid_raw(
                    &surge_path,
                    int_or_string_text(rolling.max_surge.as_ref()),
                    "may not be set when maxUnavailable is non-zero",
                );
            } else if !has_unavailable && !has_surge {
                errors.required(&unavailable_path, "cannot be 0 when maxSurge is 0");
            }
        }
        other => errors.one_of(
            &strategy_path.field("type"),
            other,
            &["RollingUpdate", "OnDelete"],
        ),
    }
}

/// A StatefulSet.
pub(crate) fn stateful_set(errors: &mut Errors, stateful_set: &StatefulSet) {
    let s = &stateful_set.spec;
    let spec = Path::ROOT.field("spec");
    match s.pod_management_policy.as_deref() {
        None | Some("OrderedReady" | "Parallel") => {}
        Some(other) => errors.invalid(
            &spec.field("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        ),
    }
    if let Some(strategy) = &s.update_strategy {
        let strategy_path = spec.field("updateStrategy");
        match strategy.type_.as_deref().unwrap_or("") {
            "RollingUpdate" => {
                if let Some(rolling) = &strategy.rolling_update {
                    let rolling_path = strategy_path.field("rollingUpdate");
                    if let Some(partition) = rolling.partition {
                        errors.non_negative(&rolling_path.field("partition"), partition);
                    }
                    let unavailable_path = rolling_path.field("maxUnavailable");
                    if let Some(0) =
                        int_or_percent(errors, rolling.max_unavailable.as_ref(), &unavailable_path)
                    {
                        errors.invalid_raw(
                            &unavailable_path,
                            int_or_string_text(rolling.max_unavailable.as_ref()),
                            "must be greater than 0",
                        );
                    }
                    not_more_than_100_percent(
                        errors,
                        rolling.max_unavailable.as_ref(),
                        &unavailable_path,
                    );
                }
            }
            "OnDelete" if strategy.rolling_update.is_some() => {
                let value = serde_json::to_string(&strategy.rolling_update).unwrap_or_default();
                errors.invalid_raw(
                    &strategy_path.field("rollingUpdate"),
                    value,
                    "only allowed for updateStrategy 'RollingUpdate'",
                );
            }
            "OnDelete" => {}
            other => errors.one_of(
                &strategy_path.field("type"),
                other,
                &["RollingUpdate", "OnDelete"],
            ),
        }
    }
    if let Some(policy) = &s.persistent_volume_claim_retention_policy {
        let at = spec.field("persistentVolumeClaimRetentionPolicy");
        for (field, value) in [
            ("whenDeleted", &policy.when_deleted),
            ("whenScaled", &policy.when_scaled),
        ] {
            if let Some(value) = value.as_deref() {
                errors.one_of(&at.field(field), value, &["Retain", "Delete"]);
            }
        }
    }
    common_counts(
        errors,
        &spec,
        s.replicas,
        s.min_ready_seconds,
        s.revision_history_limit,
    );
    if let Some(service) = s.service_name.as_deref().filter(|n| !n.is_empty()) {
        errors.each(
            &spec.field("serviceName"),
            service,
            names::dns1123_label(service),
        );
    }
    selector_matches_template(
        errors,
        Some(&s.selector),
        "statefulset",
        Some(&s.template),
        &spec,
    );
    let claim_names: Vec<&str> = s
        .volume_claim_templates
        .iter()
        .flatten()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    pod::template_with_claims(
        errors,
        &s.template,
        Owner::Replicated("StatefulSet"),
        &claim_names,
        &spec.field("template"),
    );
    let claims = spec.field("volumeClaimTemplates");
    for (i, claim) in s.volume_claim_templates.iter().flatten().enumerate() {
        let at = claims.index(i);
        let meta_path = at.field("metadata");
        match claim.metadata.name.as_deref().unwrap_or("") {
            "" => errors.required(&meta_path.field("name"), "name or generateName is required"),
            name => errors.each(
                &meta_path.field("name"),
                name,
                names::dns1123_subdomain(name),
            ),
        }
        meta::labels(
            errors,
            claim.metadata.labels.as_ref(),
            &meta_path.field("labels"),
        );
        let default_spec = Default::default();
        cluster::claim_spec(
            errors,
            claim.spec.as_ref().unwrap_or(&default_spec),
            &at.field("spec"),
        );
    }
}

/// A Job.
pub(crate) fn job(errors: &mut Errors, job: &Job) {
    let spec = Path::ROOT.field("spec");
    match &job.spec {
        Some(s) => job_spec(errors, s, &spec),
        None => errors.required(&spec, ""),
    }
}

fn job_spec(errors: &mut Errors, s: &JobSpec, spec: &Path<'_>) {
    let counts = [
        ("parallelism", s.parallelism),
        ("completions", s.completions),
        ("backoffLimit", s.backoff_limit),
        ("backoffLimitPerIndex", s.backoff_limit_per_index),
        ("maxFailedIndexes", s.max_failed_indexes),
        ("ttlSecondsAfterFinished", s.ttl_seconds_after_finished),
    ];
    for (field, value) in counts {
        if let Some(value) = value {
            errors.non_negative(&spec.field(field), value);
        }
    }
    if let Some(deadline) = s.active_deadline_seconds {
        errors.non_negative(&spec.field("activeDeadlineSeconds"), deadline);
    }
    if let Some(mode) = s.completion_mode.as_deref() {
        errors.one_of(
            &spec.field("completionMode"),
            mode,
            &["NonIndexed", "Indexed"],
        );
        if mode == "Indexed" && s.completions.is_none() {
            errors.required(
                &spec.field("completions"),
                "when completion mode is Indexed",
            );
        }
    }
    if let Some(policy) = s.pod_replacement_policy.as_deref() {
        errors.one_of(
            &spec.field("podReplacementPolicy"),
            policy,
            &["TerminatingOrFailed", "Failed"],
        );
    }
    if let Some(selector) = &s.selector {
        if s.manual_selector == Some(true) {
            selector_matches_template(errors, Some(selector), "job", Some(&s.template), spec);
        } else {
            meta::label_selector(errors, selector, &spec.field("selector"));
        }
    }
    pod::template(errors, &s.template, Owner::Job, &spec.field("template"));
}

/// A CronJob.
pub(crate) fn cron_job(errors: &mut Errors, cron_job: &CronJob) {
    if let Some(name) = cron_job.metadata.name.as_deref()
        && name.len() > CRON_JOB_NAME_MAX
    {
        errors.invalid(
            &Path::ROOT.field("metadata").field("name"),
            name,
            names::max_len(CRON_JOB_NAME_MAX),
        );
    }
    let s = &cron_job.spec;
    let spec = Path::ROOT.field("spec");
    let schedule = spec.field("schedule");
    if s.schedule.is_empty() {
        errors.required(&schedule, "");
    } else if s.schedule.contains("TZ") {
        errors.invalid(
            &schedule,
            &s.schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        );
    } else if let Err(message) = cron::parse_schedule(&s.schedule) {
        errors.invalid(&schedule, &s.schedule, message);
    }
    if let Some(zone) = s.time_zone.as_deref() {
        let at = spec.field("timeZone");
        if zone.is_empty() {
            errors.invalid(&at, zone, "timeZone must be nil or non-empty string");
        } else if zone.eq_ignore_ascii_case("local") {
            errors.invalid(&at, zone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones");
        } else if !zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
            || zone.starts_with('/')
        {
            errors.invalid(&at, zone, format!("unknown time zone {zone}"));
        }
    }
    if let Some(policy) = s.concurrency_policy.as_deref() {
        errors.one_of(
            &spec.field("concurrencyPolicy"),
            policy,
            &["Allow", "Forbid", "Replace"],
        );
    }
    if let Some(deadline) = s.starting_deadline_seconds {
        errors.non_negative(&spec.field("startingDeadlineSeconds"), deadline);
    }
    for (field, value) in [
        (
            "successfulJobsHistoryLimit",
            s.successful_jobs_history_limit,
        ),
        ("failedJobsHistoryLimit", s.failed_jobs_history_limit),
    ] {
        if let Some(value) = value {
            errors.non_negative(&spec.field(field), value);
        }
    }
    let template = spec.field("jobTemplate");
    meta::template_meta(
        errors,
        s.job_template.metadata.as_ref(),
        &template.field("metadata"),
    );
    let job_spec_path = template.field("spec");
    match &s.job_template.spec {
        Some(job) => job_spec(errors, job, &job_spec_path),
        None => errors.required(&job_spec_path, ""),
    }
}
