//! The cluster CA, serving certificates, and the TLS listener the API server runs on.
//!
//! The CA is made once, at a node's first start, and kept in its data directory, so a restart
//! keeps it and kubeconfigs that trust it stay valid. Serving certificates are cheap and are
//! issued afresh at every start for the names the server is reached by.
//!
//! [`serve`] is the accept loop: warp's own server has no working TLS, so connections are
//! accepted here, wrapped in rustls, and handed to hyper-util's HTTP/1.1 + HTTP/2 server
//! running the warp filter as a service.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use super::kubeconfig::write_private;

/// The CA certificate's file in the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// The CA key's file in the CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";

const CA_COMMON_NAME: &str = "shoal-ca";
const SERVING_COMMON_NAME: &str = "shoal-apiserver";
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Certificates are valid from a little before they are made, for clocks running behind.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish once shutdown begins before they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long an HTTP/1.1 client may take to send a request's headers (not its body, and never
/// bounding a response: watches stream for as long as they like).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 pings find clients that vanished without closing their connection.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The pause after an accept error that is not the client's (out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// What Go's servers (and so kube-apiserver) answer to plain HTTP on a TLS port.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Why a certificate or the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the cluster CA failed")]
    GenerateCa(#[source] rcgen::Error),
    #[error("cannot read {path}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    WriteCa {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `ca.crt` and `ca.key` load but do not make a working CA: the key is not the
    /// certificate's, the certificate was not made by Shoal, or it has expired.
    #[error("the cluster CA in {dir} cannot sign certificates that verify against it")]
    UnusableCa {
        dir: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// A host for a serving certificate that is neither an IP address nor a DNS name.
    #[error("{host:?} is neither an IP address nor a DNS name")]
    InvalidHost { host: String },
    #[error("issuing a serving certificate failed")]
    IssueCertificate(#[source] rcgen::Error),
    /// `what` names the text: a file, or the serving certificate or key.
    #[error("{what} is not valid PEM")]
    InvalidPem {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("building the TLS server configuration failed")]
    ServerConfig(#[source] rustls::Error),
}

/// The cluster's certificate authority: it signs the API server's serving certificates, and
/// kubeconfigs carry its certificate so kubectl trusts them.
pub struct ClusterCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa").finish_non_exhaustive()
    }
}

/// The CA's subject, key identifier method and key usages. A loaded CA is rebuilt from these
/// and its key, which is why its certificate must be one Shoal made: what an issued
/// certificate names as its issuer comes from here, not from `ca.crt`.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(CA_COMMON_NAME);
    // Path length 0: the CA signs leaf certificates only.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + validity).into();
}

