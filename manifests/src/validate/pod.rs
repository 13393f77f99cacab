//! Pod specs, for bare Pods and every pod template: volumes, the containers (see
//! [`super::container`]), restart and DNS policies, scheduling fields.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, Volume};

use super::container;
use super::meta;
use super::{Errors, Path};
use crate::default::pod::volume_sources;
use crate::names;

/// What holds the pod spec: it decides which restart policies are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A bare Pod: any restart policy.
    Pod,
    /// The template of a Deployment, ReplicaSet, DaemonSet or StatefulSet (the kind is named
    /// in messages): only `Always`, and no `activeDeadlineSeconds`.
    Replicated(&'static str),
    /// The template of a Job or CronJob: `OnFailure` or `Never`.
    Job,
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const TOLERATION_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// A pod template: its labels and annotations, then its spec.
pub(crate) fn template(
    errors: &mut Errors,
    template: &PodTemplateSpec,
    owner: Owner,
    path: &Path<'_>,
) {
    template_with_claims(errors, template, owner, &[], path);
}

/// A StatefulSet's pod template, whose containers may also mount the volumes made from its
/// `claims` templates.
pub(crate) fn template_with_claims(
    errors: &mut Errors,
    template: &PodTemplateSpec,
    owner: Owner,
    claims: &[&str],
    path: &Path<'_>,
) {
    meta::template_meta(errors, template.metadata.as_ref(), &path.field("metadata"));
    let spec = path.field("spec");
    match template.spec.as_ref() {
        Some(pod_spec) => with_claims(errors, pod_spec, owner, claims, &spec),
        None => errors.required(&spec.field("containers"), ""),
    }
}

/// A pod spec held by `owner`.
pub(crate) fn pod_spec(errors: &mut Errors, spec: &PodSpec, owner: Owner, path: &Path<'_>) {
    with_claims(errors, spec, owner, &[], path);
}

fn with_claims(
    errors: &mut Errors,
    spec: &PodSpec,
    owner: Owner,
    claims: &[&str],
    path: &Path<'_>,
) {
    let mut volume_names = volumes(
        errors,
        spec.volumes.as_deref().unwrap_or_default(),
        &path.field("volumes"),
    );
    volume_names.extend_from_slice(claims);
    let mut container_names: HashSet<&str> = HashSet::new();
    let mut host_ports: HashSet<(i32, &str, &str)> = HashSet::new();
    let init = path.field("initContainers");
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let context = container::Context {
            init: true,
            volumes: &volume_names,
        };
        let at = init.index(i);
        container::container(errors, c, &context, &at);
        unique_container(errors, &mut container_names, &c.name, &at);
        host_port_conflicts(errors, &mut host_ports, c, &at);
    }
    let containers = path.field("containers");
    if spec.containers.is_empty() {
        errors.required(&containers, "");
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let context = container::Context {
            init: false,
            volumes: &volume_names,
        };
        let at = containers.index(i);
        container::container(errors, c, &context, &at);
        unique_container(errors, &mut container_names, &c.name, &at);
        host_port_conflicts(errors, &mut host_ports, c, &at);
    }
    restart_policy(
        errors,
        spec.restart_policy.as_deref().unwrap_or(""),
        owner,
        &path.field("restartPolicy"),
    );
    if let Some(grace) = spec.termination_grace_period_seconds {
        errors.non_negative(&path.field("terminationGracePeriodSeconds"), grace);
    }
    if let Some(deadline) = spec.active_deadline_seconds {
        let at = path.field("activeDeadlineSeconds");
        match owner {
            Owner::Replicated(kind) => {
                errors.forbidden(
                    &at,
                    &format!("activeDeadlineSeconds in {kind} is not Supported"),
                );
            }
            Owner::Pod | Owner::Job => {
                if !(1..=i64::from(u32::MAX)).contains(&deadline) {
                    errors.invalid_raw(
                        &at,
                        deadline,
                        "must be between 1 and 4294967295, inclusive",
                    );
                }
            }
        }
    }
    let dns_policy = spec.dns_policy.as_deref().unwrap_or("");
    errors.one_of(&path.field("dnsPolicy"), dns_policy, DNS_POLICIES);
    if dns_policy == "None" && spec.dns_config.is_none() {
        errors.required(
            &path.field("dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        );
    }
    meta::labels(
        errors,
        spec.node_selector.as_ref(),
        &path.field("nodeSelector"),
    );
    if let Some(account) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        errors.each(
            &path.field("serviceAccountName"),
            account,
            names::dns1123_subdomain(account),
        );
    }
    if let Some(node) = spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        errors.each(
            &path.field("nodeName"),
            node,
            names::dns1123_subdomain(node),
        );
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(value) = value.as_deref().filter(|s| !s.is_empty()) {
            errors.each(&path.field(field), value, names::dns1123_label(value));
        }
    }
    let tolerations = path.field("tolerations");
    for (i, toleration) in spec.tolerations.iter().flatten().enumerate() {
        let at = tolerations.index(i);
        let key = toleration.key.as_deref().unwrap_or("");
        if !key.is_empty() {
            errors.each(&at.field("key"), key, names::qualified_name(key));
        }
        match toleration.operator.as_deref().unwrap_or("Equal") {
            "Equal" if key.is_empty() => {
                errors.invalid(&at.field("operator"), "Equal", "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
            }
            "Equal" => {}
            "Exists" => {
                if toleration.value.as_deref().is_some_and(|v| !v.is_empty()) {
                    errors.invalid(
                        &at.field("operator"),
                        "Exists",
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            other => errors.not_supported(&at.field("operator"), other, &["Equal", "Exists"]),
        }
        if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
            && !TOLERATION_EFFECTS.contains(&effect)
        {
            errors.not_supported(&at.field("effect"), effect, TOLERATION_EFFECTS);
        }
    }
}

fn restart_policy(errors: &mut Errors, policy: &str, owner: Owner, path: &Path<'_>) {
    match owner {
        Owner::Pod => errors.one_of(path, policy, RESTART_POLICIES),
        Owner::Replicated(_) if policy != "Always" => {
            errors.not_supported(path, policy, &["Always"])
        }
        Owner::Job if policy != "OnFailure" && policy != "Never" => {
            errors.not_supported(path, policy, &["OnFailure", "Never"]);
        }
        Owner::Replicated(_) | Owner::Job => {}
    }
}

fn unique_container<'a>(
    errors: &mut Errors,
    seen: &mut HashSet<&'a str>,
    name: &'a str,
    path: &Path<'_>,
) {
    if !name.is_empty() && !seen.insert(name) {
        errors.duplicate(&path.field("name"), name);
    }
}

fn host_port_conflicts<'a>(
    errors: &mut Errors,
    seen: &mut HashSet<(i32, &'a str, &'a str)>,
    c: &'a k8s_openapi::api::core::v1::Container,
    path: &Path<'_>,
) {
    let ports = path.field("ports");
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let Some(host_port) = port.host_port.filter(|p| *p != 0) else {
            continue;
        };
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        let host_ip = port.host_ip.as_deref().unwrap_or("");
        if !seen.insert((host_port, protocol, host_ip)) {
            let at = ports.index(i);
            errors.duplicate(&at.field("hostPort"), &format!("{host_port}/{protocol}"));
        }
    }
}

/// Volumes: unique DNS-1123 label names and exactly one source each, plus the checks of
/// the common sources. Returns the volume names, for the containers' mounts.
fn volumes<'a>(errors: &mut Errors, volumes: &'a [Volume], path: &Path<'_>) -> Vec<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let at = path.index(i);
        let sources = volume_sources(volume);
        match sources.as_slice() {
            [] => errors.required(&at, "must specify a volume type"),
            [_] => {}
            [_, extra, ..] => {
                errors.forbidden(&at.field(extra), "may not specify more than 1 volume type")
            }
        }
        volume_source(errors, volume, &at);
        let name_path = at.field("name");
        if volume.name.is_empty() {
            errors.required(&name_path, "");
        } else {
            errors.each(&name_path, &volume.name, names::dns1123_label(&volume.name));
        }
        if !volume.name.is_empty() && !seen.insert(&volume.name) {
            errors.duplicate(&name_path, &volume.name);
        }
    }
    volumes.iter().map(|v| v.name.as_str()).collect()
}

