//! Services and their endpoints: ports, types, cluster IPs, node ports, session affinity and
//! traffic policies; Endpoints and EndpointSlices as the endpoint controllers write them.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::container::port_num_or_name;
use super::{Errors, Path, meta};
use crate::names;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;

/// A Service.
pub(crate) fn service(errors: &mut Errors, service: &Service) {
    let default_spec = Default::default();
    let s = service.spec.as_ref().unwrap_or(&default_spec);
    let spec = Path::ROOT.field("spec");
    let kind = s.type_.as_deref().unwrap_or("");
    let cluster_ip = s.cluster_ip.as_deref().unwrap_or("");
    let headless = cluster_ip == "None";
    let ports = s.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !headless && kind != "ExternalName" {
        errors.required(&spec.field("ports"), "");
    }
    if kind == "ExternalName" {
        if !cluster_ip.is_empty() && !headless {
            errors.forbidden(
                &spec.field("clusterIP"),
                "may not be set for ExternalName services",
            );
        }
        let name = s.external_name.as_deref().unwrap_or("");
        let cname = name.strip_suffix('.').unwrap_or(name);
        if cname.is_empty() {
            errors.required(&spec.field("externalName"), "");
        } else {
            errors.each(
                &spec.field("externalName"),
                cname,
                names::dns1123_subdomain(cname),
            );
        }
    }
    let ports_path = spec.field("ports");
    let mut port_names: HashSet<&str> = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        service_port(
            errors,
            port,
            ports.len() > 1,
            &mut port_names,
            &ports_path.index(i),
        );
    }
    meta::labels(errors, s.selector.as_ref(), &spec.field("selector"));
    let affinity = s.session_affinity.as_deref().unwrap_or("");
    errors.one_of(
        &spec.field("sessionAffinity"),
        affinity,
        &["ClientIP", "None"],
    );
    let config_path = spec.field("sessionAffinityConfig");
    if affinity == "None" && s.session_affinity_config.is_some() {
        errors.forbidden(
            &config_path,
            "must not be set when session affinity is None",
        );
    } else if affinity == "ClientIP" {
        let timeout = s
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds);
        let timeout_path = config_path.field("clientIP");
        let timeout_path = timeout_path.field("timeoutSeconds");
        match timeout {
            None => errors.required(&timeout_path, ""),
            Some(t) if !(1..=86400).contains(&t) => errors.invalid_raw(
                &timeout_path,
                t,
                "must be greater than 0 and less than 86400",
            ),
            Some(_) => {}
        }
    }
    if !cluster_ip.is_empty() && !headless && !names::is_ip(cluster_ip) {
        errors.invalid(&spec.field("clusterIP"), cluster_ip, names::IP_MSG);
    }
    if headless && matches!(kind, "NodePort" | "LoadBalancer") {
        errors.invalid(
            &spec.field("clusterIP"),
            cluster_ip,
            format!("may not be set to 'None' for {kind} services"),
        );
    }
    let ips = spec.field("clusterIPs");
    for (i, ip) in s.cluster_ips.iter().flatten().enumerate() {
        if ip != "None" && !names::is_ip(ip) {
            errors.invalid(&ips.index(i), ip, names::IP_MSG);
        }
    }
    let external = spec.field("externalIPs");
    for (i, ip) in s.external_ips.iter().flatten().enumerate() {
        if !names::is_ip(ip) {
            errors.invalid(&external.index(i), ip, names::IP_MSG);
        }
    }
    errors.one_of(&spec.field("type"), kind, TYPES);
    let mut node_ports: HashSet<(i32, &str)> = HashSet::new();
    let mut port_keys: HashSet<(i32, &str)> = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = ports_path.index(i);
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
            let node_path = at.field("nodePort");
            if !matches!(kind, "NodePort" | "LoadBalancer") {
                errors.forbidden(
                    &node_path,
                    &format!("may not be used when `type` is '{kind}'"),
                );
            } else if !NODE_PORTS.contains(&node_port) {
                errors.invalid_raw(&node_path, node_port, "provided port is not in the valid range. The range of valid ports is 30000-32767");
            } else if !node_ports.insert((node_port, protocol)) {
                errors.duplicate_raw(&node_path, node_port);
            }
        }
        if !port_keys.insert((port.port, protocol)) {
            errors.duplicate_raw(&at, format!("{}/{protocol}", port.port));
        }
    }
    if let Some(policy) = s.external_traffic_policy.as_deref() {
        let accessible = matches!(kind, "NodePort" | "LoadBalancer")
            || s.external_ips.as_ref().is_some_and(|ips| !ips.is_empty());
        let at = spec.field("externalTrafficPolicy");
        if !accessible {
            errors.invalid(
                &at,
                policy,
                "may only be set for externally-accessible services",
            );
        } else {
            errors.one_of(&at, policy, &["Cluster", "Local"]);
        }
    }
    if let Some(policy) = s.internal_traffic_policy.as_deref() {
        errors.one_of(
            &spec.field("internalTrafficPolicy"),
            policy,
            &["Cluster", "Local"],
        );
    }
    if let Some(policy) = s.ip_family_policy.as_deref() {
        errors.one_of(
            &spec.field("ipFamilyPolicy"),
            policy,
            &["SingleStack", "PreferDualStack", "RequireDualStack"],
        );
    }
    let families = spec.field("ipFamilies");
    for (i, family) in s.ip_families.iter().flatten().enumerate() {
        errors.one_of(&families.index(i), family, &["IPv4", "IPv6"]);
    }
}