impl ClusterCa {
    /// Loads `ca.crt` and `ca.key` from `dir`, or makes a new CA there (creating `dir`) when
    /// there is no `ca.crt`. Blocking file I/O: call it at startup or in `spawn_blocking`.
    ///
    /// The key is written before the certificate, so a start interrupted in between makes a new
    /// CA next time rather than finding a certificate without its key.
    pub fn load_or_create(dir: &Path) -> Result<ClusterCa, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match std::fs::read_to_string(&cert_path) {
            Ok(cert_pem) => {
                let key_pem =
                    std::fs::read_to_string(&key_path).map_err(|source| TlsError::ReadCa {
                        path: key_path.clone(),
                        source,
                    })?;
                let key = KeyPair::from_pem(&key_pem).map_err(|e| TlsError::InvalidPem {
                    what: key_path.display().to_string(),
                    source: Box::new(e),
                })?;
                let ca = ClusterCa {
                    cert_pem,
                    issuer: Issuer::new(ca_params(), key),
                };
                ca.check().map_err(|source| TlsError::UnusableCa {
                    dir: dir.to_owned(),
                    source,
                })?;
                tracing::debug!(dir = %dir.display(), "loaded the cluster CA");
                Ok(ca)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let ca = Self::generate()?;
                let key_pem = ca.issuer.key().serialize_pem();
                write_private(&key_path, key_pem.as_bytes()).map_err(|source| {
                    TlsError::WriteCa {
                        path: key_path,
                        source,
                    }
                })?;
                write_private(&cert_path, ca.cert_pem.as_bytes()).map_err(|source| {
                    TlsError::WriteCa {
                        path: cert_path,
                        source,
                    }
                })?;
                tracing::info!(dir = %dir.display(), "created the cluster CA");
                Ok(ca)
            }
            Err(source) => Err(TlsError::ReadCa {
                path: cert_path,
                source,
            }),
        }
    }

    fn generate() -> Result<ClusterCa, TlsError> {
        let key = KeyPair::generate().map_err(TlsError::GenerateCa)?;
        let mut params = ca_params();
        set_validity(&mut params, CA_VALIDITY);
        let cert = params.self_signed(&key).map_err(TlsError::GenerateCa)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Issues a throwaway certificate and verifies it against `ca.crt` as a client would.
    fn check(&self) -> Result<(), rustls::Error> {
        let serving = self
            .issue_serving(&[])
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        verify_serving(&self.cert_pem, &serving, "localhost")
    }

    /// The CA certificate, PEM-encoded: what clients trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a serving certificate valid for `hosts` (IP addresses become IP SANs, anything
    /// else DNS SANs; IPv6 addresses may be bracketed) and always for `localhost` and
    /// `127.0.0.1`, with a new key, for a year.
    pub fn issue_serving(&self, hosts: &[String]) -> Result<ServingCert, TlsError> {
        let mut names: Vec<String> = Vec::new();
        let given = hosts.iter().map(|host| {
            let host = host.trim();
            host.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host)
        });
        for host in given.chain(["localhost", "127.0.0.1"]) {
            if host.is_empty() || names.iter().any(|n| n == host) {
                continue;
            }
            // rcgen takes any ASCII as a DNS name; a client would match none of it.
            if rustls::pki_types::ServerName::try_from(host).is_err() {
                return Err(TlsError::InvalidHost {
                    host: host.to_owned(),
                });
            }
            names.push(host.to_owned());
        }
        let mut params = CertificateParams::new(names).map_err(TlsError::IssueCertificate)?;
        params.distinguished_name = common_name(SERVING_COMMON_NAME);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, SERVING_VALIDITY);
        // No serial is set: rcgen derives it from the new key's digest, unique and unguessable.
        let key = KeyPair::generate().map_err(TlsError::IssueCertificate)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(TlsError::IssueCertificate)?;
        let mut cert_pem = cert.pem();
        if !cert_pem.ends_with('\n') {
            cert_pem.push('\n');
        }
        cert_pem.push_str(&self.cert_pem);
        Ok(ServingCert {
            cert_pem,
            key_pem: key.serialize_pem(),
        })
    }
}

/// A serving certificate and its key, PEM-encoded. The chain is the leaf, then the CA.
#[derive(Clone)]
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServingCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let invalid = |source: rustls::pki_types::pem::Error| TlsError::InvalidPem {
        what: what.to_owned(),
        source: Box::new(source),
    };
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if chain.is_empty() {
        return Err(invalid(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(chain)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration serving `cert`, offering HTTP/2 and HTTP/1.1 by ALPN. The crypto
/// provider is given explicitly, so no process-wide default needs installing.
pub fn server_config(cert: &ServingCert) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates(&cert.cert_pem, "the serving certificate")?;
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(|source| {
        TlsError::InvalidPem {
            what: "the serving key".to_owned(),
            source: Box::new(source),
        }
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::ServerConfig)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::ServerConfig)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Verifies `serving` for `host` as a client trusting only `ca_pem` would.
fn verify_serving(ca_pem: &str, serving: &ServingCert, host: &str) -> Result<(), rustls::Error> {
    use rustls::client::danger::ServerCertVerifier as _;

    let pem_error = |e: TlsError| rustls::Error::General(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca_pem, CA_CERT_FILE).map_err(pem_error)? {
        roots.add(cert)?;
    }
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
    let chain = certificates(&serving.cert_pem, "the serving certificate").map_err(pem_error)?;
    let (leaf, intermediates) = chain.split_first().expect("certificates() is never empty");
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    verifier.verify_server_cert(
        leaf,
        intermediates,
        &name,
        &[],
        rustls::pki_types::UnixTime::now(),
    )?;
    Ok(())
}

/// Serves `routes` on `listener` until `shutdown` is cancelled: over TLS with `tls`, plain
/// HTTP without (tests, the local peer port). HTTP/1.1 and HTTP/2 both, with upgrades.
///
/// Every connection is a task owned here. A failed handshake or a misbehaving client is logged
/// at debug and costs only its own connection. Nothing bounds how long a response may stream.
/// On shutdown the listener closes, every connection is asked to finish (HTTP/1.1 after its
/// current response, HTTP/2 with GOAWAY), and after [`SHUTDOWN_GRACE`] whatever is still open,
/// such as a watch, is dropped; then this returns.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    routes: BoxedFilter<(Response,)>,
    shutdown: CancellationToken,
) {
    let tasks = TaskTracker::new();
    let hard_stop = CancellationToken::new();
    let executor = TrackedExecutor {
        tasks: tasks.clone(),
        stop: hard_stop.clone(),
    };
    let mut builder = auto::Builder::new(executor);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    let connection = Arc::new(Connection {
        builder,
        service: TowerToHyperService::new(warp::service(routes)),
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        shutdown: shutdown.clone(),
        hard_stop: hard_stop.clone(),
    });
    let local = listener.local_addr().ok();
    let scheme = if connection.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(addr = ?local, scheme, "serving");

    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = connection.clone();
                let span = tracing::debug_span!("connection", %peer);
                tasks.spawn(connection.run(stream, peer).instrument(span));
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "accepting a connection failed");
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting connections failed; pausing");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }

    drop(listener);
    tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::debug!(
            tasks = tasks.len(),
            "dropping connections still open after the grace period"
        );
        hard_stop.cancel();
        tasks.wait().await;
    }
    tracing::info!(addr = ?local, scheme, "stopped serving");
}

