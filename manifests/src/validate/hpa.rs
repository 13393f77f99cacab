//! HorizontalPodAutoscalers (`autoscaling/v2`): the scale target, replica bounds, metric
//! sources and their targets, and scaling behavior.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscaler, MetricIdentifier, MetricSpec, MetricTarget,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use super::{Errors, Path, meta};
use crate::names;
use crate::quantity::Quantity;

const SOURCE_TYPES: &[&str] = &[
    "Object",
    "Pods",
    "Resource",
    "External",
    "ContainerResource",
];

/// A HorizontalPodAutoscaler.
pub(crate) fn horizontal_pod_autoscaler(errors: &mut Errors, hpa: &HorizontalPodAutoscaler) {
    let s = &hpa.spec;
    let spec = Path::ROOT.field("spec");
    if let Some(min) = s.min_replicas
        && min < 1
    {
        errors.invalid_raw(
            &spec.field("minReplicas"),
            min,
            "must be greater than or equal to 1",
        );
    }
    let max_path = spec.field("maxReplicas");
    if s.max_replicas < 1 {
        errors.invalid_raw(&max_path, s.max_replicas, "must be greater than 0");
    }
    if let Some(min) = s.min_replicas
        && s.max_replicas < min
    {
        errors.invalid_raw(
            &max_path,
            s.max_replicas,
            "must be greater than or equal to `minReplicas`",
        );
    }
    let target = spec.field("scaleTargetRef");
    let reference = &s.scale_target_ref;
    for (field, value) in [("kind", &reference.kind), ("name", &reference.name)] {
        if value.is_empty() {
            errors.required(&target.field(field), "");
        } else {
            errors.each(&target.field(field), value, names::path_segment(value));
        }
    }
    let metrics = spec.field("metrics");
    for (i, metric) in s.metrics.iter().flatten().enumerate() {
        metric_spec(errors, metric, &metrics.index(i));
    }
    if let Some(behavior) = &s.behavior {
        let at = spec.field("behavior");
        for (field, rules) in [
            ("scaleUp", &behavior.scale_up),
            ("scaleDown", &behavior.scale_down),
        ] {
            if let Some(rules) = rules {
                scaling_rules(errors, rules, &at.field(field));
            }
        }
    }
}

fn metric_spec(errors: &mut Errors, metric: &MetricSpec, path: &Path<'_>) {
    let kind = metric.type_.as_str();
    let type_path = path.field("type");
    if kind.is_empty() {
        errors.required(&type_path, "must specify a metric source type");
    } else if !SOURCE_TYPES.contains(&kind) {
        errors.not_supported(&type_path, kind, SOURCE_TYPES);
    }
    let present = [
        ("object", metric.object.is_some()),
        ("pods", metric.pods.is_some()),
        ("resource", metric.resource.is_some()),
        ("containerResource", metric.container_resource.is_some()),
        ("external", metric.external.is_some()),
    ];
    let expected = match kind {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => "",
    };
    if !expected.is_empty() && !present.iter().any(|(f, set)| *f == expected && *set) {
        errors.required(
            &path.field(expected),
            "must populate information for the given metric source",
        );
    }
    if present.iter().filter(|(_, set)| *set).count() > 1 {
        for (field, set) in present {
            if set && field != expected {
                errors.forbidden(
                    &path.field(field),
                    "must populate the given metric source only",
                );
            }
        }
    }
    if let Some(source) = &metric.resource {
        let at = path.field("resource");
        resource_source(errors, &source.name, &source.target, &at);
    }
    if let Some(source) = &metric.container_resource {
        let at = path.field("containerResource");
        if source.container.is_empty() {
            errors.required(&at.field("container"), "must specify a container");
        } else {
            errors.each(
                &at.field("container"),
                &source.container,
                names::dns1123_label(&source.container),
            );
        }
        resource_source(errors, &source.name, &source.target, &at);
    }
    if let Some(source) = &metric.pods {
        let at = path.field("pods");
        metric_identifier(errors, &source.metric, &at.field("metric"));
        metric_target(errors, &source.target, &at.field("target"));
        if source.target.average_value.is_none() {
            let target = at.field("target");
            errors.required(
                &target.field("averageValue"),
                "must specify a positive target averageValue",
            );
        }
    }
    if let Some(source) = &metric.object {
        let at = path.field("object");
        let described = at.field("describedObject");
        for (field, value) in [
            ("kind", &source.described_object.kind),
            ("name", &source.described_object.name),
        ] {
            if value.is_empty() {
                errors.required(&described.field(field), "");
            }
        }
        metric_identifier(errors, &source.metric, &at.field("metric"));
        value_or_average(errors, &source.target, &at.field("target"));
    }
    if let Some(source) = &metric.external {
        let at = path.field("external");
        metric_identifier(errors, &source.metric, &at.field("metric"));
        value_or_average(errors, &source.target, &at.field("target"));
    }
}

