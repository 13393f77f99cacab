//! The `pod-template-hash`: which ReplicaSet belongs to which pod template. The hash is
//! FNV-32a over the template's canonical JSON (no hash label, no empty values) and the
//! collision count, printed as Kubernetes prints it (the decimal digits mapped onto its
//! alphabet of consonants and digits), so names look like `web-5d4f8c9b7`. Templates are
//! compared the same way (`EqualIgnoreHash`), so `rollout undo` finds the ReplicaSet it
//! restores.

use serde_json::Value;
use shoal_manifests::k8s_openapi::api::core::v1::PodTemplateSpec;
use shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::HASH_LABEL;

/// The alphabet of `rand.SafeEncodeString`: no vowels, no look-alikes.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// The template with the hash label removed and empty metadata spelled one way, so that two
/// templates that differ only there compare equal.
pub(super) fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    if let Some(labels) = meta.labels.as_mut() {
        labels.remove(HASH_LABEL);
        if labels.is_empty() {
            meta.labels = None;
        }
    }
    if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        meta.annotations = None;
    }
    template
}

/// The template as compared and hashed: without the hash label, as JSON with every null,
/// empty object and empty array left out. Go reads `resources: {}` and no `resources` as the
/// same zero value, and kubectl writes the former when `rollout undo` copies a template back,
/// so the two must compare equal here too.
fn canonical(template: &PodTemplateSpec) -> Value {
    // A k8s-openapi struct serializes its fields in a fixed order and its maps sorted, so the
    // JSON is canonical; it cannot fail to serialize.
    let mut value = serde_json::to_value(without_hash(template)).unwrap_or(Value::Null);
    prune(&mut value);
    value
}

fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for member in map.values_mut() {
                prune(member);
            }
            map.retain(|_, member| !is_empty(member));
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// `EqualIgnoreHash`.
pub(super) fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    canonical(a) == canonical(b)
}

/// The `pod-template-hash` of a template (`ComputeHash`).
pub(super) fn hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(&canonical(template)).unwrap_or_default();
    let mut hash = fnv1a(FNV_OFFSET, &json);
    if let Some(count) = collision_count {
        hash = fnv1a(hash, &count.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|digit| char::from(ALPHABET[usize::from(digit) % ALPHABET.len()]))
        .collect()
}

fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(value: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_hash_is_stable_short_and_ignores_its_own_label() {
        let plain = template(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]},
        }));
        let labelled = template(json!({
            "metadata": {"labels": {"app": "web", "pod-template-hash": "xyz"}},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]},
        }));
        let h = hash(&plain, None);
        assert_eq!(h, hash(&labelled, None));
        assert!(equal_ignoring_hash(&plain, &labelled));
        assert!(h.len() <= 10 && !h.is_empty(), "{h}");
        assert!(h.bytes().all(|b| ALPHABET.contains(&b)), "{h}");
        assert_eq!(h, hash(&plain.clone(), None), "deterministic");

        let other = template(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:2"}]},
        }));
        assert_ne!(h, hash(&other, None));
        assert!(!equal_ignoring_hash(&plain, &other));
        assert_ne!(
            h,
            hash(&plain, Some(1)),
            "a collision count changes the hash"
        );
    }

    #[test]
    fn what_rollout_undo_writes_back_is_the_same_template() {
        let original = template(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]},
        }));
        // Go's encoding of the ReplicaSet's template, minus the hash label.
        let undone = template(json!({
            "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:1", "resources": {}}]},
        }));
        assert!(equal_ignoring_hash(&original, &undone));
        assert_eq!(hash(&original, None), hash(&undone, None));
        let volumes = template(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "app", "image": "web:1"}],
                "volumes": [{"name": "scratch", "emptyDir": {}}],
            },
        }));
        assert!(!equal_ignoring_hash(&original, &volumes));
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0xbf9c_f968);
    }
}
