//! Defaulting, as kube-apiserver's `SetDefaults_*` functions apply it before validation: every
//! field a user may leave out gets the value Kubernetes would store. Applying the defaults
//! twice changes nothing. `metadata.namespace` is left alone (the API server sets it from the
//! request).

pub(crate) mod pod;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ClientIPConfig, PersistentVolumeClaimSpec, PodTemplateSpec, Service, SessionAffinityConfig,
};
use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::registry::Object;

/// The API group of RBAC objects, the default of `roleRef.apiGroup`.
pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Fills in every default Kubernetes applies to `object`.
pub fn apply_defaults(object: &mut Object) {
    match object {
        Object::Pod(pod) => {
            if let Some(spec) = pod.spec.as_mut() {
                pod::pod_spec(spec);
                pod::requests_from_limits(spec);
            }
        }
        Object::Deployment(d) => deployment(d),
        Object::ReplicaSet(rs) => replica_set(rs),
        Object::DaemonSet(ds) => daemon_set(ds),
        Object::StatefulSet(sts) => stateful_set(sts),
        Object::Job(job) => self::job(job),
        Object::CronJob(cj) => cron_job(cj),
        Object::Service(svc) => service(svc),
        Object::Secret(secret) => {
            secret.type_.get_or_insert_with(|| "Opaque".to_owned());
        }
        Object::Namespace(ns) => {
            if let Some(name) = ns.metadata.name.clone().filter(|n| !n.is_empty()) {
                let labels = ns.metadata.labels.get_or_insert_with(BTreeMap::new);
                labels.insert("kubernetes.io/metadata.name".to_owned(), name);
            }
        }
        Object::PersistentVolumeClaim(pvc) => {
            if let Some(spec) = pvc.spec.as_mut() {
                claim_spec(spec);
            }
        }
        Object::Endpoints(ep) => {
            for port in ep
                .subsets
                .iter_mut()
                .flatten()
                .flat_map(|s| s.ports.iter_mut().flatten())
            {
                port.protocol.get_or_insert_with(|| "TCP".to_owned());
            }
        }
        Object::EndpointSlice(slice) => {
            for port in slice.ports.iter_mut().flatten() {
                port.protocol.get_or_insert_with(|| "TCP".to_owned());
                port.name.get_or_insert_with(String::new);
            }
        }
        Object::HorizontalPodAutoscaler(hpa) => horizontal_pod_autoscaler(hpa),
        Object::RoleBinding(binding) => {
            role_ref(&mut binding.role_ref);
            binding.subjects.iter_mut().flatten().for_each(subject);
        }
        Object::ClusterRoleBinding(binding) => {
            role_ref(&mut binding.role_ref);
            binding.subjects.iter_mut().flatten().for_each(subject);
        }
        Object::Node(_)
        | Object::ConfigMap(_)
        | Object::Event(_)
        | Object::ServiceAccount(_)
        | Object::Lease(_)
        | Object::Role(_)
        | Object::ClusterRole(_) => {}
    }
}

fn template(template: &mut PodTemplateSpec) {
    if let Some(spec) = template.spec.as_mut() {
        pod::pod_spec(spec);
    }
}

/// Empty object labels default to the pod template's labels (batch/v1 Jobs only: apps/v1
/// dropped this default).
fn labels_from_template(metadata: &mut ObjectMeta, template: &PodTemplateSpec) {
    let template_labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if let Some(labels) = template_labels
        && metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
        && !labels.is_empty()
    {
        metadata.labels = Some(labels.clone());
    }
}

fn percent(text: &str) -> IntOrString {
    IntOrString::String(text.to_owned())
}

fn deployment(deployment: &mut Deployment) {
    let spec = &mut deployment.spec;
    spec.replicas.get_or_insert(1);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    let kind = strategy
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_owned());
    if kind == "RollingUpdate" {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        rolling
            .max_unavailable
            .get_or_insert_with(|| percent("25%"));
        rolling.max_surge.get_or_insert_with(|| percent("25%"));
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    template(&mut spec.template);
}

fn replica_set(replica_set: &mut ReplicaSet) {
    let spec = &mut replica_set.spec;
    spec.replicas.get_or_insert(1);
    if let Some(pod_template) = spec.template.as_mut() {
        template(pod_template);
    }
}

fn daemon_set(daemon_set: &mut DaemonSet) {
    let spec = &mut daemon_set.spec;
    let strategy = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    let kind = strategy
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_owned());
    if kind == "RollingUpdate" {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(10);
    template(&mut spec.template);
}

fn stateful_set(stateful_set: &mut StatefulSet) {
    let spec = &mut stateful_set.spec;
    spec.pod_management_policy
        .get_or_insert_with(|| "OrderedReady".to_owned());
    let strategy = spec
        .update_strategy
        .get_or_insert_with(StatefulSetUpdateStrategy::default);
    let kind = strategy
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_owned());
    if kind == "RollingUpdate" {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        rolling.partition.get_or_insert(0);
    }
    let policy = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
    policy
        .when_deleted
        .get_or_insert_with(|| "Retain".to_owned());
    policy
        .when_scaled
        .get_or_insert_with(|| "Retain".to_owned());
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    for claim in spec.volume_claim_templates.iter_mut().flatten() {
        if let Some(claim) = claim.spec.as_mut() {
            claim_spec(claim);
        }
    }
    template(&mut spec.template);
}

