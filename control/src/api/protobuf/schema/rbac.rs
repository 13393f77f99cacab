//! rbac.authorization.k8s.io/v1: roles, cluster roles and their bindings.

use super::Ty::{Msg, Str};
use super::meta::{LABEL_SELECTOR, METADATA};
use super::{Field, Message, field, keep, list};

pub(super) static KINDS: super::Kinds = &[
    ("rbac.authorization.k8s.io/v1", "Role", &ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", &CLUSTER_ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", &ROLE_BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &CLUSTER_ROLE_BINDING,
    ),
];

message! {ROLE, "Role", [METADATA, list(2, "rules", Msg(&POLICY_RULE))]}
message! {CLUSTER_ROLE, "ClusterRole", [
    METADATA,
    list(2, "rules", Msg(&POLICY_RULE)),
    field(3, "aggregationRule", Msg(&AGGREGATION_RULE)),
]}
message! {POLICY_RULE, "PolicyRule", [
    list(1, "verbs", Str),
    list(2, "apiGroups", Str),
    list(3, "resources", Str),
    list(4, "resourceNames", Str),
    list(5, "nonResourceURLs", Str),
]}
message! {AGGREGATION_RULE, "AggregationRule", [
    list(1, "clusterRoleSelectors", Msg(&LABEL_SELECTOR)),
]}

/// `RoleBinding` and `ClusterRoleBinding` are the same message.
const BINDING: &[Field] = &[
    METADATA,
    list(2, "subjects", Msg(&SUBJECT)),
    field(3, "roleRef", Msg(&ROLE_REF)),
];
pub(super) static ROLE_BINDING: Message = Message {
    name: "RoleBinding",
    fields: BINDING,
};
pub(super) static CLUSTER_ROLE_BINDING: Message = Message {
    name: "ClusterRoleBinding",
    fields: BINDING,
};
message! {SUBJECT, "Subject", [
    keep(1, "kind", Str),
    field(2, "apiGroup", Str),
    keep(3, "name", Str),
    field(4, "namespace", Str),
]}
message! {ROLE_REF, "RoleRef", [
    keep(1, "apiGroup", Str),
    keep(2, "kind", Str),
    keep(3, "name", Str),
]}
