//! The structural merge of server-side apply: a configuration merged into a live object the
//! way Kubernetes' structured merge does it, keyed lists and sets as maps from item identity
//! to item. Who owns what is [`super::apply`]'s business; this is only the merge.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::strategy::{ListMerge, Schema};

/// The structural merge of an applied map into a live one: the configuration wins for every
/// field it sets, lists merge by their strategy, and live fields it does not mention stay.
pub(crate) fn merge_map(
    live: Option<&Map<String, Value>>,
    applied: &Map<String, Value>,
    schema: &Schema,
) -> Map<String, Value> {
    let mut out = live.cloned().unwrap_or_default();
    for (name, value) in applied {
        if value.is_null() {
            // An explicit null: the field is owned and left unset.
            out.shift_remove(name);
            continue;
        }
        let merged = merge_field(out.get(name), value, schema, name);
        out.insert(name.clone(), merged);
    }
    out
}

fn merge_field(live: Option<&Value>, applied: &Value, parent: &Schema, name: &str) -> Value {
    let child = parent.child(name);
    match applied {
        Value::Object(config) => {
            Value::Object(merge_map(live.and_then(Value::as_object), config, child))
        }
        Value::Array(config) => {
            let live = live
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            match parent.list_merge(name) {
                ListMerge::Atomic => applied.clone(),
                ListMerge::Set => Value::Array(merge_list(
                    live,
                    config,
                    &|v| Some(v.to_string()),
                    &|_, r| r.clone(),
                )),
                ListMerge::Map { key } => {
                    let id = |item: &Value| item.get(key).map(Value::to_string);
                    let merge_item = |l: Option<&Value>, r: &Value| match r {
                        Value::Object(config) => {
                            Value::Object(merge_map(l.and_then(Value::as_object), config, child))
                        }
                        other => other.clone(),
                    };
                    Value::Array(merge_list(live, config, &id, &merge_item))
                }
            }
        }
        scalar => scalar.clone(),
    }
}

/// Merges two lists of identified items: the applied order wins for the items it names, live
/// items it does not name keep their place relative to the shared ones, and new items go where
/// the configuration puts them.
fn merge_list(
    live: &[Value],
    applied: &[Value],
    id: &dyn Fn(&Value) -> Option<String>,
    merge_item: &dyn Fn(Option<&Value>, &Value) -> Value,
) -> Vec<Value> {
    let live_ids: Vec<Option<String>> = live.iter().map(id).collect();
    let applied_ids: Vec<Option<String>> = applied.iter().map(id).collect();
    let mut live_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, item) in live_ids.iter().enumerate() {
        if let Some(item) = item {
            live_index.entry(item.as_str()).or_insert(index);
        }
    }
    let in_applied: BTreeSet<&str> = applied_ids.iter().flatten().map(String::as_str).collect();
    // The items both lists hold, in applied order: the next one is the only live shared item
    // the walk may stop at.
    let mut shared = applied_ids
        .iter()
        .flatten()
        .filter(|item| live_index.contains_key(item.as_str()))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .into_iter();
    let mut next_shared = shared.next();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::with_capacity(live.len() + applied.len());
    let (mut l, mut r) = (0, 0);
    while l < live.len() || r < applied.len() {
        let live_id = live_ids.get(l).and_then(Option::as_deref);
        if l < live.len() && r < applied.len() {
            if live_id.is_some() && live_id == applied_ids[r].as_deref() {
                if let Some(item) = live_id {
                    done.insert(item);
                }
                out.push(merge_item(Some(&live[l]), &applied[r]));
                l += 1;
                r += 1;
                next_shared = shared.next();
                continue;
            }
            if live_id.is_some_and(|item| in_applied.contains(item))
                && next_shared.is_some()
                && next_shared != live_id
            {
                l += 1;
                continue;
            }
        }
        if l < live.len() {
            match live_id {
                Some(item) if in_applied.contains(item) => {
                    if done.contains(item) {
                        l += 1;
                        continue;
                    }
                }
                _ => {
                    out.push(live[l].clone());
                    l += 1;
                    continue;
                }
            }
        }
        if r < applied.len() {
            let item = applied_ids[r].as_deref();
            let matching = item
                .and_then(|i| live_index.get(i))
                .map(|&index| &live[index]);
            out.push(merge_item(matching, &applied[r]));
            if let Some(item) = item {
                done.insert(item);
                if next_shared == Some(item) {
                    next_shared = shared.next();
                }
            }
            r += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(items: &[Value]) -> Vec<&str> {
        items
            .iter()
            .filter_map(|i| i.get("name").and_then(Value::as_str))
            .collect()
    }

    fn merge_names(live: &[&str], applied: &[&str]) -> Vec<String> {
        let live: Vec<Value> = live.iter().map(|n| json!({"name": n})).collect();
        let applied: Vec<Value> = applied.iter().map(|n| json!({"name": n})).collect();
        let id = |v: &Value| v.get("name").map(Value::to_string);
        let out = merge_list(&live, &applied, &id, &|_, r| r.clone());
        names(&out).into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn merged_lists_keep_live_only_items_in_place() {
        assert_eq!(merge_names(&["a", "b", "c"], &["a", "c"]), ["a", "b", "c"]);
        assert_eq!(merge_names(&["a", "b"], &["c"]), ["a", "b", "c"]);
        assert_eq!(merge_names(&["a", "b", "c"], &["c", "a"]), ["b", "c", "a"]);
        assert_eq!(merge_names(&[], &["x", "y"]), ["x", "y"]);
        assert_eq!(
            merge_names(&["a", "x", "b"], &["b", "n", "a"]),
            ["x", "b", "n", "a"]
        );
    }
}
