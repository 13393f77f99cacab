//! The service proxy, in userspace: what kube-proxy does for a node, without iptables.
//!
//! A guest's outgoing HTTP request to `http://<service>`, `<service>.<namespace>`,
//! `<service>.<namespace>.svc[.cluster.local]` or a ClusterIP goes to a ready endpoint of the
//! Service, chosen round-robin; an endpoint that takes nothing (its pod is gone or stopping,
//! its agent unreachable) is skipped for the next one, as the userspace proxy retried. A
//! request to a pod IP goes to that pod. Endpoints on this node are served in-process;
//! endpoints elsewhere through their node's agent (`/proxy/...`, see [`crate::server`]), over
//! TLS pinned to the certificate that agent published on its Node, with the join token.
//!
//! Every NodePort Service is also served on this node's address: each `nodePort` gets a
//! plain HTTP listener that forwards through the same balancer.
//!
//! Request bodies are buffered (up to [`MAX_BUFFERED_BODY`]) so a request can be sent again
//! to another endpoint; responses stream.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use shoal_manifests::json::str_at;
use shoal_manifests::pin::{Pins, SERVING_CERT_ANNOTATION};
use shoal_wasm_sandbox::net::{
    Body, BodyError, Origin, RouteError, RouteFuture, Router, full_body,
};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::client::ApiClient;
use crate::mirror::Mirror;
use crate::server::{REFUSED_HEADER, incoming_body, text};
use crate::{Sandboxes, ipam};

/// The largest request body kept for a retry; larger requests are refused with 413.
pub(crate) const MAX_BUFFERED_BODY: usize = 8 << 20;
/// How many endpoints one request is offered to before it fails.
const MAX_ATTEMPTS: usize = 8;
/// The cluster's DNS domain.
const CLUSTER_DOMAIN: &str = "cluster.local";
/// Label on an EndpointSlice naming its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Where a request may go: a ready endpoint of a Service's port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Backend {
    ip: IpAddr,
    port: u16,
    node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ServicePort {
    name: String,
    port: u16,
    node_port: Option<u16>,
}

#[derive(Debug, Clone, Default)]
struct ServiceEntry {
    namespace: String,
    name: String,
    ports: Vec<ServicePort>,
    /// Ready endpoints by the Service port's name.
    backends: HashMap<String, Vec<Backend>>,
}

#[derive(Debug, Clone)]
struct NodeRoute {
    address: SocketAddr,
    cidr: Option<(u32, u8)>,
}

/// Services, endpoints and nodes as this agent last saw them.
#[derive(Debug, Default)]
struct ServiceTable {
    services: HashMap<(String, String), Arc<ServiceEntry>>,
    cluster_ips: HashMap<IpAddr, (String, String)>,
    nodes: HashMap<String, NodeRoute>,
}

fn port_at(value: &Value, pointer: &str) -> Option<u16> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
}

