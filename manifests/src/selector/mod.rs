//! Label and field selectors: the `labelSelector` and `fieldSelector` of list and watch
//! requests, and the structured selectors inside Deployments, ReplicaSets, Jobs and Services.
//! Parsing, printing and matching follow apimachinery's `labels` and `fields` packages, down to
//! the wording of their errors, because kubectl users read those messages.

pub mod field;
pub mod label;

pub use field::{FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};

/// Why a selector was refused. The messages are apimachinery's and kube-apiserver's; `at` is
/// the byte offset in the selector text of the token the message is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// One requirement of a label selector is malformed or has an invalid key or value.
    #[error("unable to parse requirement: {detail}")]
    Requirement {
        /// Byte offset of the offending token.
        at: usize,
        /// What is wrong, as apimachinery says it.
        detail: String,
    },
    /// The text around the requirements of a label selector is malformed.
    #[error("{detail}")]
    Syntax {
        /// Byte offset of the offending token.
        at: usize,
        /// What is wrong, as apimachinery says it.
        detail: String,
    },
    /// A structured selector uses an operator other than `In`, `NotIn`, `Exists` and
    /// `DoesNotExist`.
    #[error(
        "{} is not a valid label selector operator",
        crate::names::quote(operator)
    )]
    UnknownOperator {
        /// The operator as written.
        operator: String,
    },
    /// A structured selector's requirement is invalid; each entry is one field error.
    #[error("{}", aggregate(errors))]
    Invalid {
        /// The field errors, e.g. `key: Invalid value: "a/b/c": ...`.
        errors: Vec<String>,
    },
    /// A field selector term has no `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole selector.
        selector: String,
        /// The term that could not be read.
        term: String,
    },
    /// A field selector value has a backslash that escapes nothing it may escape.
    #[error("invalid field selector: invalid escape sequence: {sequence}")]
    FieldEscape {
        /// The backslash and the character after it, if any.
        sequence: String,
    },
    /// A field selector value has an unescaped `,` or `=`. The message prints the character's
    /// code point, as kube-apiserver's does.
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*character))]
    FieldUnescaped {
        /// The character.
        character: char,
    },
    /// A field selector names a field the kind cannot be selected by.
    #[error("field label not supported: {label}")]
    FieldNotSupported {
        /// The field, e.g. `spec.foo`.
        label: String,
    },
}

/// Several errors printed as apimachinery's aggregate does: one alone, more in brackets.
fn aggregate(errors: &[String]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for error in errors {
        if !unique.contains(&error.as_str()) {
            unique.push(error);
        }
    }
    match unique.as_slice() {
        [one] => (*one).to_owned(),
        many => format!("[{}]", many.join(", ")),
    }
}
