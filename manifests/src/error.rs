//! Field errors: validation collects every problem with its path and a Kubernetes reason, so
//! the API server can answer 422 with `details.causes` and a CLI can print them all at once.

use std::fmt;

use crate::names::quote;
use crate::path::FieldPath;

/// Why a field is wrong, with the same words Kubernetes uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorReason {
    /// A required field is missing or empty.
    Required,
    /// The value is malformed or out of range.
    Invalid,
    /// The value repeats one that must be unique.
    Duplicate,
    /// The value is not one of the supported values.
    NotSupported,
    /// The value is too long.
    TooLong,
    /// The list has too many items.
    TooMany,
    /// The field may not be set here.
    Forbidden,
    /// The value refers to something that does not exist (a volume, a container).
    NotFound,
}

impl ErrorReason {
    /// The `reason` of a `StatusCause`, as kube-apiserver sends it.
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Forbidden => "FieldValueForbidden",
            Self::NotFound => "FieldValueNotFound",
        }
    }
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is.
    pub path: FieldPath,
    /// What kind of problem it is.
    pub reason: ErrorReason,
    /// The offending value, rendered as kube-apiserver renders it (strings quoted), if any.
    pub value: Option<String>,
    /// What a person should know to fix it.
    pub detail: String,
}

impl FieldError {
    /// A required field is missing.
    pub fn required(path: FieldPath, detail: impl Into<String>) -> Self {
        Self {
            path,
            reason: ErrorReason::Required,
            value: None,
            detail: detail.into(),
        }
    }

    /// A string value is invalid.
    pub fn invalid(path: FieldPath, value: &str, detail: impl Into<String>) -> Self {
        Self {
            path,
            reason: ErrorReason::Invalid,
            value: Some(quote(value)),
            detail: detail.into(),
        }
    }

    /// A value of another type (a number, a list) is invalid; `value` is printed as given.
    pub fn invalid_raw(
        path: FieldPath,
        value: impl fmt::Display,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            path,
            reason: ErrorReason::Invalid,
            value: Some(value.to_string()),
            detail: detail.into(),
        }
    }

    /// A value repeats one that must be unique.
    pub fn duplicate(path: FieldPath, value: impl fmt::Display) -> Self {
        Self {
            path,
            reason: ErrorReason::Duplicate,
            value: Some(value.to_string()),
            detail: String::new(),
        }
    }

    /// A value is not among `supported`.
    pub fn not_supported(path: FieldPath, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        Self {
            path,
            reason: ErrorReason::NotSupported,
            value: Some(quote(value)),
            detail: format!("supported values: {}", list.join(", ")),
        }
    }

    /// A value is longer than `max` (bytes or characters, as the rule says).
    pub fn too_long(path: FieldPath, max: usize) -> Self {
        Self {
            path,
            reason: ErrorReason::TooLong,
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }

    /// A list has more than `max` items.
    pub fn too_many(path: FieldPath, actual: usize, max: usize) -> Self {
        Self {
            path,
            reason: ErrorReason::TooMany,
            value: Some(actual.to_string()),
            detail: format!("must have at most {max} items"),
        }
    }

    /// A value names something that does not exist.
    pub fn not_found(path: FieldPath, value: &str) -> Self {
        Self {
            path,
            reason: ErrorReason::NotFound,
            value: Some(quote(value)),
            detail: String::new(),
        }
    }

    /// A field may not be set.
    pub fn forbidden(path: FieldPath, detail: impl Into<String>) -> Self {
        Self {
            path,
            reason: ErrorReason::Forbidden,
            value: None,
            detail: detail.into(),
        }
    }

    /// The same error, with `prefix` put in front of its path (used when a nested object such
    /// as a pod template is validated on its own).
    #[must_use]
    pub fn under(mut self, prefix: &FieldPath) -> Self {
        self.path = prefix.join(&self.path);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = match self.reason {
            ErrorReason::Required => "Required value",
            ErrorReason::Invalid => "Invalid value",
            ErrorReason::Duplicate => "Duplicate value",
            ErrorReason::NotSupported => "Unsupported value",
            ErrorReason::TooLong => "Too long",
            ErrorReason::TooMany => "Too many",
            ErrorReason::Forbidden => "Forbidden",
            ErrorReason::NotFound => "Not found",
        };
        write!(f, "{}: {head}", self.path)?;
        if let Some(value) = &self.value {
            write!(f, ": {value}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_kube_apiserver() {
        let p = FieldPath::parse_dotted("spec.restartPolicy");
        assert_eq!(
            FieldError::not_supported(p, "Sometimes", &["Always", "OnFailure", "Never"])
                .to_string(),
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#
        );
        let p = FieldPath::parse_dotted("metadata.name");
        assert_eq!(
            FieldError::required(p, "name or generateName is required").to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }
}