impl ServiceTable {
    fn build(services: &[Value], slices: &[Value], nodes: &[Value]) -> (Self, HashSet<String>) {
        let mut table = Self::default();
        let mut pins = HashSet::new();
        for service in services {
            let namespace = str_at(service, "/metadata/namespace").to_owned();
            let name = str_at(service, "/metadata/name").to_owned();
            let ports = service
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| matches!(str_at(p, "/protocol"), "" | "TCP"))
                .filter_map(|p| {
                    Some(ServicePort {
                        name: str_at(p, "/name").to_owned(),
                        port: port_at(p, "/port")?,
                        node_port: port_at(p, "/nodePort"),
                    })
                })
                .collect();
            if let Ok(ip) = str_at(service, "/spec/clusterIP").parse::<IpAddr>() {
                table
                    .cluster_ips
                    .insert(ip, (namespace.clone(), name.clone()));
            }
            let entry = ServiceEntry {
                namespace: namespace.clone(),
                name: name.clone(),
                ports,
                backends: HashMap::new(),
            };
            table.services.insert((namespace, name), Arc::new(entry));
        }
        for slice in slices {
            let namespace = str_at(slice, "/metadata/namespace").to_owned();
            let service = slice
                .pointer("/metadata/labels")
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let Some(entry) = table.services.get_mut(&(namespace, service)) else {
                continue;
            };
            let entry = Arc::make_mut(entry);
            let endpoints: Vec<&Value> = slice
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                // As Kubernetes: a missing `ready` means ready.
                .filter(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false))
                .collect();
            for port in slice
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(number) = port_at(port, "/port") else {
                    continue;
                };
                let list = entry
                    .backends
                    .entry(str_at(port, "/name").to_owned())
                    .or_default();
                for endpoint in &endpoints {
                    let node = Some(str_at(endpoint, "/nodeName"))
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned);
                    for address in endpoint
                        .get("addresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if let Ok(ip) = address.parse() {
                            list.push(Backend {
                                ip,
                                port: number,
                                node: node.clone(),
                            });
                        }
                    }
                }
            }
        }
        for entry in table.services.values_mut() {
            for list in Arc::make_mut(entry).backends.values_mut() {
                // A stable order, so round-robin visits every endpoint in turn.
                list.sort_by_key(|b| (b.ip, b.port));
                list.dedup();
            }
        }
        for node in nodes {
            let name = str_at(node, "/metadata/name").to_owned();
            let address = node
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|a| str_at(a, "/type") == "InternalIP")
                .and_then(|a| str_at(a, "/address").parse::<IpAddr>().ok());
            let port = port_at(node, "/status/daemonEndpoints/kubeletEndpoint/Port");
            let (Some(address), Some(port)) = (address, port) else {
                continue;
            };
            let pin = node
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(SERVING_CERT_ANNOTATION))
                .and_then(Value::as_str);
            if let Some(pin) = pin {
                pins.insert(pin.to_owned());
            }
            let cidr = ipam::parse_cidr(str_at(node, "/spec/podCIDR")).ok();
            table.nodes.insert(
                name,
                NodeRoute {
                    address: SocketAddr::new(address, port),
                    cidr,
                },
            );
        }
        (table, pins)
    }

    /// The Service a host name or ClusterIP names, seen from a pod in `from_namespace`.
    fn service(&self, host: &str, from_namespace: &str) -> Option<Arc<ServiceEntry>> {
        let key = match host.parse::<IpAddr>() {
            Ok(ip) => self.cluster_ips.get(&ip)?.clone(),
            Err(_) => service_name(host, from_namespace)?,
        };
        self.services.get(&key).cloned()
    }

    /// The node whose pod range holds `ip`.
    fn node_of(&self, ip: IpAddr) -> Option<&NodeRoute> {
        let IpAddr::V4(ip) = ip else { return None };
        let ip = u32::from(ip);
        self.nodes.values().find(|n| {
            n.cidr.is_some_and(|(network, prefix)| {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                ip & mask == network & mask
            })
        })
    }
}

/// `(namespace, name)` for a Service DNS name: `svc`, `svc.ns`, `svc.ns.svc`,
/// `svc.ns.svc.cluster.local` (case-insensitive, a trailing dot allowed).
fn service_name(host: &str, from_namespace: &str) -> Option<(String, String)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let domain: Vec<&str> = CLUSTER_DOMAIN.split('.').collect();
    let (name, namespace) = match labels.as_slice() {
        [name] => (*name, from_namespace),
        [name, namespace] => (*name, *namespace),
        [name, namespace, "svc"] => (*name, *namespace),
        [name, namespace, "svc", rest @ ..] if rest == domain.as_slice() => (*name, *namespace),
        _ => return None,
    };
    (!name.is_empty() && !namespace.is_empty()).then(|| (namespace.to_owned(), name.to_owned()))
}

/// Why one endpoint did not answer, and whether another may be tried.
enum Attempt {
    Retry(String),
    Fail(RouteError),
}

/// The agent's service proxy: the guests' router and the NodePort listeners' balancer.
#[derive(Debug)]
pub(crate) struct ServiceProxy {
    table: RwLock<Arc<ServiceTable>>,
    sandboxes: Sandboxes,
    peers: reqwest::Client,
    pins: Pins,
    token: String,
    turns: Mutex<HashMap<(String, String, String), usize>>,
}

