//! Columns of the kinds that are not workloads: nodes, namespaces, services and their
//! endpoints, configuration, events, storage claims, leases and RBAC objects.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    AGE, NAME, column, deleting, field, int, labels_text, list, map_len, quantity_text,
    rfc3339_utc, since, text, text_or, wide, with_more,
};
use crate::registry::{Column, ColumnType};

/// Columns of `kubectl get namespaces`.
pub static NAMESPACE: &[Column] = &[
    NAME,
    column(
        "Status",
        ColumnType::String,
        "The phase of the namespace.",
        |ns, _| Value::from(text(ns, "status.phase")),
    ),
    AGE,
];

/// Columns of `kubectl get nodes`.
pub static NODE: &[Column] = &[
    NAME,
    column(
        "Status",
        ColumnType::String,
        "Readiness, and whether scheduling is disabled.",
        |n, _| {
            let ready = list(n, "status.conditions")
                .iter()
                .rev()
                .find(|c| text(c, "type") == "Ready");
            let mut status = vec![match ready {
                Some(c) if text(c, "status") == "True" => "Ready",
                Some(_) => "NotReady",
                None => "Unknown",
            }];
            if field(n, "spec.unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push("SchedulingDisabled");
            }
            Value::from(status.join(","))
        },
    ),
    column(
        "Roles",
        ColumnType::String,
        "Roles from node-role.kubernetes.io/ labels.",
        |n, _| {
            let mut roles = BTreeSet::new();
            for (key, value) in field(n, "metadata.labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let role = match key.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) => role,
                    None if key == "kubernetes.io/role" => value.as_str().unwrap_or(""),
                    None => "",
                };
                if !role.is_empty() {
                    roles.insert(role.to_owned());
                }
            }
            let roles: Vec<String> = roles.into_iter().collect();
            Value::from(if roles.is_empty() {
                "<none>".to_owned()
            } else {
                roles.join(",")
            })
        },
    ),
    AGE,
    column(
        "Version",
        ColumnType::String,
        "The version of the node agent.",
        |n, _| Value::from(text(n, "status.nodeInfo.kubeletVersion")),
    ),
    wide(
        "Internal-IP",
        "The node's first internal address.",
        |n, _| node_address(n, "InternalIP"),
    ),
    wide(
        "External-IP",
        "The node's first external address.",
        |n, _| node_address(n, "ExternalIP"),
    ),
    wide(
        "OS-Image",
        "The operating system image of the node.",
        |n, _| Value::from(text_or(n, "status.nodeInfo.osImage", "<unknown>")),
    ),
    wide(
        "Kernel-Version",
        "The kernel version of the node.",
        |n, _| Value::from(text_or(n, "status.nodeInfo.kernelVersion", "<unknown>")),
    ),
    wide(
        "Container-Runtime",
        "The runtime that runs the node's workloads.",
        |n, _| {
            Value::from(text_or(
                n,
                "status.nodeInfo.containerRuntimeVersion",
                "<unknown>",
            ))
        },
    ),
];

/// The first address of `kind`, or `<none>`.
fn node_address(node: &Value, kind: &str) -> Value {
    let address = list(node, "status.addresses")
        .iter()
        .find(|a| text(a, "type") == kind);
    Value::from(address.map_or("<none>", |a| text(a, "address")))
}

/// Columns of `kubectl get services`.
pub static SERVICE: &[Column] = &[
    NAME,
    column(
        "Type",
        ColumnType::String,
        "How the service is exposed.",
        |svc, _| Value::from(service_type(svc)),
    ),
    column(
        "Cluster-IP",
        ColumnType::String,
        "The virtual IP inside the cluster.",
        |svc, _| {
            let ips = list(svc, "spec.clusterIPs");
            let ip = ips
                .first()
                .and_then(Value::as_str)
                .unwrap_or_else(|| text(svc, "spec.clusterIP"));
            Value::from(if ip.is_empty() { "<none>" } else { ip })
        },
    ),
    column(
        "External-IP",
        ColumnType::String,
        "Addresses reachable from outside.",
        |svc, _| Value::from(external_ip(svc)),
    ),
    column(
        "Port(s)",
        ColumnType::String,
        "Ports, with node ports after a colon.",
        |svc, _| {
            let ports: Vec<String> = list(svc, "spec.ports")
                .iter()
                .map(|p| {
                    let protocol = text_or(p, "protocol", "TCP");
                    match int(p, "nodePort") {
                        0 => format!("{}/{protocol}", int(p, "port")),
                        node => format!("{}:{node}/{protocol}", int(p, "port")),
                    }
                })
                .collect();
            Value::from(if ports.is_empty() {
                "<none>".to_owned()
            } else {
                ports.join(",")
            })
        },
    ),
    AGE,
    wide(
        "Selector",
        "The labels of the pods behind the service.",
        |svc, _| Value::from(labels_text(svc, "spec.selector")),
    ),
];

