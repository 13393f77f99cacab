//! Field sets for server-side apply: which fields of an object a manager owns, as recorded in
//! `metadata.managedFields` in the FieldsV1 form
//! (`{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{}}}}}`).
//!
//! An object is seen as a tree whose owned leaves are its scalars, atomic lists, empty maps and
//! the items of keyed lists and sets. Keyed lists are maps from merge key to item; their keys
//! come from the strategic merge patch [`Schema`] (Kubernetes' server-side apply keys a few
//! lists by more fields, such as `containerPort` and `protocol`; Shoal uses the one merge key).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::strategy::{ListMerge, Schema};

/// One step of a [`ManagedPath`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object or a key of a map: `f:replicas`.
    Field(String),
    /// An item of a keyed list: `k:{"name":"app"}`. Holds each key field with its value as
    /// JSON text, sorted by field.
    Key(Vec<(String, String)>),
    /// An item of a set, by value: `v:"example.com/cleanup"` (the value as JSON text).
    Value(String),
    /// An item of a list by position: `i:0` (only read from existing managedFields).
    Index(usize),
}

impl PathElement {
    /// The element naming the item of a keyed list whose merge key `key` has `value`.
    pub fn key(key: &str, value: &Value) -> Self {
        Self::Key(vec![(key.to_owned(), value.to_string())])
    }

    /// Whether `item` is the list item this element names.
    pub(crate) fn matches(&self, item: &Value) -> bool {
        match self {
            Self::Key(fields) => fields
                .iter()
                .all(|(name, text)| item.get(name).is_some_and(|v| is_json_text(v, text))),
            Self::Value(text) => is_json_text(item, text),
            Self::Field(_) | Self::Index(_) => false,
        }
    }

    /// The FieldsV1 key of this element.
    fn to_fields_v1(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            Self::Value(value) => format!("v:{value}"),
            Self::Index(index) => format!("i:{index}"),
        }
    }

    fn from_fields_v1(key: &str) -> Result<Self, FieldsV1Error> {
        let bad = || FieldsV1Error {
            key: key.to_owned(),
        };
        let (kind, rest) = key.split_once(':').ok_or_else(bad)?;
        match kind {
            "f" => Ok(Self::Field(rest.to_owned())),
            "k" => {
                let Ok(Value::Object(map)) = serde_json::from_str::<Value>(rest) else {
                    return Err(bad());
                };
                let mut fields: Vec<(String, String)> =
                    map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                fields.sort();
                Ok(Self::Key(fields))
            }
            "v" => serde_json::from_str::<Value>(rest)
                .map(|v| Self::Value(v.to_string()))
                .map_err(|_| bad()),
            "i" => rest.parse().map(Self::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// Whether `text` is the compact JSON of `value`.
fn is_json_text(value: &Value, text: &str) -> bool {
    serde_json::to_string(value).is_ok_and(|json| json == text)
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", inner.join(","))
            }
            Self::Value(value) => write!(f, "[={value}]"),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// A path to an owned field, printed as kube-apiserver prints it in apply conflicts:
/// `.spec.template.spec.containers[name="app"].image`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManagedPath(Vec<PathElement>);

impl ManagedPath {
    /// The steps from the root of the object.
    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    /// This path followed by `element`.
    #[must_use]
    pub fn with(&self, element: PathElement) -> Self {
        let mut elements = self.0.clone();
        elements.push(element);
        Self(elements)
    }

    /// The path without its last step (the root has none).
    pub(crate) fn parent(&self) -> Option<ManagedPath> {
        let (_, parent) = self.0.split_last()?;
        Some(Self(parent.to_vec()))
    }
}

impl From<Vec<PathElement>> for ManagedPath {
    fn from(elements: Vec<PathElement>) -> Self {
        Self(elements)
    }
}

impl fmt::Display for ManagedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|element| write!(f, "{element}"))
    }
}

/// A FieldsV1 key that is not `f:`, `k:`, `v:` or `i:` followed by a valid name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid FieldsV1 key {key:?}")]
pub struct FieldsV1Error {
    /// The key.
    pub key: String,
}

/// A set of owned fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<ManagedPath>);