impl ServiceProxy {
    pub(crate) fn new(sandboxes: Sandboxes, token: String) -> anyhow::Result<Arc<Self>> {
        let pins = Pins::default();
        let peers = reqwest::Client::builder()
            .use_preconfigured_tls(pins.client_config()?)
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Arc::new(Self {
            table: RwLock::default(),
            sandboxes,
            peers,
            pins,
            token,
            turns: Mutex::default(),
        }))
    }

    fn table(&self) -> Arc<ServiceTable> {
        Arc::clone(
            &self
                .table
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Keeps the table current from watches until `cancel`, and the NodePort listeners on
    /// `address` with it.
    pub(crate) async fn run(
        self: Arc<Self>,
        api: ApiClient,
        address: IpAddr,
        cancel: CancellationToken,
    ) {
        let changed = Arc::new(Notify::new());
        let mirror = |collection: &str| {
            Mirror::spawn(
                api.clone(),
                collection.to_owned(),
                Arc::clone(&changed),
                cancel.clone(),
            )
        };
        let services = mirror("/api/v1/services");
        let slices = mirror("/apis/discovery.k8s.io/v1/endpointslices");
        let nodes = mirror("/api/v1/nodes");
        let mut listeners: HashMap<u16, (String, String, u16, CancellationToken)> = HashMap::new();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = changed.notified() => {}
            }
            // Let a burst of changes (a rollout) settle into one rebuild.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let (table, pins) =
                ServiceTable::build(&services.objects(), &slices.objects(), &nodes.objects());
            self.pins.set(pins);
            let node_ports: HashMap<u16, (String, String, u16)> = table
                .services
                .values()
                .flat_map(|s| {
                    s.ports.iter().filter_map(|p| {
                        Some((p.node_port?, (s.namespace.clone(), s.name.clone(), p.port)))
                    })
                })
                .collect();
            *self
                .table
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
            listeners.retain(|port, (ns, name, service_port, stop)| {
                let keep = node_ports.get(port) == Some(&(ns.clone(), name.clone(), *service_port));
                if !keep {
                    stop.cancel();
                }
                keep
            });
            for (port, (namespace, name, service_port)) in node_ports {
                if listeners.contains_key(&port) {
                    continue;
                }
                let stop = cancel.child_token();
                match TcpListener::bind(SocketAddr::new(address, port)).await {
                    Ok(listener) => {
                        tracing::info!(port, service = %format!("{namespace}/{name}"), "serving a NodePort");
                        tokio::spawn(Arc::clone(&self).serve_node_port(
                            listener,
                            (namespace.clone(), name.clone(), service_port),
                            stop.clone(),
                        ));
                        listeners.insert(port, (namespace, name, service_port, stop));
                    }
                    Err(error) => {
                        tracing::warn!(port, %error, "cannot listen on a NodePort");
                    }
                }
            }
        }
        for (_, (_, _, _, stop)) in listeners {
            stop.cancel();
        }
    }

    async fn serve_node_port(
        self: Arc<Self>,
        listener: TcpListener,
        service: (String, String, u16),
        stop: CancellationToken,
    ) {
        let service = Arc::new(service);
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let proxy = Arc::clone(&self);
            let service = Arc::clone(&service);
            let stop = stop.clone();
            tokio::spawn(async move {
                let handler =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let proxy = Arc::clone(&proxy);
                        let service = Arc::clone(&service);
                        async move {
                            let request = request.map(incoming_body);
                            let (namespace, name, port) = &*service;
                            let response =
                                match proxy.to_service(namespace, name, *port, request).await {
                                    Ok(response) => response,
                                    Err(error) => error_response(&error),
                                };
                            Ok::<_, Infallible>(response)
                        }
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler);
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = connection => {}
                }
            });
        }
    }

    /// Sends `request` to the Service `namespace/name` on its port `port`.
    async fn to_service(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RouteError> {
        let entry = self
            .table()
            .services
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| RouteError::NoSuchHost(format!("{name}.{namespace}")))?;
        self.balance(&entry, port, request).await
    }

    async fn balance(
        &self,
        entry: &ServiceEntry,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RouteError> {
        let target = format!("{}/{}:{port}", entry.namespace, entry.name);
        let Some(service_port) = entry.ports.iter().find(|p| p.port == port) else {
            return Err(RouteError::Refused(target));
        };
        let backends = entry
            .backends
            .get(&service_port.name)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| RouteError::Unavailable(target.clone()))?;
        let start = {
            let mut turns = self
                .turns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let turn = turns
                .entry((
                    entry.namespace.clone(),
                    entry.name.clone(),
                    service_port.name.clone(),
                ))
                .or_default();
            let start = *turn;
            *turn = turn.wrapping_add(1);
            start
        };
        let (parts, body) = buffer(request).await?;
        let mut last = String::new();
        for attempt in 0..backends.len().min(MAX_ATTEMPTS) {
            let backend = &backends[(start + attempt) % backends.len()];
            match self
                .deliver(
                    backend.ip,
                    backend.port,
                    backend.node.as_deref(),
                    &parts,
                    &body,
                )
                .await
            {
                Ok(response) => return Ok(response),
                Err(Attempt::Retry(why)) => {
                    tracing::debug!(%target, endpoint = %backend.ip, %why, "trying another endpoint");
                    last = why;
                }
                Err(Attempt::Fail(error)) => return Err(error),
            }
        }
        Err(RouteError::Unavailable(format!("{target} ({last})")))
    }

    /// One try at one endpoint: in-process when its pod runs here, else through its agent.
    async fn deliver(
        &self,
        ip: IpAddr,
        port: u16,
        node: Option<&str>,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<Response<Body>, Attempt> {
        if let Some(sandbox) = self.sandboxes.by_ip(ip) {
            let mut request = Request::from_parts(parts.clone(), full_body(body.clone()));
            strip_hop_by_hop(request.headers_mut());
            return match sandbox.serve_http(port, request).await {
                Ok(response) => Ok(response),
                Err(error) if error.refused() => Err(Attempt::Retry(error.to_string())),
                Err(error) => Err(Attempt::Fail(RouteError::Failed(error.to_string()))),
            };
        }
        let table = self.table();
        let route = node
            .and_then(|n| table.nodes.get(n))
            .or_else(|| table.node_of(ip))
            .ok_or_else(|| Attempt::Retry(format!("no node holds {ip}")))?;
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("https://{}/proxy/{ip}/{port}{path}", route.address);
        let mut headers = parts.headers.clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        let sent = self
            .peers
            .request(parts.method.clone(), &url)
            .headers(headers)
            .bearer_auth(&self.token)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| Attempt::Retry(format!("agent at {}: {e}", route.address)))?;
        if sent.status() == StatusCode::SERVICE_UNAVAILABLE
            && sent.headers().contains_key(REFUSED_HEADER)
        {
            return Err(Attempt::Retry(format!("{ip}:{port} took nothing")));
        }
        let mut response = Response::builder().status(sent.status());
        if let Some(headers) = response.headers_mut() {
            *headers = sent.headers().clone();
            strip_hop_by_hop(headers);
        }
        let body: Body = http_body_util::BodyExt::boxed_unsync(
            reqwest::Body::from(sent).map_err(|e| BodyError::InternalError(Some(e.to_string()))),
        );
        response
            .body(body)
            .map_err(|e| Attempt::Fail(RouteError::Failed(e.to_string())))
    }

    /// A request to a pod IP: the pod itself, here or on its node.
    async fn to_pod(
        &self,
        ip: IpAddr,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RouteError> {
        let (parts, body) = buffer(request).await?;
        match self.deliver(ip, port, None, &parts, &body).await {
            Ok(response) => Ok(response),
            Err(Attempt::Retry(why)) => Err(RouteError::Refused(format!("{ip}:{port} ({why})"))),
            Err(Attempt::Fail(error)) => Err(error),
        }
    }
}

