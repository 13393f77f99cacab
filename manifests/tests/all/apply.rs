//! Cases under `tests/cases/apply/`: server-side apply and field ownership over a sequence of
//! writes. Each file names a `kind` and its `steps`, each one of:
//! - `{manager, apply: <configuration>, force: bool}`: a server-side apply;
//! - `{manager, update: <merge patch>}`: an ordinary write by `manager`, the live object (or
//!   nothing, creating it) changed by an RFC 7386 merge patch, as `kubectl scale` or
//!   `kubectl label` write;
//! - `{set: <object>}`: the live object replaced as is, with no ownership recorded (an object
//!   stored before field tracking).
//!
//! Step `n` runs at `2025-01-01T00:00:0nZ`. The `.out` file shows the object after each step, or
//! the error that refused it (the object then stays as it was).

use std::fmt::Write as _;

use serde_json::Value;
use shoal_manifests::patch::apply::{ApplyError, record_update, server_side_apply};
use shoal_manifests::patch::merge_patch;
use shoal_manifests::registry;

use crate::cases::{check_dir, yaml};

fn run(name: &str, text: &str) -> String {
    let case: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let kind = case["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no kind"));
    let schema = registry::resolve(kind)
        .unwrap_or_else(|| panic!("{name}: unknown kind {kind}"))
        .schema;
    let steps = case["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no steps"));
    let mut live: Option<Value> = None;
    let mut out = String::new();
    for (index, step) in steps.iter().enumerate() {
        let now = format!("2025-01-01T00:00:{:02}Z", index + 1);
        let manager = step["manager"].as_str().unwrap_or_default();
        if let Some(object) = step.get("set") {
            let _ = writeln!(out, "# step {}: stored without field tracking", index + 1);
            live = Some(object.clone());
        } else if let Some(config) = step.get("apply") {
            let force = step["force"].as_bool().unwrap_or(false);
            let _ = writeln!(
                out,
                "# step {}: {manager} applies (force: {force})",
                index + 1
            );
            match server_side_apply(schema, live.as_ref(), config, manager, force, &now) {
                Ok(object) => live = Some(object),
                Err(error) => {
                    write_error(&mut out, &error);
                    continue;
                }
            }
        } else if let Some(patch) = step.get("update") {
            let _ = writeln!(out, "# step {}: {manager} updates", index + 1);
            let base = live
                .clone()
                .unwrap_or_else(|| Value::Object(Default::default()));
            let mut new = merge_patch(&base, patch).unwrap_or_else(|e| panic!("{name}: {e}"));
            record_update(schema, live.as_ref(), &mut new, manager, &now);
            live = Some(new);
        } else {
            panic!(
                "{name}: step {} is neither apply, update nor set",
                index + 1
            );
        }
        out.push_str(&live.as_ref().map(yaml).unwrap_or_default());
    }
    out
}

fn write_error(out: &mut String, error: &ApplyError) {
    let _ = writeln!(out, "error ({}): {error}", error.status_code());
    if let ApplyError::Conflicts(conflicts) = error {
        for conflict in conflicts.conflicts() {
            let _ = writeln!(
                out,
                "cause: FieldManagerConflict {}: {}",
                conflict.path,
                conflict.message()
            );
        }
    }
}

#[test]
fn apply() {
    check_dir("apply", run);
}
