//! Strategic merge patch (`application/strategic-merge-patch+json`) as kube-apiserver applies
//! it. Written by hand because no maintained Rust crate implements it.
//!
//! A strategic merge patch is a merge patch whose lists merge according to the Kubernetes
//! types: keyed lists item by item on their merge key, sets of primitives as a union, every
//! other list replaced whole. The merge keys come from [`Schema`]. The directives:
//! - `$patch: replace | delete` on a map (and `merge`, the default); as an item of a keyed list,
//!   `{"$patch": "replace"}` replaces the list and `{"name": "x", "$patch": "delete"}` deletes
//!   an item;
//! - `$retainKeys: [..]` clears the fields of a map (a union type) that it does not name;
//! - `$setElementOrder/<field>: [..]` sets the order of the merged list;
//! - `$deleteFromPrimitiveList/<field>: [..]` removes values from a set.
//!
//! Without `$setElementOrder`, the merged list is ordered as kube-apiserver orders it: items
//! named in the patch in the patch's order, the other live items in their live order, and an
//! item new to the list placed before the live items it cannot be compared with (so a new
//! item lands first, which surprises people but is what Kubernetes does).
//!
//! Directives never reach the result, not even inside items the patch adds.

use serde_json::{Map, Value};

use super::{PatchError, PatchType, json_type};
use crate::strategy::{ListMerge, Schema};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies `patch` to `original` (both whole objects) as kube-apiserver does.
pub(crate) fn merge(original: &Value, patch: &Value, schema: &Schema) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject {
            patch_type: PatchType::Strategic,
            found: json_type(patch),
        });
    };
    let original = original.as_object().cloned();
    // `$patch: delete` on the whole object leaves an empty one, as in kube-apiserver.
    Ok(Value::Object(
        merge_map(original, patch.clone(), schema)?.unwrap_or_default(),
    ))
}

/// Merges a patch map into an original map (absent when the patch adds the map). `None` means
/// the map is deleted.
fn merge_map(
    original: Option<Map<String, Value>>,
    mut patch: Map<String, Value>,
    schema: &Schema,
) -> Result<Option<Map<String, Value>>, PatchError> {
    if let Some(directive) = patch.shift_remove(PATCH) {
        match directive.as_str() {
            Some("replace") => return merge_map(None, patch, schema),
            Some("delete") => return Ok(None),
            // The default strategy; kube-apiserver rejects it on maps, Shoal accepts it.
            Some("merge") => {}
            _ => {
                return Err(PatchError::UnknownDirective {
                    value: directive.to_string(),
                    map: Value::Object(patch).to_string(),
                });
            }
        }
    }
    let mut original = original.unwrap_or_default();
    if let Some(keys) = patch.shift_remove(RETAIN_KEYS) {
        retain_keys(&mut original, &patch, &keys)?;
    }
    let orders: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in orders {
        let order = patch.shift_remove(&key).unwrap_or_default();
        set_element_order(&mut original, &mut patch, &key, order, schema)?;
    }
    for (key, value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(&mut original, &key, &value)?;
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError::UnknownDirectiveKey { key });
        }
        let current = original.get_mut(&key).map(std::mem::take);
        match merge_field(current, value, schema, &key)? {
            Some(merged) => {
                original.insert(key, merged);
            }
            None => {
                original.shift_remove(&key);
            }
        }
    }
    Ok(Some(original))
}

