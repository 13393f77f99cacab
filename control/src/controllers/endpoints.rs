//! The Endpoints and EndpointSlice controllers in one pass: for every Service with a selector,
//! the pods it selects become its endpoints — ready ones as addresses, the rest as not-ready
//! (EndpointSlices also mark terminating ones) — with the Service's target ports resolved
//! against each pod's named container ports.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use shoal_manifests::json::str_at;

use crate::api::ApiError;
use crate::api::resources::{Change, Resources, WriteOptions, is_deleting};
use crate::store::Consistency;

const MANAGER: &str = "endpointslice-controller.k8s.io";

/// One endpoint of a Service: a pod with an address.
#[derive(Debug, Clone, PartialEq)]
struct Endpoint {
    ip: String,
    node: String,
    pod: String,
    uid: String,
    ready: bool,
    serving: bool,
    terminating: bool,
}

/// A resolved service port: `(name, port, protocol)`.
type Port = (String, i64, String);

/// One pass over every Service.
pub(crate) async fn reconcile(resources: Arc<Resources>) -> Result<(), ApiError> {
    let (Some(services), Some(pods), Some(endpoints), Some(slices)) = (
        shoal_manifests::registry::resolve("services"),
        shoal_manifests::registry::resolve("pods"),
        shoal_manifests::registry::resolve("endpoints"),
        shoal_manifests::registry::by_resource("discovery.k8s.io", "v1", "endpointslices"),
    ) else {
        return Ok(());
    };
    let listed = resources
        .list(services, None, 0, None, Consistency::Local, |s| {
            !is_deleting(s)
        })
        .await?;
    let all_pods = resources
        .list(pods, None, 0, None, Consistency::Local, |_| true)
        .await?
        .items;
    for service in &listed.items {
        let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object) else {
            continue;
        };
        if selector.is_empty() {
            continue;
        }
        let namespace = str_at(service, "/metadata/namespace");
        let name = str_at(service, "/metadata/name");
        // Endpoints grouped by the ports they resolve to.
        let mut groups: BTreeMap<Vec<Port>, Vec<Endpoint>> = BTreeMap::new();
        for pod in all_pods.iter().filter(|p| {
            str_at(p, "/metadata/namespace") == namespace
                && selector
                    .iter()
                    .all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
        }) {
            let ip = str_at(pod, "/status/podIP");
            let phase = str_at(pod, "/status/phase");
            if ip.is_empty() || matches!(phase, "Succeeded" | "Failed") {
                continue;
            }
            let serving = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            let terminating = is_deleting(pod);
            let ports = resolve_ports(service, pod);
            groups.entry(ports).or_default().push(Endpoint {
                ip: ip.to_owned(),
                node: str_at(pod, "/spec/nodeName").to_owned(),
                pod: str_at(pod, "/metadata/name").to_owned(),
                uid: str_at(pod, "/metadata/uid").to_owned(),
                ready: serving && !terminating,
                serving,
                terminating,
            });
        }
        let owner = json!([{
            "apiVersion": "v1",
            "kind": "Service",
            "name": name,
            "uid": str_at(service, "/metadata/uid"),
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
        write_endpoints(&resources, endpoints, namespace, name, &groups).await?;
        write_slice(&resources, slices, namespace, name, &groups, &owner).await?;
    }
    Ok(())
}

/// The Service's ports with their target ports resolved for `pod`.
fn resolve_ports(service: &Value, pod: &Value) -> Vec<Port> {
    let mut ports = Vec::new();
    for port in service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = port
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_owned();
        let number = port.get("port").and_then(Value::as_i64).unwrap_or_default();
        let target = match port.get("targetPort") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(named)) => named_port(pod, named),
            _ => Some(number),
        };
        if let Some(target) = target {
            ports.push((name, target, protocol));
        }
    }
    ports
}

fn named_port(pod: &Value, name: &str) -> Option<i64> {
    pod.pointer("/spec/containers")?
        .as_array()?
        .iter()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))?
        .get("containerPort")?
        .as_i64()
}

fn port_json(ports: &[Port]) -> Vec<Value> {
    ports
        .iter()
        .map(|(name, port, protocol)| {
            let mut value = json!({"port": port, "protocol": protocol});
            if !name.is_empty() {
                value["name"] = Value::from(name.clone());
            }
            value
        })
        .collect()
}

