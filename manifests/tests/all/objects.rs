//! Cases under `tests/cases/objects/`: each file is decoded, defaulted and validated exactly
//! as the API server and `shoal validate` do, and the `.out` file holds the defaulted objects
//! followed by every decode error, warning and validation error with its location.

use std::fmt::Write as _;

use shoal_manifests::decode::{FieldValidation, decode_file};
use shoal_manifests::{default, validate};

use crate::cases::{check_dir, yaml};

/// The whole pipeline on one file, rendered as text.
fn pipeline(name: &str, text: &str) -> String {
    let mode = if name.contains("warn") {
        FieldValidation::Warn
    } else {
        FieldValidation::Strict
    };
    let decoded = decode_file(name, text, mode);
    let mut out = String::new();
    for manifest in decoded.manifests {
        let mut object = manifest.object;
        default::apply_defaults(&mut object);
        let info = object.kind_info();
        let meta = object.metadata();
        let _ = writeln!(
            out,
            "# document {}: {} {}/{}",
            manifest.document,
            info.kind,
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        );
        let errors = validate::validate(&object);
        if errors.is_empty() {
            out.push_str(&yaml(&object.to_value()));
        }
        for error in errors {
            let at = manifest.source_map.locate(&error.path);
            let _ = writeln!(
                out,
                "invalid: line {}, column {}: {error}",
                at.line, at.column
            );
        }
        out.push_str("---\n");
    }
    for error in decoded.errors {
        let _ = writeln!(out, "error: {error}");
    }
    for warning in decoded.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

#[test]
fn objects() {
    check_dir("objects", pipeline);
}

/// Every object of every case that validates survives encode → decode unchanged, through
/// YAML and through JSON.
#[test]
fn valid_case_objects_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/objects");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("cases") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("case");
        for manifest in decode_file("case.yaml", &text, FieldValidation::Ignore).manifests {
            let mut object = manifest.object;
            default::apply_defaults(&mut object);
            if !validate::validate(&object).is_empty() {
                continue;
            }
            let yaml = yaml(&object.to_value());
            let again = decode_file("again.yaml", &yaml, FieldValidation::Strict);
            assert!(
                again.errors.is_empty(),
                "{}: {:?}",
                path.display(),
                again.errors
            );
            assert_eq!(again.manifests[0].object, object, "{}", path.display());
            let json = serde_json::to_vec(&object).expect("serializes");
            let body = shoal_manifests::decode::decode_json(&json, FieldValidation::Strict)
                .expect("decodes");
            assert_eq!(body.object, object, "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} valid objects among the cases");
}
