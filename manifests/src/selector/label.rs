//! Label selectors: the string form kubectl sends (`app=web,tier in (a,b),!canary`) and the
//! structured `matchLabels`/`matchExpressions` form of workload specs, both becoming one
//! [`LabelSelector`] that matches label maps with Kubernetes' exact semantics.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use super::SelectorError;
use crate::names::{
    label_value as label_value_errors, qualified_name as qualified_name_errors, quote,
};

/// How a requirement compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key=value`.
    Equals,
    /// `key==value` (the same test as `=`, printed as written).
    DoubleEquals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>3`: the label is present and is an integer greater than the value.
    GreaterThan,
    /// `key<3`: the label is present and is an integer less than the value.
    LessThan,
}

/// One condition of a label selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and without duplicates.
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, checking it as apimachinery's `NewRequirement` does. Errors are
    /// field errors (`key: Invalid value: ...`), every one that applies.
    fn new(key: &str, operator: Operator, mut values: Vec<String>) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let key_errors = qualified_name_errors(key);
        if !key_errors.is_empty() {
            errors.push(format!(
                "key: Invalid value: {}: {}",
                quote(key),
                key_errors.join("; ")
            ));
        }
        let problem = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            errors.push(format!(
                "values: Invalid value: {}: {problem}",
                go_string_slice(&values)
            ));
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for (i, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    errors.push(format!(
                        "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                        quote(value)
                    ));
                }
            }
        }
        for (i, value) in values.iter().enumerate() {
            let value_errors = label_value_errors(value);
            if !value_errors.is_empty() {
                errors.push(format!(
                    "values[{i}][{key}]: Invalid value: {}: {}",
                    quote(value),
                    value_errors.join("; ")
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_owned(),
            operator,
            values,
        })
    }

    /// Builds a requirement from parts, with the checks of the string form: a valid key, valid
    /// values, and as many values as the operator takes (`Gt`/`Lt` need one integer).
    ///
    /// # Errors
    /// [`SelectorError::Invalid`] with every problem found.
    pub fn try_new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, SelectorError> {
        Self::new(key, operator, values).map_err(|errors| SelectorError::Invalid { errors })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted (empty for `Exists` and `DoesNotExist`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let listed = |v: &String| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(listed),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let actual = value.and_then(|v| v.parse::<i64>().ok());
                let bound = match self.values.as_slice() {
                    [bound] => bound.parse::<i64>().ok(),
                    _ => None,
                };
                match (actual, bound) {
                    (Some(actual), Some(bound)) if self.operator == Operator::GreaterThan => {
                        actual > bound
                    }
                    (Some(actual), Some(bound)) => actual < bound,
                    _ => false,
                }
            }
        }
    }
}

/// Prints as apimachinery does: `!key`, `key`, `key=v`, `key in (a,b)`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let values = self.values.join(",");
        match self.operator {
            Operator::Exists | Operator::DoesNotExist => Ok(()),
            Operator::Equals => write!(f, "={values}"),
            Operator::DoubleEquals => write!(f, "=={values}"),
            Operator::NotEquals => write!(f, "!={values}"),
            Operator::GreaterThan => write!(f, ">{values}"),
            Operator::LessThan => write!(f, "<{values}"),
            Operator::In => write!(f, " in ({values})"),
            Operator::NotIn => write!(f, " notin ({values})"),
        }
    }
}

/// A Go `%#v` rendering of a string slice, as field errors print bad values.
fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_owned();
    }
    let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// A set of requirements that must all hold. The empty selector matches every label set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    /// Sorted by key (stable, so requirements on one key keep their order).
    requirements: Vec<Requirement>,
    /// The selector of a missing structured selector, which matches nothing.
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every label set.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no label set: what a missing (`null`) structured selector
    /// means to apimachinery.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the string form, as `labels.Parse` does.
    ///
    /// # Errors
    /// [`SelectorError::Requirement`] for a malformed requirement or an invalid key or value,
    /// [`SelectorError::Syntax`] for text between requirements that does not belong there.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(text).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Converts a structured selector, as `metav1.LabelSelectorAsSelector` does: `matchLabels`
    /// become `=` requirements and `matchExpressions` keep their operators.
    ///
    /// # Errors
    /// [`SelectorError::UnknownOperator`] for an operator other than `In`, `NotIn`, `Exists`
    /// or `DoesNotExist`; [`SelectorError::Invalid`] for an invalid key or value, values on
    /// `Exists`/`DoesNotExist`, or no values on `In`/`NotIn`.
    pub fn from_k8s(selector: &metav1::LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            let requirement = Requirement::try_new(key, Operator::Equals, vec![value.clone()])?;
            requirements.push(requirement);
        }
        for expression in selector.match_expressions.iter().flatten() {
            let operator = match expression.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::UnknownOperator {
                        operator: other.to_owned(),
                    });
                }
            };
            let values = expression.values.clone().unwrap_or_default();
            let requirement = Requirement::try_new(&expression.key, operator, values)?;
            requirements.push(requirement);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Converts an optional structured selector: a missing one matches nothing, as in
    /// apimachinery.
    ///
    /// # Errors
    /// As [`LabelSelector::from_k8s`].
    pub fn from_k8s_opt(selector: Option<&metav1::LabelSelector>) -> Result<Self, SelectorError> {
        selector.map_or_else(|| Ok(Self::nothing()), Self::from_k8s)
    }

    /// The selector requiring all of `requirements`.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            requirements,
            nothing: false,
        }
    }

    /// The selector that matches label sets containing all of `labels`, like a Service's
    /// `spec.selector`. The labels are not validated (they were when the object was stored).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let requirements = labels
            .iter()
            .map(|(key, value)| Requirement {
                key: key.clone(),
                operator: Operator::Equals,
                values: vec![value.clone()],
            })
            .collect();
        Self {
            requirements,
            nothing: false,
        }
    }

    /// Whether `labels` satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirements (and so matches everything, unless it is
    /// [`LabelSelector::nothing`]).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The canonical string form: requirements sorted by key, joined by `,`.