fn job(job: &mut Job) {
    let Some(spec) = job.spec.as_mut() else {
        return;
    };
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    let backoff = if spec.backoff_limit_per_index.is_some() {
        i32::MAX
    } else {
        6
    };
    spec.backoff_limit.get_or_insert(backoff);
    labels_from_template(&mut job.metadata, &spec.template);
    spec.completion_mode
        .get_or_insert_with(|| "NonIndexed".to_owned());
    spec.suspend.get_or_insert(false);
    let replacement = if spec.pod_failure_policy.is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    spec.pod_replacement_policy
        .get_or_insert_with(|| replacement.to_owned());
    template(&mut spec.template);
}

fn cron_job(cron_job: &mut CronJob) {
    let spec = &mut cron_job.spec;
    spec.concurrency_policy
        .get_or_insert_with(|| "Allow".to_owned());
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    // Only the pod template inside the job template is defaulted; the job spec's own
    // defaults are applied when the CronJob controller creates each Job.
    if let Some(job) = spec.job_template.spec.as_mut() {
        template(&mut job.template);
    }
}

fn service(service: &mut Service) {
    let Some(spec) = service.spec.as_mut() else {
        return;
    };
    let affinity = spec
        .session_affinity
        .get_or_insert_with(|| "None".to_owned());
    if affinity == "None" {
        spec.session_affinity_config = None;
    } else if affinity == "ClientIP" {
        let config = spec
            .session_affinity_config
            .get_or_insert_with(SessionAffinityConfig::default);
        let client_ip = config.client_ip.get_or_insert_with(ClientIPConfig::default);
        client_ip.timeout_seconds.get_or_insert(10800);
    }
    let kind = spec
        .type_
        .get_or_insert_with(|| "ClusterIP".to_owned())
        .clone();
    for port in spec.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_owned());
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(name)) => name.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    let has_external_ips = spec
        .external_ips
        .as_ref()
        .is_some_and(|ips| !ips.is_empty());
    let externally_accessible =
        kind == "NodePort" || kind == "LoadBalancer" || (kind == "ClusterIP" && has_external_ips);
    if externally_accessible {
        spec.external_traffic_policy
            .get_or_insert_with(|| "Cluster".to_owned());
    }
    if matches!(kind.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        spec.internal_traffic_policy
            .get_or_insert_with(|| "Cluster".to_owned());
    }
    if kind == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
    if kind != "ExternalName" && spec.ip_family_policy.is_none() {
        let headless = spec.cluster_ip.as_deref() == Some("None");
        let selectorless = spec.selector.as_ref().is_none_or(BTreeMap::is_empty);
        let policy = if headless && selectorless {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        spec.ip_family_policy = Some(policy.to_owned());
    }
}

fn claim_spec(spec: &mut PersistentVolumeClaimSpec) {
    spec.volume_mode
        .get_or_insert_with(|| "Filesystem".to_owned());
}

fn horizontal_pod_autoscaler(hpa: &mut HorizontalPodAutoscaler) {
    let spec = &mut hpa.spec;
    spec.min_replicas.get_or_insert(1);
    if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
        spec.metrics = Some(vec![MetricSpec {
            type_: "Resource".to_owned(),
            resource: Some(ResourceMetricSource {
                name: "cpu".to_owned(),
                target: MetricTarget {
                    type_: "Utilization".to_owned(),
                    average_utilization: Some(80),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }]);
    }
    if let Some(behavior) = spec.behavior.as_mut() {
        let up = behavior
            .scale_up
            .get_or_insert_with(HPAScalingRules::default);
        up.stabilization_window_seconds.get_or_insert(0);
        up.select_policy.get_or_insert_with(|| "Max".to_owned());
        up.policies
            .get_or_insert_with(|| vec![policy("Pods", 4), policy("Percent", 100)]);
        let down = behavior
            .scale_down
            .get_or_insert_with(HPAScalingRules::default);
        down.select_policy.get_or_insert_with(|| "Max".to_owned());
        down.policies
            .get_or_insert_with(|| vec![policy("Percent", 100)]);
    }
}

fn policy(kind: &str, value: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: kind.to_owned(),
        value,
        period_seconds: 15,
    }
}

fn role_ref(role_ref: &mut RoleRef) {
    if role_ref.api_group.as_deref().is_none_or(str::is_empty) {
        role_ref.api_group = Some(RBAC_GROUP.to_owned());
    }
}

fn subject(subject: &mut Subject) {
    if subject.api_group.as_deref().is_none_or(str::is_empty)
        && matches!(subject.kind.as_str(), "User" | "Group")
    {
        subject.api_group = Some(RBAC_GROUP.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{FieldValidation, decode_file};

    #[test]
    fn defaults_of_every_case_are_idempotent() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/objects");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for manifest in decode_file("case.yaml", &text, FieldValidation::Strict).manifests {
                let mut object = manifest.object;
                apply_defaults(&mut object);
                let once = object.clone();
                apply_defaults(&mut object);
                assert_eq!(once, object, "{}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} objects");
    }

    #[test]
    fn defaults_are_idempotent() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: app\n        image: web\n        livenessProbe: {httpGet: {port: 80}}\n      volumes:\n      - name: scratch\n";
        let decoded = decode_file("d.yaml", text, FieldValidation::Strict);
        let mut object = decoded.manifests[0].object.clone();
        apply_defaults(&mut object);
        let once = object.clone();
        apply_defaults(&mut object);
        assert_eq!(once, object);
        let value = object.to_value();
        let container = &value["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["imagePullPolicy"], "Always");
        assert_eq!(container["livenessProbe"]["httpGet"]["scheme"], "HTTP");
        assert!(value["spec"]["template"]["spec"]["volumes"][0]["emptyDir"].is_object());
    }
}