/// Collects a request body so it can be sent more than once.
async fn buffer(request: Request<Body>) -> Result<(http::request::Parts, Bytes), RouteError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BUFFERED_BODY)
        .collect()
        .await
        .map_err(|e| RouteError::Failed(format!("reading the request body: {e}")))?
        .to_bytes();
    Ok((parts, body))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// How a NodePort client sees a request the proxy could not deliver.
fn error_response(error: &RouteError) -> Response<Body> {
    let status = match error {
        RouteError::Unavailable(_) | RouteError::Refused(_) => StatusCode::SERVICE_UNAVAILABLE,
        RouteError::Failed(message) if message.contains("request body") => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        RouteError::NoSuchHost(_) | RouteError::Denied(_) | RouteError::Failed(_) => {
            StatusCode::BAD_GATEWAY
        }
    };
    text(status, format!("{error}\n"))
}

/// The guests' router: Service names and ClusterIPs, pod IPs; everything else is denied.
#[derive(Debug, Clone)]
pub(crate) struct ServiceRouter(pub(crate) Arc<ServiceProxy>);

impl Router for ServiceRouter {
    fn route(&self, from: &Origin, request: Request<Body>) -> RouteFuture {
        let proxy = Arc::clone(&self.0);
        let from_namespace = from
            .pod
            .split_once('/')
            .map_or("default", |(ns, _)| ns)
            .to_owned();
        Box::pin(async move {
            let uri = request.uri();
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            let table = proxy.table();
            if let Some(entry) = table.service(&host, &from_namespace) {
                return proxy.balance(&entry, port, request).await;
            }
            match host.parse::<IpAddr>() {
                Ok(ip) if table.node_of(ip).is_some() || proxy.sandboxes.by_ip(ip).is_some() => {
                    proxy.to_pod(ip, port, request).await
                }
                Ok(_) => Err(RouteError::Denied(format!("{host}:{port}"))),
                Err(_) if service_name(&host, &from_namespace).is_some() && !host.contains('.') => {
                    Err(RouteError::NoSuchHost(host))
                }
                Err(_)
                    if host.ends_with(&format!(".svc.{CLUSTER_DOMAIN}"))
                        || host.ends_with(".svc") =>
                {
                    Err(RouteError::NoSuchHost(host))
                }
                Err(_) => Err(RouteError::Denied(format!("{host}:{port}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn service_names_resolve_as_cluster_dns_does() {
        let web = Some(("default".to_owned(), "web".to_owned()));
        assert_eq!(service_name("web", "default"), web);
        assert_eq!(service_name("web.default", "other"), web);
        assert_eq!(service_name("web.default.svc", "other"), web);
        assert_eq!(service_name("WEB.default.svc.cluster.local.", "other"), web);
        assert_eq!(service_name("web.default.svc.example.com", "other"), None);
        assert_eq!(service_name("a.b.c", "default"), None);
        assert_eq!(service_name("", "default"), None);
    }

    fn table() -> ServiceTable {
        let services = [json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ]},
        })];
        let slices = [json!({
            "metadata": {"namespace": "default", "name": "web-shoal",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {"addresses": ["10.244.1.3"], "conditions": {"ready": true}, "nodeName": "b"},
                {"addresses": ["10.244.0.2"], "nodeName": "a"},
                {"addresses": ["10.244.0.9"], "conditions": {"ready": false}, "nodeName": "a"},
            ],
        })];
        let nodes = [
            json!({
                "metadata": {"name": "a", "annotations": {SERVING_CERT_ANNOTATION: "aa"}},
                "spec": {"podCIDR": "10.244.0.0/24"},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}},
            }),
            json!({
                "metadata": {"name": "b"},
                "spec": {"podCIDR": "10.244.1.0/24"},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.3"}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}},
            }),
        ];
        let (table, pins) = ServiceTable::build(&services, &slices, &nodes);
        assert_eq!(pins, HashSet::from(["aa".to_owned()]));
        table
    }