impl fmt::Display for LabelSelector {
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

/// A token of the string form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Identifier,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

/// Where a word is read: `in` and `notin` are operators after a key and plain words elsewhere.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

#[derive(Clone, Copy)]
struct Scanned<'a> {
    token: Token,
    text: &'a str,
    at: usize,
}

/// Splits the string form into tokens. A NUL byte ends the text, as in apimachinery.
fn lex(text: &str) -> Vec<Scanned<'_>> {
    let bytes = text.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let is_special = |b: u8| matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<');
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while pos < end && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos >= end {
            out.push(Scanned {
                token: Token::End,
                text: "",
                at: end,
            });
            return out;
        }
        let start = pos;
        let token = if is_special(bytes[pos]) {
            let pair = bytes.get(pos..pos + 2).filter(|_| pos + 2 <= end);
            let (token, len) = match (bytes[pos], pair) {
                (b'!', Some(b"!=")) => (Token::NotEquals, 2),
                (b'=', Some(b"==")) => (Token::DoubleEquals, 2),
                (b'!', _) => (Token::DoesNotExist, 1),
                (b'=', _) => (Token::Equals, 1),
                (b'>', _) => (Token::GreaterThan, 1),
                (b'<', _) => (Token::LessThan, 1),
                (b'(', _) => (Token::OpenParen, 1),
                (b')', _) => (Token::CloseParen, 1),
                _ => (Token::Comma, 1),
            };
            pos += len;
            token
        } else {
            while pos < end && !is_space(bytes[pos]) && !is_special(bytes[pos]) {
                pos += 1;
            }
            match &text[start..pos] {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier,
            }
        };
        out.push(Scanned {
            token,
            text: &text[start..pos],
            at: start,
        });
    }
}

/// A recursive-descent parser over the tokens, with apimachinery's grammar and messages.
struct Parser<'a> {
    items: Vec<Scanned<'a>>,
    position: usize,
}

