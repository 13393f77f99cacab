//! apps/v1: deployments.

use super::Ty::{Bool, I32, I64, IntOrString, Msg, Str, Time};
use super::core::POD_TEMPLATE_SPEC;
use super::meta::LABEL_SELECTOR;
use super::{Message, field, keep, list};

pub(super) static KINDS: super::Kinds = &[("apps/v1", "Deployment", &DEPLOYMENT)];

object! {DEPLOYMENT, "Deployment", DEPLOYMENT_SPEC, DEPLOYMENT_STATUS}
message! {DEPLOYMENT_SPEC, "DeploymentSpec", [
    keep(1, "replicas", I32),
    field(2, "selector", Msg(&LABEL_SELECTOR)),
    field(3, "template", Msg(&POD_TEMPLATE_SPEC)),
    field(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
    field(5, "minReadySeconds", I32),
    keep(6, "revisionHistoryLimit", I32),
    field(7, "paused", Bool),
    keep(9, "progressDeadlineSeconds", I32),
    keep(10, "podReplacementPolicy", Str),
]}
message! {DEPLOYMENT_STRATEGY, "DeploymentStrategy", [
    field(1, "type", Str),
    field(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
]}
message! {ROLLING_UPDATE_DEPLOYMENT, "RollingUpdateDeployment", [
    field(1, "maxUnavailable", IntOrString),
    field(2, "maxSurge", IntOrString),
]}
message! {DEPLOYMENT_STATUS, "DeploymentStatus", [
    field(1, "observedGeneration", I64),
    field(2, "replicas", I32),
    field(3, "updatedReplicas", I32),
    field(4, "availableReplicas", I32),
    field(5, "unavailableReplicas", I32),
    list(6, "conditions", Msg(&DEPLOYMENT_CONDITION)),
    field(7, "readyReplicas", I32),
    keep(8, "collisionCount", I32),
    keep(9, "terminatingReplicas", I32),
]}
message! {DEPLOYMENT_CONDITION, "DeploymentCondition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(4, "reason", Str),
    field(5, "message", Str),
    field(6, "lastUpdateTime", Time),
    field(7, "lastTransitionTime", Time),
]}
