//! Server-side printing: `meta.k8s.io` Tables for `kubectl get`, with the printer columns of
//! the kind registry, also inside watch events. Content negotiation picks a Table only when the
//! client asks for one in `Accept`.

use std::time::SystemTime;

use serde_json::{Value, json};
use shoal_manifests::registry::KindInfo;

/// What the client wants back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The objects.
    Json,
    /// A Table of `meta.k8s.io/<version>`, with row objects as `include` says.
    Table {
        version: &'static str,
        include: Include,
    },
}

/// `includeObject`: what each row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Output {
    /// Negotiates from the `Accept` header (first acceptable media range wins) and the
    /// `includeObject` parameter.
    pub fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> Output {
        let include = match include_object {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        };
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
            let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
            if param("as") == Some("Table") && param("g") == Some("meta.k8s.io") {
                match param("v") {
                    Some("v1") => {
                        return Output::Table {
                            version: "v1",
                            include,
                        };
                    }
                    Some("v1beta1") => {
                        return Output::Table {
                            version: "v1beta1",
                            include,
                        };
                    }
                    _ => continue,
                }
            }
            if matches!(media, "application/json" | "*/*" | "application/*" | "")
                && param("as").is_none()
            {
                return Output::Json;
            }
        }
        Output::Json
    }
}

/// The column definitions of `kind`.
fn column_definitions(kind: &KindInfo) -> Vec<Value> {
    kind.columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.kind.as_str(), "format": c.format,
                   "description": c.description, "priority": c.priority})
        })
        .collect()
}

/// One row for `object`.
fn row(kind: &KindInfo, object: &Value, now: SystemTime, include: Include) -> Value {
    let cells: Vec<Value> = kind.columns.iter().map(|c| (c.cell)(object, now)).collect();
    let mut row = json!({ "cells": cells });
    match include {
        Include::None => {}
        Include::Metadata => {
            let mut metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(map) = metadata.as_object_mut() {
                map.remove("managedFields");
            }
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
            });
        }
        Include::Object => row["object"] = object.clone(),
    }
    row
}

/// A Table of `objects` (a list's items).
pub fn table(
    kind: &KindInfo,
    version: &str,
    include: Include,
    objects: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let now = SystemTime::now();
    let mut metadata = json!({ "resourceVersion": resource_version });
    if let Some(token) = continue_token {
        metadata["continue"] = Value::from(token);
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": metadata,
        "columnDefinitions": column_definitions(kind),
        "rows": objects.iter().map(|o| row(kind, o, now, include)).collect::<Vec<_>>(),
    })
}

/// A one-row Table for a watch event; the column definitions only when `with_columns`.
pub fn event_table(
    kind: &KindInfo,
    version: &str,
    include: Include,
    object: &Value,
    with_columns: bool,
) -> Value {
    let mut table = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": {"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)},
        "columnDefinitions": if with_columns { column_definitions(kind) } else { Vec::new() },
        "rows": [row(kind, object, SystemTime::now(), include)],
    });
    if !with_columns && let Some(map) = table.as_object_mut() {
        map.insert("columnDefinitions".to_owned(), Value::Null);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_manifests::registry::resolve;

    #[test]
    fn negotiation_follows_kubectl_headers() {
        let get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Output::negotiate(Some(get), None),
            Output::Table {
                version: "v1",
                include: Include::Metadata
            }
        );
        assert_eq!(
            Output::negotiate(Some("application/json"), None),
            Output::Json
        );
        assert_eq!(
            Output::negotiate(
                Some("application/vnd.kubernetes.protobuf,application/json"),
                None
            ),
            Output::Json
        );
        assert_eq!(Output::negotiate(None, None), Output::Json);
        assert_eq!(
            Output::negotiate(
                Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
                Some("Object")
            ),
            Output::Table {
                version: "v1beta1",
                include: Include::Object
            }
        );
    }

    #[test]
    fn tables_have_the_registry_columns_and_metadata_rows() {
        let kind = resolve("configmaps").unwrap();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                          "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}]},
            "data": {"a": "1", "b": "2"}});
        let t = table(kind, "v1", Include::Metadata, &[cm], "42", None);
        assert_eq!(t["metadata"]["resourceVersion"], "42");
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Data", "Age"]);
        assert_eq!(t["rows"][0]["cells"][0], "web");
        assert_eq!(t["rows"][0]["cells"][1], 2);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "default");
        assert!(
            t["rows"][0]["object"]["metadata"]
                .get("managedFields")
                .is_none()
        );
    }
}