impl FieldSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a path.
    pub fn insert(&mut self, path: ManagedPath) {
        self.0.insert(path);
    }

    /// Whether the set holds `path` itself.
    pub fn contains(&self, path: &ManagedPath) -> bool {
        self.0.contains(path)
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The paths, in order.
    pub fn iter(&self) -> impl Iterator<Item = &ManagedPath> {
        self.0.iter()
    }

    /// The paths in `self` or `other`.
    #[must_use]
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The paths in `self` and not in `other`.
    #[must_use]
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// The paths in both.
    #[must_use]
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The FieldsV1 form: a tree of `f:`/`k:`/`v:` keys, with `"."` marking an owned node that
    /// also has owned children.
    pub fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: BTreeMap<PathElement, Node>,
        }
        fn render(node: &Node) -> Value {
            let mut map = Map::new();
            if node.member && !node.children.is_empty() {
                map.insert(".".to_owned(), Value::Object(Map::new()));
            }
            for (element, child) in &node.children {
                map.insert(element.to_fields_v1(), render(child));
            }
            Value::Object(map)
        }
        let mut root = Node::default();
        for path in &self.0 {
            let mut node = &mut root;
            for element in &path.0 {
                node = node.children.entry(element.clone()).or_default();
            }
            node.member = true;
        }
        render(&root)
    }

    /// Reads the FieldsV1 form.
    ///
    /// # Errors
    /// A key that is not a FieldsV1 path element, or a node that is not an object.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsV1Error> {
        fn walk(
            value: &Value,
            prefix: &ManagedPath,
            out: &mut FieldSet,
        ) -> Result<(), FieldsV1Error> {
            let Value::Object(map) = value else {
                return Err(FieldsV1Error {
                    key: value.to_string(),
                });
            };
            for (key, child) in map {
                if key == "." {
                    if !prefix.0.is_empty() {
                        out.insert(prefix.clone());
                    }
                    continue;
                }
                let path = prefix.with(PathElement::from_fields_v1(key)?);
                match child {
                    Value::Object(inner) if inner.is_empty() => out.insert(path),
                    _ => walk(child, &path, out)?,
                }
            }
            Ok(())
        }
        let mut set = FieldSet::new();
        walk(value, &ManagedPath::default(), &mut set)?;
        Ok(set)
    }
}

impl FromIterator<ManagedPath> for FieldSet {
    fn from_iter<I: IntoIterator<Item = ManagedPath>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A keyed list item that cannot be tracked: it lacks its merge key or repeats another's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadItem {
    /// The list.
    pub(crate) list: ManagedPath,
    /// What is wrong.
    pub(crate) detail: String,
}

/// The owned leaves of an object, each with its value (`None` for a keyed list item, whose
/// fields are leaves of their own).
pub(crate) type Leaves<'v> = BTreeMap<ManagedPath, Option<&'v Value>>;

/// Fields no manager owns: identity and bookkeeping in `metadata`, and `status`.
fn ignored(name: &str, parent: &ManagedPath) -> bool {
    match parent.0.as_slice() {
        [] => matches!(name, "apiVersion" | "kind" | "status"),
        [PathElement::Field(metadata)] if metadata == "metadata" => matches!(
            name,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "deletionTimestamp"
                | "managedFields"
                | "selfLink"
        ),
        _ => false,
    }
}

/// The owned leaves of `object`. With `strict`, a keyed list item without its key or with a
/// repeated key is an error (for applied configurations); otherwise it is not tracked.
pub(crate) fn leaves<'v>(
    object: &'v Value,
    schema: &Schema,
    strict: bool,
) -> Result<Leaves<'v>, BadItem> {
    let mut out = Leaves::new();
    if let Value::Object(map) = object {
        walk_map(map, schema, &ManagedPath::default(), strict, &mut out)?;
    }
    Ok(out)
}

fn walk_map<'v>(
    map: &'v Map<String, Value>,
    schema: &Schema,
    prefix: &ManagedPath,
    strict: bool,
    out: &mut Leaves<'v>,
) -> Result<(), BadItem> {
    for (name, value) in map {
        if ignored(name, prefix) {
            continue;
        }
        let path = prefix.with(PathElement::Field(name.clone()));
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                walk_map(inner, schema.child(name), &path, strict, out)?
            }
            Value::Array(items) => match schema.list_merge(name) {
                ListMerge::Atomic => {
                    out.insert(path, Some(value));
                }
                ListMerge::Set => {
                    for item in items {
                        out.insert(path.with(PathElement::Value(item.to_string())), Some(item));
                    }
                }
                ListMerge::Map { key } => {
                    walk_keyed(items, key, schema.child(name), &path, strict, out)?
                }
            },
            _ => {
                out.insert(path, Some(value));
            }
        }
    }
    Ok(())
}