/// Merges the patch value of field `name` of a map with schema `parent` into its current value.
/// `None` means the field is removed.
fn merge_field(
    current: Option<Value>,
    patch: Value,
    parent: &Schema,
    name: &str,
) -> Result<Option<Value>, PatchError> {
    let child = parent.child(name);
    match (current, patch) {
        (_, Value::Null) => Ok(None),
        (Some(Value::Object(current)), Value::Object(patch)) => {
            Ok(merge_map(Some(current), patch, child)?.map(Value::Object))
        }
        (Some(Value::Array(current)), Value::Array(patch)) => {
            merge_list(current, patch, parent.list_merge(name), child, name)
                .map(|l| Some(Value::Array(l)))
        }
        // A field the original lacks, or one whose type the patch changes: the patch's value,
        // with its directives carried out.
        (_, Value::Object(patch)) => Ok(merge_map(None, patch, child)?.map(Value::Object)),
        (_, Value::Array(patch)) => {
            merge_list(Vec::new(), patch, parent.list_merge(name), child, name)
                .map(|l| Some(Value::Array(l)))
        }
        (_, scalar) => Ok(Some(scalar)),
    }
}

/// Merges a patch list into an original list by the field's strategy.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    strategy: ListMerge,
    items: &Schema,
    name: &str,
) -> Result<Vec<Value>, PatchError> {
    match strategy {
        ListMerge::Atomic => Ok(patch),
        ListMerge::Set => merge_set(original, patch, name),
        ListMerge::Map { key } => merge_keyed(original, patch, key, items),
    }
}

/// A set of primitives: the union, ordered by [`normalize_order`].
fn merge_set(
    original: Vec<Value>,
    patch: Vec<Value>,
    name: &str,
) -> Result<Vec<Value>, PatchError> {
    for item in original.iter().chain(&patch) {
        match item {
            Value::Array(_) => return Err(PatchError::ListOfLists),
            Value::Object(_) => {
                return Err(PatchError::NoMergeKeyForList {
                    field: name.to_owned(),
                });
            }
            _ => {}
        }
    }
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for item in original.iter().chain(&patch) {
        if !merged.contains(item) {
            merged.push(item.clone());
        }
    }
    Ok(normalize_order(merged, &patch, &original, &|v| Some(v)))
}

/// A keyed list: `$patch` items first (deletions, replacement), then each patch item merged
/// into the original item with the same key, or added.
fn merge_keyed(
    original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    items: &Schema,
) -> Result<Vec<Value>, PatchError> {
    let mut original = original;
    let mut replace = false;
    let mut rest = Vec::with_capacity(patch.len());
    for item in patch {
        let Value::Object(item) = item else {
            return Err(PatchError::WrongType {
                field: key.to_owned(),
                expected: "a map",
                found: json_type(&item),
            });
        };
        let Some(directive) = item.get(PATCH) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = item.get(key) else {
                    return Err(missing_key(&item, key));
                };
                original.retain(|o| o.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(PatchError::MergeListDirective),
            _ => {
                return Err(PatchError::UnknownDirective {
                    value: directive.to_string(),
                    map: Value::Object(item.clone()).to_string(),
                });
            }
        }
    }
    if replace {
        original.clear();
    }
    for item in &original {
        match item {
            Value::Object(map) if map.contains_key(key) => {}
            Value::Object(map) => return Err(missing_key(map, key)),
            other => {
                return Err(PatchError::WrongType {
                    field: key.to_owned(),
                    expected: "a map",
                    found: json_type(other),
                });
            }
        }
    }
    let server_order = original.clone();
    let mut order = Vec::with_capacity(rest.len());
    for item in rest {
        let Some(value) = item.get(key).cloned() else {
            return Err(missing_key(&item, key));
        };
        order.push(Value::Object(item.clone()));
        let position = original.iter().position(|o| o.get(key) == Some(&value));
        match position {
            Some(index) => {
                let current = std::mem::take(&mut original[index]);
                let current = current.as_object().cloned();
                let merged = merge_map(current, item, items)?.unwrap_or_default();
                original[index] = Value::Object(merged);
            }
            None => original.push(Value::Object(
                merge_map(None, item, items)?.unwrap_or_default(),
            )),
        }
    }
    Ok(normalize_order(original, &order, &server_order, &|v| {
        v.get(key)
    }))
}

fn missing_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::MissingMergeKey {
        map: Value::Object(map.clone()).to_string(),
        key: key.to_owned(),
    }
}

