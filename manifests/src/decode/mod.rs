//! Decoding manifests: multi-document YAML (and JSON, which is YAML) into typed objects, with
//! every error naming the file, the document, the line and column, and the field path.
//!
//! The YAML is parsed into a span-carrying tree first, so that a problem found later (a type
//! error, an unknown field, a failed validation) can still be pointed at in the source. API
//! request bodies, which are JSON and have no useful lines, go through [`decode_json`].

mod source;

use std::fmt;

use serde_json::{Number, Value};

use crate::path::{FieldPath, Segment};
use crate::registry::{self, KindInfo, Object};

pub use source::SourceMap;
use source::{parse_chunk, split_documents};

/// What to do with fields the type does not know, like kube-apiserver's `fieldValidation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Unknown and duplicate fields are errors.
    #[default]
    Strict,
    /// Unknown and duplicate fields are reported as warnings and dropped.
    Warn,
    /// Unknown fields are dropped silently; for duplicates the last one wins.
    Ignore,
}

impl FieldValidation {
    /// Parses the `fieldValidation` query parameter (`Strict`, `Warn`, `Ignore`).
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "Strict" => Some(Self::Strict),
            "Warn" => Some(Self::Warn),
            "Ignore" => Some(Self::Ignore),
            _ => None,
        }
    }
}

/// A place in a source file, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

/// What went wrong while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The text is not valid YAML or JSON.
    Syntax(String),
    /// The document is not an object, or lacks `apiVersion` or `kind`.
    NotAnObject(String),
    /// No registered kind has this `apiVersion` and `kind`.
    UnknownKind {
        /// The `apiVersion` written in the document.
        api_version: String,
        /// The `kind` written in the document.
        kind: String,
    },
    /// A field's value does not fit its type.
    Type(String),
    /// A field the type does not have.
    UnknownField,
    /// A field given twice in one object.
    DuplicateField,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(message) | Self::NotAnObject(message) | Self::Type(message) => {
                f.write_str(message)
            }
            Self::UnknownKind { api_version, kind } => {
                write!(
                    f,
                    "no matches for kind \"{kind}\" in version \"{api_version}\""
                )
            }
            Self::UnknownField => f.write_str("unknown field"),
            Self::DuplicateField => f.write_str("duplicate field"),
        }
    }
}

/// A decoding error (or warning) with everything needed to find it in the source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The file or stream name (`app.yaml`, `request body`).
    pub source_name: String,
    /// The document, from 1, within a multi-document file (0 for a single JSON body).
    pub document: usize,
    /// Where in the source, when known.
    pub position: Option<Position>,
    /// The field, when the problem is inside an object.
    pub path: Option<FieldPath>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source_name)?;
        if self.document > 0 {
            write!(f, ": document {}", self.document)?;
        }
        if let Some(position) = self.position {
            write!(f, ", line {}, column {}", position.line, position.column)?;
        }
        match (&self.path, &self.problem) {
            (Some(path), Problem::UnknownField) => write!(f, ": unknown field \"{path}\""),
            (Some(path), Problem::DuplicateField) => write!(f, ": duplicate field \"{path}\""),
            (Some(path), problem) if !path.is_root() => write!(f, ": {path}: {problem}"),
            (_, problem) => write!(f, ": {problem}"),
        }
    }
}

/// One object decoded from a file.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The document it came from, from 1.
    pub document: usize,
    /// The typed object.
    pub object: Object,
    /// Where its fields are in the source.
    pub source_map: SourceMap,
}

/// The result of decoding a whole file: every object that decoded, and every problem.
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    /// Objects in file order (items of a `List` in list order).
    pub manifests: Vec<Manifest>,
    /// Problems that stopped a document or an object from decoding.
    pub errors: Vec<DecodeError>,
    /// Problems that were tolerated (with [`FieldValidation::Warn`]).
    pub warnings: Vec<DecodeError>,
}

