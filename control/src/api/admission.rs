//! Admission: what happens to an object between the request body and the store. The body is
//! decoded as its kind with the request's field validation, defaulted and validated; the server
//! owns `uid`, `creationTimestamp`, `generation` (bumped on spec changes only) and
//! `resourceVersion`, and status is written only through the status subresource. Every
//! problem comes back as the `Status` kube-apiserver would send.

use serde_json::{Map, Value, json};
use shoal_manifests::decode::{self, DecodeError, FieldValidation, Problem};
use shoal_manifests::patch::PatchError;
use shoal_manifests::patch::apply::ApplyError;
use shoal_manifests::registry::{KindInfo, Subresource};
use shoal_manifests::{default, validate};

use shoal_manifests::{FieldError, FieldPath};

use super::error::ApiError;

/// Builds the object an update stores: server-owned metadata from the current object, status
/// or everything-but-status as the endpoint allows, then admission.
pub(super) fn prepare_update(
    kind: &'static KindInfo,
    current: &Value,
    proposed: Value,
    subresource: Option<Subresource>,
    validation: FieldValidation,
    name: &str,
) -> Result<(Value, Vec<String>), ApiError> {
    // The status endpoint takes only the status from the body; the object's own endpoint keeps
    // the stored status, except a Node's endpoint, which takes both, as does a binding (it
    // sets the node and the PodScheduled condition in one write).
    let mut next = match subresource {
        Some(Subresource::Status) => {
            let mut next = current.clone();
            copy_status(&mut next, &proposed);
            next
        }
        Some(Subresource::Binding) => proposed,
        _ => {
            let mut next = proposed;
            if kind.has_subresource(Subresource::Status) && kind.kind != "Node" {
                copy_status(&mut next, current);
            }
            next
        }
    };
    check_type(kind, &mut next)?;
    {
        let old_meta = current.get("metadata").and_then(Value::as_object);
        let meta = metadata_mut(&mut next)?;
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            copy_field(meta, old_meta, field);
        }
        meta.remove("resourceVersion");
        meta.remove("selfLink");
    }
    let (mut value, warnings) = admit(kind, next, validation, name)?;
    check_role_ref_unchanged(kind, current, &value, name)?;
    if tracks_generation(kind) && spec_of(&value) != spec_of(current) {
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        value["metadata"]["generation"] = Value::from(generation + 1);
    }
    if value.pointer("/metadata/managedFields").is_none()
        && let Some(managed) = current.pointer("/metadata/managedFields")
    {
        value["metadata"]["managedFields"] = managed.clone();
    }
    Ok((value, warnings))
}

/// A binding's `roleRef` is fixed at creation: what it grants cannot change under its
/// subjects (delete and recreate the binding instead), as in Kubernetes.
fn check_role_ref_unchanged(
    kind: &KindInfo,
    current: &Value,
    next: &Value,
    name: &str,
) -> Result<(), ApiError> {
    let binding = kind.group == "rbac.authorization.k8s.io"
        && matches!(kind.kind, "RoleBinding" | "ClusterRoleBinding");
    if !binding || current.get("roleRef") == next.get("roleRef") {
        return Ok(());
    }
    let field = |f: &str| {
        next.pointer(&format!("/roleRef/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let shown = format!(
        "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
        field("apiGroup"),
        field("kind"),
        field("name")
    );
    Err(ApiError::invalid(
        &kind_label(kind),
        kind.group,
        name,
        FieldError::invalid_raw(
            FieldPath::parse_dotted("roleRef"),
            shown,
            "cannot change roleRef",
        ),
    ))
}

fn copy_status(to: &mut Value, from: &Value) {
    if let Some(to) = to.as_object_mut() {
        copy_field(to, from.as_object(), "status");
    }
}

/// Sets `field` of `to` to that of `from`, or removes it where `from` has none.
fn copy_field(to: &mut Map<String, Value>, from: Option<&Map<String, Value>>, field: &str) {
    match from.and_then(|from| from.get(field)) {
        Some(value) => {
            to.insert(field.to_owned(), value.clone());
        }
        None => {
            to.remove(field);
        }
    }
}

/// Everything of an object but its metadata and status: what a change of bumps `generation`.
pub(super) fn spec_of(object: &Value) -> Value {
    let mut spec = object.clone();
    if let Some(map) = spec.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    spec
}

/// Decodes `value` as `kind` (with the field validation mode), applies defaults and validates.
/// Returns the object as it is stored and the warnings for tolerated problems.
pub(super) fn admit(
    kind: &'static KindInfo,
    value: Value,
    validation: FieldValidation,
    name: &str,
) -> Result<(Value, Vec<String>), ApiError> {
    let managed = value.pointer("/metadata/managedFields").cloned();
    let decoded = decode::decode_value("request body", value, validation)
        .map_err(|errors| decode_error(kind, &errors))?;
    let mut object = decoded.object;
    if object.kind_info().kind != kind.kind {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({}) does not match the expected kind ({})",
            object.kind_info().kind,
            kind.kind
        )));
    }
    default::apply_defaults(&mut object);
    let problems = validate::validate(&object);
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            kind: kind_label(kind),
            group: kind.group.to_owned(),
            name: name.to_owned(),
            causes: problems,
        });
    }
    let mut stored = object.to_value();
    if let Some(managed) = managed
        && !managed.is_null()
    {
        stored["metadata"]["managedFields"] = managed;
    }
    let warnings = decoded.warnings.iter().map(warning_text).collect();
    Ok((stored, warnings))
}

