//! The agent's own HTTPS endpoint, on the node's kubelet port: what the API server and the
//! other agents reach this node for.
//!
//! - `GET /healthz`
//! - `GET /containerLogs/<namespace>/<pod>/<container>` with kubelet's query (`follow`,
//!   `previous`, `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`, `limitBytes`)
//! - `/proxy/<pod IP>/<port>/<path>`: one HTTP request into a pod running here, the service
//!   proxy's hop between nodes. A request nothing took is answered `503` with the
//!   [`REFUSED_HEADER`], so the sender can try another endpoint.
//!
//! Every request must carry the cluster's join token as its bearer token. The certificate is
//! self-signed, kept in the data directory, and its fingerprint published on the Node (see
//! `shoal_manifests::pin`), which is how callers know they reached this agent.

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use shoal_wasm_sandbox::LogLine;
use shoal_wasm_sandbox::net::{Body, BodyError, full_body};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Sandboxes;

/// Set on a `503` from `/proxy/...` when nothing in the pod took the request.
pub const REFUSED_HEADER: &str = "x-shoal-refused";

const CERT_FILE: &str = "serving.crt";
const KEY_FILE: &str = "serving.key";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The agent's serving certificate: the TLS configuration and the fingerprint published.
#[derive(Debug, Clone)]
pub struct ServingIdentity {
    config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the certificate, lowercase hex.
    pub fingerprint: String,
}

impl ServingIdentity {
    /// Loads the certificate kept in `dir`, or makes one for `address` and `node` and keeps it
    /// (the key readable by the owner only), so the published fingerprint survives restarts.
    ///
    /// # Errors
    /// The files cannot be read or written, or hold no usable certificate.
    pub fn load_or_create(dir: &Path, address: IpAddr, node: &str) -> anyhow::Result<Self> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        if !cert_path.exists() || !key_path.exists() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let made = rcgen::generate_simple_self_signed(vec![
                address.to_string(),
                node.to_owned(),
                "localhost".to_owned(),
            ])
            .context("making the serving certificate")?;
            write_private(&key_path, made.signing_key.serialize_pem().as_bytes())?;
            std::fs::write(&cert_path, made.cert.pem())
                .with_context(|| format!("writing {}", cert_path.display()))?;
        }
        let cert = CertificateDer::from_pem_file(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        let fingerprint = shoal_manifests::pin::fingerprint(&cert);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .context("the serving certificate and key do not match")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            fingerprint,
        })
    }
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

/// What the endpoint serves from.
#[derive(Debug, Clone)]
pub(crate) struct NodeServer {
    pub(crate) token: String,
    pub(crate) sandboxes: Sandboxes,
}

