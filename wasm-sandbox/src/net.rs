//! The pod's network for HTTP: where a guest's outgoing request goes. `localhost:<port>` and
//! `<pod IP>:<port>` reach the pod's own containers in-process; everything else is offered
//! to the embedder's [`Router`] (Service names and virtual IPs resolve there), and what the
//! router refuses fails for the guest with a `wasi:http` error code. Egress is denied unless
//! a router allows it.
//!
//! Only HTTP is routed here: `wasi:sockets` stays denied by the WASI context. A virtual TCP
//! network will sit beside this one and reuse [`Origin`] and the router's name resolution.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use crate::http::{ServeError, dispatch};
use crate::sandbox::PodInner;

/// The body of requests and responses crossing the sandbox, streamed.
pub type Body = wasmtime_wasi_http::WasiBody;

/// The error a [`Body`] can end with.
pub use wasmtime_wasi_http::Error as BodyError;

/// A body holding `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Who sent an outgoing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The pod's name.
    pub pod: String,
    /// The pod's IP.
    pub pod_ip: IpAddr,
    /// The container inside the pod.
    pub container: String,
}

/// Why the router did not deliver a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Policy forbids this destination (the default for anything outside the pod).
    #[error("egress to {0} is denied")]
    Denied(String),
    /// The host name resolves to nothing.
    #[error("no such host {0:?}")]
    NoSuchHost(String),
    /// The destination exists but has nothing ready behind it (a Service without endpoints).
    #[error("{0} has no ready endpoint")]
    Unavailable(String),
    /// The destination refused the connection.
    #[error("{0} refused the connection")]
    Refused(String),
    /// Anything else, explained.
    #[error("{0}")]
    Failed(String),
}

impl RouteError {
    fn into_wasi(self) -> BodyError {
        match self {
            Self::Denied(_) => BodyError::HttpRequestDenied,
            Self::NoSuchHost(_) => BodyError::DnsError {
                rcode: Some("NXDOMAIN".to_owned()),
                info_code: None,
            },
            Self::Unavailable(_) => BodyError::DestinationUnavailable,
            Self::Refused(_) => BodyError::ConnectionRefused,
            Self::Failed(message) => BodyError::InternalError(Some(message)),
        }
    }
}

/// What a [`Router`] returns: the response, or why there is none.
pub type RouteFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, RouteError>> + Send>>;

/// Delivers requests that leave a pod. The embedder implements it: the agent resolves
/// Service names and virtual IPs to endpoints and forwards to them.
pub trait Router: Send + Sync + fmt::Debug + 'static {
    /// Delivers `request` (its URI is absolute: scheme, host, port, path) sent by `from`.
    fn route(&self, from: &Origin, request: Request<Body>) -> RouteFuture;
}

/// The default router: every destination outside the pod is denied.
#[derive(Clone, Copy, Debug, Default)]
pub struct DenyEgress;

impl Router for DenyEgress {
    fn route(&self, _from: &Origin, request: Request<Body>) -> RouteFuture {
        let target = request
            .uri()
            .authority()
            .map_or_else(|| request.uri().to_string(), ToString::to_string);
        Box::pin(async move { Err(RouteError::Denied(target)) })
    }
}

/// Whether `host` (as written in a URI authority) names the pod itself.
fn is_own_address(host: &str, pod_ip: IpAddr) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip == pod_ip)
}

/// The `wasi:http` hooks of one store: outgoing requests go to the pod or to the router.
pub(crate) struct PodHooks {
    origin: Arc<Origin>,
    pod: Weak<PodInner>,
    router: Arc<dyn Router>,
}

impl PodHooks {
    pub(crate) fn new(origin: Arc<Origin>, pod: Weak<PodInner>, router: Arc<dyn Router>) -> Self {
        Self {
            origin,
            pod,
            router,
        }
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    Response<Body>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for PodHooks {
    fn default_scheme(&mut self) -> Option<Scheme> {
        Some(Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: Request<Body>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let origin = Arc::clone(&self.origin);
        let pod = self.pod.clone();
        let router = Arc::clone(&self.router);
        Box::new(async move {
            let uri = request.uri();
            let host = uri.host().unwrap_or_default();
            let response = if is_own_address(host, origin.pod_ip) {
                let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                    Some("https") => 443,
                    _ => 80,
                });
                let pod = pod.upgrade().ok_or(BodyError::ConnectionRefused)?;
                dispatch(&pod, port, request).await.map_err(local_error)?
            } else {
                router
                    .route(&origin, request)
                    .await
                    .map_err(RouteError::into_wasi)?
            };
            let done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// How an in-pod request's failure looks to the calling guest, as over a real loopback.
fn local_error(error: ServeError) -> BodyError {
    if error.refused() {
        return BodyError::ConnectionRefused;
    }
    match error {
        ServeError::Failed { .. } | ServeError::NoResponse { .. } => {
            BodyError::ConnectionTerminated
        }
        other => BodyError::InternalError(Some(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn the_pod_is_localhost_loopback_and_its_own_ip() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 244, 0, 7));
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "10.244.0.7",
        ] {
            assert!(is_own_address(host, ip), "{host}");
        }
        for host in [
            "10.244.0.8",
            "web",
            "web.default.svc.cluster.local",
            "example.com",
        ] {
            assert!(!is_own_address(host, ip), "{host}");
        }
    }

    #[test]
    fn route_errors_become_wasi_error_codes() {
        assert!(matches!(
            RouteError::Denied("x".into()).into_wasi(),
            BodyError::HttpRequestDenied
        ));
        assert!(matches!(
            RouteError::Refused("x".into()).into_wasi(),
            BodyError::ConnectionRefused
        ));
        assert!(matches!(
            RouteError::NoSuchHost("x".into()).into_wasi(),
            BodyError::DnsError { .. }
        ));
    }
}
