//! Object metadata: names, namespace scope, labels, annotations, owner references and
//! finalizers, and the structure of label selectors.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::names::{self, quote};
use super::{Errors, Path};

/// The most bytes all annotations of one object may hold together.
const ANNOTATIONS_MAX: usize = 256 * 1024;

/// Which rule an object's name follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// Most kinds.
    Dns1123Subdomain,
    /// Namespaces.
    Dns1123Label,
    /// Services.
    Dns1035Label,
    /// RBAC objects (`system:controller:x` is fine).
    PathSegment,
}

impl NameRule {
    pub(crate) fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let name = names::mask_trailing_dash(name, prefix);
        match self {
            Self::Dns1123Subdomain => names::dns1123_subdomain(&name),
            Self::Dns1123Label => names::dns1123_label(&name),
            Self::Dns1035Label => names::dns1035_label(&name),
            Self::PathSegment => names::path_segment(&name),
        }
    }
}

/// `metadata` of a top-level object.
pub(crate) fn object_meta(
    errors: &mut Errors,
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
    path: &Path<'_>,
) {
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        errors.each(
            &path.field("generateName"),
            generate_name,
            rule.check(generate_name, true),
        );
    }
    match meta.name.as_deref().unwrap_or("") {
        "" if generate_name.is_empty() => {
            errors.required(&path.field("name"), "name or generateName is required");
        }
        "" => {}
        name => errors.each(&path.field("name"), name, rule.check(name, false)),
    }
    match meta.namespace.as_deref().unwrap_or("") {
        "" => {}
        _ if !namespaced => errors.forbidden(&path.field("namespace"), "not allowed on this type"),
        namespace => errors.each(
            &path.field("namespace"),
            namespace,
            names::dns1123_label(namespace),
        ),
    }
    if let Some(generation) = meta.generation {
        errors.non_negative(&path.field("generation"), generation);
    }
    labels(errors, meta.labels.as_ref(), &path.field("labels"));
    annotations(
        errors,
        meta.annotations.as_ref(),
        &path.field("annotations"),
    );
    let owners = path.field("ownerReferences");
    for (i, owner) in meta.owner_references.iter().flatten().enumerate() {
        let at = owners.index(i);
        let fields = [
            (
                "apiVersion",
                owner.api_version.as_str(),
                "version must not be empty",
            ),
            ("kind", owner.kind.as_str(), "kind must not be empty"),
            ("name", owner.name.as_str(), "name must not be empty"),
            ("uid", owner.uid.as_str(), "uid must not be empty"),
        ];
        for (field, value, message) in fields {
            if value.is_empty() {
                errors.invalid(&at.field(field), value, message);
            }
        }
    }
    let finalizers = path.field("finalizers");
    for (i, finalizer) in meta.finalizers.iter().flatten().enumerate() {
        errors.each(
            &finalizers.index(i),
            finalizer,
            names::qualified_name(finalizer),
        );
    }
}

/// `metadata` of a pod or job template: labels and annotations only.
pub(crate) fn template_meta(errors: &mut Errors, meta: Option<&ObjectMeta>, path: &Path<'_>) {
    if let Some(meta) = meta {
        labels(errors, meta.labels.as_ref(), &path.field("labels"));
        annotations(
            errors,
            meta.annotations.as_ref(),
            &path.field("annotations"),
        );
    }
}

/// Label keys are qualified names; values at most 63 characters with alphanumeric edges.
pub(crate) fn labels(
    errors: &mut Errors,
    labels: Option<&BTreeMap<String, String>>,
    path: &Path<'_>,
) {
    for (key, value) in labels.into_iter().flatten() {
        errors.each(path, key, names::qualified_name(key));
        errors.each(&path.key(key), value, names::label_value(value));
    }
}

/// Annotation keys are qualified names (checked lower-cased); all of them together are at
/// most 256 KiB.
pub(crate) fn annotations(
    errors: &mut Errors,
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path<'_>,
) {
    let mut total = 0;
    for (key, value) in annotations.into_iter().flatten() {
        errors.each(path, key, names::qualified_name(&key.to_ascii_lowercase()));
        total += key.len() + value.len();
    }
    if total > ANNOTATIONS_MAX {
        errors.too_long(path, ANNOTATIONS_MAX);
    }
}

/// Whether a selector has no requirements at all.
pub(crate) fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// The structure of a label selector: label rules for `matchLabels`, and operators and
/// values for `matchExpressions`. Returns whether it is well-formed.
pub(crate) fn label_selector(
    errors: &mut Errors,
    selector: &LabelSelector,
    path: &Path<'_>,
) -> bool {
    let before = errors.0.len();
    let expressions = path.field("matchExpressions");
    for (i, requirement) in selector.match_expressions.iter().flatten().enumerate() {
        let at = expressions.index(i);
        let values = requirement.values.as_ref().map_or(0, Vec::len);
        match requirement.operator.as_str() {
            "In" | "NotIn" if values == 0 => errors.required(
                &at.field("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if values > 0 => errors.forbidden(
                &at.field("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            operator => errors.invalid(
                &at.field("operator"),
                operator,
                "not a valid selector operator",
            ),
        }
        errors.each(
            &at.field("key"),
            &requirement.key,
            names::qualified_name(&requirement.key),
        );
    }
    labels(
        errors,
        selector.match_labels.as_ref(),
        &path.field("matchLabels"),
    );
    errors.0.len() == before
}

/// Renders a selector for messages, as `kubectl` prints one: `app=web,tier in (a,b)`.
pub(crate) fn selector_text(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        parts.push(format!("{key}={value}"));
    }
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or_default().join(",");
        parts.push(match requirement.operator.as_str() {
            "Exists" => requirement.key.clone(),
            "DoesNotExist" => format!("!{}", requirement.key),
            op => format!("{} {} ({values})", requirement.key, op.to_ascii_lowercase()),
        });
    }
    quote(&parts.join(","))
}