/// Orders a merged list the way kube-apiserver does: the items named in `order` follow that
/// order; the others keep their order in `server`; the two runs are interleaved by their
/// positions in `server`, and an item `server` lacks goes before the server-only item it
/// meets. `id` is what identifies an item (its merge key, or the value itself).
fn normalize_order<'a>(
    merged: Vec<Value>,
    order: &'a [Value],
    server: &'a [Value],
    id: &dyn Fn(&Value) -> Option<&Value>,
) -> Vec<Value> {
    let position = |list: &[Value], item: &Value| -> Option<usize> {
        let wanted = id(item)?;
        list.iter()
            .position(|candidate| id(candidate) == Some(wanted))
    };
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(order, item).is_some());
    named.sort_by_key(|item| position(order, item));
    server_only.sort_by_key(|item| position(server, item).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (Some(left), Some(right)) => {
                matches!((position(server, left), position(server, right)), (Some(l), Some(r)) if l < r)
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_server {
            server_only.next()
        } else {
            named.next()
        };
        out.extend(next);
    }
    out
}

/// `$retainKeys`: keeps only the named fields of the original, after checking that the patch
/// sets no field outside them.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    keys: &Value,
) -> Result<(), PatchError> {
    let Value::Array(keys) = keys else {
        return Err(PatchError::BadRetainKeys {
            detail: format!("expected a list of field names, got {}", json_type(keys)),
        });
    };
    let mut names = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(name) = key.as_str() else {
            return Err(PatchError::BadRetainKeys {
                detail: format!("{key} is not a field name"),
            });
        };
        names.push(name);
    }
    for (key, value) in patch {
        let directive =
            key.starts_with(DELETE_FROM_PRIMITIVE_LIST) || key.starts_with(SET_ELEMENT_ORDER);
        if !value.is_null() && !directive && !names.contains(&key.as_str()) {
            return Err(PatchError::BadRetainKeys {
                detail: format!("the patch sets {key:?}, which $retainKeys does not list"),
            });
        }
    }
    original.retain(|key, _| names.contains(&key.as_str()));
    Ok(())
}

/// `$setElementOrder/<field>`: merges the field's patch list (if any) and orders the result.
fn set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    key: &str,
    order: Value,
    schema: &Schema,
) -> Result<(), PatchError> {
    let field =
        directive_field(key, SET_ELEMENT_ORDER).ok_or_else(|| PatchError::BadSetElementOrder {
            detail: format!("{key:?} names no field"),
        })?;
    let Value::Array(order) = order else {
        return Err(PatchError::BadSetElementOrder {
            detail: format!("{key} must be a list, not {}", json_type(&order)),
        });
    };
    let strategy = schema.list_merge(field);
    let list_patch = match patch.shift_remove(field) {
        None => None,
        Some(Value::Array(list)) => Some(list),
        Some(other) => {
            return Err(PatchError::WrongType {
                field: field.to_owned(),
                expected: "a list",
                found: json_type(&other),
            });
        }
    };
    if let Some(list) = &list_patch {
        check_order(list, &order, strategy, key)?;
    }
    let current = match original.get_mut(field).map(std::mem::take) {
        None => None,
        Some(Value::Array(list)) => Some(list),
        Some(other) => {
            return Err(PatchError::WrongType {
                field: field.to_owned(),
                expected: "a list",
                found: json_type(&other),
            });
        }
    };
    let server = current.clone().unwrap_or_default();
    let merged = match (current, list_patch) {
        (Some(current), None) => current,
        (current, Some(list)) => merge_list(
            current.unwrap_or_default(),
            list,
            strategy,
            schema.child(field),
            field,
        )?,
        (None, None) => return Ok(()),
    };
    let ordered = match strategy {
        ListMerge::Map { key } => normalize_order(merged, &order, &server, &|v| v.get(key)),
        ListMerge::Set => normalize_order(merged, &order, &server, &|v| Some(v)),
        ListMerge::Atomic => merged,
    };
    original.insert(field.to_owned(), Value::Array(ordered));
    Ok(())
}

