//! Server-side apply (`application/apply-patch+yaml`) and the field ownership every write
//! records in `metadata.managedFields`, with the semantics of Kubernetes' structured merge:
//! - an apply merges the configuration into the live object, keyed lists as maps;
//! - a field the configuration sets to a different value than live, owned by another manager,
//!   is a conflict unless the apply is forced, which moves the ownership;
//! - setting the same value shares the ownership;
//! - a field the manager applied before and omits now is removed, unless another manager
//!   still owns it;
//! - an ordinary write (PUT, or a patch other than apply) gives its manager the fields it
//!   changed and takes them from everyone else.
//!
//! Keyed lists use the strategic merge patch key of [`Schema`] as their only key.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::fields::{self, BadItem, FieldSet, ManagedPath, PathElement};
use super::merge::merge_map;
use crate::strategy::Schema;

/// The manager that owns the fields of an object that had no managedFields before its first
/// apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// How a manager wrote its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write: create, update, or a non-apply patch.
    Update,
}

impl Operation {
    /// The name used in `managedFields[].operation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedFieldsEntry {
    /// The field manager (`kubectl`, `kubectl-client-side-apply`, ...).
    pub manager: String,
    /// How it wrote.
    pub operation: Operation,
    /// The API version of the object it wrote.
    pub api_version: String,
    /// When it last changed something (RFC 3339).
    pub time: Option<String>,
    /// The subresource it wrote through, if any.
    pub subresource: Option<String>,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    /// Whether this entry belongs to the manager `(manager, operation, api_version)`: appliers
    /// are one manager across API versions, updaters one per version.
    fn is(&self, manager: &str, operation: Operation, api_version: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.is_none()
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn to_value(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".to_owned(), Value::from(self.manager.as_str()));
        entry.insert("operation".to_owned(), Value::from(self.operation.as_str()));
        entry.insert(
            "apiVersion".to_owned(),
            Value::from(self.api_version.as_str()),
        );
        if let Some(time) = &self.time {
            entry.insert("time".to_owned(), Value::from(time.as_str()));
        }
        entry.insert("fieldsType".to_owned(), Value::from("FieldsV1"));
        entry.insert("fieldsV1".to_owned(), self.fields.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            entry.insert("subresource".to_owned(), Value::from(subresource.as_str()));
        }
        Value::Object(entry)
    }

    fn from_value(value: &Value) -> Option<Self> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let operation = match value.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        let fields = match value.get("fieldsV1") {
            Some(fields) => FieldSet::from_fields_v1(fields).ok()?,
            None => FieldSet::new(),
        };
        Some(Self {
            manager: text("manager")?,
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields,
        })
    }
}

/// The managedFields of an object; entries that do not parse are left out.
pub fn managed_fields(object: &Value) -> Vec<ManagedFieldsEntry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(ManagedFieldsEntry::from_value)
                .collect()
        })
        .unwrap_or_default()
}

/// One field that an apply would take from another manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The manager that owns the field.
    pub manager: String,
    /// How that manager wrote it.
    pub operation: Operation,
    /// The API version that manager used.
    pub api_version: String,
    /// The subresource that manager wrote through, if any.
    pub subresource: Option<String>,
    /// The field.
    pub path: ManagedPath,
}

impl Conflict {
    /// The message of this conflict's `FieldManagerConflict` cause, e.g.
    /// `conflict with "kubectl-scale" using apps/v1`; the cause's `field` is
    /// `self.path.to_string()`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.manager_label())
    }

    /// The manager as kube-apiserver names it: quoted, with the subresource, and with the API
    /// version for updaters.
    fn manager_label(&self) -> String {
        let mut label = Value::from(self.manager.as_str()).to_string();
        if let Some(subresource) = &self.subresource {
            label.push_str(&format!(
                " with subresource {}",
                Value::from(subresource.as_str())
            ));
        }
        if self.operation == Operation::Update {
            label.push_str(&format!(" using {}", self.api_version));
        }
        label
    }
}

/// Every conflict of a refused apply, sorted by manager and field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflicts(Vec<Conflict>);

