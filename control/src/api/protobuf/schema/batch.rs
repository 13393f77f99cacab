//! batch/v1: jobs and cron jobs.

use super::Ty::{Bool, I32, I64, Msg, Str, Time};
use super::core::{OBJECT_REFERENCE, POD_TEMPLATE_SPEC};
use super::meta::{LABEL_SELECTOR, METADATA};
use super::{Message, field, keep, list};

pub(super) static KINDS: super::Kinds = &[
    ("batch/v1", "Job", &JOB),
    ("batch/v1", "CronJob", &CRON_JOB),
];

object! {JOB, "Job", JOB_SPEC, JOB_STATUS}
message! {JOB_SPEC, "JobSpec", [
    keep(1, "parallelism", I32),
    keep(2, "completions", I32),
    keep(3, "activeDeadlineSeconds", I64),
    field(4, "selector", Msg(&LABEL_SELECTOR)),
    keep(5, "manualSelector", Bool),
    field(6, "template", Msg(&POD_TEMPLATE_SPEC)),
    keep(7, "backoffLimit", I32),
    keep(8, "ttlSecondsAfterFinished", I32),
    keep(9, "completionMode", Str),
    keep(10, "suspend", Bool),
    field(11, "podFailurePolicy", Msg(&POD_FAILURE_POLICY)),
    keep(12, "backoffLimitPerIndex", I32),
    keep(13, "maxFailedIndexes", I32),
    keep(14, "podReplacementPolicy", Str),
    keep(15, "managedBy", Str),
    field(16, "successPolicy", Msg(&SUCCESS_POLICY)),
]}
message! {POD_FAILURE_POLICY, "PodFailurePolicy", [list(1, "rules", Msg(&POD_FAILURE_POLICY_RULE))]}
message! {POD_FAILURE_POLICY_RULE, "PodFailurePolicyRule", [
    keep(1, "action", Str),
    field(2, "onExitCodes", Msg(&POD_FAILURE_POLICY_ON_EXIT_CODES)),
    list(3, "onPodConditions", Msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS)),
]}
message! {POD_FAILURE_POLICY_ON_EXIT_CODES, "PodFailurePolicyOnExitCodesRequirement", [
    keep(1, "containerName", Str),
    keep(2, "operator", Str),
    list(3, "values", I32),
]}
message! {POD_FAILURE_POLICY_ON_POD_CONDITIONS, "PodFailurePolicyOnPodConditionsPattern", [
    keep(1, "type", Str),
    field(2, "status", Str),
]}
message! {SUCCESS_POLICY, "SuccessPolicy", [list(1, "rules", Msg(&SUCCESS_POLICY_RULE))]}
message! {SUCCESS_POLICY_RULE, "SuccessPolicyRule", [
    keep(1, "succeededIndexes", Str),
    keep(2, "succeededCount", I32),
]}
message! {JOB_STATUS, "JobStatus", [
    list(1, "conditions", Msg(&JOB_CONDITION)),
    field(2, "startTime", Time),
    field(3, "completionTime", Time),
    field(4, "active", I32),
    field(5, "succeeded", I32),
    field(6, "failed", I32),
    field(7, "completedIndexes", Str),
    field(8, "uncountedTerminatedPods", Msg(&UNCOUNTED_TERMINATED_PODS)),
    keep(9, "ready", I32),
    keep(10, "failedIndexes", Str),
    keep(11, "terminating", I32),
]}
message! {JOB_CONDITION, "JobCondition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(3, "lastProbeTime", Time),
    field(4, "lastTransitionTime", Time),
    field(5, "reason", Str),
    field(6, "message", Str),
]}
message! {UNCOUNTED_TERMINATED_PODS, "UncountedTerminatedPods", [
    list(1, "succeeded", Str),
    list(2, "failed", Str),
]}
object! {CRON_JOB, "CronJob", CRON_JOB_SPEC, CRON_JOB_STATUS}
message! {CRON_JOB_SPEC, "CronJobSpec", [
    keep(1, "schedule", Str),
    keep(2, "startingDeadlineSeconds", I64),
    field(3, "concurrencyPolicy", Str),
    keep(4, "suspend", Bool),
    field(5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC)),
    keep(6, "successfulJobsHistoryLimit", I32),
    keep(7, "failedJobsHistoryLimit", I32),
    keep(8, "timeZone", Str),
]}
message! {CRON_JOB_STATUS, "CronJobStatus", [
    list(1, "active", Msg(&OBJECT_REFERENCE)),
    field(4, "lastScheduleTime", Time),
    field(5, "lastSuccessfulTime", Time),
]}
message! {JOB_TEMPLATE_SPEC, "JobTemplateSpec", [METADATA, field(2, "spec", Msg(&JOB_SPEC))]}
