//! The smaller kinds: Namespace, Node, Lease, Event, ServiceAccount and
//! PersistentVolumeClaim (whose spec StatefulSet claim templates share).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Event, Namespace, Node, PersistentVolumeClaim, PersistentVolumeClaimSpec, ServiceAccount,
};

use super::{Errors, Path, meta};
use crate::names;
use crate::quantity::Quantity;

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const TAINT_EFFECTS: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];

/// A Namespace: its finalizers must be qualified names.
pub(crate) fn namespace(errors: &mut Errors, namespace: &Namespace) {
    let spec = Path::ROOT.field("spec");
    let finalizers = spec.field("finalizers");
    let spec_finalizers = namespace.spec.as_ref().and_then(|s| s.finalizers.as_ref());
    for (i, finalizer) in spec_finalizers.into_iter().flatten().enumerate() {
        errors.each(
            &finalizers.index(i),
            finalizer,
            names::qualified_name(finalizer),
        );
    }
}

/// A Node: taints and pod CIDRs.
pub(crate) fn node(errors: &mut Errors, node: &Node) {
    let Some(spec) = &node.spec else { return };
    let spec_path = Path::ROOT.field("spec");
    let taints = spec_path.field("taints");
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (i, taint) in spec.taints.iter().flatten().enumerate() {
        let at = taints.index(i);
        if taint.key.is_empty() {
            errors.required(&at.field("key"), "");
        } else {
            errors.each(
                &at.field("key"),
                &taint.key,
                names::qualified_name(&taint.key),
            );
        }
        if let Some(value) = taint.value.as_deref() {
            errors.each(&at.field("value"), value, names::label_value(value));
        }
        errors.one_of(&at.field("effect"), &taint.effect, TAINT_EFFECTS);
        let key = (taint.key.as_str(), taint.effect.as_str());
        if seen.contains(&key) {
            errors.duplicate_raw(&at, format!("{}:{}", taint.key, taint.effect));
        }
        seen.push(key);
    }
    let cidrs = spec.pod_cidr.iter().map(|c| ("podCIDR", None, c)).chain(
        spec.pod_cidrs
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| ("podCIDRs", Some(i), c)),
    );
    for (field, index, cidr) in cidrs {
        let valid = cidr.split_once('/').is_some_and(|(ip, bits)| {
            names::is_ip(ip)
                && bits
                    .parse::<u8>()
                    .is_ok_and(|b| b <= if ip.contains(':') { 128 } else { 32 })
        });
        if !valid {
            let at = spec_path.field(field);
            let message = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
            match index {
                Some(i) => errors.invalid(&at.index(i), cidr, message),
                None => errors.invalid(&at, cidr, message),
            }
        }
    }
}

/// A Lease: durations and transition counts.
pub(crate) fn lease(errors: &mut Errors, lease: &Lease) {
    let Some(spec) = &lease.spec else { return };
    let at = Path::ROOT.field("spec");
    if let Some(duration) = spec.lease_duration_seconds {
        errors.positive(&at.field("leaseDurationSeconds"), duration);
    }
    if let Some(transitions) = spec.lease_transitions {
        errors.non_negative(&at.field("leaseTransitions"), transitions);
    }
    if let Some(strategy) = spec.strategy.as_deref() {
        errors.one_of(&at.field("strategy"), strategy, &["OldestEmulationVersion"]);
    }
    if spec
        .preferred_holder
        .as_deref()
        .is_some_and(|h| !h.is_empty())
        && spec.strategy.is_none()
    {
        errors.forbidden(
            &at.field("preferredHolder"),
            "may only be specified if `strategy` is defined",
        );
    }
}