type Step<T> = Result<T, (usize, String)>;

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            items: lex(text),
            position: 0,
        }
    }

    fn peek(&self, context: Context) -> Scanned<'a> {
        let last = Scanned {
            token: Token::End,
            text: "",
            at: 0,
        };
        let mut item = self
            .items
            .get(self.position)
            .or(self.items.last())
            .copied()
            .unwrap_or(last);
        if context == Context::Values && matches!(item.token, Token::In | Token::NotIn) {
            item.token = Token::Identifier;
        }
        item
    }

    fn next(&mut self, context: Context) -> Scanned<'a> {
        let item = self.peek(context);
        self.position = (self.position + 1).min(self.items.len());
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let item = self.peek(Context::Values);
            match item.token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement = self
                        .requirement()
                        .map_err(|(at, detail)| SelectorError::Requirement { at, detail })?;
                    requirements.push(requirement);
                    let after = self.next(Context::Values);
                    match after.token {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let following = self.peek(Context::Values);
                            if !matches!(following.token, Token::Identifier | Token::DoesNotExist) {
                                return Err(SelectorError::Syntax {
                                    at: following.at,
                                    detail: format!(
                                        "found '{}', expected: identifier after ','",
                                        following.text
                                    ),
                                });
                            }
                        }
                        _ => {
                            return Err(SelectorError::Syntax {
                                at: after.at,
                                detail: format!(
                                    "found '{}', expected: ',' or 'end of string'",
                                    after.text
                                ),
                            });
                        }
                    }
                }
                Token::End => return Ok(requirements),
                _ => {
                    return Err(SelectorError::Syntax {
                        at: item.at,
                        detail: format!(
                            "found '{}', expected: !, identifier, or 'end of string'",
                            item.text
                        ),
                    });
                }
            }
        }
    }

    fn requirement(&mut self) -> Step<Requirement> {
        let mut item = self.next(Context::Values);
        let negated = item.token == Token::DoesNotExist;
        if negated {
            item = self.next(Context::Values);
        }
        if item.token != Token::Identifier {
            return Err((
                item.at,
                format!("found '{}', expected: identifier", item.text),
            ));
        }
        let key = item.text;
        let key_errors = qualified_name_errors(key);
        if !key_errors.is_empty() {
            let detail = format!(
                "<nil>: Invalid value: {}: {}",
                quote(key),
                key_errors.join("; ")
            );
            return Err((item.at, detail));
        }
        let alone = matches!(self.peek(Context::Values).token, Token::End | Token::Comma);
        let build = |operator, values| {
            Requirement::new(key, operator, values)
                .map_err(|errors| (item.at, aggregate_errors(errors)))
        };
        if negated {
            return build(Operator::DoesNotExist, Vec::new());
        }
        if alone {
            return build(Operator::Exists, Vec::new());
        }
        let op = self.next(Context::KeyAndOperator);
        let operator = match op.token {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            _ => {
                let detail = format!(
                    "found '{}', expected: '=', '!=', '==', 'in', notin'",
                    op.text
                );
                return Err((op.at, detail));
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.set_values()?,
            _ => self.exact_value()?,
        };
        build(operator, values)
    }

    /// `(a,b,c)`, where empty entries stand for the empty value.
    fn set_values(&mut self) -> Step<Vec<String>> {
        let open = self.next(Context::Values);
        if open.token != Token::OpenParen {
            return Err((open.at, format!("found '{}' expected: '('", open.text)));
        }
        let first = self.peek(Context::Values);
        match first.token {
            Token::Identifier | Token::Comma => {
                let values = self.identifiers()?;
                let close = self.next(Context::Values);
                if close.token != Token::CloseParen {
                    return Err((close.at, format!("found '{}', expected: ')'", first.text)));
                }
                Ok(values)
            }
            Token::CloseParen => {
                self.next(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err((
                first.at,
                format!("found '{}', expected: ',', ')' or identifier", first.text),
            )),
        }
    }

    fn identifiers(&mut self) -> Step<Vec<String>> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let item = self.next(Context::Values);
            match item.token {
                Token::Identifier => {
                    values.push(item.text.to_owned());
                    let following = self.peek(Context::Values);
                    match following.token {
                        Token::Comma => {}
                        Token::CloseParen => return Ok(values),
                        _ => {
                            let detail =
                                format!("found '{}', expected: ',' or ')'", following.text);
                            return Err((following.at, detail));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek(Context::Values).token {
                        Token::CloseParen => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.next(Context::Values);
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => {
                    let detail = format!("found '{}', expected: ',', or identifier", item.text);
                    return Err((item.at, detail));
                }
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<`; nothing before `,` or the end is
    /// the empty value.
    fn exact_value(&mut self) -> Step<Vec<String>> {
        if matches!(self.peek(Context::Values).token, Token::End | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let item = self.next(Context::Values);
        if item.token == Token::Identifier {
            Ok(vec![item.text.to_owned()])
        } else {
            Err((
                item.at,
                format!("found '{}', expected: identifier", item.text),
            ))
        }
    }
}

/// Field errors joined as apimachinery's aggregate error prints them.
fn aggregate_errors(errors: Vec<String>) -> String {
    SelectorError::Invalid { errors }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_and_prints_canonically() {
        let s = LabelSelector::parse(
            " tier in (b, a),app = web ,!canary, env!=prod,x notin (k),l,m==n ",
        )
        .map(|s| s.to_string());
        assert_eq!(
            s.as_deref(),
            Ok("app=web,!canary,env!=prod,l,m==n,tier in (a,b),x notin (k)")
        );
        assert_eq!(LabelSelector::parse("").map(|s| s.is_empty()), Ok(true));
        assert_eq!(
            LabelSelector::parse("a in (in, notin)")
                .map(|s| s.to_string())
                .as_deref(),
            Ok("a in (in,notin)")
        );
        assert_eq!(
            LabelSelector::parse("a=").map(|s| s.to_string()).as_deref(),
            Ok("a=")
        );
        assert_eq!(
            LabelSelector::parse("a in (b,)")
                .map(|s| s.to_string())
                .as_deref(),
            Ok("a in (,b)")
        );
        assert_eq!(
            LabelSelector::parse("a in ()")
                .map(|s| s.to_string())
                .as_deref(),
            Ok("a in ()")
        );
        assert_eq!(
            LabelSelector::parse("a>1,b<2")
                .map(|s| s.to_string())
                .as_deref(),
            Ok("a>1,b<2")
        );
    }

    #[test]
    fn matches_like_kubernetes() {
        let set = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        for (selector, expected) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=api", false),
            ("app!=api", true),
            ("missing!=x", true),
            ("missing notin (x)", true),
            ("tier notin (front)", false),
            ("tier in (back,front)", true),
            ("missing in (x)", false),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("n>4", true),
            ("n>5", false),
            ("n<6", true),
            ("app>1", false),
            ("app=web,tier=back", false),
        ] {
            let parsed = LabelSelector::parse(selector).map(|s| s.matches(&set));
            assert_eq!(parsed, Ok(expected), "{selector}");
        }
        assert!(!LabelSelector::nothing().matches(&set));
        assert!(LabelSelector::everything().matches(&BTreeMap::new()));
    }

    #[test]
    fn error_positions() {
        assert_eq!(
            LabelSelector::parse("a=b=c"),
            Err(SelectorError::Syntax {
                at: 3,
                detail: "found '=', expected: ',' or 'end of string'".to_owned()
            })
        );
        assert!(matches!(
            LabelSelector::parse("a in (b"),
            Err(SelectorError::Requirement { at: 7, .. })
        ));
    }

    #[test]
    fn structured() {
        let selector = metav1::LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "env".to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(vec!["prod".to_owned(), "dev".to_owned()]),
            }]),
        };
        let parsed = LabelSelector::from_k8s(&selector).map(|s| s.to_string());
        assert_eq!(parsed.as_deref(), Ok("app=web,env notin (dev,prod)"));
        assert_eq!(
            LabelSelector::from_k8s_opt(None).map(|s| s.matches(&BTreeMap::new())),
            Ok(false)
        );
    }
}
