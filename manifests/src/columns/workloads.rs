//! Columns of pods and of the workloads that own them: Deployments, ReplicaSets, DaemonSets,
//! StatefulSets, Jobs, CronJobs and HorizontalPodAutoscalers.

use std::time::SystemTime;

use serde_json::Value;

use super::{
    AGE, NAME, column, condition_true, deleting, epoch_nanos, field, human_duration, int,
    labels_text, list, parse_timestamp, quantity_text, selector_text, since, template_images,
    template_names, text, text_or, wide,
};
use crate::registry::{Column, ColumnType};

/// Columns of `kubectl get pods`.
pub static POD: &[Column] = &[
    NAME,
    column(
        "Ready",
        ColumnType::String,
        "Ready containers out of all containers of the pod.",
        |pod, now| Value::from(PodSummary::of(pod, now).ready),
    ),
    column(
        "Status",
        ColumnType::String,
        "The aggregate status of the pod's containers.",
        |pod, now| Value::from(PodSummary::of(pod, now).status),
    ),
    column(
        "Restarts",
        ColumnType::String,
        "How often the pod's containers restarted, and how long ago the last one did.",
        |pod, now| Value::from(PodSummary::of(pod, now).restarts),
    ),
    AGE,
    wide("IP", "The pod's IP address.", |pod, _| {
        let ip = list(pod, "status.podIPs")
            .first()
            .map_or("", |ip| text(ip, "ip"));
        Value::from(if ip.is_empty() {
            text_or(pod, "status.podIP", "<none>")
        } else {
            ip
        })
    }),
    wide("Node", "The node the pod is bound to.", |pod, _| {
        Value::from(text_or(pod, "spec.nodeName", "<none>"))
    }),
    wide(
        "Nominated Node",
        "The node the scheduler nominated for preemption.",
        |pod, _| Value::from(text_or(pod, "status.nominatedNodeName", "<none>")),
    ),
    wide(
        "Readiness Gates",
        "Readiness gates whose condition is True.",
        |pod, _| {
            let gates = list(pod, "spec.readinessGates");
            if gates.is_empty() {
                return Value::from("<none>");
            }
            let conditions = list(pod, "status.conditions");
            let passed = gates
                .iter()
                .filter(|gate| {
                    let kind = text(gate, "conditionType");
                    conditions
                        .iter()
                        .find(|c| text(c, "type") == kind)
                        .is_some_and(|c| text(c, "status") == "True")
                })
                .count();
            Value::from(format!("{passed}/{}", gates.len()))
        },
    ),
];

/// The READY, STATUS and RESTARTS of a pod, computed as kubectl users know them.
struct PodSummary {
    ready: String,
    status: String,
    restarts: String,
}

impl PodSummary {
    fn of(pod: &Value, now: SystemTime) -> Self {
        let init_specs = list(pod, "spec.initContainers");
        let sidecar = |name: &str| {
            init_specs
                .iter()
                .any(|c| text(c, "name") == name && text(c, "restartPolicy") == "Always")
        };
        let sidecars = init_specs
            .iter()
            .filter(|c| text(c, "restartPolicy") == "Always")
            .count();
        let total = list(pod, "spec.containers").len() + sidecars;
        let mut ready = 0;
        let phase = text(pod, "status.phase");
        let mut reason = text_or(pod, "status.reason", phase).to_owned();
        let gated = list(pod, "status.conditions")
            .iter()
            .any(|c| text(c, "type") == "PodScheduled" && text(c, "reason") == "SchedulingGated");
        if gated {
            reason = "SchedulingGated".to_owned();
        }

        let mut restarts = Restarts::default();
        let mut sidecar_restarts = Restarts::default();
        let mut initializing = false;
        let init_statuses = list(pod, "status.initContainerStatuses");
        for (i, status) in init_statuses.iter().enumerate() {
            let is_sidecar = sidecar(text(status, "name"));
            restarts.add(status);
            if is_sidecar {
                sidecar_restarts.add(status);
            }
            let terminated = field(status, "state.terminated").filter(|t| t.is_object());
            let waiting_reason = text(status, "state.waiting.reason");
            if terminated.is_some_and(|t| int(t, "exitCode") == 0) {
                continue;
            }
            if is_sidecar && field(status, "started").and_then(Value::as_bool) == Some(true) {
                if field(status, "ready").and_then(Value::as_bool) == Some(true) {
                    ready += 1;
                }
                continue;
            }
            reason = match terminated {
                Some(t) => match (text(t, "reason"), int(t, "signal")) {
                    ("", 0) => format!("Init:ExitCode:{}", int(t, "exitCode")),
                    ("", signal) => format!("Init:Signal:{signal}"),
                    (why, _) => format!("Init:{why}"),
                },
                None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                    format!("Init:{waiting_reason}")
                }
                None => format!("Init:{i}/{}", init_specs.len()),
            };
            initializing = true;
            break;
        }

