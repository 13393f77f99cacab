//! One container of a pod spec: name, image reference, ports, environment, resources,
//! volume mounts, probes and lifecycle hooks.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, HTTPGetAction, LifecycleHandler, Probe, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Errors, Path};
use crate::image::ImageRef;
use crate::names;
use crate::quantity::Quantity;

/// What a container is checked against.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// An init container (probes are not allowed unless it is a restartable sidecar).
    pub(crate) init: bool,
    /// The names of the pod's volumes.
    pub(crate) volumes: &'a [&'a str],
}

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
const FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Every check of one container.
pub(crate) fn container(
    errors: &mut Errors,
    c: &Container,
    context: &Context<'_>,
    path: &Path<'_>,
) {
    let name = path.field("name");
    if c.name.is_empty() {
        errors.required(&name, "");
    } else {
        errors.each(&name, &c.name, names::dns1123_label(&c.name));
    }
    let image = path.field("image");
    match c.image.as_deref().unwrap_or("") {
        "" => errors.required(&image, ""),
        text => {
            if let Err(error) = ImageRef::parse(text) {
                errors.invalid(&image, text, error.to_string());
            }
        }
    }
    ports(errors, c, &path.field("ports"));
    let env = path.field("env");
    for (i, var) in c.env.iter().flatten().enumerate() {
        env_var(errors, var, &env.index(i));
    }
    let env_from = path.field("envFrom");
    for (i, source) in c.env_from.iter().flatten().enumerate() {
        let at = env_from.index(i);
        if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty()) {
            errors.each(&at.field("prefix"), prefix, names::env_var_name(prefix));
        }
        let count =
            usize::from(source.config_map_ref.is_some()) + usize::from(source.secret_ref.is_some());
        match count {
            0 => errors.invalid(
                &at,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ),
            1 => {}
            _ => errors.invalid(
                &at,
                "",
                "may not have more than one field specified at a time",
            ),
        }
    }
    if let Some(resources) = &c.resources {
        self::resources(errors, resources, &path.field("resources"));
    }
    volume_mounts(errors, c, context.volumes, &path.field("volumeMounts"));
    let sidecar = context.init && c.restart_policy.as_deref() == Some("Always");
    let probes = [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ];
    for (field, probe, success_must_be_one) in probes {
        let Some(probe) = probe else { continue };
        let at = path.field(field);
        if context.init && !sidecar {
            errors.forbidden(
                &at,
                "may not be set for init containers without restartPolicy=Always",
            );
            continue;
        }
        self::probe(errors, probe, success_must_be_one, &at);
        if field == "readinessProbe"
            && let Some(grace) = probe.termination_grace_period_seconds
        {
            errors.invalid_raw(
                &at.field("terminationGracePeriodSeconds"),
                grace,
                "must not be set for readinessProbes",
            );
        }
    }
    if let Some(lifecycle) = &c.lifecycle {
        let at = path.field("lifecycle");
        for (field, handler) in [
            ("postStart", &lifecycle.post_start),
            ("preStop", &lifecycle.pre_stop),
        ] {
            if let Some(handler) = handler {
                lifecycle_handler(errors, handler, &at.field(field));
            }
        }
    }
    if let Some(policy) = c.image_pull_policy.as_deref() {
        errors.one_of(&path.field("imagePullPolicy"), policy, PULL_POLICIES);
    }
    if let Some(policy) = c.termination_message_policy.as_deref() {
        errors.one_of(
            &path.field("terminationMessagePolicy"),
            policy,
            MESSAGE_POLICIES,
        );
    }
    if let Some(policy) = c.restart_policy.as_deref() {
        let at = path.field("restartPolicy");
        if !context.init {
            errors.forbidden(&at, "may not be set for non-init containers");
        } else if policy != "Always" {
            errors.not_supported(&at, policy, &["Always"]);
        }
    }
}