/// The items the patch list sets must appear in `$setElementOrder` in the same relative order.
fn check_order(
    list: &[Value],
    order: &[Value],
    strategy: ListMerge,
    key: &str,
) -> Result<(), PatchError> {
    let id = |item: &'_ Value| -> Option<Value> {
        match strategy {
            ListMerge::Map { key } => {
                if item.get(PATCH).is_some() {
                    None
                } else {
                    item.get(key).cloned()
                }
            }
            _ => Some(item.clone()),
        }
    };
    let wanted: Vec<Value> = list.iter().filter_map(id).collect();
    let listed: Vec<Value> = order
        .iter()
        .filter_map(|item| match strategy {
            ListMerge::Map { key } => item.get(key).cloned(),
            _ => Some(item.clone()),
        })
        .collect();
    let mut remaining = listed.iter();
    for item in &wanted {
        if !remaining.any(|candidate| candidate == item) {
            return Err(PatchError::BadSetElementOrder {
                detail: format!(
                    "the order of the patch list {} does not match {key} {}",
                    Value::Array(list.to_vec()),
                    Value::Array(order.to_vec())
                ),
            });
        }
    }
    Ok(())
}

/// `$deleteFromPrimitiveList/<field>`: removes every listed value from the field.
fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    key: &str,
    values: &Value,
) -> Result<(), PatchError> {
    let field = directive_field(key, DELETE_FROM_PRIMITIVE_LIST).ok_or_else(|| {
        PatchError::BadPrimitiveList {
            detail: format!("{key:?} names no field"),
        }
    })?;
    let Value::Array(values) = values else {
        return Err(PatchError::BadPrimitiveList {
            detail: format!("{key} must be a list, not {}", json_type(values)),
        });
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|item| !values.contains(item));
    }
    Ok(())
}

/// The field a `<prefix>/<field>` directive names.
fn directive_field<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    key.strip_prefix(prefix)?
        .strip_prefix('/')
        .filter(|field| !field.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids(list: &[Value]) -> Vec<Value> {
        list.iter()
            .map(|v| v.get("name").cloned().unwrap_or(Value::Null))
            .collect()
    }

    #[test]
    fn new_items_go_first_without_an_order() {
        let merged = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ];
        let patch = [json!({"name": "c"})];
        let server = [json!({"name": "a"}), json!({"name": "b"})];
        let out = normalize_order(merged, &patch, &server, &|v| v.get("name"));
        assert_eq!(ids(&out), [json!("c"), json!("a"), json!("b")]);
    }

    #[test]
    fn set_element_order_interleaves_server_only_items() {
        // Live [a, b, c]; the patch orders [c, a] and leaves b alone. b is compared with
        // the next ordered item, c, by live position: it came before c, so it stays first.
        let merged = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ];
        let order = [json!({"name": "c"}), json!({"name": "a"})];
        let server = merged.clone();
        let out = normalize_order(merged, &order, &server, &|v| v.get("name"));
        assert_eq!(ids(&out), [json!("b"), json!("c"), json!("a")]);
    }

    #[test]
    fn sets_keep_the_live_order_for_shared_values() {
        let out = merge_set(vec![json!(1), json!(2)], vec![json!(2), json!(3)], "ints").unwrap();
        assert_eq!(out, [json!(1), json!(2), json!(3)]);
    }

    #[test]
    fn directive_fields() {
        assert_eq!(
            directive_field("$setElementOrder/containers", SET_ELEMENT_ORDER),
            Some("containers")
        );
        assert_eq!(directive_field("$setElementOrder", SET_ELEMENT_ORDER), None);
        assert_eq!(
            directive_field("$setElementOrder/", SET_ELEMENT_ORDER),
            None
        );
        assert_eq!(
            directive_field("$setElementOrderx/a", SET_ELEMENT_ORDER),
            None
        );
    }
}