fn walk_keyed<'v>(
    items: &'v [Value],
    key: &str,
    schema: &Schema,
    list: &ManagedPath,
    strict: bool,
    out: &mut Leaves<'v>,
) -> Result<(), BadItem> {
    for item in items {
        let Some((map, value)) = item.as_object().and_then(|map| Some((map, map.get(key)?))) else {
            if strict {
                return Err(BadItem {
                    list: list.clone(),
                    detail: format!("{item} does not contain declared merge key: {key}"),
                });
            }
            continue;
        };
        let path = list.with(PathElement::key(key, value));
        if out.contains_key(&path) {
            if strict {
                return Err(BadItem {
                    list: list.clone(),
                    detail: format!("duplicate entries for key [{key}={value}]"),
                });
            }
            continue;
        }
        out.insert(path.clone(), None);
        walk_map(map, schema, &path, strict, out)?;
    }
    Ok(())
}

/// The set of paths of some leaves.
pub(crate) fn set_of(leaves: &Leaves<'_>) -> FieldSet {
    leaves.keys().cloned().collect()
}

/// How the owned leaves changed from one version of an object to the next.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Leaves only in the new version.
    pub(crate) added: FieldSet,
    /// Leaves in both, with different values.
    pub(crate) modified: FieldSet,
    /// Leaves only in the old version.
    pub(crate) removed: FieldSet,
}

impl Comparison {
    /// The leaves a write sets: added or modified.
    pub(crate) fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

/// Compares the leaves of two versions of an object.
pub(crate) fn compare(old: &Leaves<'_>, new: &Leaves<'_>) -> Comparison {
    let mut comparison = Comparison::default();
    for (path, value) in new {
        match old.get(path) {
            None => comparison.added.insert(path.clone()),
            Some(before) if before != value => comparison.modified.insert(path.clone()),
            Some(_) => {}
        }
    }
    for path in old.keys() {
        if !new.contains_key(path) {
            comparison.removed.insert(path.clone());
        }
    }
    comparison
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strategy;

    #[test]
    fn fields_v1_round_trips() {
        let fields = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}
            }
        });
        let set = FieldSet::from_fields_v1(&fields).unwrap();
        assert_eq!(set.iter().count(), 5);
        assert_eq!(set.to_fields_v1(), fields);
        let paths: Vec<String> = set.iter().map(ToString::to_string).collect();
        assert!(
            paths.contains(&r#".spec.template.spec.containers[name="app"].image"#.to_owned()),
            "{paths:?}"
        );
    }

    #[test]
    fn bad_fields_v1_keys_are_errors() {
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:notjson": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 3})).is_err());
    }

    #[test]
    fn leaves_follow_the_schema() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "finalizers": ["a"], "labels": {}},
            "spec": {"replicas": 2, "template": {"spec": {
                "containers": [{"name": "app", "image": "x", "args": ["-v"]}]
            }}},
            "status": {"replicas": 2}
        });
        let leaves = leaves(&deployment, &strategy::DEPLOYMENT, true).unwrap();
        let paths: Vec<String> = leaves.keys().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            [
                r#".metadata.finalizers[="a"]"#,
                ".metadata.labels",
                ".spec.replicas",
                r#".spec.template.spec.containers[name="app"]"#,
                r#".spec.template.spec.containers[name="app"].args"#,
                r#".spec.template.spec.containers[name="app"].image"#,
                r#".spec.template.spec.containers[name="app"].name"#,
            ]
        );
    }

    #[test]
    fn strict_leaves_reject_items_without_keys() {
        let pod = json!({"spec": {"containers": [{"image": "x"}]}});
        let err = leaves(&pod, &strategy::POD, true).unwrap_err();
        assert_eq!(
            err.detail,
            r#"{"image":"x"} does not contain declared merge key: name"#
        );
        assert!(leaves(&pod, &strategy::POD, false).unwrap().is_empty());
    }
}
