//! ClusterIPs and NodePorts of Services, allocated when a Service is created, as
//! kube-apiserver does. Each address or port in use is a reservation key in the store
//! (`serviceips.internal.shoal.dev/<ip>`, `nodeports.internal.shoal.dev/<port>`) written in
//! the same transaction as the Service, so two Services can never get the same one; a
//! repair pass on the leader returns what no Service uses any more.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};
use shoal_manifests::{FieldError, FieldPath, KindInfo};

use super::error::ApiError;
use crate::store::{
    Consistency, KeyPrefix, ListOptions, ObjectKey, ObjectValue, Op, Preconditions, Store, Uid,
};

/// The reservations of ClusterIPs.
pub(crate) const IP_RESOURCE: &str = "serviceips.internal.shoal.dev";
/// The reservations of NodePorts.
pub(crate) const PORT_RESOURCE: &str = "nodeports.internal.shoal.dev";
/// The Service network: `10.96.0.0/12`, as kubeadm's default; `.1` is for `kubernetes`.
const SERVICE_NETWORK: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SERVICE_NETWORK_SIZE: u32 = 1 << 20;
/// NodePorts, as Kubernetes' default range.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Whether `kind` is the core Service.
pub(crate) fn is_service(kind: &KindInfo) -> bool {
    kind.kind == "Service" && kind.group.is_empty()
}

/// What a create must reserve: the reservations to write with the Service.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    pub(crate) ops: Vec<Op>,
    /// Whether each was asked for by the client (a clash is then the client's error).
    requested: Vec<bool>,
}

impl Reservations {
    /// The error for a failed reservation at `index` (among the reservation ops), or `None`
    /// when it was picked by the allocator (pick again).
    pub(crate) fn clash(&self, index: usize, service: &str) -> Option<ApiError> {
        if !self.requested.get(index).copied().unwrap_or(false) {
            return None;
        }
        let key = self.ops.get(index)?.key().as_str().to_owned();
        let (field, value, what) = if key.starts_with(IP_RESOURCE) {
            (
                "spec.clusterIP",
                key.rsplit('/').next().unwrap_or_default().to_owned(),
                "provided IP is already allocated",
            )
        } else {
            (
                "spec.ports[0].nodePort",
                key.rsplit('/').next().unwrap_or_default().to_owned(),
                "provided port is already allocated",
            )
        };
        Some(ApiError::invalid(
            "Service",
            "",
            service,
            FieldError::invalid(FieldPath::parse_dotted(field), &value, what),
        ))
    }
}

/// Fills in the Service's ClusterIP and NodePorts where it needs them and returns the
/// reservations to write with it.
pub(crate) async fn allocate(
    store: &Store,
    service: &mut Value,
    uid: &str,
) -> Result<Reservations, ApiError> {
    let mut reservations = Reservations::default();
    let namespace = service
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = service
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let owner = json!({"service": format!("{namespace}/{name}"), "uid": uid});
    let kind = service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    if kind == "ExternalName" {
        return Ok(reservations);
    }
    let spec = service
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::BadRequest("a Service needs a spec".to_owned()))?;
    let requested_ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if requested_ip != "None" {
        let (ip, requested) = if requested_ip.is_empty() {
            let taken = taken(store, IP_RESOURCE).await?;
            (pick_ip(&taken)?, false)
        } else {
            (requested_ip, true)
        };
        spec.insert("clusterIP".to_owned(), Value::from(ip.clone()));
        spec.insert("clusterIPs".to_owned(), json!([ip]));
        reservations.ops.push(reserve(IP_RESOURCE, &ip, &owner)?);
        reservations.requested.push(requested);
    }
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        let mut taken_ports: Option<HashSet<String>> = None;
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports {
                let existing = port
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .filter(|p| *p > 0);
                let (number, requested) = match existing {
                    Some(number) => (number.to_string(), true),
                    None => {
                        if taken_ports.is_none() {
                            taken_ports = Some(taken(store, PORT_RESOURCE).await?);
                        }
                        let taken = taken_ports.as_mut().expect("just filled");
                        let number = pick_port(taken)?;
                        taken.insert(number.clone());
                        (number, false)
                    }
                };
                port["nodePort"] = Value::from(number.parse::<u64>().unwrap_or_default());
                reservations
                    .ops
                    .push(reserve(PORT_RESOURCE, &number, &owner)?);
                reservations.requested.push(requested);
            }
        }
    }
    Ok(reservations)
}

/// Before an update is validated: a Service whose type no longer needs NodePorts (changed to
/// ClusterIP) loses the NodePorts and external traffic policy it had, when the update left
/// them as they were, as kube-apiserver's strategy drops type-dependent fields.
pub(crate) fn drop_type_dependent_fields(current: &Value, proposed: &mut Value) {
    let external = |service: &Value| {
        matches!(
            service.pointer("/spec/type").and_then(Value::as_str),
            Some("NodePort" | "LoadBalancer")
        )
    };
    if !external(current) || external(proposed) {
        return;
    }
    let node_ports = |service: &Value| -> Vec<Option<u64>> {
        service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.get("nodePort").and_then(Value::as_u64))
            .collect()
    };
    let unchanged = node_ports(current) == node_ports(proposed);
    let Some(spec) = proposed.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if unchanged && let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
    for field in ["externalTrafficPolicy", "healthCheckNodePort"] {
        if spec.get(field) == current.pointer(&format!("/spec/{field}")) {
            spec.remove(field);
        }
    }
}

