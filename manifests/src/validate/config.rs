//! ConfigMaps and Secrets: key names, keys repeated across `data` and `binaryData`, the 1 MiB
//! size limit, and the keys each built-in Secret type requires.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::{Errors, Path};
use crate::names;

/// The most bytes of data one ConfigMap or Secret may hold.
const MAX_SIZE: usize = 1024 * 1024;

/// A ConfigMap.
pub(crate) fn config_map(errors: &mut Errors, config_map: &ConfigMap) {
    let empty_text = BTreeMap::new();
    let empty_binary = BTreeMap::new();
    let data = config_map.data.as_ref().unwrap_or(&empty_text);
    let binary = config_map.binary_data.as_ref().unwrap_or(&empty_binary);
    let data_path = Path::ROOT.field("data");
    let binary_path = Path::ROOT.field("binaryData");
    let mut total = 0;
    for (key, value) in data {
        let at = data_path.key(key);
        errors.each(&at, key, names::config_key(key));
        if binary.contains_key(key) {
            errors.invalid(&at, key, "duplicate of key present in binaryData");
        }
        total += value.len();
    }
    for (key, value) in binary {
        let at = binary_path.key(key);
        errors.each(&at, key, names::config_key(key));
        if data.contains_key(key) {
            errors.invalid(&at, key, "duplicate of key present in data");
        }
        total += value.0.len();
    }
    if total > MAX_SIZE {
        errors.too_long(&data_path, MAX_SIZE);
    }
}

/// A Secret. `stringData` is merged into `data` by the API server, so its keys count as
/// data keys.
pub(crate) fn secret(errors: &mut Errors, secret: &Secret) {
    let data_path = Path::ROOT.field("data");
    let string_path = Path::ROOT.field("stringData");
    let mut total = 0;
    for (key, value) in secret.data.iter().flatten() {
        errors.each(&data_path.key(key), key, names::config_key(key));
        total += value.0.len();
    }
    for (key, value) in secret.string_data.iter().flatten() {
        errors.each(&string_path.key(key), key, names::config_key(key));
        if secret.data.as_ref().is_none_or(|d| !d.contains_key(key)) {
            total += value.len();
        }
    }
    if total > MAX_SIZE {
        errors.too_long(&data_path, MAX_SIZE);
    }
    let has = |key: &str| {
        secret.data.as_ref().is_some_and(|d| d.contains_key(key))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(key))
    };
    let value_of = |key: &str| -> Option<Vec<u8>> {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key).map(|v| v.as_bytes().to_vec()))
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key).map(|v| v.0.clone()))
            })
    };
    match secret.type_.as_deref().unwrap_or("Opaque") {
        "kubernetes.io/service-account-token" => {
            let annotations = Path::ROOT.field("metadata");
            let annotations = annotations.field("annotations");
            let name = "kubernetes.io/service-account.name";
            let present = secret
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.get(name).is_some_and(|v| !v.is_empty()));
            if !present {
                errors.required(&annotations.key(name), "");
            }
        }
        "kubernetes.io/dockercfg" => {
            json_key(errors, ".dockercfg", value_of(".dockercfg"), &data_path)
        }
        "kubernetes.io/dockerconfigjson" => json_key(
            errors,
            ".dockerconfigjson",
            value_of(".dockerconfigjson"),
            &data_path,
        ),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errors.required(&data_path.key("username"), "");
            errors.required(&data_path.key("password"), "");
        }
        "kubernetes.io/ssh-auth" if value_of("ssh-privatekey").is_none_or(|v| v.is_empty()) => {
            errors.required(&data_path.key("ssh-privatekey"), "");
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errors.required(&data_path.key(key), "");
                }
            }
        }
        _ => {}
    }
}

/// A key that must be present and hold JSON (the Docker config types).
fn json_key(errors: &mut Errors, key: &str, value: Option<Vec<u8>>, data: &Path<'_>) {
    let at = data.key(key);
    match value {
        None => errors.required(&at, ""),
        Some(bytes) => {
            if let Err(error) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                errors.invalid(&at, "<secret contents redacted>", error.to_string());
            }
        }
    }
}