fn ports(errors: &mut Errors, c: &Container, path: &Path<'_>) {
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let at = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let messages = names::iana_svc_name(name);
            if !messages.is_empty() {
                errors.each(&at.field("name"), name, messages);
            } else if !seen.insert(name) {
                errors.duplicate(&at.field("name"), name);
            }
        }
        if port.container_port == 0 {
            errors.required(&at.field("containerPort"), "");
        } else {
            for message in names::port_number(port.container_port) {
                errors.invalid_raw(&at.field("containerPort"), port.container_port, message);
            }
        }
        if let Some(host_port) = port.host_port.filter(|p| *p != 0) {
            for message in names::port_number(host_port) {
                errors.invalid_raw(&at.field("hostPort"), host_port, message);
            }
        }
        errors.one_of(
            &at.field("protocol"),
            port.protocol.as_deref().unwrap_or(""),
            PROTOCOLS,
        );
        if let Some(ip) = port.host_ip.as_deref().filter(|ip| !ip.is_empty())
            && !names::is_ip(ip)
        {
            errors.invalid(&at.field("hostIP"), ip, names::IP_MSG);
        }
    }
}

fn env_var(errors: &mut Errors, var: &EnvVar, path: &Path<'_>) {
    let name = path.field("name");
    if var.name.is_empty() {
        errors.required(&name, "");
    } else {
        errors.each(&name, &var.name, names::env_var_name(&var.name));
    }
    let Some(from) = &var.value_from else { return };
    let at = path.field("valueFrom");
    let mut sources = 0;
    if let Some(field_ref) = &from.field_ref {
        sources += 1;
        let fr = at.field("fieldRef");
        let api_version = field_ref.api_version.as_deref().unwrap_or("v1");
        if api_version != "v1" {
            errors.not_supported(&fr.field("apiVersion"), api_version, &["v1"]);
        }
        let field_path = field_ref.field_path.as_str();
        let subscripted = ["metadata.labels['", "metadata.annotations['"]
            .iter()
            .any(|p| field_path.starts_with(p) && field_path.ends_with("']"));
        if field_path.is_empty() {
            errors.required(&fr.field("fieldPath"), "");
        } else if !subscripted && !FIELD_PATHS.contains(&field_path) {
            errors.not_supported(&fr.field("fieldPath"), field_path, FIELD_PATHS);
        }
    }
    if let Some(resource_ref) = &from.resource_field_ref {
        sources += 1;
        let resource = resource_ref.resource.as_str();
        let resource_ref_path = at.field("resourceFieldRef");
        let rf = resource_ref_path.field("resource");
        let hugepages = ["limits.hugepages-", "requests.hugepages-"]
            .iter()
            .any(|p| resource.starts_with(p));
        if resource.is_empty() {
            errors.required(&rf, "");
        } else if !hugepages && !RESOURCE_FIELDS.contains(&resource) {
            errors.not_supported(&rf, resource, RESOURCE_FIELDS);
        }
    }
    let key_refs = [
        (
            "configMapKeyRef",
            from.config_map_key_ref
                .as_ref()
                .map(|r| (r.name.as_str(), r.key.as_str())),
        ),
        (
            "secretKeyRef",
            from.secret_key_ref
                .as_ref()
                .map(|r| (r.name.as_str(), r.key.as_str())),
        ),
    ];
    for (field, key_ref) in key_refs {
        let Some((name, key)) = key_ref else { continue };
        sources += 1;
        let kr = at.field(field);
        if name.is_empty() {
            errors.required(&kr.field("name"), "");
        }
        if key.is_empty() {
            errors.required(&kr.field("key"), "");
        } else {
            errors.each(&kr.field("key"), key, names::config_key(key));
        }
    }
    if from.file_key_ref.is_some() {
        sources += 1;
    }
    let has_value = var.value.as_deref().is_some_and(|v| !v.is_empty());
    if sources == 0 {
        errors.invalid(&at, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`");
    } else if has_value {
        errors.invalid(&at, "", "may not be specified when `value` is not empty");
    } else if sources > 1 {
        errors.invalid(
            &at,
            "",
            "may not have more than one field specified at a time",
        );
    }
}

fn volume_mounts(errors: &mut Errors, c: &Container, volumes: &[&str], path: &Path<'_>) {
    let mut mount_paths: HashSet<&str> = HashSet::new();
    for (i, mount) in c.volume_mounts.iter().flatten().enumerate() {
        let at = path.index(i);
        let name = at.field("name");
        if mount.name.is_empty() {
            errors.required(&name, "");
        } else if !volumes.contains(&mount.name.as_str()) {
            errors.not_found(&name, &mount.name);
        }
        let mount_path = at.field("mountPath");
        if mount.mount_path.is_empty() {
            errors.required(&mount_path, "");
        } else {
            if !mount.mount_path.starts_with('/') {
                errors.invalid(&mount_path, &mount.mount_path, "must be an absolute path");
            }
            if !mount_paths.insert(&mount.mount_path) {
                errors.invalid(&mount_path, &mount.mount_path, "must be unique");
            }
        }
        if let Some(sub_path) = mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
            super::pod::relative_path(errors, sub_path, &at.field("subPath"));
        }
        if let Some(propagation) = mount.mount_propagation.as_deref() {
            errors.one_of(
                &at.field("mountPropagation"),
                propagation,
                &["Bidirectional", "HostToContainer", "None"],
            );
        }
    }
}

fn probe(errors: &mut Errors, probe: &Probe, success_must_be_one: bool, path: &Path<'_>) {
    let handlers = [
        ("exec", probe.exec.is_some()),
        ("httpGet", probe.http_get.is_some()),
        ("tcpSocket", probe.tcp_socket.is_some()),
        ("grpc", probe.grpc.is_some()),
    ];
    handler_count(errors, &handlers, path);
    if let Some(exec) = &probe.exec
        && exec.command.as_ref().is_none_or(Vec::is_empty)
    {
        errors.required(&path.field("exec").field("command"), "");
    }
    if let Some(action) = &probe.http_get {
        http_get(errors, action, &path.field("httpGet"));
    }
    if let Some(action) = &probe.tcp_socket {
        port_num_or_name(errors, &action.port, &path.field("tcpSocket").field("port"));
    }
    if let Some(action) = &probe.grpc {
        for message in names::port_number(action.port) {
            errors.invalid_raw(&path.field("grpc").field("port"), action.port, message);
        }
    }
    if let Some(delay) = probe.initial_delay_seconds {
        errors.non_negative(&path.field("initialDelaySeconds"), delay);
    }
    let at_least_one = [
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ];
    for (field, value) in at_least_one {
        if let Some(value) = value
            && value < 1
        {
            errors.invalid_raw(
                &path.field(field),
                value,
                "must be greater than or equal to 1",
            );
        }
    }
    if success_must_be_one
        && let Some(success) = probe.success_threshold
        && success > 1
    {
        errors.invalid_raw(&path.field("successThreshold"), success, "must be 1");
    }
}

fn lifecycle_handler(errors: &mut Errors, handler: &LifecycleHandler, path: &Path<'_>) {
    let handlers = [
        ("exec", handler.exec.is_some()),
        ("httpGet", handler.http_get.is_some()),
        ("tcpSocket", handler.tcp_socket.is_some()),
        ("sleep", handler.sleep.is_some()),
    ];
    handler_count(errors, &handlers, path);
    if let Some(exec) = &handler.exec
        && exec.command.as_ref().is_none_or(Vec::is_empty)
    {
        errors.required(&path.field("exec").field("command"), "");
    }
    if let Some(action) = &handler.http_get {
        http_get(errors, action, &path.field("httpGet"));
    }
    if let Some(action) = &handler.tcp_socket {
        port_num_or_name(errors, &action.port, &path.field("tcpSocket").field("port"));
    }
    if let Some(sleep) = &handler.sleep
        && sleep.seconds < 0
    {
        errors.invalid_raw(
            &path.field("sleep").field("seconds"),
            sleep.seconds,
            "must be non-negative",
        );
    }
}

/// Exactly one handler: `Required` for none, `Forbidden` on each one after the first.
fn handler_count(errors: &mut Errors, handlers: &[(&str, bool)], path: &Path<'_>) {
    let mut count = 0;
    for (name, set) in handlers {
        if *set {
            count += 1;
            if count > 1 {
                errors.forbidden(
                    &path.field(name),
                    "may not specify more than 1 handler type",
                );
            }
        }
    }
    if count == 0 {
        errors.required(path, "must specify a handler type");
    }
}

fn http_get(errors: &mut Errors, action: &HTTPGetAction, path: &Path<'_>) {
    if action.path.as_deref().unwrap_or("").is_empty() {
        errors.required(&path.field("path"), "");
    }
    port_num_or_name(errors, &action.port, &path.field("port"));
    if let Some(scheme) = action.scheme.as_deref() {
        errors.one_of(&path.field("scheme"), scheme, &["HTTP", "HTTPS"]);
    }
    for (i, header) in action.http_headers.iter().flatten().enumerate() {
        let name = &header.name;
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            errors.invalid(&path.field("httpHeaders").index(i).field("name"), name, "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')");
        }
    }
}

/// A port given as a number (1-65535) or as an IANA service name.
pub(crate) fn port_num_or_name(errors: &mut Errors, port: &IntOrString, path: &Path<'_>) {
    match port {
        IntOrString::Int(number) => {
            for message in names::port_number(*number) {
                errors.invalid_raw(path, number, message);
            }
        }
        IntOrString::String(name) => errors.each(path, name, names::iana_svc_name(name)),
    }
}

const CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];
const OTHER_STANDARD_RESOURCES: &[&str] = &[
    "storage",
    "pods",
    "services",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

/// Whether the resource may be requested below its limit (CPU, memory and other native
/// resources; not huge pages nor extended resources).
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

/// Reports a resource name that containers may not use; returns whether it is usable.
fn resource_name(errors: &mut Errors, name: &str, path: &Path<'_>) -> bool {
    let messages = names::qualified_name(name);
    if !messages.is_empty() {
        errors.each(path, name, messages);
        return false;
    }
    if !name.contains('/') {
        let container = CONTAINER_RESOURCES.contains(&name) || name.starts_with("hugepages-");
        if !container {
            let detail = if OTHER_STANDARD_RESOURCES.contains(&name) {
                "must be a standard resource for containers"
            } else {
                "must be a standard resource type or fully qualified"
            };
            errors.invalid(path, name, detail);
            return false;
        }
    } else if !name.contains("kubernetes.io/") && name.starts_with("requests.") {
        errors.invalid(path, name, "doesn't follow extended resource name standard");
        return false;
    }
    true
}

/// Parses a quantity, reporting one that does not parse or is negative.
fn quantity(errors: &mut Errors, text: &str, path: &Path<'_>) -> Option<Quantity> {
    match Quantity::parse(text) {
        Ok(q) => {
            if q.is_negative() {
                errors.invalid(path, text, "must be greater than or equal to 0");
                return None;
            }
            Some(q)
        }
        Err(error) => {
            errors.invalid(path, text, error.to_string());
            None
        }
    }
}

fn resources(errors: &mut Errors, resources: &ResourceRequirements, path: &Path<'_>) {
    let limits_path = path.field("limits");
    let mut limits = Vec::new();
    for (name, value) in resources.limits.iter().flatten() {
        let at = limits_path.key(name);
        let valid_name = resource_name(errors, name, &at);
        if let Some(q) = quantity(errors, &value.0, &at)
            && valid_name
        {
            limits.push((name.as_str(), q, value.0.as_str()));
        }
    }
    let requests_path = path.field("requests");
    for (name, value) in resources.requests.iter().flatten() {
        let at = requests_path.key(name);
        let valid_name = resource_name(errors, name, &at);
        let Some(request) = quantity(errors, &value.0, &at) else {
            continue;
        };
        if !valid_name {
            continue;
        }
        let limit = limits.iter().find(|(n, _, _)| *n == name.as_str());
        match limit {
            Some((_, limit, text)) if !overcommit_allowed(name) && request != *limit => {
                errors.invalid(
                    &requests_path,
                    &value.0,
                    format!("must be equal to {name} limit of {text}"),
                );
            }
            Some((_, limit, text)) if request > *limit => {
                errors.invalid(
                    &requests_path,
                    &value.0,
                    format!("must be less than or equal to {name} limit of {text}"),
                );
            }
            Some(_) => {}
            None if !overcommit_allowed(name) && !name.starts_with("hugepages-") => {
                errors.required(
                    &limits_path,
                    "Limit must be set for non overcommitable resources",
                );
            }
            None => {}
        }
    }
}
