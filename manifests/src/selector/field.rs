//! Field selectors (`metadata.name=web,status.phase!=Failed`): parsed and printed as
//! apimachinery's `fields` package does, checked against the fields a kind may be selected by,
//! and matched against an object's JSON.

use std::fmt;

use serde_json::Value;

use super::SelectorError;
use crate::registry::KindInfo;

/// How a field selector term compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One term of a field selector: `field=value` or `field!=value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The dotted field, e.g. `spec.nodeName`.
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The value, unescaped.
    pub value: String,
}

impl FieldRequirement {
    /// Whether the object's field satisfies this term.
    pub fn matches(&self, object: &Value) -> bool {
        let actual = field_text(object, &self.field);
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape(&self.value))
    }
}

/// Terms that must all hold. The empty selector matches every object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    /// In the order of their sorted text, as apimachinery keeps them.
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses `a=b,c==d,e!=f`; in values, `\,`, `\=` and `\\` stand for `,`, `=` and `\`.
    /// Nothing is trimmed: `a = b` selects field `a ` for value ` b`, as in Kubernetes.
    ///
    /// # Errors
    /// [`SelectorError::FieldTerm`] for a term without an operator,
    /// [`SelectorError::FieldEscape`] and [`SelectorError::FieldUnescaped`] for bad values.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(text);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let (field, operator, raw) =
                split_term(term).ok_or_else(|| SelectorError::FieldTerm {
                    selector: text.to_owned(),
                    term: term.to_owned(),
                })?;
            let value = unescape(raw)?;
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value,
            });
        }
        Ok(Self { requirements })
    }

    /// Checks that every field may be used to select objects of `kind`: `metadata.name`,
    /// `metadata.namespace` and the kind's registered fields.
    ///
    /// # Errors
    /// [`SelectorError::FieldNotSupported`] naming the first field that may not.
    pub fn validate_for(&self, kind: &KindInfo) -> Result<(), SelectorError> {
        for requirement in &self.requirements {
            let field = requirement.field.as_str();
            let known = matches!(field, "metadata.name" | "metadata.namespace")
                || kind.field_selectors.contains(&field);
            if !known {
                return Err(SelectorError::FieldNotSupported {
                    label: field.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Whether the object (as JSON) satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches(object))
    }

    /// Whether there are no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The value `field` must equal, when a term requires exactly that (so a watch on
    /// `metadata.name=web` can look up one object).
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The canonical form: terms joined by `,`, values escaped.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

/// Splits at commas that are not escaped; escapes stay in the terms.
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

/// Splits a term at the first operator: `!=` before `==` before `=`.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        let found = [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ]
        .into_iter()
        .find(|(op, _)| rest.starts_with(op));
        found.map(|(op, operator)| (&term[..i], operator, &rest[op.len()..]))
    })
}

/// Undoes `\,`, `\=` and `\\`; any other escape, a trailing `\`, or a bare `,` or `=` is an
/// error.
fn unescape(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('\\' | ',' | '=')) => out.push(escaped),
                Some(other) => {
                    return Err(SelectorError::FieldEscape {
                        sequence: format!("\\{other}"),
                    });
                }
                None => {
                    return Err(SelectorError::FieldEscape {
                        sequence: "\\".to_owned(),
                    });
                }
            },
            ',' | '=' => return Err(SelectorError::FieldUnescaped { character: c }),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Escapes `\`, `,` and `=` so the value reads back the same.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Field labels whose value does not sit at the same JSON path, or which Kubernetes reads as
/// `false` or `0` when the field is unset: `(label, JSON path, value when missing)`.
const SPECIAL_FIELDS: &[(&str, &str, &str)] = &[
    ("spec.unschedulable", "spec.unschedulable", "false"),
    ("spec.hostNetwork", "spec.hostNetwork", "false"),
    ("status.replicas", "status.replicas", "0"),
    ("status.successful", "status.succeeded", "0"),
    ("source", "source.component", ""),
];

/// The text of a dotted field in the object: strings as they are, numbers and booleans as
/// written, anything missing (or not a scalar) as the empty string.
fn field_text(object: &Value, label: &str) -> String {
    let (path, missing) = SPECIAL_FIELDS
        .iter()
        .find(|(l, _, _)| *l == label)
        .map_or((label, ""), |(_, path, missing)| (*path, *missing));
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => return missing.to_owned(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => missing.to_owned(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_sorts_and_escapes() {
        let s = FieldSelector::parse("status.phase!=Failed,metadata.name==a\\,b\\=c\\\\");
        let s = s.map(|s| (s.to_string(), s.requirements()[0].value.clone()));
        assert_eq!(
            s,
            Ok((
                "metadata.name=a\\,b\\=c\\\\,status.phase!=Failed".to_owned(),
                "a,b=c\\".to_owned()
            ))
        );
        assert_eq!(FieldSelector::parse("").map(|s| s.is_empty()), Ok(true));
        assert_eq!(
            FieldSelector::parse("a=b,,")
                .map(|s| s.to_string())
                .as_deref(),
            Ok("a=b")
        );
    }

    #[test]
    fn matches_json() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        let pod =
            json!({"metadata": {"name": "p", "namespace": "d"}, "status": {"phase": "Running"}});
        let check = |selector: &str, object: &Value| {
            FieldSelector::parse(selector).map(|s| s.matches(object))
        };
        assert_eq!(check("spec.unschedulable=true", &node), Ok(true));
        assert_eq!(check("spec.unschedulable=false", &pod), Ok(true));
        assert_eq!(check("metadata.namespace=", &node), Ok(true));
        assert_eq!(check("metadata.namespace=", &pod), Ok(false));
        assert_eq!(
            check("status.phase!=Succeeded,status.phase!=Failed", &pod),
            Ok(true)
        );
        assert_eq!(check("status.replicas=0", &pod), Ok(true));
    }
}