fn file_mode(errors: &mut Errors, mode: Option<i32>, path: &Path<'_>) {
    if let Some(mode) = mode
        && !(0..=0o777).contains(&mode)
    {
        errors.invalid_raw(
            path,
            mode,
            "must be a number between 0 and 0777 (octal), both inclusive",
        );
    }
}

fn volume_source(errors: &mut Errors, volume: &Volume, path: &Path<'_>) {
    if let Some(source) = &volume.config_map {
        let at = path.field("configMap");
        if source.name.is_empty() {
            errors.required(&at.field("name"), "");
        } else {
            errors.each(
                &at.field("name"),
                &source.name,
                names::dns1123_subdomain(&source.name),
            );
        }
        file_mode(errors, source.default_mode, &at.field("defaultMode"));
        key_paths(
            errors,
            source.items.as_deref().unwrap_or_default(),
            &at.field("items"),
        );
    }
    if let Some(source) = &volume.secret {
        let at = path.field("secret");
        match source.secret_name.as_deref().unwrap_or("") {
            "" => errors.required(&at.field("secretName"), ""),
            name => errors.each(
                &at.field("secretName"),
                name,
                names::dns1123_subdomain(name),
            ),
        }
        file_mode(errors, source.default_mode, &at.field("defaultMode"));
        key_paths(
            errors,
            source.items.as_deref().unwrap_or_default(),
            &at.field("items"),
        );
    }
    if let Some(source) = &volume.host_path {
        let at = path.field("hostPath");
        if source.path.is_empty() {
            errors.required(&at.field("path"), "");
        }
        const TYPES: &[&str] = &[
            "",
            "DirectoryOrCreate",
            "Directory",
            "FileOrCreate",
            "File",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ];
        let kind = source.type_.as_deref().unwrap_or("");
        if !TYPES.contains(&kind) {
            errors.not_supported(&at.field("type"), kind, TYPES);
        }
    }
    if let Some(source) = &volume.persistent_volume_claim
        && source.claim_name.is_empty()
    {
        errors.required(&path.field("persistentVolumeClaim").field("claimName"), "");
    }
    if let Some(source) = &volume.empty_dir
        && let Some(medium) = source.medium.as_deref()
        && !["", "Memory", "HugePages"].contains(&medium)
        && !medium.starts_with("HugePages-")
    {
        errors.not_supported(
            &path.field("emptyDir").field("medium"),
            medium,
            &["", "Memory", "HugePages"],
        );
    }
    if let Some(source) = &volume.downward_api {
        file_mode(
            errors,
            source.default_mode,
            &path.field("downwardAPI").field("defaultMode"),
        );
    }
}

fn key_paths(
    errors: &mut Errors,
    items: &[k8s_openapi::api::core::v1::KeyToPath],
    path: &Path<'_>,
) {
    for (i, item) in items.iter().enumerate() {
        let at = path.index(i);
        if item.key.is_empty() {
            errors.required(&at.field("key"), "");
        }
        relative_path(errors, &item.path, &at.field("path"));
        file_mode(errors, item.mode, &at.field("mode"));
    }
}

/// A path that must stay below its volume: relative, without `..` components.
pub(crate) fn relative_path(errors: &mut Errors, value: &str, path: &Path<'_>) {
    if value.is_empty() {
        errors.required(path, "");
        return;
    }
    if value.starts_with('/') {
        errors.invalid(path, value, "must be a relative path");
    }
    if value.split('/').any(|part| part == "..") {
        errors.invalid(path, value, "must not contain '..'");
    }
}
