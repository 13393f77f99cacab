//! Validation of API objects as kube-apiserver does it after defaulting: every problem is
//! collected as a [`FieldError`] with its path, reason and kube-apiserver's wording, in the
//! order the fields are walked.
//!
//! Paths are built on the stack ([`Path`]) and only turned into a [`FieldPath`] when an error
//! is reported, so a valid object costs no allocations for its paths.

mod cluster;
mod config;
mod container;
pub(crate) mod cron;
mod hpa;
mod meta;
pub(crate) mod pod;
mod rbac;
mod service;
mod workloads;

use std::fmt;

use crate::error::FieldError;
use crate::names;
use crate::path::{FieldPath, Segment};
use crate::registry::Object;

/// Every problem with `object`, as field errors.
pub fn validate(object: &Object) -> Vec<FieldError> {
    let mut errors = Errors::default();
    let info = object.kind_info();
    let name_rule = match object {
        Object::Namespace(_) => meta::NameRule::Dns1123Label,
        Object::Service(_) => meta::NameRule::Dns1035Label,
        Object::Role(_)
        | Object::ClusterRole(_)
        | Object::RoleBinding(_)
        | Object::ClusterRoleBinding(_) => meta::NameRule::PathSegment,
        _ => meta::NameRule::Dns1123Subdomain,
    };
    meta::object_meta(
        &mut errors,
        object.metadata(),
        info.namespaced,
        name_rule,
        &Path::ROOT.field("metadata"),
    );
    match object {
        Object::Pod(pod) => {
            let spec = Path::ROOT.field("spec");
            match pod.spec.as_ref() {
                Some(pod_spec) => pod::pod_spec(&mut errors, pod_spec, pod::Owner::Pod, &spec),
                None => errors.required(&spec, ""),
            }
        }
        Object::Deployment(d) => workloads::deployment(&mut errors, d),
        Object::ReplicaSet(rs) => workloads::replica_set(&mut errors, rs),
        Object::DaemonSet(ds) => workloads::daemon_set(&mut errors, ds),
        Object::StatefulSet(sts) => workloads::stateful_set(&mut errors, sts),
        Object::Job(job) => workloads::job(&mut errors, job),
        Object::CronJob(cj) => workloads::cron_job(&mut errors, cj),
        Object::Service(svc) => service::service(&mut errors, svc),
        Object::Endpoints(ep) => service::endpoints(&mut errors, ep),
        Object::EndpointSlice(slice) => service::endpoint_slice(&mut errors, slice),
        Object::ConfigMap(cm) => config::config_map(&mut errors, cm),
        Object::Secret(secret) => config::secret(&mut errors, secret),
        Object::Namespace(ns) => cluster::namespace(&mut errors, ns),
        Object::Node(node) => cluster::node(&mut errors, node),
        Object::Lease(lease) => cluster::lease(&mut errors, lease),
        Object::Event(event) => cluster::event(&mut errors, event),
        Object::ServiceAccount(sa) => cluster::service_account(&mut errors, sa),
        Object::PersistentVolumeClaim(pvc) => cluster::persistent_volume_claim(&mut errors, pvc),
        Object::HorizontalPodAutoscaler(hpa) => hpa::horizontal_pod_autoscaler(&mut errors, hpa),
        Object::Role(role) => rbac::role(&mut errors, role),
        Object::ClusterRole(role) => rbac::cluster_role(&mut errors, role),
        Object::RoleBinding(binding) => rbac::role_binding(&mut errors, binding),
        Object::ClusterRoleBinding(binding) => rbac::cluster_role_binding(&mut errors, binding),
    }
    errors.0
}