/// `Deployment.apps`, or `Pod` for the core group: how kube-apiserver names a kind in 422s.
pub(super) fn kind_label(kind: &KindInfo) -> String {
    if kind.group.is_empty() {
        kind.kind.to_owned()
    } else {
        format!("{}.{}", kind.kind, kind.group)
    }
}

pub(super) fn warning_text(error: &DecodeError) -> String {
    match (&error.path, &error.problem) {
        (Some(path), Problem::UnknownField) => format!("unknown field \"{path}\""),
        (Some(path), Problem::DuplicateField) => format!("duplicate field \"{path}\""),
        (Some(path), problem) => format!("{path}: {problem}"),
        (None, problem) => problem.to_string(),
    }
}

pub(super) fn decode_error(kind: &KindInfo, errors: &[DecodeError]) -> ApiError {
    let strict: Vec<String> = errors
        .iter()
        .filter(|e| matches!(e.problem, Problem::UnknownField | Problem::DuplicateField))
        .map(warning_text)
        .collect();
    if !strict.is_empty() && strict.len() == errors.len() {
        return ApiError::BadRequest(format!("strict decoding error: {}", strict.join(", ")));
    }
    let details: Vec<String> = errors.iter().map(warning_text).collect();
    ApiError::BadRequest(format!(
        "{} in version \"{}\" cannot be handled as a {}: {}",
        kind.kind,
        kind.version,
        kind.kind,
        details.join(", ")
    ))
}

pub(super) fn patch_error(error: &PatchError) -> ApiError {
    if error.status_code() == 422 {
        ApiError::Unprocessable(error.to_string())
    } else {
        ApiError::BadRequest(error.to_string())
    }
}

pub(super) fn apply_error(kind: &KindInfo, name: &str, error: ApplyError) -> ApiError {
    match error {
        ApplyError::Conflicts(conflicts) => ApiError::ApplyConflict {
            resource: kind.qualified_plural(),
            name: name.to_owned(),
            conflicts,
        },
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// Sets a missing `apiVersion`/`kind` and refuses ones that name another kind.
pub(super) fn check_type(kind: &KindInfo, body: &mut Value) -> Result<(), ApiError> {
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".to_owned(),
        ));
    };
    let fields = [
        ("apiVersion", "API version", kind.api_version),
        ("kind", "kind", kind.kind),
    ];
    for (field, what, expected) in fields {
        match map.get(field).and_then(Value::as_str) {
            None | Some("") => {
                map.insert(field.to_owned(), Value::from(expected));
            }
            Some(found) if found == expected => {}
            Some(found) => {
                return Err(ApiError::BadRequest(format!(
                    "the {what} in the data ({found}) does not match the expected {what} ({expected})"
                )));
            }
        }
    }
    Ok(())
}