/// A core/v1 Event: it must be about some object, in its own namespace.
pub(crate) fn event(errors: &mut Errors, event: &Event) {
    let involved = &event.involved_object;
    let at = Path::ROOT.field("involvedObject");
    let empty = involved.kind.as_deref().unwrap_or("").is_empty()
        && involved.name.as_deref().unwrap_or("").is_empty()
        && involved.uid.as_deref().unwrap_or("").is_empty();
    if empty {
        errors.required(&at, "must name the object the event is about");
    } else {
        if involved.kind.as_deref().unwrap_or("").is_empty() {
            errors.required(&at.field("kind"), "");
        }
        if involved.name.as_deref().unwrap_or("").is_empty() {
            errors.required(&at.field("name"), "");
        }
    }
    let own = event.metadata.namespace.as_deref().unwrap_or("");
    let theirs = involved.namespace.as_deref().unwrap_or("");
    if !own.is_empty() && !theirs.is_empty() && own != theirs {
        errors.invalid(
            &at.field("namespace"),
            theirs,
            "does not match event.namespace",
        );
    }
    if let Some(kind) = event.type_.as_deref().filter(|t| !t.is_empty()) {
        errors.one_of(&Path::ROOT.field("type"), kind, &["Normal", "Warning"]);
    }
    if let Some(reason) = event.reason.as_deref()
        && reason.len() > 128
    {
        errors.too_long(&Path::ROOT.field("reason"), 128);
    }
    if let Some(count) = event.count {
        errors.non_negative(&Path::ROOT.field("count"), count);
    }
}

/// A ServiceAccount: the Secrets and pull Secrets it names.
pub(crate) fn service_account(errors: &mut Errors, account: &ServiceAccount) {
    let secrets = Path::ROOT.field("secrets");
    for (i, secret) in account.secrets.iter().flatten().enumerate() {
        if let Some(name) = secret.name.as_deref().filter(|n| !n.is_empty()) {
            errors.each(
                &secrets.index(i).field("name"),
                name,
                names::dns1123_subdomain(name),
            );
        }
    }
    let pull = Path::ROOT.field("imagePullSecrets");
    for (i, secret) in account.image_pull_secrets.iter().flatten().enumerate() {
        if !secret.name.is_empty() {
            errors.each(
                &pull.index(i).field("name"),
                &secret.name,
                names::dns1123_subdomain(&secret.name),
            );
        }
    }
}

/// A PersistentVolumeClaim.
pub(crate) fn persistent_volume_claim(errors: &mut Errors, claim: &PersistentVolumeClaim) {
    let default_spec = PersistentVolumeClaimSpec::default();
    claim_spec(
        errors,
        claim.spec.as_ref().unwrap_or(&default_spec),
        &Path::ROOT.field("spec"),
    );
}

/// A claim spec: access modes, a positive storage request, the volume mode.
pub(crate) fn claim_spec(errors: &mut Errors, spec: &PersistentVolumeClaimSpec, path: &Path<'_>) {
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    let modes_path = path.field("accessModes");
    if modes.is_empty() {
        errors.required(&modes_path, "at least 1 access mode is required");
    }
    for mode in modes {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            errors.not_supported(&modes_path, mode, ACCESS_MODES);
        }
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") && modes.len() > 1 {
        errors.forbidden(
            &modes_path,
            "may not use ReadWriteOncePod with other access modes",
        );
    }
    if let Some(selector) = &spec.selector {
        meta::label_selector(errors, selector, &path.field("selector"));
    }
    let resources = path.field("resources");
    let storage_path = resources.key("storage");
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    match storage {
        None => errors.required(&storage_path, ""),
        Some(value) => match Quantity::parse(&value.0) {
            Err(error) => errors.invalid(&storage_path, &value.0, error.to_string()),
            Ok(q) if q.is_negative() || q.is_zero() => {
                errors.invalid(&storage_path, &value.0, "must be greater than zero")
            }
            Ok(_) => {}
        },
    }
    if let Some(mode) = spec.volume_mode.as_deref() {
        errors.one_of(&path.field("volumeMode"), mode, &["Block", "Filesystem"]);
    }
    if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        errors.each(
            &path.field("storageClassName"),
            class,
            names::dns1123_subdomain(class),
        );
    }
}
