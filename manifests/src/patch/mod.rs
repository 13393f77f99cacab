//! The four patch types kube-apiserver accepts on `PATCH`: JSON patch (RFC 6902), merge patch
//! (RFC 7386), strategic merge patch, and server-side apply. This module picks the patch type
//! from the `Content-Type` and applies the first three to an object; server-side apply lives in
//! [`apply`] because it also tracks who owns which field.

pub mod apply;
pub mod fields;
mod merge;
mod strategic;

use std::fmt;

use serde_json::Value;

use crate::strategy::Schema;

/// The patch types of `PATCH` requests, named by their `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// `application/json-patch+json`: a list of RFC 6902 operations.
    Json,
    /// `application/merge-patch+json`: an RFC 7386 merge patch.
    Merge,
    /// `application/strategic-merge-patch+json`: a merge patch that merges lists by key.
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply of a whole configuration.
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header, ignoring parameters such as
    /// `; charset=utf-8`; `None` for any other media type.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }

    /// The media type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::Strategic => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

impl fmt::Display for PatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json patch",
            Self::Merge => "merge patch",
            Self::Strategic => "strategic merge patch",
            Self::Apply => "apply patch",
        })
    }
}

/// Why a patch could not be applied. Messages follow kube-apiserver's where it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The body is not JSON.
    #[error("the patch body is not valid JSON: {source}")]
    InvalidJson {
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The body of an apply patch is neither YAML nor JSON.
    #[error("the apply body is not valid YAML: {source}")]
    InvalidYaml {
        /// The parser's complaint.
        #[source]
        source: serde_saphyr::Error,
    },
    /// A merge, strategic merge or apply patch that is not a JSON object.
    #[error("the {patch_type} must be a JSON object, not {found}")]
    NotAnObject {
        /// The kind of patch.
        patch_type: PatchType,
        /// What the body was instead (`an array`, `a string`, ...).
        found: &'static str,
    },
    /// A JSON patch that is not a list of operations.
    #[error("a json patch must be an array of operations, not {found}")]
    NotAnArray {
        /// What the body was instead.
        found: &'static str,
    },
    /// A JSON patch operation that does not parse (unknown `op`, missing `path`, bad pointer).
    #[error("invalid json patch operation: {source}")]
    InvalidOperation {
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON patch operation that does not apply to the object.
    #[error("{message}")]
    OperationFailed {
        /// What failed, in kube-apiserver's words.
        message: String,
        /// The failure reported by the JSON patch implementation.
        #[source]
        source: json_patch::PatchError,
    },
    /// An apply patch given to [`apply_patch`]: it needs a field manager and goes through
    /// [`apply::server_side_apply`].
    #[error("apply patches are merged by server-side apply and need a field manager")]
    ApplyIsNotAPatch,
    /// An item of a keyed list without its merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// The item, as JSON.
        map: String,
        /// The merge key it lacks.
        key: String,
    },
    /// A `$patch` directive other than `replace`, `merge` or `delete`.
    #[error("unknown patch type: {value} in map: {map}")]
    UnknownDirective {
        /// The directive's value, as JSON.
        value: String,
        /// The map holding it, as JSON.
        map: String,
    },
    /// A key starting with `$` that is not a strategic merge patch directive.
    #[error("unknown strategic merge patch directive {key:?}")]
    UnknownDirectiveKey {
        /// The key.
        key: String,
    },
    /// `{"$patch": "merge"}` as an item of a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeListDirective,
    /// A malformed `$retainKeys`, or a patch setting a field it does not retain.
    #[error("invalid patch format of retainKeys: {detail}")]
    BadRetainKeys {
        /// What is wrong.
        detail: String,
    },
    /// A malformed `$setElementOrder/<field>`.
    #[error("invalid patch format of setElementOrder list: {detail}")]
    BadSetElementOrder {
        /// What is wrong.
        detail: String,
    },
    /// A malformed `$deleteFromPrimitiveList/<field>`.
    #[error("invalid patch format of primitive list: {detail}")]
    BadPrimitiveList {
        /// What is wrong.
        detail: String,
    },
    /// A list of objects merged as a set of values.
    #[error("cannot merge lists without merge key for {field}")]
    NoMergeKeyForList {
        /// The list field.
        field: String,
    },
    /// A list whose items are lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A value of the wrong JSON type where a patch needs a particular one.
    #[error("expected {expected} in {field}, but received {found}")]
    WrongType {
        /// The field.
        field: String,
        /// What was expected (`a list`, `a map`).
        expected: &'static str,
        /// What was there.
        found: &'static str,
    },
}