/// On an update: keeps the ClusterIP (immutable; an empty one keeps the stored one) and the
/// NodePorts a port had (an update that leaves `nodePort` out keeps it, as kube-apiserver
/// does), allocates NodePorts for ports that need one, drops them when the type no longer
/// does, and returns the reservations to write with the update. Reservations no longer
/// held are released by the repair pass.
pub(crate) async fn allocate_update(
    store: &Store,
    current: &Value,
    next: &mut Value,
) -> Result<Reservations, ApiError> {
    let mut reservations = Reservations::default();
    let name = next
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let namespace = next
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let uid = current
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let owner = json!({"service": format!("{namespace}/{name}"), "uid": uid});
    let kind = next
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    let stored_ip = current
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(reservations);
    };
    let asked_ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind != "ExternalName" && !stored_ip.is_empty() {
        if asked_ip.is_empty() {
            spec.insert("clusterIP".to_owned(), Value::from(stored_ip.clone()));
            if let Some(ips) = current.pointer("/spec/clusterIPs") {
                spec.insert("clusterIPs".to_owned(), ips.clone());
            }
        } else if asked_ip != stored_ip {
            return Err(ApiError::invalid(
                "Service",
                "",
                &name,
                FieldError::invalid(
                    FieldPath::parse_dotted("spec.clusterIP"),
                    &asked_ip,
                    "field is immutable",
                ),
            ));
        }
    }
    let held: Vec<(u64, String, u64)> = current
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("port")?.as_u64()?,
                p.get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_owned(),
                p.get("nodePort")?.as_u64().filter(|n| *n > 0)?,
            ))
        })
        .collect();
    let needs_ports = matches!(kind.as_str(), "NodePort" | "LoadBalancer");
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return Ok(reservations);
    };
    let mut taken_ports: Option<HashSet<String>> = None;
    for port in ports {
        let Some(object) = port.as_object_mut() else {
            continue;
        };
        if !needs_ports {
            object.remove("nodePort");
            continue;
        }
        let number = object.get("port").and_then(Value::as_u64).unwrap_or(0);
        let protocol = object
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_owned();
        let asked = object
            .get("nodePort")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0);
        let before = held
            .iter()
            .find(|(p, proto, _)| *p == number && *proto == protocol)
            .map(|(_, _, n)| *n);
        let (node_port, requested) = match (asked, before) {
            (Some(asked), _) if held.iter().any(|(_, _, n)| *n == asked) => {
                object.insert("nodePort".to_owned(), Value::from(asked));
                continue;
            }
            (Some(asked), _) => (asked.to_string(), true),
            (None, Some(before)) => {
                object.insert("nodePort".to_owned(), Value::from(before));
                continue;
            }
            (None, None) => {
                if taken_ports.is_none() {
                    taken_ports = Some(taken(store, PORT_RESOURCE).await?);
                }
                let taken = taken_ports.get_or_insert_default();
                let picked = pick_port(taken)?;
                taken.insert(picked.clone());
                (picked, false)
            }
        };
        object.insert(
            "nodePort".to_owned(),
            Value::from(node_port.parse::<u64>().unwrap_or_default()),
        );
        reservations
            .ops
            .push(reserve(PORT_RESOURCE, &node_port, &owner)?);
        reservations.requested.push(requested);
    }
    Ok(reservations)
}

fn reserve(resource: &str, name: &str, owner: &Value) -> Result<Op, ApiError> {
    Ok(Op::Create {
        key: ObjectKey::cluster(resource, name).map_err(|e| ApiError::Internal(e.to_string()))?,
        uid: Uid(uuid::Uuid::new_v4().to_string()),
        value: ObjectValue::from_value(owner).map_err(ApiError::from)?,
    })
}

async fn taken(store: &Store, resource: &str) -> Result<HashSet<String>, ApiError> {
    let mut names = HashSet::new();
    for object in reservations_of(store, resource).await? {
        if let Some(name) = object.0.as_str().rsplit('/').next() {
            names.insert(name.to_owned());
        }
    }
    Ok(names)
}

/// Every reservation of `resource`: its key and owner.
pub(crate) async fn reservations_of(
    store: &Store,
    resource: &str,
) -> Result<Vec<(ObjectKey, Value, crate::store::Revision)>, ApiError> {
    let prefix = KeyPrefix::resource(resource).map_err(|e| ApiError::Internal(e.to_string()))?;
    let reader = store.read(Consistency::Local).await?;
    let mut token = None;
    let mut found = Vec::new();
    loop {
        let page = reader
            .list(ListOptions {
                prefix: prefix.clone(),
                limit: 1000,
                continue_token: token.take(),
            })
            .await?;
        for object in page.items {
            let owner: Value = serde_json::from_slice(&object.value).unwrap_or_default();
            found.push((object.key, owner, object.mod_revision));
        }
        match page.continue_token {
            Some(next) => token = Some(next),
            None => return Ok(found),
        }
    }
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = jiff::Timestamp::now().subsec_nanosecond().to_le_bytes();
    }
    u32::from_le_bytes(bytes)
}