        if !initializing || condition_true(pod, "status.conditions", "Initialized") {
            restarts = sidecar_restarts;
            let mut running = false;
            for status in list(pod, "status.containerStatuses").iter().rev() {
                restarts.add(status);
                let waiting = text(status, "state.waiting.reason");
                let terminated = field(status, "state.terminated").filter(|t| t.is_object());
                if !waiting.is_empty() {
                    reason = waiting.to_owned();
                } else if let Some(t) = terminated {
                    reason = match (text(t, "reason"), int(t, "signal")) {
                        ("", 0) => format!("ExitCode:{}", int(t, "exitCode")),
                        ("", signal) => format!("Signal:{signal}"),
                        (why, _) => why.to_owned(),
                    };
                } else if field(status, "ready").and_then(Value::as_bool) == Some(true)
                    && field(status, "state.running").is_some_and(Value::is_object)
                {
                    running = true;
                    ready += 1;
                }
            }
            if reason == "Completed" && running {
                reason = if condition_true(pod, "status.conditions", "Ready") {
                    "Running".to_owned()
                } else {
                    "NotReady".to_owned()
                };
            }
        }

        if deleting(pod) {
            if text(pod, "status.reason") == "NodeLost" {
                reason = "Unknown".to_owned();
            } else if phase != "Succeeded" && phase != "Failed" {
                reason = "Terminating".to_owned();
            }
        }

        Self {
            ready: format!("{ready}/{total}"),
            status: reason,
            restarts: restarts.text(now),
        }
    }
}

/// A restart count and the time the latest restarted container last ended.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: Option<i128>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count = self.count.saturating_add(int(status, "restartCount"));
        let finished = field(status, "lastState.terminated.finishedAt")
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        if finished > self.last {
            self.last = finished;
        }
    }

    /// `3`, or `3 (2m ago)` when the last restart time is known.
    fn text(&self, now: SystemTime) -> String {
        match self.last {
            Some(at) if self.count != 0 => {
                let ago = human_duration(epoch_nanos(now).saturating_sub(at));
                format!("{} ({ago} ago)", self.count)
            }
            _ => self.count.to_string(),
        }
    }
}