/// Reconciles the body's namespace with the path's; returns the namespace to use.
pub(super) fn check_namespace(
    kind: &KindInfo,
    namespace: Option<&str>,
    body: &mut Value,
) -> Result<String, ApiError> {
    let meta = metadata_mut(body)?;
    if !kind.namespaced {
        meta.remove("namespace");
        return Ok(String::new());
    }
    let Some(namespace) = namespace else {
        return Err(ApiError::MethodNotAllowed);
    };
    match meta.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            meta.insert("namespace".to_owned(), Value::from(namespace));
        }
        Some(ns) if ns == namespace => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on \
                 the request"
                    .to_owned(),
            ));
        }
    }
    Ok(namespace.to_owned())
}

pub(super) fn metadata_mut(body: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = body
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("the request body must be a JSON object".into()))?;
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("metadata must be an object".into()))
}

/// Kinds whose `metadata.generation` counts spec changes (the workload controllers read it).
pub(super) fn tracks_generation(kind: &KindInfo) -> bool {
    matches!(kind.group, "apps" | "batch" | "autoscaling")
}

/// Status is the server's (and controllers') to write: a create starts from the initial one.
pub(super) fn reset_status_on_create(kind: &KindInfo, body: &mut Value) {
    let Some(map) = body.as_object_mut() else {
        return;
    };
    match kind.kind {
        "Namespace" => {
            map.insert("status".to_owned(), json!({"phase": "Active"}));
            map.insert("spec".to_owned(), json!({"finalizers": ["kubernetes"]}));
        }
        "Pod" if kind.group.is_empty() => {
            map.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        "PersistentVolumeClaim" => {
            map.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        "Node" => {}
        _ if kind.has_subresource(Subresource::Status) => {
            map.remove("status");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_manifests::registry::resolve;

    #[test]
    fn type_and_namespace_checks() {
        let pods = resolve("pods").unwrap();
        let mut body = json!({"metadata": {"name": "p"}});
        check_type(pods, &mut body).unwrap();
        assert_eq!(body["apiVersion"], "v1");
        assert_eq!(body["kind"], "Pod");
        let mut wrong = json!({"apiVersion": "apps/v1", "kind": "Pod"});
        assert!(matches!(
            check_type(pods, &mut wrong),
            Err(ApiError::BadRequest(_))
        ));
        let mut body = json!({"metadata": {"name": "p", "namespace": "other"}});
        assert!(check_namespace(pods, Some("default"), &mut body).is_err());
        let mut body = json!({"metadata": {"name": "p"}});
        assert_eq!(
            check_namespace(pods, Some("default"), &mut body).unwrap(),
            "default"
        );
        assert_eq!(body["metadata"]["namespace"], "default");
        let nodes = resolve("nodes").unwrap();
        let mut body = json!({"metadata": {"name": "n", "namespace": "x"}});
        assert_eq!(check_namespace(nodes, None, &mut body).unwrap(), "");
        assert!(body["metadata"].get("namespace").is_none());
    }

    #[test]
    fn strict_decoding_errors_name_the_fields() {
        let cm = resolve("configmaps").unwrap();
        let error = admit(
            cm,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "bogus": 1}),
            FieldValidation::Strict,
            "c",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "strict decoding error: unknown field \"bogus\""
        );
        let (_, warnings) = admit(
            cm,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "bogus": 1}),
            FieldValidation::Warn,
            "c",
        )
        .unwrap();
        assert_eq!(warnings, vec!["unknown field \"bogus\"".to_owned()]);
    }

    #[test]
    fn invalid_objects_get_422_with_every_cause() {
        let deploy = resolve("deployments").unwrap();
        let error = admit(
            deploy,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Web"},
                   "spec": {"replicas": -1, "template": {"spec": {"containers": []}}}}),
            FieldValidation::Strict,
            "Web",
        )
        .unwrap_err();
        let ApiError::Invalid { causes, kind, .. } = &error else {
            panic!("expected Invalid, got {error:?}");
        };
        assert_eq!(kind, "Deployment.apps");
        let fields: Vec<String> = causes.iter().map(|c| c.path.to_string()).collect();
        assert!(fields.contains(&"metadata.name".to_owned()), "{fields:?}");
        assert!(fields.contains(&"spec.replicas".to_owned()), "{fields:?}");
    }

    #[test]
    fn generation_follows_spec_changes_only() {
        let a = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"x": 1}});
        let b = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"replicas": 1}, "status": {"x": 2}});
        let c = json!({"metadata": {}, "spec": {"replicas": 2}});
        assert_eq!(spec_of(&a), spec_of(&b));
        assert_ne!(spec_of(&a), spec_of(&c));
    }
}