fn resource_source(errors: &mut Errors, name: &str, target: &MetricTarget, path: &Path<'_>) {
    if name.is_empty() {
        errors.required(&path.field("name"), "must specify a resource name");
    }
    let target_path = path.field("target");
    metric_target(errors, target, &target_path);
    if target.average_utilization.is_none() && target.average_value.is_none() {
        errors.required(
            &target_path.field("averageUtilization"),
            "must set either a target raw value or a target utilization",
        );
    }
    if target.average_utilization.is_some() && target.average_value.is_some() {
        errors.forbidden(
            &target_path.field("averageValue"),
            "may not set both a target raw value and a target utilization",
        );
    }
}

fn value_or_average(errors: &mut Errors, target: &MetricTarget, path: &Path<'_>) {
    metric_target(errors, target, path);
    if target.value.is_none() && target.average_value.is_none() {
        errors.required(
            &path.field("averageValue"),
            "must set either a target value or averageValue",
        );
    }
}

fn metric_identifier(errors: &mut Errors, metric: &MetricIdentifier, path: &Path<'_>) {
    if metric.name.is_empty() {
        errors.required(&path.field("name"), "must specify a metric name");
    } else {
        errors.each(
            &path.field("name"),
            &metric.name,
            names::path_segment(&metric.name),
        );
    }
    if let Some(selector) = &metric.selector {
        meta::label_selector(errors, selector, &path.field("selector"));
    }
}

fn metric_target(errors: &mut Errors, target: &MetricTarget, path: &Path<'_>) {
    let kind = target.type_.as_str();
    if kind.is_empty() {
        errors.required(&path.field("type"), "must specify a metric target type");
    } else if !matches!(kind, "Utilization" | "Value" | "AverageValue") {
        errors.invalid(
            &path.field("type"),
            kind,
            "must be either Utilization, Value, or AverageValue",
        );
    }
    positive_quantity(errors, target.value.as_ref(), &path.field("value"));
    positive_quantity(
        errors,
        target.average_value.as_ref(),
        &path.field("averageValue"),
    );
    if let Some(utilization) = target.average_utilization
        && utilization < 1
    {
        errors.invalid_raw(
            &path.field("averageUtilization"),
            utilization,
            "must be greater than 0",
        );
    }
}

fn positive_quantity(errors: &mut Errors, value: Option<&K8sQuantity>, path: &Path<'_>) {
    let Some(value) = value else { return };
    match Quantity::parse(&value.0) {
        Err(error) => errors.invalid(path, &value.0, error.to_string()),
        Ok(q) if q.is_negative() || q.is_zero() => {
            errors.invalid(path, &value.0, "must be positive")
        }
        Ok(_) => {}
    }
}

fn scaling_rules(errors: &mut Errors, rules: &HPAScalingRules, path: &Path<'_>) {
    if let Some(window) = rules.stabilization_window_seconds
        && !(0..=3600).contains(&window)
    {
        let message = if window < 0 {
            "must be greater than or equal to zero"
        } else {
            "must be less than or equal to 3600"
        };
        errors.invalid_raw(&path.field("stabilizationWindowSeconds"), window, message);
    }
    if let Some(policy) = rules.select_policy.as_deref() {
        errors.one_of(
            &path.field("selectPolicy"),
            policy,
            &["Max", "Min", "Disabled"],
        );
    }
    let policies_path = path.field("policies");
    let policies = rules.policies.as_deref().unwrap_or_default();
    if policies.is_empty() && rules.select_policy.as_deref() != Some("Disabled") {
        errors.required(&policies_path, "must specify at least one Policy");
    }
    for (i, policy) in policies.iter().enumerate() {
        let at = policies_path.index(i);
        errors.one_of(&at.field("type"), &policy.type_, &["Pods", "Percent"]);
        if policy.value <= 0 {
            errors.invalid_raw(
                &at.field("value"),
                policy.value,
                "must be greater than zero",
            );
        }
        if policy.period_seconds <= 0 {
            errors.invalid_raw(
                &at.field("periodSeconds"),
                policy.period_seconds,
                "must be greater than zero",
            );
        } else if policy.period_seconds > 1800 {
            errors.invalid_raw(
                &at.field("periodSeconds"),
                policy.period_seconds,
                "must be less than or equal to 1800",
            );
        }
    }
    if let Some(tolerance) = &rules.tolerance {
        match Quantity::parse(&tolerance.0) {
            Err(error) => errors.invalid(&path.field("tolerance"), &tolerance.0, error.to_string()),
            Ok(q) if q.is_negative() => errors.invalid(
                &path.field("tolerance"),
                &tolerance.0,
                "must be greater than or equal to 0",
            ),
            Ok(_) => {}
        }
    }
}
