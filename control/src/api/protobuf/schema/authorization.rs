//! authorization.k8s.io/v1 and authentication.k8s.io/v1: the reviews `kubectl auth can-i`,
//! `kubectl auth can-i --list` and `kubectl auth whoami` send.

use super::Ty::{Bool, Msg, Str};
use super::meta::LABEL_SELECTOR_REQUIREMENT;
use super::{Message, field, keep, list};

pub(super) static KINDS: super::Kinds = &[
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &SELF_SUBJECT_RULES_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &SELF_SUBJECT_REVIEW,
    ),
    (
        "authentication.k8s.io/v1beta1",
        "SelfSubjectReview",
        &SELF_SUBJECT_REVIEW,
    ),
];

object! {
    SELF_SUBJECT_ACCESS_REVIEW, "SelfSubjectAccessReview",
    SELF_SUBJECT_ACCESS_REVIEW_SPEC, SUBJECT_ACCESS_REVIEW_STATUS
}
message! {SELF_SUBJECT_ACCESS_REVIEW_SPEC, "SelfSubjectAccessReviewSpec", [
    field(1, "resourceAttributes", Msg(&RESOURCE_ATTRIBUTES)),
    field(2, "nonResourceAttributes", Msg(&NON_RESOURCE_ATTRIBUTES)),
]}
message! {RESOURCE_ATTRIBUTES, "ResourceAttributes", [
    field(1, "namespace", Str),
    field(2, "verb", Str),
    field(3, "group", Str),
    field(4, "version", Str),
    field(5, "resource", Str),
    field(6, "subresource", Str),
    field(7, "name", Str),
    field(8, "fieldSelector", Msg(&FIELD_SELECTOR_ATTRIBUTES)),
    field(9, "labelSelector", Msg(&LABEL_SELECTOR_ATTRIBUTES)),
]}
message! {NON_RESOURCE_ATTRIBUTES, "NonResourceAttributes", [
    field(1, "path", Str),
    field(2, "verb", Str),
]}
message! {FIELD_SELECTOR_ATTRIBUTES, "FieldSelectorAttributes", [
    field(1, "rawSelector", Str),
    list(2, "requirements", Msg(&FIELD_SELECTOR_REQUIREMENT)),
]}
message! {FIELD_SELECTOR_REQUIREMENT, "FieldSelectorRequirement", [
    keep(1, "key", Str),
    keep(2, "operator", Str),
    list(3, "values", Str),
]}
message! {LABEL_SELECTOR_ATTRIBUTES, "LabelSelectorAttributes", [
    field(1, "rawSelector", Str),
    list(2, "requirements", Msg(&LABEL_SELECTOR_REQUIREMENT)),
]}
message! {SUBJECT_ACCESS_REVIEW_STATUS, "SubjectAccessReviewStatus", [
    keep(1, "allowed", Bool),
    field(2, "reason", Str),
    field(3, "evaluationError", Str),
    field(4, "denied", Bool),
]}

object! {
    SELF_SUBJECT_RULES_REVIEW, "SelfSubjectRulesReview",
    SELF_SUBJECT_RULES_REVIEW_SPEC, SUBJECT_RULES_REVIEW_STATUS
}
message! {SELF_SUBJECT_RULES_REVIEW_SPEC, "SelfSubjectRulesReviewSpec", [
    field(1, "namespace", Str),
]}
message! {SUBJECT_RULES_REVIEW_STATUS, "SubjectRulesReviewStatus", [
    list(1, "resourceRules", Msg(&RESOURCE_RULE)),
    list(2, "nonResourceRules", Msg(&NON_RESOURCE_RULE)),
    keep(3, "incomplete", Bool),
    field(4, "evaluationError", Str),
]}
message! {RESOURCE_RULE, "ResourceRule", [
    list(1, "verbs", Str),
    list(2, "apiGroups", Str),
    list(3, "resources", Str),
    list(4, "resourceNames", Str),
]}
message! {NON_RESOURCE_RULE, "NonResourceRule", [
    list(1, "verbs", Str),
    list(2, "nonResourceURLs", Str),
]}

// authentication.k8s.io/v1: no spec, the answer is all status.
message! {SELF_SUBJECT_REVIEW, "SelfSubjectReview", [
    super::meta::METADATA,
    field(2, "status", Msg(&SELF_SUBJECT_REVIEW_STATUS)),
]}
message! {SELF_SUBJECT_REVIEW_STATUS, "SelfSubjectReviewStatus", [
    field(1, "userInfo", Msg(&USER_INFO)),
]}
message! {USER_INFO, "UserInfo", [
    field(1, "username", Str),
    field(2, "uid", Str),
    list(3, "groups", Str),
]}