impl ApplyConflicts {
    /// The conflicts, one per field and manager.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.0
    }
}

impl fmt::Display for ApplyConflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.0.as_slice() {
            return write!(
                f,
                "Apply failed with 1 conflict: {}: {}",
                only.message(),
                only.path
            );
        }
        write!(f, "Apply failed with {} conflicts: ", self.0.len())?;
        let mut by_manager: BTreeMap<String, Vec<&ManagedPath>> = BTreeMap::new();
        for conflict in &self.0 {
            by_manager
                .entry(conflict.manager_label())
                .or_default()
                .push(&conflict.path);
        }
        let mut lines = Vec::new();
        for (manager, paths) in by_manager {
            lines.push(format!("conflicts with {manager}:"));
            lines.extend(paths.into_iter().map(|path| format!("- {path}")));
        }
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ApplyConflicts {}

/// Why a server-side apply was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Fields owned by other managers would change: 409 Conflict.
    #[error(transparent)]
    Conflicts(#[from] ApplyConflicts),
    /// The configuration is not an object.
    #[error("an apply configuration must be an object, not {found}")]
    NotAnObject {
        /// What it was.
        found: &'static str,
    },
    /// The configuration carries managedFields, which only the server writes.
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsSet,
    /// A keyed list item of the configuration lacks its key or repeats another's.
    #[error("{list}: {detail}")]
    BadListItem {
        /// The list, e.g. `.spec.template.spec.containers`.
        list: String,
        /// What is wrong.
        detail: String,
    },
}

impl ApplyError {
    /// The HTTP status kube-apiserver answers with: 409 for conflicts, 400 otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Conflicts(_) => 409,
            _ => 400,
        }
    }
}

impl From<BadItem> for ApplyError {
    fn from(bad: BadItem) -> Self {
        Self::BadListItem {
            list: bad.list.to_string(),
            detail: bad.detail,
        }
    }
}

/// Server-side apply of the configuration `applied` by `manager` to the `live` object (absent
/// when the apply creates it). Returns the new object with its managedFields updated (the
/// manager's entry stamped `now`).
///
/// # Errors
/// Conflicts with other managers (unless `force`), or a malformed configuration.
pub fn server_side_apply(
    schema: &Schema,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    let Value::Object(config) = applied else {
        return Err(ApplyError::NotAnObject {
            found: super::json_type(applied),
        });
    };
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|f| !f.is_null())
    {
        return Err(ApplyError::ManagedFieldsSet);
    }
    let applied_set = fields::set_of(&fields::leaves(applied, schema, true)?);
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let mut live_object = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let mut entries = take_managed_fields(&mut live_object);
    let live_leaves = leaves_of(&live_object, schema);
    if live.is_some() && entries.is_empty() && !live_leaves.is_empty() {
        entries.push(ManagedFieldsEntry {
            manager: BEFORE_FIRST_APPLY.to_owned(),
            operation: Operation::Update,
            api_version: live_object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            time: None,
            subresource: None,
            fields: fields::set_of(&live_leaves),
        });
    }

    let mut merged = Value::Object(merge_map(live_object.as_object(), config, schema));
    let mine = entries
        .iter()
        .position(|e| e.is(manager, Operation::Apply, &api_version));
    let last_applied = match mine {
        Some(index) => std::mem::replace(&mut entries[index].fields, applied_set),
        None => {
            entries.push(ManagedFieldsEntry {
                manager: manager.to_owned(),
                operation: Operation::Apply,
                api_version: api_version.clone(),
                time: None,
                subresource: None,
                fields: applied_set,
            });
            FieldSet::new()
        }
    };
    let mine = mine.unwrap_or(entries.len() - 1);

    // Fields this manager applied last time and nobody owns now are removed.
    let owned = entries
        .iter()
        .fold(FieldSet::new(), |all, entry| all.union(&entry.fields));
    remove_fields(&mut merged, &last_applied.difference(&owned), &owned);

    let comparison = fields::compare(&live_leaves, &leaves_of(&merged, schema));
    let changed = comparison.changed();
    let mut conflicts = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if index == mine {
            continue;
        }
        for path in entry.fields.intersection(&changed).iter() {
            conflicts.push(Conflict {
                manager: entry.manager.clone(),
                operation: entry.operation,
                api_version: entry.api_version.clone(),
                subresource: entry.subresource.clone(),
                path: path.clone(),
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.path).cmp(&(&b.manager, &b.path)));
        return Err(ApplyConflicts(conflicts).into());
    }
    for (index, entry) in entries.iter_mut().enumerate() {
        if index == mine {
            entry.api_version.clone_from(&api_version);
            entry.time = Some(now.to_owned());
        } else {
            entry.fields = entry
                .fields
                .difference(&changed)
                .difference(&comparison.removed);
        }
    }
    write_managed_fields(&mut merged, entries);
    Ok(merged)
}