/// A field path kept on the stack while walking an object: each step borrows its parent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    Root,
    Field(&'a str),
    Index(usize),
    Key(&'a str),
}

impl<'a> Path<'a> {
    /// The root of the object.
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        step: Step::Root,
    };

    /// A struct field below this path.
    pub(crate) fn field<'s>(&'s self, name: &'s str) -> Path<'s> {
        Path {
            parent: Some(self),
            step: Step::Field(name),
        }
    }

    /// A list item below this path.
    pub(crate) fn index(&self, index: usize) -> Path<'_> {
        Path {
            parent: Some(self),
            step: Step::Index(index),
        }
    }

    /// A map entry below this path.
    pub(crate) fn key<'s>(&'s self, key: &'s str) -> Path<'s> {
        Path {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    /// The path as an owned [`FieldPath`].
    pub(crate) fn to_field_path(self) -> FieldPath {
        let mut steps = Vec::new();
        let mut node = Some(&self);
        while let Some(path) = node {
            match path.step {
                Step::Root => {}
                Step::Field(name) => steps.push(Segment::Field(name.to_owned())),
                Step::Index(index) => steps.push(Segment::Index(index)),
                Step::Key(key) => steps.push(Segment::Key(key.to_owned())),
            }
            node = path.parent;
        }
        steps.reverse();
        FieldPath::from(steps)
    }
}

/// The errors found so far, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn required(&mut self, path: &Path<'_>, detail: &str) {
        self.0
            .push(FieldError::required(path.to_field_path(), detail));
    }

    pub(crate) fn invalid(&mut self, path: &Path<'_>, value: &str, detail: impl Into<String>) {
        self.0
            .push(FieldError::invalid(path.to_field_path(), value, detail));
    }

    pub(crate) fn invalid_raw(
        &mut self,
        path: &Path<'_>,
        value: impl fmt::Display,
        detail: impl Into<String>,
    ) {
        self.0
            .push(FieldError::invalid_raw(path.to_field_path(), value, detail));
    }

    /// A repeated string value (printed quoted).
    pub(crate) fn duplicate(&mut self, path: &Path<'_>, value: &str) {
        self.0.push(FieldError::duplicate(
            path.to_field_path(),
            names::quote(value),
        ));
    }

    /// A repeated value of another type (printed as given).
    pub(crate) fn duplicate_raw(&mut self, path: &Path<'_>, value: impl fmt::Display) {
        self.0
            .push(FieldError::duplicate(path.to_field_path(), value));
    }

    pub(crate) fn not_supported(&mut self, path: &Path<'_>, value: &str, supported: &[&str]) {
        self.0.push(FieldError::not_supported(
            path.to_field_path(),
            value,
            supported,
        ));
    }

    pub(crate) fn too_long(&mut self, path: &Path<'_>, max: usize) {
        self.0.push(FieldError::too_long(path.to_field_path(), max));
    }

    pub(crate) fn too_many(&mut self, path: &Path<'_>, actual: usize, max: usize) {
        self.0
            .push(FieldError::too_many(path.to_field_path(), actual, max));
    }

    pub(crate) fn not_found(&mut self, path: &Path<'_>, value: &str) {
        self.0
            .push(FieldError::not_found(path.to_field_path(), value));
    }

    pub(crate) fn forbidden(&mut self, path: &Path<'_>, detail: &str) {
        self.0
            .push(FieldError::forbidden(path.to_field_path(), detail));
    }

    /// One `Invalid` error per message from a rule in [`names`].
    pub(crate) fn each(&mut self, path: &Path<'_>, value: &str, messages: Vec<String>) {
        for message in messages {
            self.invalid(path, value, message);
        }
    }

    /// An `Invalid` error when `value` is negative.
    pub(crate) fn non_negative(&mut self, path: &Path<'_>, value: impl Into<i64>) {
        let value = value.into();
        if value < 0 {
            self.invalid_raw(path, value, "must be greater than or equal to 0");
        }
    }

    /// An `Invalid` error when `value` is not positive.
    pub(crate) fn positive(&mut self, path: &Path<'_>, value: impl Into<i64>) {
        let value = value.into();
        if value <= 0 {
            self.invalid_raw(path, value, "must be greater than 0");
        }
    }

    /// `Unsupported value` unless `value` is one of `supported`; `Required` when empty.
    pub(crate) fn one_of(&mut self, path: &Path<'_>, value: &str, supported: &[&str]) {
        if value.is_empty() {
            self.required(path, "");
        } else if !supported.contains(&value) {
            self.not_supported(path, value, supported);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_paths_print_like_field_paths() {
        let spec = Path::ROOT.field("spec");
        let containers = spec.field("containers");
        let first = containers.index(0);
        let limits = first
            .field("resources")
            .field("limits")
            .key("cpu")
            .to_field_path();
        assert_eq!(
            limits.to_string(),
            "spec.containers[0].resources.limits[cpu]"
        );
        assert_eq!(Path::ROOT.to_field_path().to_string(), "");
    }
}

#[cfg(test)]
mod size_tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn config_map(annotations: BTreeMap<String, String>, data: BTreeMap<String, String>) -> Object {
        Object::ConfigMap(Box::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some("big".to_owned()),
                annotations: Some(annotations),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }))
    }

    #[test]
    fn annotations_are_limited_to_256_kib_in_total() {
        let fits: BTreeMap<String, String> = [("a".to_owned(), "x".repeat(256 * 1024 - 1))].into();
        assert!(validate(&config_map(fits, BTreeMap::new())).is_empty());
        let over: BTreeMap<String, String> = [
            ("a".to_owned(), "x".repeat(200 * 1024)),
            ("b".to_owned(), "x".repeat(60 * 1024)),
        ]
        .into();
        let errors: Vec<String> = validate(&config_map(over, BTreeMap::new()))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            ["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn config_maps_are_limited_to_1_mib() {
        let fits: BTreeMap<String, String> = [("a".to_owned(), "x".repeat(1024 * 1024))].into();
        assert!(validate(&config_map(BTreeMap::new(), fits)).is_empty());
        let over: BTreeMap<String, String> = [
            ("a".to_owned(), "x".repeat(1024 * 1024)),
            ("b".to_owned(), "x".to_owned()),
        ]
        .into();
        let errors: Vec<String> = validate(&config_map(BTreeMap::new(), over))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            ["data: Too long: may not be more than 1048576 bytes"]
        );
    }
}