/// A free ClusterIP, from a random starting point (addresses `.0` and `.1` of the network
/// are never handed out).
fn pick_ip(taken: &HashSet<String>) -> Result<String, ApiError> {
    let start = random_u32() % SERVICE_NETWORK_SIZE;
    for step in 0..SERVICE_NETWORK_SIZE {
        let offset = (start + step) % SERVICE_NETWORK_SIZE;
        if offset < 2 || offset == SERVICE_NETWORK_SIZE - 1 {
            continue;
        }
        let ip = Ipv4Addr::from(SERVICE_NETWORK + offset).to_string();
        if !taken.contains(&ip) {
            return Ok(ip);
        }
    }
    Err(ApiError::Internal(
        "the Service network 10.96.0.0/12 is full".to_owned(),
    ))
}

/// A free NodePort, from a random starting point.
fn pick_port(taken: &HashSet<String>) -> Result<String, ApiError> {
    let size = u32::from(*NODE_PORTS.end() - *NODE_PORTS.start()) + 1;
    let start = random_u32() % size;
    for step in 0..size {
        let port = u32::from(*NODE_PORTS.start()) + (start + step) % size;
        let port = port.to_string();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(ApiError::Internal(
        "every NodePort in 30000-32767 is allocated".to_owned(),
    ))
}

/// Whether a Service object still holds the reservation `name` of `resource`.
fn holds(service: &Value, resource: &str, name: &str) -> bool {
    if resource == IP_RESOURCE {
        return service.pointer("/spec/clusterIP").and_then(Value::as_str) == Some(name);
    }
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .is_some_and(|ports| {
            ports.iter().any(|p| {
                p.get("nodePort")
                    .and_then(Value::as_u64)
                    .map(|n| n.to_string())
                    .as_deref()
                    == Some(name)
            })
        })
}

/// The repair pass: reservations whose Service is gone (or no longer uses them) are removed.
pub(crate) async fn repair(resources: &super::resources::Resources) -> Result<(), ApiError> {
    let Some(services) = shoal_manifests::registry::resolve("services") else {
        return Ok(());
    };
    // One local read of every Service: a reservation is written in the same entry as its
    // Service, so a reservation this node sees always comes with the Service it belongs to.
    let current: std::collections::HashMap<String, Value> = resources
        .list(services, None, 0, None, Consistency::Local, |_| true)
        .await?
        .items
        .into_iter()
        .map(|s| {
            let key = format!(
                "{}/{}",
                s.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                s.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            (key, s)
        })
        .collect();
    for resource in [IP_RESOURCE, PORT_RESOURCE] {
        for (key, owner, revision) in reservations_of(resources.store(), resource).await? {
            let Some(service) = owner.get("service").and_then(Value::as_str) else {
                continue;
            };
            let uid = owner.get("uid").and_then(Value::as_str).unwrap_or_default();
            let reserved = key.as_str().rsplit('/').next().unwrap_or_default();
            let in_use = current.get(service).is_some_and(|s| {
                s.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid)
                    && holds(s, resource, reserved)
            });
            if in_use {
                continue;
            }
            let release = Op::Delete {
                key: key.clone(),
                preconditions: Preconditions::revision(revision),
            };
            resources
                .store()
                .write(crate::store::Command::single(
                    crate::store::Timestamp::now(),
                    release,
                ))
                .await?;
            tracing::debug!(reservation = %key.as_str(), "released a Service reservation");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_free_addresses_and_ports_in_range() {
        let mut taken = HashSet::new();
        for _ in 0..50 {
            let ip = pick_ip(&taken).expect("free ip");
            let parsed: Ipv4Addr = ip.parse().expect("an address");
            let offset = u32::from(parsed) - SERVICE_NETWORK;
            assert!((2..SERVICE_NETWORK_SIZE - 1).contains(&offset), "{ip}");
            assert!(taken.insert(ip), "never handed out twice");
        }
        let mut ports: HashSet<String> = (30000..=32766).map(|p: u32| p.to_string()).collect();
        assert_eq!(pick_port(&ports).expect("the last free port"), "32767");
        ports.insert("32767".to_owned());
        assert!(pick_port(&ports).is_err(), "a full range is an error");
    }

    #[test]
    fn a_service_holds_its_ip_and_node_ports() {
        let service =
            json!({"spec": {"clusterIP": "10.96.0.7", "ports": [{"port": 80, "nodePort": 30080}]}});
        assert!(holds(&service, IP_RESOURCE, "10.96.0.7"));
        assert!(!holds(&service, IP_RESOURCE, "10.96.0.8"));
        assert!(holds(&service, PORT_RESOURCE, "30080"));
        assert!(!holds(&service, PORT_RESOURCE, "30081"));
    }
}