/// Records an ordinary write (create, update, or a non-apply patch) by `manager`: it takes
/// ownership of every field it added or changed, others lose those fields and the ones it
/// removed. `old` is the object before the write (absent on create) and `new` the object being
/// stored, whose managedFields are rewritten. ManagedFields that `new` carries itself replace
/// the old ones (this is how a client moves ownership explicitly).
pub fn record_update(
    schema: &Schema,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
) {
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let provided = take_managed_fields(new);
    let mut old_object = old.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let previous = take_managed_fields(&mut old_object);
    let mut entries = if provided.is_empty() {
        previous
    } else {
        provided
    };

    let comparison = fields::compare(&leaves_of(&old_object, schema), &leaves_of(new, schema));
    let changed = comparison.changed();
    let mine = entries
        .iter()
        .position(|e| e.is(manager, Operation::Update, &api_version));
    for (index, entry) in entries.iter_mut().enumerate() {
        if Some(index) == mine {
            entry.fields = entry.fields.difference(&comparison.removed).union(&changed);
            if !changed.is_empty() {
                entry.time = Some(now.to_owned());
            }
        } else {
            entry.fields = entry
                .fields
                .difference(&changed)
                .difference(&comparison.removed);
        }
    }
    if mine.is_none() && !changed.is_empty() {
        entries.push(ManagedFieldsEntry {
            manager: manager.to_owned(),
            operation: Operation::Update,
            api_version,
            time: Some(now.to_owned()),
            subresource: None,
            fields: changed,
        });
    }
    write_managed_fields(new, entries);
}

/// The owned leaves of a stored object; items that cannot be tracked are skipped.
fn leaves_of<'v>(object: &'v Value, schema: &Schema) -> fields::Leaves<'v> {
    fields::leaves(object, schema, false).unwrap_or_default()
}

/// Removes `metadata.managedFields` from `object` and returns its entries.
fn take_managed_fields(object: &mut Value) -> Vec<ManagedFieldsEntry> {
    let entries = managed_fields(object);
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.shift_remove("managedFields");
    }
    entries
}

