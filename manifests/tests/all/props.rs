//! Robustness: decoding, defaulting, validation, selectors, quantities and every patch type
//! never panic on arbitrary input, and valid objects survive decode → encode → decode.
//! CI bounds the number of cases with `PROPTEST_CASES`.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shoal_manifests::decode::{FieldValidation, decode_file, decode_value};
use shoal_manifests::patch::apply::server_side_apply;
use shoal_manifests::patch::{PatchType, apply_patch};
use shoal_manifests::quantity::Quantity;
use shoal_manifests::selector::{FieldSelector, LabelSelector};
use shoal_manifests::{KINDS, default, registry, validate};

/// Field names that real objects and patches use, directives included, so random trees hit
/// the interesting paths instead of only unknown fields.
const KEYS: &[&str] = &[
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "spec",
    "template",
    "containers",
    "initContainers",
    "image",
    "env",
    "value",
    "ports",
    "containerPort",
    "port",
    "protocol",
    "volumes",
    "volumeMounts",
    "mountPath",
    "replicas",
    "selector",
    "matchLabels",
    "strategy",
    "type",
    "rollingUpdate",
    "status",
    "conditions",
    "data",
    "resources",
    "limits",
    "requests",
    "cpu",
    "memory",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/env",
    "$deleteFromPrimitiveList/finalizers",
    "replace",
    "delete",
    "merge",
    "x",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z$/._-]{0,12}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-70_000i64..70_000).prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        proptest::sample::select(KEYS).prop_map(|s| json!(s)),
        "[a-z0-9.:/@-]{0,20}".prop_map(Value::String),
        Just(json!("100m")),
        Just(json!("64Mi")),
    ]
}

fn json_tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An arbitrary object of a registered kind: random `metadata` and `spec` under a real
/// `apiVersion` and `kind`.
fn any_object() -> impl Strategy<Value = Value> {
    (0..KINDS.len(), json_tree(), json_tree(), json_tree()).prop_map(|(i, meta, spec, extra)| {
        let info = &KINDS[i];
        json!({"apiVersion": info.api_version, "kind": info.kind, "metadata": meta,
               "spec": spec, "data": extra})
    })
}

fn dns_label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,14}[a-z0-9])?"
}

/// A valid Deployment built from random names, labels, images and numbers.
fn valid_deployment() -> impl Strategy<Value = Value> {
    (
        dns_label(),
        dns_label(),
        proptest::collection::btree_map(dns_label(), dns_label(), 1..4),
        0i32..20,
        1u32..4000,
        dns_label(),
        1i32..65535,
    )
        .prop_map(
            |(name, app, extra_labels, replicas, millis, container, port)| {
                let mut labels = Map::new();
                labels.insert("app".into(), json!(app));
                for (k, v) in extra_labels {
                    labels.insert(format!("x-{k}"), json!(v));
                }
                json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "labels": labels.clone()},
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": app}},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{
                                "name": container,
                                "image": format!("registry.example/{container}:1.0"),
                                "ports": [{"containerPort": port}],
                                "resources": {"limits": {"cpu": format!("{millis}m")}}
                            }]}
                        }
                    }
                })
            },
        )
}

proptest! {
    #[test]
    fn decoding_any_text_never_panics(text in any::<String>()) {
        let _ = decode_file("any.yaml", &text, FieldValidation::Strict);
    }

    #[test]
    fn decoding_mangled_manifests_never_panics(cut in 0usize..400, insert in "[-:{}\\[\\] \n#&*!|>'\"a-z0-9]{0,6}") {
        let text = include_str!("../../../tests/fixtures/app.yaml");
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let mangled = format!("{}{insert}{}", &text[..cut], &text[cut..]);
        for mode in [FieldValidation::Strict, FieldValidation::Warn, FieldValidation::Ignore] {
            let decoded = decode_file("app.yaml", &mangled, mode);
            for manifest in decoded.manifests {
                let mut object = manifest.object;
                default::apply_defaults(&mut object);
                let _ = validate::validate(&object);
            }
        }
    }

    #[test]
    fn defaulting_and_validation_never_panic_and_defaults_are_idempotent(value in any_object()) {
        if let Ok(body) = decode_value("prop", value, FieldValidation::Ignore) {
            let mut once = body.object;
            default::apply_defaults(&mut once);
            let mut twice = once.clone();
            default::apply_defaults(&mut twice);
            prop_assert_eq!(&once, &twice);
            for error in validate::validate(&once) {
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }

    #[test]
    fn valid_objects_round_trip_through_yaml(value in valid_deployment()) {
        let body = decode_value("prop", value, FieldValidation::Strict).map_err(|e| {
            TestCaseError::fail(format!("{e:?}"))
        })?;
        let mut object = body.object;
        default::apply_defaults(&mut object);
        let errors = validate::validate(&object);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let yaml = serde_saphyr::to_string(&object.to_value()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = decode_file("again.yaml", &yaml, FieldValidation::Strict);
        prop_assert!(again.errors.is_empty(), "{:?}\n{}", again.errors, yaml);
        prop_assert_eq!(again.manifests.len(), 1);
        prop_assert_eq!(&again.manifests[0].object, &object);
        let json = serde_json::to_vec(&object).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let from_json = shoal_manifests::decode::decode_json(&json, FieldValidation::Strict)
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&from_json.object, &object);
    }

    #[test]
    fn patches_never_panic(kind in 0..KINDS.len(), original in json_tree(), patch in json_tree()) {
        let schema = KINDS[kind].schema;
        let body = serde_json::to_vec(&patch).unwrap_or_default();
        for patch_type in [PatchType::Json, PatchType::Merge, PatchType::Strategic] {
            let _ = apply_patch(&original, patch_type, &body, schema);
        }
        let _ = server_side_apply(schema, Some(&original), &patch, "a", false, "2026-01-01T00:00:00Z");
        let _ = server_side_apply(schema, None, &patch, "a", true, "2026-01-01T00:00:00Z");
    }

    #[test]
    fn json_patches_of_random_operations_never_panic(
        original in json_tree(),
        ops in proptest::collection::vec(
            (proptest::sample::select(&["add", "remove", "replace", "move", "copy", "test", "nope"][..]),
             "(/[a-z0-9~-]{0,4}){0,3}", json_tree()),
            0..4)
    ) {
        let ops: Vec<Value> = ops.into_iter().map(|(op, path, value)| {
            json!({"op": op, "path": path, "from": "/metadata", "value": value})
        }).collect();
        let body = serde_json::to_vec(&ops).unwrap_or_default();
        let schema = registry::resolve("pods").map(|k| k.schema).ok_or_else(|| TestCaseError::fail("pods"))?;
        let _ = apply_patch(&original, PatchType::Json, &body, schema);
    }

    #[test]
    fn selectors_never_panic_and_print_stably(text in "[a-z0-9=!,() .in/-]{0,30}") {
        if let Ok(selector) = LabelSelector::parse(&text) {
            let printed = selector.to_string();
            let again = LabelSelector::parse(&printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again.to_string(), printed);
        }
        let _ = FieldSelector::parse(&text);
    }

    #[test]
    fn quantities_never_panic_and_print_stably(text in "[-+]?[0-9.]{0,12}([eE][-+]?[0-9]{0,3})?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?") {
        if let Ok(quantity) = Quantity::parse(&text) {
            let printed = quantity.to_string();
            let again = Quantity::parse(&printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, quantity);
        }
    }
}