/// Serves HTTPS on `listener` until `cancel`.
pub(crate) async fn serve(
    listener: TcpListener,
    identity: ServingIdentity,
    server: NodeServer,
    cancel: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&identity.config));
    let server = Arc::new(server);
    tracing::info!(addr = ?listener.local_addr().ok(), "serving the node API");
    loop {
        let (stream, peer) = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let server = Arc::clone(&server);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |request| {
                let server = Arc::clone(&server);
                async move { Ok::<_, Infallible>(server.handle(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                () = cancel.cancelled() => {}
                result = connection => if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended");
                },
            }
        });
    }
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(full_body(message.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A request body from hyper as a sandbox body.
pub(crate) fn incoming_body(body: Incoming) -> Body {
    body.map_err(|e| BodyError::InternalError(Some(e.to_string())))
        .boxed_unsync()
}

impl NodeServer {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if !self.authorized(&request) {
            return text(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
        match (request.method(), segments.as_slice()) {
            (&Method::GET, ["healthz"]) => text(StatusCode::OK, "ok"),
            (&Method::GET, ["containerLogs", namespace, pod, container]) => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                self.logs(namespace, pod, container, &query)
            }
            (_, ["proxy", ip, port, ..]) => {
                let (Ok(ip), Ok(port)) = (ip.parse::<IpAddr>(), port.parse::<u16>()) else {
                    return text(StatusCode::BAD_REQUEST, "bad pod address");
                };
                let rest = segments.get(3).copied().unwrap_or_default().to_owned();
                self.proxy(ip, port, &rest, request).await
            }
            _ => text(StatusCode::NOT_FOUND, format!("nothing serves {path}")),
        }
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        !self.token.is_empty() && bool::from(presented.as_bytes().ct_eq(self.token.as_bytes()))
    }

    async fn proxy(
        &self,
        ip: IpAddr,
        port: u16,
        rest: &str,
        request: Request<Incoming>,
    ) -> Response<Body> {
        let Some(sandbox) = self.sandboxes.by_ip(ip) else {
            return refused(format!("no pod with IP {ip} runs on this node"));
        };
        let (mut parts, body) = request.into_parts();
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let Ok(uri) = format!("http://{ip}:{port}/{rest}{query}").parse() else {
            return text(StatusCode::BAD_REQUEST, "bad path");
        };
        parts.uri = uri;
        parts.headers.remove(header::AUTHORIZATION);
        let inner = Request::from_parts(parts, incoming_body(body));
        match sandbox.serve_http(port, inner).await {
            Ok(response) => response,
            Err(error) if error.refused() => refused(error.to_string()),
            Err(error) => text(StatusCode::BAD_GATEWAY, error.to_string()),
        }
    }

    fn logs(&self, namespace: &str, pod: &str, container: &str, query: &str) -> Response<Body> {
        let Some(sandbox) = self.sandboxes.get(namespace, pod) else {
            return text(
                StatusCode::NOT_FOUND,
                format!("pod {namespace}/{pod} is not running on this node"),
            );
        };
        let Ok(store) = sandbox.logs(container) else {
            return text(
                StatusCode::NOT_FOUND,
                format!("container {container:?} in pod {pod:?} is not valid"),
            );
        };
        let options = match LogOptions::parse(query, SystemTime::now()) {
            Ok(options) => options,
            Err(message) => return text(StatusCode::BAD_REQUEST, message),
        };
        let subscription = options.follow.then(|| store.follow());
        let lines = if options.previous {
            match store.previous(options.tail, options.since) {
                Some(lines) => lines,
                None => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "previous terminated container {container:?} in pod {pod:?} not found"
                        ),
                    );
                }
            }
        } else {
            store.lines(options.tail, options.since)
        };
        let mut response = match subscription {
            Some(live) if !options.previous => Response::new(follow_body(
                lines,
                live,
                options,
                self.sandboxes.clone(),
                (namespace.to_owned(), pod.to_owned()),
            )),
            _ => {
                let mut out = String::new();
                for line in &lines {
                    options.write(&mut out, line);
                }
                Response::new(full_body(options.limit(out)))
            }
        };
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// A `503` saying nothing took the request.
fn refused(message: String) -> Response<Body> {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(REFUSED_HEADER, HeaderValue::from_static("1"));
    response
}

/// The kubelet log query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogOptions {
    follow: bool,
    previous: bool,
    timestamps: bool,
    tail: Option<usize>,
    since: Option<SystemTime>,
    limit_bytes: Option<usize>,
}