/// Writes the non-empty entries into `metadata.managedFields`, sorted as kube-apiserver sorts
/// them: appliers first, then by time, manager and API version.
fn write_managed_fields(object: &mut Value, mut entries: Vec<ManagedFieldsEntry>) {
    entries.retain(|entry| !entry.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Value::Object(map) = object else {
        return;
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(metadata) = metadata else {
        return;
    };
    if entries.is_empty() {
        metadata.shift_remove("managedFields");
    } else {
        let values = entries.iter().map(ManagedFieldsEntry::to_value).collect();
        metadata.insert("managedFields".to_owned(), Value::Array(values));
    }
}

/// Removes the `stale` fields from `object`, then every map or list emptied by a removal
/// unless a manager owns it.
fn remove_fields(object: &mut Value, stale: &FieldSet, owned: &FieldSet) {
    // A parent sorts before its children, so a stale list item goes whole, before its fields
    // (which could no longer be found once its key field was gone).
    for path in stale.iter() {
        if is_key_of_kept_item(path, stale) || !remove_path(object, path) {
            continue;
        }
        let mut parent = path.parent();
        while let Some(path) = parent {
            let is_field = matches!(path.elements().last(), Some(PathElement::Field(_)));
            let empty = match lookup(object, path.elements()) {
                Some(Value::Object(map)) => map.is_empty(),
                Some(Value::Array(items)) => items.is_empty(),
                _ => false,
            };
            if !is_field || !empty || owned.contains(&path) || !remove_path(object, &path) {
                break;
            }
            parent = path.parent();
        }
    }
}

/// Whether `path` is the key field of a list item that stays: an item keeps its key even when
/// nobody owns the key field itself any more.
fn is_key_of_kept_item(path: &ManagedPath, stale: &FieldSet) -> bool {
    let [.., PathElement::Key(keys), PathElement::Field(name)] = path.elements() else {
        return false;
    };
    let is_key = keys.iter().any(|(key, _)| key == name);
    is_key && path.parent().is_some_and(|item| !stale.contains(&item))
}

fn lookup<'v>(value: &'v mut Value, path: &[PathElement]) -> Option<&'v mut Value> {
    let mut current = value;
    for element in path {
        current = match (element, current) {
            (PathElement::Field(name), Value::Object(map)) => map.get_mut(name)?,
            (PathElement::Index(index), Value::Array(items)) => items.get_mut(*index)?,
            (element, Value::Array(items)) => {
                items.iter_mut().find(|item| element.matches(item))?
            }
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the field or list item at `path`; false if it is not there.
fn remove_path(object: &mut Value, path: &ManagedPath) -> bool {
    let Some((last, parent)) = path.elements().split_last() else {
        return false;
    };
    match (last, lookup(object, parent)) {
        (PathElement::Field(name), Some(Value::Object(map))) => map.shift_remove(name).is_some(),
        (PathElement::Index(index), Some(Value::Array(items))) if *index < items.len() => {
            items.remove(*index);
            true
        }
        (element, Some(Value::Array(items))) => {
            match items.iter().position(|item| element.matches(item)) {
                Some(index) => {
                    items.remove(index);
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn removal_cleans_up_emptied_parents() {
        let mut object =
            json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1}});
        let stale: FieldSet = [
            ManagedPath::from(vec![
                PathElement::Field("metadata".into()),
                PathElement::Field("labels".into()),
                PathElement::Field("a".into()),
            ]),
            ManagedPath::from(vec![
                PathElement::Field("spec".into()),
                PathElement::Field("replicas".into()),
            ]),
        ]
        .into_iter()
        .collect();
        remove_fields(&mut object, &stale, &FieldSet::new());
        assert_eq!(object, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn removal_takes_whole_items_and_keeps_keys_of_others() {
        let mut object =
            json!({"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]});
        let containers = ManagedPath::from(vec![PathElement::Field("containers".into())]);
        let item = |name: &str| containers.with(PathElement::key("name", &json!(name)));
        let field = |name: &str, field: &str| item(name).with(PathElement::Field(field.into()));
        let stale: FieldSet = [
            item("a"),
            field("a", "image"),
            field("a", "name"),
            field("b", "name"),
            field("b", "image"),
        ]
        .into_iter()
        .collect();
        remove_fields(&mut object, &stale, &FieldSet::new());
        assert_eq!(object, json!({"containers": [{"name": "b"}]}));
    }

    #[test]
    fn conflict_messages_read_like_kube_apiserver() {
        let conflict = |manager: &str, operation, field: &str| Conflict {
            manager: manager.into(),
            operation,
            api_version: "apps/v1".into(),
            subresource: None,
            path: ManagedPath::from(vec![
                PathElement::Field("spec".into()),
                PathElement::Field(field.into()),
            ]),
        };
        let one = ApplyConflicts(vec![conflict(
            "kubectl-scale",
            Operation::Update,
            "replicas",
        )]);
        assert_eq!(
            one.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas"#
        );
        let two = ApplyConflicts(vec![
            conflict("kubectl", Operation::Apply, "paused"),
            conflict("kubectl-scale", Operation::Update, "replicas"),
        ]);
        assert_eq!(
            two.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.paused\nconflicts with \"kubectl-scale\" using apps/v1:\n- .spec.replicas"
        );
    }
}