    #[test]
    fn the_table_holds_ready_endpoints_in_a_stable_order_and_tcp_ports_only() {
        let table = table();
        let web = table
            .service("10.96.0.10", "elsewhere")
            .expect("by ClusterIP");
        assert_eq!(web.ports.len(), 1, "the UDP port is not proxied");
        assert_eq!(web.ports[0].node_port, Some(30080));
        let ips: Vec<String> = web.backends["http"]
            .iter()
            .map(|b| b.ip.to_string())
            .collect();
        assert_eq!(
            ips,
            ["10.244.0.2", "10.244.1.3"],
            "the not-ready endpoint is left out"
        );
        assert!(web.backends["http"].iter().all(|b| b.port == 8080));
        assert!(table.service("web", "default").is_some());
        assert!(table.service("web", "other").is_none());
        assert!(table.service("10.96.0.11", "default").is_none());
    }

    #[test]
    fn pod_ips_map_to_the_node_whose_range_holds_them() {
        let table = table();
        let node = |ip: &str| {
            table
                .node_of(ip.parse().unwrap())
                .map(|n| n.address.to_string())
        };
        assert_eq!(node("10.244.1.77").as_deref(), Some("127.0.0.3:10251"));
        assert_eq!(node("10.244.0.1").as_deref(), Some("127.0.0.2:10250"));
        assert_eq!(node("10.245.0.1"), None);
    }
}