/// `spec.replicas`, which defaults to 1.
fn desired_replicas(object: &Value) -> i64 {
    field(object, "spec.replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Columns of `kubectl get deployments`.
pub static DEPLOYMENT: &[Column] = &[
    NAME,
    column(
        "Ready",
        ColumnType::String,
        "Ready pods out of desired pods.",
        |d, _| {
            Value::from(format!(
                "{}/{}",
                int(d, "status.readyReplicas"),
                desired_replicas(d)
            ))
        },
    ),
    column(
        "Up-to-date",
        ColumnType::String,
        "Pods that run the current pod template.",
        |d, _| Value::from(int(d, "status.updatedReplicas")),
    ),
    column(
        "Available",
        ColumnType::String,
        "Pods that have been ready for at least minReadySeconds.",
        |d, _| Value::from(int(d, "status.availableReplicas")),
    ),
    AGE,
    wide(
        "Containers",
        "Names of the containers of the pod template.",
        |d, _| template_names(d, "spec.template"),
    ),
    wide(
        "Images",
        "Images of the containers of the pod template.",
        |d, _| template_images(d, "spec.template"),
    ),
    wide("Selector", "The label selector of the pods.", |d, _| {
        Value::from(selector_text(d, "spec.selector"))
    }),
];

/// Columns of `kubectl get replicasets`.
pub static REPLICA_SET: &[Column] = &[
    NAME,
    column(
        "Desired",
        ColumnType::Integer,
        "Desired number of pods.",
        |rs, _| Value::from(desired_replicas(rs)),
    ),
    column(
        "Current",
        ColumnType::Integer,
        "Number of pods that exist.",
        |rs, _| Value::from(int(rs, "status.replicas")),
    ),
    column(
        "Ready",
        ColumnType::Integer,
        "Number of ready pods.",
        |rs, _| Value::from(int(rs, "status.readyReplicas")),
    ),
    AGE,
    wide(
        "Containers",
        "Names of the containers of the pod template.",
        |rs, _| template_names(rs, "spec.template"),
    ),
    wide(
        "Images",
        "Images of the containers of the pod template.",
        |rs, _| template_images(rs, "spec.template"),
    ),
    wide("Selector", "The label selector of the pods.", |rs, _| {
        Value::from(selector_text(rs, "spec.selector"))
    }),
];

/// Columns of `kubectl get daemonsets`.
pub static DAEMON_SET: &[Column] = &[
    NAME,
    column(
        "Desired",
        ColumnType::Integer,
        "Nodes that should run the pod.",
        |ds, _| Value::from(int(ds, "status.desiredNumberScheduled")),
    ),
    column(
        "Current",
        ColumnType::Integer,
        "Nodes that run the pod.",
        |ds, _| Value::from(int(ds, "status.currentNumberScheduled")),
    ),
    column(
        "Ready",
        ColumnType::Integer,
        "Nodes whose pod is ready.",
        |ds, _| Value::from(int(ds, "status.numberReady")),
    ),
    column(
        "Up-to-date",
        ColumnType::Integer,
        "Nodes that run the current pod template.",
        |ds, _| Value::from(int(ds, "status.updatedNumberScheduled")),
    ),
    column(
        "Available",
        ColumnType::Integer,
        "Nodes whose pod is available.",
        |ds, _| Value::from(int(ds, "status.numberAvailable")),
    ),
    column(
        "Node Selector",
        ColumnType::String,
        "Labels a node needs to run the pod.",
        |ds, _| Value::from(labels_text(ds, "spec.template.spec.nodeSelector")),
    ),
    AGE,
    wide(
        "Containers",
        "Names of the containers of the pod template.",
        |ds, _| template_names(ds, "spec.template"),
    ),
    wide(
        "Images",
        "Images of the containers of the pod template.",
        |ds, _| template_images(ds, "spec.template"),
    ),
    wide("Selector", "The label selector of the pods.", |ds, _| {
        Value::from(selector_text(ds, "spec.selector"))
    }),
];

/// Columns of `kubectl get statefulsets`.
pub static STATEFUL_SET: &[Column] = &[
    NAME,
    column(
        "Ready",
        ColumnType::String,
        "Ready pods out of desired pods.",
        |s, _| {
            Value::from(format!(
                "{}/{}",
                int(s, "status.readyReplicas"),
                desired_replicas(s)
            ))
        },
    ),
    AGE,
    wide(
        "Containers",
        "Names of the containers of the pod template.",
        |s, _| template_names(s, "spec.template"),
    ),
    wide(
        "Images",
        "Images of the containers of the pod template.",
        |s, _| template_images(s, "spec.template"),
    ),
];

/// Columns of `kubectl get jobs`.
pub static JOB: &[Column] = &[
    NAME,
    column(
        "Status",
        ColumnType::String,
        "Status of the job.",
        |job, _| Value::from(job_status(job)),
    ),
    column(
        "Completions",
        ColumnType::String,
        "Succeeded pods out of required completions.",
        |job, _| {
            let succeeded = int(job, "status.succeeded");
            let completions = field(job, "spec.completions").and_then(Value::as_i64);
            let parallelism = int(job, "spec.parallelism");
            Value::from(match completions {
                Some(completions) => format!("{succeeded}/{completions}"),
                None if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
                None => format!("{succeeded}/1"),
            })
        },
    ),
    column(
        "Duration",
        ColumnType::String,
        "Time the job ran, or has been running.",
        |job, now| {
            let start = field(job, "status.startTime")
                .and_then(Value::as_str)
                .and_then(parse_timestamp);
            let end = field(job, "status.completionTime")
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
                .unwrap_or_else(|| epoch_nanos(now));
            Value::from(
                start
                    .map(|start| human_duration(end - start))
                    .unwrap_or_default(),
            )
        },
    ),
    AGE,
    wide(
        "Containers",
        "Names of the containers of the pod template.",
        |job, _| template_names(job, "spec.template"),
    ),
    wide(
        "Images",
        "Images of the containers of the pod template.",
        |job, _| template_images(job, "spec.template"),
    ),
    wide("Selector", "The label selector of the pods.", |job, _| {
        Value::from(selector_text(job, "spec.selector"))
    }),
];

/// `Complete`, `Failed`, `Terminating`, `Suspended`, ... or `Running`.
fn job_status(job: &Value) -> &'static str {
    let has = |kind| condition_true(job, "status.conditions", kind);
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if deleting(job) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// Columns of `kubectl get cronjobs`.
pub static CRON_JOB: &[Column] = &[
    NAME,
    column(
        "Schedule",
        ColumnType::String,
        "The cron schedule.",
        |cj, _| Value::from(text(cj, "spec.schedule")),
    ),
    column(
        "Timezone",
        ColumnType::String,
        "The time zone of the schedule.",
        |cj, _| {
            Value::from(
                field(cj, "spec.timeZone")
                    .and_then(Value::as_str)
                    .unwrap_or("<none>"),
            )
        },
    ),
    column(
        "Suspend",
        ColumnType::Boolean,
        "Whether new runs are suspended.",
        |cj, _| {
            Value::from(match field(cj, "spec.suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            })
        },
    ),
    column(
        "Active",
        ColumnType::Integer,
        "Jobs running now.",
        |cj, _| Value::from(list(cj, "status.active").len()),
    ),
    column(
        "Last Schedule",
        ColumnType::String,
        "When a job was last scheduled.",
        |cj, now| {
            Value::from(
                match field(cj, "status.lastScheduleTime").filter(|t| !t.is_null()) {
                    Some(at) => since(Some(at), now),
                    None => "<none>".to_owned(),
                },
            )
        },
    ),
    AGE,
    wide(
        "Containers",
        "Names of the containers of the job template.",
        |cj, _| template_names(cj, "spec.jobTemplate.spec.template"),
    ),
    wide(
        "Images",
        "Images of the containers of the job template.",
        |cj, _| template_images(cj, "spec.jobTemplate.spec.template"),
    ),
    wide(
        "Selector",
        "The label selector of the job template.",
        |cj, _| Value::from(selector_text(cj, "spec.jobTemplate.spec.selector")),
    ),
];

/// Columns of `kubectl get hpa`.
pub static HORIZONTAL_POD_AUTOSCALER: &[Column] = &[
    NAME,
    column(
        "Reference",
        ColumnType::String,
        "The workload being scaled.",
        |hpa, _| {
            let kind = text(hpa, "spec.scaleTargetRef.kind");
            Value::from(format!("{kind}/{}", text(hpa, "spec.scaleTargetRef.name")))
        },
    ),
    column(
        "Targets",
        ColumnType::String,
        "Current and target metric values.",
        |hpa, _| Value::from(hpa_targets(hpa)),
    ),
    column(
        "MinPods",
        ColumnType::String,
        "The fewest replicas.",
        |hpa, _| {
            Value::from(
                match field(hpa, "spec.minReplicas").and_then(Value::as_i64) {
                    Some(min) => min.to_string(),
                    None => "<unset>".to_owned(),
                },
            )
        },
    ),
    column(
        "MaxPods",
        ColumnType::String,
        "The most replicas.",
        |hpa, _| Value::from(int(hpa, "spec.maxReplicas")),
    ),
    column(
        "Replicas",
        ColumnType::String,
        "Current replicas.",
        |hpa, _| Value::from(int(hpa, "status.currentReplicas")),
    ),
    AGE,
];

/// `cpu: 40%/80%, 12/10 (avg) + 1 more...`: each metric's current value over its target.
fn hpa_targets(hpa: &Value) -> String {
    const MAX: usize = 2;
    let specs = list(hpa, "spec.metrics");
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let statuses = list(hpa, "status.currentMetrics");
    let mut items = Vec::new();
    for (i, spec) in specs.iter().take(MAX).enumerate() {
        let source = match text(spec, "type") {
            "External" => "external",
            "Pods" => "pods",
            "Object" => "object",
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            _ => {
                items.push("<unknown type>".to_owned());
                continue;
            }
        };
        let status = statuses
            .get(i)
            .and_then(|s| s.get(source))
            .filter(|s| s.is_object());
        let target = field(spec, &format!("{source}.target"));
        let current = |key: &str| status.and_then(|s| field(s, &format!("current.{key}")));
        let target_of = |key: &str| target.and_then(|t| t.get(key)).filter(|v| !v.is_null());
        let resource = matches!(source, "resource" | "containerResource");
        let name = field(spec, &format!("{source}.name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let item = if source == "pods" || target_of("averageValue").is_some() {
            let now = match current("averageValue") {
                Some(v) => quantity_text(Some(v)),
                None if status.is_some() && !matches!(source, "external" | "object") => {
                    quantity_text(None)
                }
                None => "<unknown>".to_owned(),
            };
            let goal = quantity_text(target_of("averageValue"));
            match source {
                "pods" => format!("{now}/{goal}"),
                "external" | "object" => format!("{now}/{goal} (avg)"),
                _ => format!("{name}: {now}/{goal}"),
            }
        } else if resource {
            let now = current("averageUtilization")
                .and_then(Value::as_i64)
                .map_or_else(|| "<unknown>".to_owned(), |u| format!("{u}%"));
            let goal = target_of("averageUtilization")
                .and_then(Value::as_i64)
                .map_or_else(|| "<auto>".to_owned(), |u| format!("{u}%"));
            format!("{name}: {now}/{goal}")
        } else {
            let now = match status {
                Some(_) => quantity_text(current("value")),
                None => "<unknown>".to_owned(),
            };
            format!("{now}/{}", quantity_text(target_of("value")))
        };
        items.push(item);
    }
    let shown = items.join(", ");
    if specs.len() > MAX {
        format!("{shown} + {} more...", specs.len() - MAX)
    } else {
        shown
    }
}