impl LogOptions {
    fn parse(query: &str, now: SystemTime) -> Result<Self, String> {
        let mut options = Self {
            follow: false,
            previous: false,
            timestamps: false,
            tail: None,
            since: None,
            limit_bytes: None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let flag = || matches!(&*value, "true" | "1" | "");
            let number = |what: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{what} must be a non-negative integer, not {value:?}"))
            };
            match &*key {
                "follow" => options.follow = flag(),
                "previous" => options.previous = flag(),
                "timestamps" => options.timestamps = flag(),
                "tailLines" => {
                    options.tail =
                        Some(usize::try_from(number("tailLines")?).unwrap_or(usize::MAX));
                }
                "limitBytes" => {
                    options.limit_bytes =
                        Some(usize::try_from(number("limitBytes")?).unwrap_or(usize::MAX));
                }
                "sinceSeconds" => {
                    let seconds = number("sinceSeconds")?;
                    options.since = now.checked_sub(Duration::from_secs(seconds));
                }
                "sinceTime" => {
                    let at: jiff::Timestamp = value
                        .parse()
                        .map_err(|e| format!("sinceTime {value:?} is not RFC 3339: {e}"))?;
                    options.since = Some(SystemTime::from(at));
                }
                _ => {}
            }
        }
        Ok(options)
    }

    fn write(&self, out: &mut String, line: &LogLine) {
        if self.timestamps {
            let at = jiff::Timestamp::try_from(line.time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            out.push_str(&at.strftime("%Y-%m-%dT%H:%M:%S.%9fZ").to_string());
            out.push(' ');
        }
        out.push_str(&line.text);
        out.push('\n');
    }

    fn limit(&self, mut out: String) -> String {
        if let Some(limit) = self.limit_bytes
            && out.len() > limit
        {
            let mut cut = limit;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        out
    }
}

/// The lines so far, then new lines as they are written, until the client goes away or the
/// pod stops running here.
fn follow_body(
    lines: Vec<LogLine>,
    mut live: tokio::sync::broadcast::Receiver<LogLine>,
    options: LogOptions,
    sandboxes: Sandboxes,
    pod: (String, String),
) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut sent = 0usize;
        let limit = options.limit_bytes.unwrap_or(usize::MAX);
        let mut send = |chunk: String| {
            let chunk = options.limit(chunk);
            sent += chunk.len();
            (Bytes::from(chunk), sent >= limit)
        };
        let mut first = String::new();
        // Lines written between subscribing and reading the backlog arrive twice; skip them.
        let seen: std::collections::HashSet<(SystemTime, String)> = lines
            .iter()
            .rev()
            .take(64)
            .map(|l| (l.time, l.text.clone()))
            .collect();
        for line in &lines {
            options.write(&mut first, line);
        }
        let (chunk, full) = send(first);
        if sender.send(chunk).await.is_err() || full {
            return;
        }
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            let line = tokio::select! {
                () = sender.closed() => return,
                _ = check.tick() => {
                    if sandboxes.get(&pod.0, &pod.1).is_none() {
                        return;
                    }
                    continue;
                }
                line = live.recv() => line,
            };
            let mut out = String::new();
            match line {
                Ok(line) => {
                    if seen.contains(&(line.time, line.text.clone())) {
                        continue;
                    }
                    options.write(&mut out, &line);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    out = format!("shoal: {missed} log lines were lost while following\n");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            let (chunk, full) = send(out);
            if sender.send(chunk).await.is_err() || full {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, BodyError>(Frame::data(chunk)), receiver))
    });
    StreamBody::new(stream).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_query_is_read_as_the_kubelet_reads_it() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let options = LogOptions::parse(
            "follow=true&tailLines=5&sinceSeconds=10&timestamps=true&limitBytes=100",
            now,
        )
        .unwrap();
        assert!(options.follow && options.timestamps && !options.previous);
        assert_eq!(options.tail, Some(5));
        assert_eq!(options.limit_bytes, Some(100));
        assert_eq!(
            options.since,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(990))
        );
        let at =
            LogOptions::parse("sinceTime=1970-01-01T00%3A10%3A00Z&previous=true", now).unwrap();
        assert!(at.previous);
        assert_eq!(
            at.since,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(600))
        );
        assert!(
            LogOptions::parse("tailLines=-1", now)
                .unwrap_err()
                .contains("tailLines")
        );
        assert!(
            LogOptions::parse("sinceTime=yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }

    #[test]
    fn lines_carry_timestamps_on_request_and_output_is_cut_at_the_byte_limit() {
        let line = LogLine {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
            stream: shoal_wasm_sandbox::Stream::Stdout,
            text: "héllo".to_owned(),
        };
        let mut options = LogOptions::parse("timestamps=true", SystemTime::now()).unwrap();
        let mut out = String::new();
        options.write(&mut out, &line);
        assert_eq!(out, "1970-01-01T00:00:01.500000000Z héllo\n");
        options.limit_bytes = Some(33);
        // The cut never splits a character.
        assert_eq!(options.limit(out), "1970-01-01T00:00:01.500000000Z h");
    }
}
