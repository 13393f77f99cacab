//! meta/v1: the object metadata, label selectors and conditions every group uses.

use super::Ty::{Bool, I64, Msg, RawJson, Str, Time};
use super::{Field, Message, field, keep, list, map};

pub(super) const METADATA: Field = field(1, "metadata", Msg(&OBJECT_META));

message! {OBJECT_META, "ObjectMeta", [
    field(1, "name", Str),
    field(2, "generateName", Str),
    field(3, "namespace", Str),
    field(4, "selfLink", Str),
    field(5, "uid", Str),
    field(6, "resourceVersion", Str),
    field(7, "generation", I64),
    field(8, "creationTimestamp", Time),
    field(9, "deletionTimestamp", Time),
    keep(10, "deletionGracePeriodSeconds", I64),
    map(11, "labels", Str),
    map(12, "annotations", Str),
    list(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
    list(14, "finalizers", Str),
    list(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY)),
]}
message! {OWNER_REFERENCE, "OwnerReference", [
    keep(1, "kind", Str),
    keep(3, "name", Str),
    keep(4, "uid", Str),
    keep(5, "apiVersion", Str),
    keep(6, "controller", Bool),
    keep(7, "blockOwnerDeletion", Bool),
]}
message! {MANAGED_FIELDS_ENTRY, "ManagedFieldsEntry", [
    field(1, "manager", Str),
    field(2, "operation", Str),
    field(3, "apiVersion", Str),
    field(4, "time", Time),
    field(6, "fieldsType", Str),
    field(7, "fieldsV1", RawJson),
    field(8, "subresource", Str),
]}
message! {LABEL_SELECTOR, "LabelSelector", [
    map(1, "matchLabels", Str),
    list(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT)),
]}
message! {LABEL_SELECTOR_REQUIREMENT, "LabelSelectorRequirement", [
    keep(1, "key", Str),
    keep(2, "operator", Str),
    list(3, "values", Str),
]}
message! {CONDITION, "Condition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(3, "observedGeneration", I64),
    field(4, "lastTransitionTime", Time),
    keep(5, "reason", Str),
    keep(6, "message", Str),
]}