fn target_ref(endpoint: &Endpoint, namespace: &str) -> Value {
    json!({"kind": "Pod", "namespace": namespace, "name": endpoint.pod, "uid": endpoint.uid})
}

async fn write_endpoints(
    resources: &Resources,
    kind: &'static shoal_manifests::KindInfo,
    namespace: &str,
    name: &str,
    groups: &BTreeMap<Vec<Port>, Vec<Endpoint>>,
) -> Result<(), ApiError> {
    let subsets: Vec<Value> = groups
        .iter()
        .filter(|(ports, _)| !ports.is_empty())
        .map(|(ports, endpoints)| {
            let address = |e: &Endpoint| json!({"ip": e.ip, "nodeName": e.node, "targetRef": target_ref(e, namespace)});
            let ready: Vec<Value> = endpoints.iter().filter(|e| e.ready).map(address).collect();
            let not_ready: Vec<Value> = endpoints.iter().filter(|e| !e.ready && !e.terminating).map(address).collect();
            let mut subset = json!({"ports": port_json(ports)});
            if !ready.is_empty() {
                subset["addresses"] = Value::Array(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = Value::Array(not_ready);
            }
            subset
        })
        .filter(|s| s.get("addresses").is_some() || s.get("notReadyAddresses").is_some())
        .collect();
    let desired = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "shoal"}},
        "subsets": subsets,
    });
    upsert(resources, kind, namespace, name, desired, &["subsets"]).await
}

async fn write_slice(
    resources: &Resources,
    kind: &'static shoal_manifests::KindInfo,
    namespace: &str,
    service: &str,
    groups: &BTreeMap<Vec<Port>, Vec<Endpoint>>,
    owner: &Value,
) -> Result<(), ApiError> {
    // One slice per Service: the ports of the first group, every endpoint (Shoal's slices are
    // not split at 100 endpoints yet).
    let ports = groups.keys().next().cloned().unwrap_or_default();
    let endpoints: Vec<Value> = groups
        .values()
        .flatten()
        .map(|e| {
            json!({
                "addresses": [e.ip],
                "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
                "nodeName": e.node,
                "targetRef": target_ref(e, namespace),
            })
        })
        .collect();
    let name = format!("{service}-shoal");
    let desired = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": MANAGER,
            },
            "ownerReferences": owner,
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": port_json(&ports),
    });
    upsert(
        resources,
        kind,
        namespace,
        &name,
        desired,
        &["endpoints", "ports"],
    )
    .await
}

/// Creates `desired`, or rewrites the `fields` of the existing object when they differ.
async fn upsert(
    resources: &Resources,
    kind: &'static shoal_manifests::KindInfo,
    namespace: &str,
    name: &str,
    desired: Value,
    fields: &[&str],
) -> Result<(), ApiError> {
    let options = WriteOptions::controller(MANAGER);
    match resources
        .get(kind, namespace, name, Consistency::Local)
        .await?
    {
        None => match resources
            .create(kind, Some(namespace), desired, &options)
            .await
        {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
            Err(error) => Err(error),
        },
        Some(current) => {
            let same = fields.iter().all(|f| {
                let have = current.get(*f).cloned().unwrap_or(Value::Null);
                let want = desired.get(*f).cloned().unwrap_or(Value::Null);
                have == want || (want.as_array().is_some_and(Vec::is_empty) && have.is_null())
            });
            if same {
                return Ok(());
            }
            let written = resources
                .modify(kind, namespace, name, None, &options, |current| {
                    let mut next = current.clone();
                    for field in fields {
                        next[*field] = desired.get(*field).cloned().unwrap_or(Value::Null);
                    }
                    Ok(Change::Replace(next))
                })
                .await;
            match written {
                Ok(_) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ports_resolve_by_number_name_or_default() {
        let service = json!({"spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": "web"},
            {"name": "admin", "port": 9000, "targetPort": 9001},
            {"name": "plain", "port": 7000},
            {"name": "missing", "port": 1, "targetPort": "nope"},
        ]}});
        let pod =
            json!({"spec": {"containers": [{"ports": [{"name": "web", "containerPort": 8080}]}]}});
        assert_eq!(
            resolve_ports(&service, &pod),
            vec![
                ("http".to_owned(), 8080, "TCP".to_owned()),
                ("admin".to_owned(), 9001, "TCP".to_owned()),
                ("plain".to_owned(), 7000, "TCP".to_owned()),
            ]
        );
    }
}