fn service_port<'a>(
    errors: &mut Errors,
    port: &'a ServicePort,
    require_name: bool,
    seen: &mut HashSet<&'a str>,
    path: &Path<'_>,
) {
    let name_path = path.field("name");
    match port.name.as_deref().unwrap_or("") {
        "" if require_name => errors.required(&name_path, ""),
        "" => {}
        name => {
            errors.each(&name_path, name, names::dns1123_label(name));
            if !seen.insert(name) {
                errors.duplicate(&name_path, name);
            }
        }
    }
    for message in names::port_number(port.port) {
        errors.invalid_raw(&path.field("port"), port.port, message);
    }
    errors.one_of(
        &path.field("protocol"),
        port.protocol.as_deref().unwrap_or(""),
        PROTOCOLS,
    );
    if let Some(target) = &port.target_port {
        port_num_or_name(errors, target, &path.field("targetPort"));
    }
    if let Some(protocol) = port.app_protocol.as_deref() {
        errors.each(
            &path.field("appProtocol"),
            protocol,
            names::qualified_name(protocol),
        );
    }
}

/// Endpoints, as the endpoints controller writes them.
pub(crate) fn endpoints(errors: &mut Errors, endpoints: &Endpoints) {
    let subsets = Path::ROOT.field("subsets");
    for (i, subset) in endpoints.subsets.iter().flatten().enumerate() {
        let at = subsets.index(i);
        let ready = subset.addresses.as_deref().unwrap_or_default();
        let not_ready = subset.not_ready_addresses.as_deref().unwrap_or_default();
        if ready.is_empty() && not_ready.is_empty() {
            errors.required(&at, "must specify `addresses` or `notReadyAddresses`");
        }
        for (field, addresses) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            let list = at.field(field);
            for (j, address) in addresses.iter().enumerate() {
                let address_path = list.index(j);
                if !names::is_ip(&address.ip) {
                    errors.invalid(&address_path.field("ip"), &address.ip, names::IP_MSG);
                }
                if let Some(hostname) = address.hostname.as_deref().filter(|h| !h.is_empty()) {
                    errors.each(
                        &address_path.field("hostname"),
                        hostname,
                        names::dns1123_label(hostname),
                    );
                }
                if let Some(node) = address.node_name.as_deref().filter(|h| !h.is_empty()) {
                    errors.each(
                        &address_path.field("nodeName"),
                        node,
                        names::dns1123_subdomain(node),
                    );
                }
            }
        }
        let ports = subset.ports.as_deref().unwrap_or_default();
        let ports_path = at.field("ports");
        for (j, port) in ports.iter().enumerate() {
            let port_path = ports_path.index(j);
            match port.name.as_deref().unwrap_or("") {
                "" if ports.len() > 1 => errors.required(&port_path.field("name"), ""),
                "" => {}
                name => errors.each(&port_path.field("name"), name, names::dns1123_label(name)),
            }
            for message in names::port_number(port.port) {
                errors.invalid_raw(&port_path.field("port"), port.port, message);
            }
            errors.one_of(
                &port_path.field("protocol"),
                port.protocol.as_deref().unwrap_or(""),
                PROTOCOLS,
            );
        }
    }
}

/// An EndpointSlice.
pub(crate) fn endpoint_slice(errors: &mut Errors, slice: &EndpointSlice) {
    let address_type = slice.address_type.as_str();
    errors.one_of(
        &Path::ROOT.field("addressType"),
        address_type,
        &["IPv4", "IPv6", "FQDN"],
    );
    let endpoints = Path::ROOT.field("endpoints");
    for (i, endpoint) in slice.endpoints.iter().flatten().enumerate() {
        let at = endpoints.index(i);
        let addresses = at.field("addresses");
        match endpoint.addresses.len() {
            0 => errors.required(&addresses, "must contain at least 1 address"),
            1..=100 => {}
            n => errors.too_many(&addresses, n, 100),
        }
        for (j, address) in endpoint.addresses.iter().enumerate() {
            let message = match address_type {
                "IPv4" if address.parse::<std::net::Ipv4Addr>().is_err() => {
                    Some("must be a valid IPv4 address".to_owned())
                }
                "IPv6" if address.parse::<std::net::Ipv6Addr>().is_err() => {
                    Some("must be a valid IPv6 address".to_owned())
                }
                "FQDN" => names::dns1123_subdomain(address).into_iter().next(),
                _ => None,
            };
            if let Some(message) = message {
                errors.invalid(&addresses.index(j), address, message);
            }
        }
        if let Some(hostname) = endpoint.hostname.as_deref().filter(|h| !h.is_empty()) {
            errors.each(
                &at.field("hostname"),
                hostname,
                names::dns1123_label(hostname),
            );
        }
        if let Some(node) = endpoint.node_name.as_deref().filter(|h| !h.is_empty()) {
            errors.each(&at.field("nodeName"), node, names::dns1123_subdomain(node));
        }
    }
    let ports = Path::ROOT.field("ports");
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, port) in slice.ports.iter().flatten().enumerate() {
        let at = ports.index(i);
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            errors.each(&at.field("name"), name, names::dns1123_label(name));
        }
        if !seen.insert(name) {
            errors.duplicate(&at.field("name"), name);
        }
        if let Some(number) = port.port {
            for message in names::port_number(number) {
                errors.invalid_raw(&at.field("port"), number, message);
            }
        }
        errors.one_of(
            &at.field("protocol"),
            port.protocol.as_deref().unwrap_or(""),
            PROTOCOLS,
        );
    }
}