/// Decodes a file of one or more YAML (or JSON) documents.
///
/// Each document is decoded on its own, so one bad document does not hide the problems of
/// the others; empty documents are skipped. A document of `kind: List` contributes its items.
pub fn decode_file(source_name: &str, text: &str, mode: FieldValidation) -> Decoded {
    let mut decoded = Decoded::default();
    for chunk in split_documents(text) {
        if chunk.is_blank() {
            continue;
        }
        let mut context = Context {
            source_name,
            document: chunk.number,
            mode,
            decoded: &mut decoded,
        };
        let parsed = match parse_chunk(&chunk) {
            Ok(parsed) => parsed,
            Err(error) => {
                context.error(error.position, None, Problem::Syntax(error.message));
                continue;
            }
        };
        if parsed.value.is_null() {
            continue;
        }
        for (problem_path, position) in parsed.duplicates {
            context.lenient(Some(position), Some(problem_path), Problem::DuplicateField);
        }
        context.document_value(parsed.value, &parsed.source_map);
    }
    decoded
}

/// A decoded API request body.
#[derive(Clone, Debug)]
pub struct DecodedBody {
    /// The typed object.
    pub object: Object,
    /// Tolerated problems, for `Warning` headers.
    pub warnings: Vec<DecodeError>,
}

/// Decodes one JSON object (an API request body) of any registered kind.
///
/// # Errors
/// The first fatal problem: bad JSON (with its line and column), a missing or unknown kind, a
/// field of the wrong type, or (in strict mode) unknown fields.
pub fn decode_json(bytes: &[u8], mode: FieldValidation) -> Result<DecodedBody, Vec<DecodeError>> {
    let source_name = "request body";
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![DecodeError {
            source_name: source_name.to_owned(),
            document: 0,
            position: Some(Position {
                line: e.line() as u64,
                column: e.column() as u64,
            }),
            path: None,
            problem: Problem::Syntax(e.to_string()),
        }]
    })?;
    decode_value(source_name, value, mode)
}

/// Decodes a JSON value of any registered kind (see [`decode_json`]).
///
/// # Errors
/// As [`decode_json`], without syntax errors.
pub fn decode_value(
    source_name: &str,
    value: Value,
    mode: FieldValidation,
) -> Result<DecodedBody, Vec<DecodeError>> {
    let mut decoded = Decoded::default();
    let source_map = SourceMap::empty();
    let mut context = Context {
        source_name,
        document: 0,
        mode,
        decoded: &mut decoded,
    };
    context.object(value, &FieldPath::root(), &source_map);
    if !decoded.errors.is_empty() {
        return Err(decoded.errors);
    }
    let warnings = decoded.warnings;
    match decoded.manifests.pop() {
        Some(manifest) => Ok(DecodedBody {
            object: manifest.object,
            warnings,
        }),
        None => Err(Vec::new()),
    }
}

/// The `apiVersion` and `kind` of a JSON object, with the registry entry if there is one.
///
/// # Errors
/// The object is not a map, lacks `apiVersion` or `kind`, or names an unregistered kind.
pub fn kind_of(value: &Value) -> Result<&'static KindInfo, Problem> {
    let Some(map) = value.as_object() else {
        return Err(Problem::NotAnObject(format!(
            "expected an object with apiVersion and kind, found {}",
            type_name(value)
        )));
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        return Err(Problem::NotAnObject("Object 'Kind' is missing".to_owned()));
    }
    if api_version.is_empty() {
        return Err(Problem::NotAnObject(format!(
            "Object 'apiVersion' is missing for kind \"{kind}\""
        )));
    }
    registry::by_api_version_kind(api_version, kind).ok_or_else(|| Problem::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })
}

struct Context<'a> {
    source_name: &'a str,
    document: usize,
    mode: FieldValidation,
    decoded: &'a mut Decoded,
}

