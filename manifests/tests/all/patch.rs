//! Cases under `tests/cases/patch/`: each file names a `kind`, a patch `type` (`json`, `merge`
//! or `strategic`), the `original` object and the `patch` (a YAML value, sent as JSON, or a
//! string sent as the raw body). The `.out` file holds the patched object as YAML, or
//! `error: <message>`.

use serde_json::Value;
use shoal_manifests::patch::{PatchType, apply_patch};
use shoal_manifests::registry;

use crate::cases::{check_dir, yaml};

fn run(name: &str, text: &str) -> String {
    let case: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let kind = case["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no kind"));
    let info = registry::resolve(kind).unwrap_or_else(|| panic!("{name}: unknown kind {kind}"));
    let patch_type = match case["type"].as_str() {
        Some("json") => PatchType::Json,
        Some("merge") => PatchType::Merge,
        Some("strategic") => PatchType::Strategic,
        other => panic!("{name}: unknown patch type {other:?}"),
    };
    let body = match &case["patch"] {
        Value::String(raw) => raw.clone().into_bytes(),
        patch => serde_json::to_vec(patch).expect("JSON values serialize"),
    };
    match apply_patch(&case["original"], patch_type, &body, info.schema) {
        Ok(patched) => yaml(&patched),
        Err(error) => format!("error: {error}\n"),
    }
}

#[test]
fn patch() {
    check_dir("patch", run);
}