fn service_type(svc: &Value) -> &str {
    text_or(svc, "spec.type", "ClusterIP")
}

/// The EXTERNAL-IP cell: external IPs, load balancer ingress or the external name.
fn external_ip(svc: &Value) -> String {
    let external: Vec<&str> = list(svc, "spec.externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match service_type(svc) {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_owned(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = list(svc, "status.loadBalancer.ingress")
                .iter()
                .map(|i| text_or(i, "ip", text(i, "hostname")))
                .filter(|a| !a.is_empty())
                .collect();
            let all: Vec<&str> = ingress.into_iter().chain(external).collect();
            if all.is_empty() {
                "<pending>".to_owned()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(svc, "spec.externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

/// Columns of `kubectl get endpoints`.
pub static ENDPOINTS: &[Column] = &[
    NAME,
    column(
        "Endpoints",
        ColumnType::String,
        "Addresses and ports of the endpoints.",
        |ep, _| {
            let subsets = list(ep, "subsets");
            if subsets.is_empty() {
                return Value::from("<none>");
            }
            let mut items = Vec::new();
            for subset in subsets {
                let addresses = list(subset, "addresses");
                let ports = list(subset, "ports");
                if ports.is_empty() {
                    items.extend(addresses.iter().map(|a| text(a, "ip").to_owned()));
                }
                for port in ports {
                    let port = int(port, "port");
                    items.extend(addresses.iter().map(|a| match text(a, "ip") {
                        ip if ip.contains(':') => format!("[{ip}]:{port}"),
                        ip => format!("{ip}:{port}"),
                    }));
                }
            }
            Value::from(with_more(&items, items.len(), 3))
        },
    ),
    AGE,
];

/// Columns of `kubectl get endpointslices`.
pub static ENDPOINT_SLICE: &[Column] = &[
    NAME,
    column(
        "AddressType",
        ColumnType::String,
        "IPv4, IPv6 or FQDN.",
        |s, _| Value::from(text(s, "addressType")),
    ),
    column(
        "Ports",
        ColumnType::String,
        "The ports of the endpoints.",
        |s, _| {
            let ports: Vec<String> = list(s, "ports")
                .iter()
                .map(
                    |p| match (field(p, "port").and_then(Value::as_i64), p.get("name")) {
                        (Some(port), _) => port.to_string(),
                        (None, Some(Value::String(name))) => name.clone(),
                        _ => "*".to_owned(),
                    },
                )
                .collect();
            Value::from(unset_if_empty(with_more(&ports, ports.len(), 3)))
        },
    ),
    column(
        "Endpoints",
        ColumnType::String,
        "The addresses of the endpoints.",
        |s, _| {
            let addresses: Vec<String> = list(s, "endpoints")
                .iter()
                .flat_map(|e| list(e, "addresses"))
                .map(|a| a.as_str().unwrap_or("").to_owned())
                .collect();
            Value::from(unset_if_empty(with_more(&addresses, addresses.len(), 3)))
        },
    ),
    AGE,
];

fn unset_if_empty(text: String) -> String {
    if text.is_empty() {
        "<unset>".to_owned()
    } else {
        text
    }
}

/// Columns of `kubectl get configmaps`.
pub static CONFIG_MAP: &[Column] = &[
    NAME,
    column(
        "Data",
        ColumnType::String,
        "Number of entries in data and binaryData.",
        |cm, _| Value::from(map_len(cm, "data") + map_len(cm, "binaryData")),
    ),
    AGE,
];

/// Columns of `kubectl get secrets`.
pub static SECRET: &[Column] = &[
    NAME,
    column(
        "Type",
        ColumnType::String,
        "The type of the secret.",
        |s, _| Value::from(text_or(s, "type", "Opaque")),
    ),
    column(
        "Data",
        ColumnType::String,
        "Number of entries in data.",
        |s, _| Value::from(map_len(s, "data")),
    ),
    AGE,
];

/// Columns of `kubectl get serviceaccounts`.
pub static SERVICE_ACCOUNT: &[Column] = &[
    NAME,
    column(
        "Secrets",
        ColumnType::String,
        "Number of secrets listed.",
        |sa, _| Value::from(list(sa, "secrets").len()),
    ),
    AGE,
];

/// Columns of `kubectl get events`. As in Kubernetes, NAME comes last and only with `-o wide`.
pub static EVENT: &[Column] = &[
    column(
        "Last Seen",
        ColumnType::String,
        "Time since the event was last seen.",
        |e, now| {
            let series = field(e, "series.lastObservedTime").filter(|t| !t.is_null());
            Value::from(
                match (series, field(e, "lastTimestamp").filter(|t| !t.is_null())) {
                    (Some(at), _) | (None, Some(at)) => since(Some(at), now),
                    (None, None) => first_seen(e, now),
                },
            )
        },
    ),
    column("Type", ColumnType::String, "Normal or Warning.", |e, _| {
        Value::from(text(e, "type"))
    }),
    column(
        "Reason",
        ColumnType::String,
        "Why the event happened, in one word.",
        |e, _| Value::from(text(e, "reason")),
    ),
    column(
        "Object",
        ColumnType::String,
        "The object the event is about.",
        |e, _| {
            let kind = text(e, "involvedObject.kind").to_lowercase();
            Value::from(match text(e, "involvedObject.name") {
                "" => kind,
                name => format!("{kind}/{name}"),
            })
        },
    ),
    wide(
        "Subobject",
        "The part of the object, such as a container.",
        |e, _| Value::from(text(e, "involvedObject.fieldPath")),
    ),
    wide(
        "Source",
        "The component, and host, that reported the event.",
        |e, _| {
            let component = text_or(e, "source.component", text(e, "reportingComponent"));
            Value::from(
                match text_or(e, "source.host", text(e, "reportingInstance")) {
                    "" => component.to_owned(),
                    host => format!("{component}, {host}"),
                },
            )
        },
    ),
    column("Message", ColumnType::String, "What happened.", |e, _| {
        Value::from(text(e, "message").trim())
    }),
    wide(
        "First Seen",
        "Time since the event was first seen.",
        |e, now| Value::from(first_seen(e, now)),
    ),
    wide("Count", "How often the event happened.", |e, _| {
        Value::from(match int(e, "count") {
            _ if field(e, "series").is_some_and(Value::is_object) => int(e, "series.count"),
            0 => 1,
            count => count,
        })
    }),
    Column {
        priority: 1,
        ..NAME
    },
];

/// Time since `firstTimestamp`, or since `eventTime` for events that have no first time.
fn first_seen(event: &Value, now: std::time::SystemTime) -> String {
    let first = field(event, "firstTimestamp").filter(|t| !t.is_null());
    since(first.or_else(|| field(event, "eventTime")), now)
}

/// Columns of `kubectl get persistentvolumeclaims`.
pub static PERSISTENT_VOLUME_CLAIM: &[Column] = &[
    NAME,
    column(
        "Status",
        ColumnType::String,
        "The phase of the claim.",
        |pvc, _| {
            Value::from(if deleting(pvc) {
                "Terminating"
            } else {
                text(pvc, "status.phase")
            })
        },
    ),
    column(
        "Volume",
        ColumnType::String,
        "The bound volume.",
        |pvc, _| Value::from(text(pvc, "spec.volumeName")),
    ),
    column(
        "Capacity",
        ColumnType::String,
        "The storage of the bound volume.",
        |pvc, _| {
            let capacity = field(pvc, "status.capacity.storage");
            Value::from(match capacity {
                _ if !bound(pvc) => String::new(),
                Some(storage) => quantity_text(Some(storage)),
                None => "0".to_owned(),
            })
        },
    ),
    column(
        "Access Modes",
        ColumnType::String,
        "How the volume may be mounted.",
        |pvc, _| {
            let modes = list(pvc, "status.accessModes");
            let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
            let short: Vec<&str> = [
                ("ReadWriteOnce", "RWO"),
                ("ReadOnlyMany", "ROX"),
                ("ReadWriteMany", "RWX"),
                ("ReadWriteOncePod", "RWOP"),
            ]
            .into_iter()
            .filter(|(mode, _)| bound(pvc) && has(mode))
            .map(|(_, short)| short)
            .collect();
            Value::from(short.join(","))
        },
    ),
    column(
        "StorageClass",
        ColumnType::String,
        "The storage class of the claim.",
        |pvc, _| {
            let annotation = field(pvc, "metadata.annotations")
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
                .and_then(Value::as_str);
            let class = annotation.unwrap_or_else(|| text(pvc, "spec.storageClassName"));
            Value::from(if class.is_empty() { "<unset>" } else { class })
        },
    ),
    column(
        "VolumeAttributesClass",
        ColumnType::String,
        "The volume attributes class.",
        |pvc, _| {
            Value::from(
                field(pvc, "spec.volumeAttributesClassName")
                    .and_then(Value::as_str)
                    .unwrap_or("<unset>"),
            )
        },
    ),
    AGE,
    wide("VolumeMode", "Filesystem or Block.", |pvc, _| {
        Value::from(
            field(pvc, "spec.volumeMode")
                .and_then(Value::as_str)
                .unwrap_or("<unset>"),
        )
    }),
];

fn bound(pvc: &Value) -> bool {
    !text(pvc, "spec.volumeName").is_empty()
}

/// Columns of `kubectl get leases`.
pub static LEASE: &[Column] = &[
    NAME,
    column(
        "Holder",
        ColumnType::String,
        "The identity holding the lease.",
        |l, _| Value::from(text(l, "spec.holderIdentity")),
    ),
    AGE,
];

/// The CREATED AT column of roles: the creation time in RFC 3339.
const CREATED_AT: Column = column(
    "Created At",
    ColumnType::String,
    "Time at which the object was created.",
    |r, _| Value::from(rfc3339_utc(field(r, "metadata.creationTimestamp"))),
);

/// Columns of `kubectl get roles`.
pub static ROLE: &[Column] = &[NAME, CREATED_AT];

/// Columns of `kubectl get clusterroles`.
pub static CLUSTER_ROLE: &[Column] = &[NAME, CREATED_AT];

/// Columns of `kubectl get rolebindings`.
pub static ROLE_BINDING: &[Column] = BINDING;

/// Columns of `kubectl get clusterrolebindings`.
pub static CLUSTER_ROLE_BINDING: &[Column] = BINDING;

const BINDING: &[Column] = &[
    NAME,
    column(
        "Role",
        ColumnType::String,
        "The role bound, as Kind/name.",
        |b, _| {
            Value::from(format!(
                "{}/{}",
                text(b, "roleRef.kind"),
                text(b, "roleRef.name")
            ))
        },
    ),
    AGE,
    wide("Users", "Users in the binding.", |b, _| subjects(b, "User")),
    wide("Groups", "Groups in the binding.", |b, _| {
        subjects(b, "Group")
    }),
    wide(
        "ServiceAccounts",
        "Service accounts in the binding.",
        |b, _| subjects(b, "ServiceAccount"),
    ),
];

/// The subjects of `kind`, joined by `, `; service accounts as `namespace/name`.
fn subjects(binding: &Value, kind: &str) -> Value {
    let names: Vec<String> = list(binding, "subjects")
        .iter()
        .filter(|s| text(s, "kind") == kind)
        .map(|s| match kind {
            "ServiceAccount" => format!("{}/{}", text(s, "namespace"), text(s, "name")),
            _ => text(s, "name").to_owned(),
        })
        .collect();
    Value::from(names.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn odd_input_never_panics() {
        let max = i64::MAX;
        let odd = [
            json!(null),
            json!(42),
            json!({"metadata": 3, "spec": [], "status": "x"}),
            json!({
                "metadata": {"creationTimestamp": "9999-12-31T23:59:59Z", "deletionTimestamp": 1},
                "spec": {"replicas": max, "ports": [{"port": max, "nodePort": -1}], "metrics": [{}]},
                "status": {"containerStatuses": [
                    {"restartCount": max, "lastState": {"terminated": {"finishedAt": "x"}}},
                    {"restartCount": max, "state": {"terminated": {"signal": max}}}]},
                "lastTimestamp": "0000-01-01T00:00:00-23:59", "series": {"count": "x"}
            }),
        ];
        let now = std::time::SystemTime::UNIX_EPOCH;
        for kind in crate::registry::KINDS {
            for object in &odd {
                for column in kind.columns {
                    let _ = (column.cell)(object, now);
                }
            }
        }
    }
}