impl Context<'_> {
    fn problem(
        &self,
        position: Option<Position>,
        path: Option<FieldPath>,
        problem: Problem,
    ) -> DecodeError {
        DecodeError {
            source_name: self.source_name.to_owned(),
            document: self.document,
            position: position.filter(|p| p.line > 0),
            path,
            problem,
        }
    }

    fn error(&mut self, position: Option<Position>, path: Option<FieldPath>, problem: Problem) {
        let error = self.problem(position, path, problem);
        self.decoded.errors.push(error);
    }

    /// An unknown or duplicate field: an error, a warning or nothing, by the mode.
    fn lenient(&mut self, position: Option<Position>, path: Option<FieldPath>, problem: Problem) {
        let error = self.problem(position, path, problem);
        match self.mode {
            FieldValidation::Strict => self.decoded.errors.push(error),
            FieldValidation::Warn => self.decoded.warnings.push(error),
            FieldValidation::Ignore => {}
        }
    }

    fn document_value(&mut self, value: Value, source_map: &SourceMap) {
        let is_list = value.get("kind").and_then(Value::as_str) == Some("List")
            && value.get("items").is_some_and(Value::is_array);
        if !is_list {
            self.object(value, &FieldPath::root(), source_map);
            return;
        }
        let Value::Object(mut map) = value else {
            return;
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return;
        };
        for (index, item) in items.into_iter().enumerate() {
            self.object(
                item,
                &FieldPath::root().field("items").index(index),
                source_map,
            );
        }
    }

    /// Decodes one object found at `at` within the document.
    fn object(&mut self, value: Value, at: &FieldPath, document_map: &SourceMap) {
        let source_map = document_map.at(at);
        let info = match kind_of(&value) {
            Ok(info) => info,
            Err(problem) => {
                let position = source_map.locate(&FieldPath::root());
                self.error(Some(position), Some(at.clone()), problem);
                return;
            }
        };
        let value = coerce_quantities(value);
        let object = match info.decode(&value) {
            Ok(object) => object,
            Err(error) => {
                let path = serde_path(error.path());
                let message = error.inner().to_string();
                let position = source_map.locate(&path);
                self.error(Some(position), Some(at.join(&path)), Problem::Type(message));
                return;
            }
        };
        if self.mode != FieldValidation::Ignore {
            let mut unknown = Vec::new();
            unknown_fields(
                &value,
                &object.to_value(),
                &mut FieldPath::root(),
                &mut unknown,
            );
            for path in unknown {
                let position = source_map.locate_key(&path);
                self.lenient(Some(position), Some(at.join(&path)), Problem::UnknownField);
            }
        }
        self.decoded.manifests.push(Manifest {
            document: self.document,
            object,
            source_map,
        });
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Converts serde_path_to_error's path into ours.
fn serde_path(path: &serde_path_to_error::Path) -> FieldPath {
    let mut result = FieldPath::root();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => result.push(Segment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => result.push(Segment::Field(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => {
                result.push(Segment::Field(variant.clone()));
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    result
}

/// Collects the paths present (and not null) in `input` but absent from `typed`, the same
/// object after a round trip through its type: the fields the type does not know.
fn unknown_fields(input: &Value, typed: &Value, path: &mut FieldPath, found: &mut Vec<FieldPath>) {
    match (input, typed) {
        (Value::Object(input), Value::Object(typed)) => {
            for (key, value) in input {
                match typed.get(key) {
                    Some(typed_value) => {
                        path.push(Segment::Field(key.clone()));
                        unknown_fields(value, typed_value, path, found);
                        path.pop();
                    }
                    None if value.is_null() => {}
                    None => found.push(path.field(key)),
                }
            }
        }
        (Value::Array(input), Value::Array(typed)) => {
            for (index, (value, typed_value)) in input.iter().zip(typed).enumerate() {
                path.push(Segment::Index(index));
                unknown_fields(value, typed_value, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Field names whose map values are resource quantities (`limits: {memory: 128974848}`).
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "overhead",
];

/// Kubernetes accepts a bare number wherever a quantity is expected (`memory: 129e6`);
/// `k8s-openapi`'s `Quantity` only reads strings, so numbers in quantity positions become
/// strings first. Everywhere else a number stays a number, and a number where a string is
/// expected is an error, as in kube-apiserver.
fn coerce_quantities(mut value: Value) -> Value {
    fn walk(value: &mut Value, parent_key: Option<&str>) {
        match value {
            Value::Object(map) => {
                let quantity_map = parent_key.is_some_and(|k| QUANTITY_MAPS.contains(&k));
                for (key, child) in map.iter_mut() {
                    if let Value::Number(n) = child
                        && (quantity_map || key == "sizeLimit" || key == "storage")
                    {
                        *child = Value::String(number_text(n));
                        continue;
                    }
                    walk(child, Some(key));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, None)),
            _ => {}
        }
    }
    walk(&mut value, None);
    value
}

/// The shortest decimal text of a JSON number (`129000000` for `129e6`).
fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    if f.fract() == 0.0 && f.abs() < 1e18 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  GREETING: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: file:///srv/web.wasm
        ports:
        - containerPort: \"http\"
";

    #[test]
    fn type_errors_name_document_line_column_and_path() {
        let decoded = decode_file("app.yaml", APP, FieldValidation::Strict);
        assert_eq!(decoded.manifests.len(), 1);
        assert_eq!(decoded.errors.len(), 1);
        assert_eq!(
            decoded.errors[0].to_string(),
            "app.yaml: document 2, line 23, column 26: \
             spec.template.spec.containers[0].ports[0].containerPort: \
             invalid type: string \"http\", expected i32"
        );
    }

    #[test]
    fn unknown_and_duplicate_fields_follow_the_mode() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n  labelz: {}\ndata: {}\n";
        let strict = decode_file("cm.yaml", text, FieldValidation::Strict);
        let messages: Vec<String> = strict.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "cm.yaml: document 1, line 5, column 3: duplicate field \"metadata.name\"",
                "cm.yaml: document 1, line 6, column 3: unknown field \"metadata.labelz\"",
            ]
        );
        let warn = decode_file("cm.yaml", text, FieldValidation::Warn);
        assert!(warn.errors.is_empty());
        assert_eq!(warn.warnings.len(), 2);
        assert_eq!(
            warn.manifests[0].object.metadata().name.as_deref(),
            Some("b")
        );
        let ignore = decode_file("cm.yaml", text, FieldValidation::Ignore);
        assert!(ignore.errors.is_empty() && ignore.warnings.is_empty());
    }

    #[test]
    fn lists_and_empty_documents() {
        let text = "---\n# nothing here\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Nope\n";
        let decoded = decode_file("list.yaml", text, FieldValidation::Strict);
        assert_eq!(decoded.manifests.len(), 1);
        assert_eq!(decoded.manifests[0].document, 2);
        assert_eq!(
            decoded.errors[0].to_string(),
            "list.yaml: document 2, line 10, column 3: items[1]: no matches for kind \"Nope\" in version \"v1\""
        );
    }

    #[test]
    fn syntax_errors_keep_other_documents() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkey: [unclosed\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
        let decoded = decode_file("ns.yaml", text, FieldValidation::Strict);
        assert_eq!(decoded.manifests.len(), 2);
        assert_eq!(decoded.errors.len(), 1);
        let error = &decoded.errors[0];
        assert_eq!(error.document, 2);
        assert!(matches!(error.problem, Problem::Syntax(_)), "{error}");
        assert!(error.position.is_some_and(|p| p.line >= 5), "{error}");
    }

    #[test]
    fn quantities_may_be_numbers() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: file:///a.wasm\n    resources:\n      limits: {memory: 129e6, cpu: 2}\n";
        let decoded = decode_file("pod.yaml", text, FieldValidation::Strict);
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        let value = decoded.manifests[0].object.to_value();
        assert_eq!(
            value["spec"]["containers"][0]["resources"]["limits"]["memory"],
            "129000000"
        );
        assert_eq!(
            value["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "2"
        );
    }

    #[test]
    fn json_bodies() {
        let ok = decode_json(
            br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"},"spex":1}"#,
            FieldValidation::Warn,
        )
        .unwrap();
        assert_eq!(
            ok.warnings[0].to_string(),
            "request body: unknown field \"spex\""
        );
        let bad = decode_json(b"{\"apiVersion\":", FieldValidation::Strict).unwrap_err();
        assert!(
            bad[0]
                .to_string()
                .starts_with("request body, line 1, column 14: "),
            "{}",
            bad[0]
        );
        let missing = decode_json(br#"{"metadata":{}}"#, FieldValidation::Strict).unwrap_err();
        assert_eq!(
            missing[0].to_string(),
            "request body: Object 'Kind' is missing"
        );
    }
}