impl PatchError {
    /// The HTTP status kube-apiserver answers with: 400 Bad Request for a body that is not a
    /// well-formed patch, 422 Unprocessable Entity for a well-formed patch that does not apply.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::OperationFailed { .. }
            | Self::ListOfLists
            | Self::MissingMergeKey { .. }
            | Self::NoMergeKeyForList { .. }
            | Self::WrongType { .. } => 422,
            _ => 400,
        }
    }
}

/// Applies a JSON, merge or strategic merge patch `body` to `original`, an object of the kind
/// whose merge schema is `schema`, and returns the patched object. The original is not changed.
///
/// # Errors
/// A body that does not parse or has the wrong shape, a JSON patch operation that does not
/// apply (a failed `test`, a missing path), or a strategic merge patch that breaks the rules of
/// its directives. [`PatchType::Apply`] is refused with [`PatchError::ApplyIsNotAPatch`].
pub fn apply_patch(
    original: &Value,
    patch_type: PatchType,
    body: &[u8],
    schema: &Schema,
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => json_patch(original, &parse_json(body)?),
        PatchType::Merge => merge_patch(original, &parse_json(body)?),
        PatchType::Strategic => strategic_merge_patch(original, &parse_json(body)?, schema),
        PatchType::Apply => Err(PatchError::ApplyIsNotAPatch),
    }
}

/// Applies an RFC 6902 JSON patch, already parsed as JSON.
///
/// # Errors
/// A patch that is not a list of operations, or an operation that does not apply.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_array() {
        return Err(PatchError::NotAnArray {
            found: json_type(patch),
        });
    }
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|source| PatchError::InvalidOperation { source })?;
    let mut document = original.clone();
    // Operations run on a private copy, so a failure halfway leaves nothing to undo.
    json_patch::patch_unsafe(&mut document, &operations).map_err(|source| {
        let operation = operations.get(source.operation);
        PatchError::OperationFailed {
            message: describe_failure(operation, &source),
            source,
        }
    })?;
    Ok(document)
}

/// Applies an RFC 7386 merge patch, already parsed as JSON.
///
/// # Errors
/// A patch that is not a JSON object.
pub fn merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::NotAnObject {
            patch_type: PatchType::Merge,
            found: json_type(patch),
        });
    }
    let mut document = original.clone();
    json_patch::merge(&mut document, patch);
    Ok(document)
}

/// Applies a strategic merge patch, already parsed as JSON, guided by the merge keys and
/// directives of `schema`.
///
/// # Errors
/// A patch that is not a JSON object, or that breaks the rules of its directives (a keyed list
/// item without its merge key, an unknown `$patch`, a malformed `$retainKeys`, ...).
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    schema: &Schema,
) -> Result<Value, PatchError> {
    strategic::merge(original, patch, schema)
}

/// Parses the body of an apply patch: YAML, of which JSON is a part.
///
/// # Errors
/// A body that is neither, or that is not a single object.
pub fn parse_apply_body(body: &[u8]) -> Result<Value, PatchError> {
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            serde_saphyr::from_str::<Value>(&text)
                .map_err(|source| PatchError::InvalidYaml { source })?
        }
    };
    if !value.is_object() {
        return Err(PatchError::NotAnObject {
            patch_type: PatchType::Apply,
            found: json_type(&value),
        });
    }
    Ok(value)
}