/// Accept errors that concern one connection only; anything else (out of file descriptors)
/// is the server's and worth a pause.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// What every connection task shares. `S` is the warp filter as a hyper service (warp does not
/// name that type).
struct Connection<S> {
    builder: auto::Builder<TrackedExecutor>,
    service: S,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
}

impl<S, B> Connection<S>
where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TrackedExecutor: auto::HttpServerConnExec<S::Future, B>,
{
    async fn run(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let Some(acceptor) = &self.tls else {
            return self.http(stream).await;
        };
        let handshake = tokio::select! {
            () = self.shutdown.cancelled() => return,
            handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(acceptor, stream)) => {
                handshake
            }
        };
        match handshake {
            Ok(Ok(Some(stream))) => self.http(stream).await,
            Ok(Ok(None)) => tracing::debug!(%peer, "answered plain HTTP on the TLS port"),
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    /// Serves HTTP on an established connection until it ends; on shutdown asks it to finish,
    /// and gives up on it once the grace period is over.
    async fn http<I>(&self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut connection = pin!(
            self.builder
                .serve_connection_with_upgrades(TokioIo::new(io), self.service.clone())
        );
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = self.shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                tokio::select! {
                    result = connection.as_mut() => result,
                    () = self.hard_stop.cancelled() => {
                        tracing::debug!("dropped a connection still open at shutdown");
                        return;
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// Completes the TLS handshake, or answers a plain-HTTP request with 400 as Go servers do
/// (`None`), so `curl http://` on the TLS port says what is wrong.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    mut stream: TcpStream,
) -> io::Result<Option<tokio_rustls::server::TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    let read = stream.peek(&mut first).await?;
    if read == 1 && first[0] != TLS_HANDSHAKE_RECORD && first[0].is_ascii_uppercase() {
        stream.write_all(PLAIN_HTTP_ANSWER).await?;
        stream.shutdown().await?;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}

/// Runs hyper's background futures (HTTP/2 streams) as tasks of the server's tracker, so they
/// too are owned, and ends them when the server gives up on its connections.
#[derive(Clone)]
struct TrackedExecutor {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future + Send + 'static,
{
    fn execute(&self, future: F) {
        let stop = self.stop.clone();
        self.tasks.spawn(
            async move {
                tokio::select! {
                    _ = future => {}
                    () = stop.cancelled() => {}
                }
            }
            .in_current_span(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(dir: &Path) -> ClusterCa {
        ClusterCa::load_or_create(dir).expect("CA")
    }

    #[test]
    fn the_ca_is_created_once_and_loaded_after() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("pki");
        let first = ca(&state);
        assert!(first.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let again = ca(&state);
        assert_eq!(again.cert_pem(), first.cert_pem());
        // A certificate the reloaded CA issues verifies against the CA as first written.
        let serving = again.issue_serving(&[]).expect("issue");
        verify_serving(first.cert_pem(), &serving, "localhost").expect("verifies");

        let other = ca(tempfile::tempdir().expect("temp dir").path());
        assert_ne!(other.cert_pem(), first.cert_pem());
        assert!(verify_serving(other.cert_pem(), &serving, "localhost").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_ca_key_is_private() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().expect("temp dir");
        ca(dir.path());
        let mode = |name| {
            std::fs::metadata(dir.path().join(name))
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(CA_KEY_FILE), 0o600);
        let key = std::fs::read_to_string(dir.path().join(CA_KEY_FILE)).expect("key");
        assert!(key.contains("PRIVATE KEY"));
    }

    #[test]
    fn a_ca_whose_key_is_not_its_own_is_refused() {
        let a = tempfile::tempdir().expect("temp dir");
        let b = tempfile::tempdir().expect("temp dir");
        ca(a.path());
        ca(b.path());
        std::fs::copy(b.path().join(CA_KEY_FILE), a.path().join(CA_KEY_FILE)).expect("copy");
        let error = ClusterCa::load_or_create(a.path()).expect_err("mismatched key");
        assert!(matches!(error, TlsError::UnusableCa { .. }), "{error:?}");
    }

    #[test]
    fn a_certificate_without_its_key_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        ca(dir.path());
        std::fs::remove_file(dir.path().join(CA_KEY_FILE)).expect("remove");
        let error = ClusterCa::load_or_create(dir.path()).expect_err("no key");
        assert!(
            matches!(&error, TlsError::ReadCa { path, .. } if path.ends_with(CA_KEY_FILE)),
            "{error:?}"
        );
    }

    #[test]
    fn a_key_without_its_certificate_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = ca(dir.path());
        std::fs::remove_file(dir.path().join(CA_CERT_FILE)).expect("remove");
        let second = ca(dir.path());
        assert_ne!(second.cert_pem(), first.cert_pem());
        assert_eq!(ca(dir.path()).cert_pem(), second.cert_pem());
    }

    #[test]
    fn a_garbled_key_is_invalid_pem() {
        let dir = tempfile::tempdir().expect("temp dir");
        ca(dir.path());
        std::fs::write(dir.path().join(CA_KEY_FILE), "not a key").expect("write");
        let error = ClusterCa::load_or_create(dir.path()).expect_err("garbled");
        assert!(matches!(error, TlsError::InvalidPem { .. }), "{error:?}");
    }

    #[test]
    fn the_serving_certificate_names_every_host_and_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = ca(dir.path());
        let hosts = [
            "shoal.example".to_owned(),
            "10.1.2.3".to_owned(),
            "[::1]".to_owned(),
        ];
        let serving = ca.issue_serving(&hosts).expect("issue");
        for host in ["shoal.example", "10.1.2.3", "::1", "localhost", "127.0.0.1"] {
            verify_serving(ca.cert_pem(), &serving, host).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        for host in ["other.example", "10.1.2.4", "sub.shoal.example"] {
            assert!(
                verify_serving(ca.cert_pem(), &serving, host).is_err(),
                "{host} must not verify"
            );
        }
        assert_eq!(serving.cert_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(
            serving.cert_pem.ends_with(ca.cert_pem()),
            "leaf, then the CA"
        );
        assert!(!format!("{serving:?}").contains(&serving.key_pem));
    }

    #[test]
    fn a_host_that_is_no_name_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = ca(dir.path());
        for bad in [
            "bad\u{0}name",
            "under_score..example",
            "spa ce",
            "*.example",
        ] {
            let error = ca
                .issue_serving(&[bad.to_owned()])
                .expect_err("not a DNS name");
            assert!(
                matches!(error, TlsError::InvalidHost { .. }),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn the_server_config_offers_h2_and_http11() {
        let dir = tempfile::tempdir().expect("temp dir");
        let serving = ca(dir.path()).issue_serving(&[]).expect("issue");
        let config = server_config(&serving).expect("config");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        let broken = ServingCert {
            cert_pem: serving.cert_pem.clone(),
            key_pem: "garbage".to_owned(),
        };
        assert!(matches!(
            server_config(&broken),
            Err(TlsError::InvalidPem { .. })
        ));
        let empty = ServingCert {
            cert_pem: String::new(),
            key_pem: serving.key_pem.clone(),
        };
        assert!(matches!(
            server_config(&empty),
            Err(TlsError::InvalidPem { .. })
        ));
        let other = ca(tempfile::tempdir().expect("temp dir").path())
            .issue_serving(&[])
            .expect("issue");
        let mismatched = ServingCert {
            cert_pem: serving.cert_pem,
            key_pem: other.key_pem,
        };
        assert!(matches!(
            server_config(&mismatched),
            Err(TlsError::ServerConfig(_))
        ));
    }
}