fn parse_json(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body).map_err(|source| PatchError::InvalidJson { source })
}

/// Explains a failed JSON patch operation in the words kube-apiserver uses.
fn describe_failure(
    operation: Option<&json_patch::PatchOperation>,
    error: &json_patch::PatchError,
) -> String {
    use json_patch::{PatchErrorKind, PatchOperation};
    let (op, from) = match operation {
        Some(PatchOperation::Add(_)) => ("add", None),
        Some(PatchOperation::Remove(_)) => ("remove", None),
        Some(PatchOperation::Replace(_)) => ("replace", None),
        Some(PatchOperation::Move(op)) => ("move", Some(op.from.as_str())),
        Some(PatchOperation::Copy(op)) => ("copy", Some(op.from.as_str())),
        Some(PatchOperation::Test(_)) => ("test", None),
        None => ("unknown", None),
    };
    let path = error.path.as_str();
    match &error.kind {
        PatchErrorKind::TestFailed => format!("testing value {path} failed: test failed"),
        PatchErrorKind::InvalidPointer => {
            format!("{op} operation does not apply: doc is missing path: {path:?}")
        }
        PatchErrorKind::InvalidFromPointer => format!(
            "{op} operation does not apply: doc is missing from path: {:?}",
            from.unwrap_or_default()
        ),
        PatchErrorKind::CannotMoveInsideItself => format!(
            "move operation does not apply: cannot move {:?} into its own child {path:?}",
            from.unwrap_or_default()
        ),
        other => format!("{op} operation does not apply at {path:?}: {other}"),
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strategy;

    #[test]
    fn content_types_ignore_parameters() {
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchType::Strategic)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("Application/Merge-Patch+JSON"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        for t in [
            PatchType::Json,
            PatchType::Merge,
            PatchType::Strategic,
            PatchType::Apply,
        ] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn bad_bodies_are_errors() {
        let cm = json!({"data": {"a": "b"}});
        let schema = &strategy::META_ONLY;
        let err = apply_patch(&cm, PatchType::Merge, b"{not json", schema).unwrap_err();
        assert!(matches!(err, PatchError::InvalidJson { .. }), "{err}");
        assert_eq!(err.status_code(), 400);
        let err = apply_patch(&cm, PatchType::Json, br#"{"op":"add"}"#, schema).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a json patch must be an array of operations, not an object"
        );
        let err = apply_patch(
            &cm,
            PatchType::Json,
            br#"[{"op":"frobnicate","path":"/a"}]"#,
            schema,
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::InvalidOperation { .. }), "{err}");
        let err = apply_patch(&cm, PatchType::Strategic, b"[1]", schema).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the strategic merge patch must be a JSON object, not an array"
        );
        let err = apply_patch(&cm, PatchType::Apply, b"{}", schema).unwrap_err();
        assert!(matches!(err, PatchError::ApplyIsNotAPatch));
    }

    #[test]
    fn a_failed_operation_leaves_the_original_alone() {
        let cm = json!({"data": {"a": "b"}});
        let body = br#"[{"op":"add","path":"/data/c","value":"d"},{"op":"test","path":"/data/a","value":"x"}]"#;
        let err = apply_patch(&cm, PatchType::Json, body, &strategy::META_ONLY).unwrap_err();
        assert_eq!(err.to_string(), "testing value /data/a failed: test failed");
        assert_eq!(err.status_code(), 422);
        assert_eq!(cm, json!({"data": {"a": "b"}}));
    }

    #[test]
    fn apply_bodies_may_be_yaml_or_json() {
        let from_json = parse_apply_body(br#"{"kind":"ConfigMap","data":{"a":"1"}}"#).unwrap();
        let from_yaml = parse_apply_body(b"kind: ConfigMap\ndata:\n  a: \"1\"\n").unwrap();
        assert_eq!(from_json, from_yaml);
        assert!(parse_apply_body(b"- 1\n- 2\n").is_err());
    }
}
