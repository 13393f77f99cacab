//! The API server's listener on loopback: HTTPS with a certificate from the cluster CA over
//! HTTP/2 and HTTP/1.1, refusal of clients that do not trust the CA and of plain HTTP, and a
//! shutdown that finishes requests in flight but does not wait for streams that never end.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use shoal_control::api::tls::{self, ClusterCa};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::Filter as _;
use warp::filters::BoxedFilter;
use warp::http::{StatusCode, Version};
use warp::reply::{Reply as _, Response};

use crate::common::{trace, within};

/// How long `serve` may take to return once cancelled: its grace period is one second.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// A name the serving certificate is issued for, resolved to loopback by the client.
const NAME: &str = "api.shoal.test";

/// The route `/slow` reports here when a request reaches it, then waits for `release`.
struct Slow {
    started: mpsc::UnboundedSender<()>,
    release: Notify,
}

fn routes(slow: Arc<Slow>) -> BoxedFilter<(Response,)> {
    let hello = warp::path!("hello").map(|| "hi".into_response());
    // One event, then nothing, forever: a watch with no changes.
    let stream = warp::path!("stream").map(|| {
        let first = futures::stream::once(async {
            Ok::<_, Infallible>(warp::sse::Event::default().data("first"))
        });
        warp::sse::reply(first.chain(futures::stream::pending())).into_response()
    });
    let slow = warp::path!("slow").then(move || {
        let slow = slow.clone();
        async move {
            let released = slow.release.notified();
            let _ = slow.started.send(());
            released.await;
            "done".into_response()
        }
    });
    hello.or(stream).unify().or(slow).unify().boxed()
}

struct Server {
    addr: SocketAddr,
    ca_pem: String,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    slow: Arc<Slow>,
    slow_started: mpsc::UnboundedReceiver<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(tls: bool) -> Server {
        trace();
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = ClusterCa::load_or_create(&dir.path().join("pki")).expect("CA");
        let config = tls.then(|| {
            let serving = ca.issue_serving(&[NAME.to_owned()]).expect("serving cert");
            tls::server_config(&serving).expect("server config")
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (started, slow_started) = mpsc::unbounded_channel();
        let slow = Arc::new(Slow {
            started,
            release: Notify::new(),
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(tls::serve(
            listener,
            config,
            routes(slow.clone()),
            shutdown.clone(),
        ));
        Server {
            addr,
            ca_pem: ca.cert_pem().to_owned(),
            shutdown,
            task,
            slow,
            slow_started,
            _dir: dir,
        }
    }

    fn https(&self, path: &str) -> String {
        format!("https://{NAME}:{}{path}", self.addr.port())
    }

    fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A client that trusts the cluster CA and resolves [`NAME`] to the server.
    fn client(
        &self,
        configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA PEM");
        let builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .resolve(NAME, self.addr);
        configure(builder).build().expect("client")
    }

    /// Cancels the token and waits for `serve` to return.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(SHUTDOWN_DEADLINE, self.task)
            .await
            .expect("serve returns soon after shutdown")
            .expect("serve does not panic");
    }
}

async fn hello(client: &reqwest::Client, url: &str) -> (Version, String) {
    let response = within(client.get(url).send()).await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let version = response.version();
    (version, within(response.text()).await.expect("body"))
}

#[tokio::test]
async fn serves_https_over_http2_and_http11() {
    let server = Server::start(true).await;

    let client = server.client(|b| b);
    let (version, body) = hello(&client, &server.https("/hello")).await;
    assert_eq!(
        (version, body.as_str()),
        (Version::HTTP_2, "hi"),
        "ALPN picks h2"
    );

    let client = server.client(|b| b.http1_only());
    let (version, body) = hello(&client, &server.https("/hello")).await;
    assert_eq!((version, body.as_str()), (Version::HTTP_11, "hi"));

    // The certificate also names loopback by address.
    let url = format!("https://127.0.0.1:{}/hello", server.addr.port());
    let (_, body) = hello(&client, &url).await;
    assert_eq!(body, "hi");

    server.stop().await;
}

#[tokio::test]
async fn refuses_clients_that_do_not_trust_the_ca_and_plain_http() {
    let server = Server::start(true).await;

    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .resolve(NAME, server.addr)
        .build()
        .expect("client");
    let error = within(untrusting.get(server.https("/hello")).send())
        .await
        .expect_err("the CA is not trusted");
    assert!(error.is_connect(), "{error:?}");

    let plain = reqwest::Client::new();
    let response = within(plain.get(server.http("/hello")).send())
        .await
        .expect("Go's answer to plain HTTP on a TLS port");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = within(response.text()).await.expect("body");
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");

    // A client that connects and never says anything holds up nobody else.
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut garbage = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0])
        .await
        .expect("write");

    // None of that stopped the loop.
    let (_, body) = hello(&server.client(|b| b), &server.https("/hello")).await;
    assert_eq!(body, "hi");
    silent.shutdown().await.expect("close");
    server.stop().await;
}

#[tokio::test]
async fn serves_plain_http_without_tls() {
    let server = Server::start(false).await;
    let client = reqwest::Client::new();
    let (version, body) = hello(&client, &server.http("/hello")).await;
    assert_eq!((version, body.as_str()), (Version::HTTP_11, "hi"));
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let (version, body) = hello(&h2c, &server.http("/hello")).await;
    assert_eq!((version, body.as_str()), (Version::HTTP_2, "hi"));
    server.stop().await;
}

/// Opens `/stream` and reads its first event, so the response is under way.
async fn open_stream(client: &reqwest::Client, url: &str) -> reqwest::Response {
    let mut response = within(client.get(url).send()).await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let chunk = within(response.chunk())
        .await
        .expect("chunk")
        .expect("first event");
    assert!(
        String::from_utf8_lossy(&chunk).contains("first"),
        "{chunk:?}"
    );
    response
}

#[tokio::test]
async fn shutdown_does_not_wait_for_streams_that_never_end() {
    let server = Server::start(true).await;
    let h2 = server.client(|b| b);
    let h1 = server.client(|b| b.http1_only());
    let mut streams = vec![
        open_stream(&h2, &server.https("/stream")).await,
        open_stream(&h1, &server.https("/stream")).await,
    ];
    assert_eq!(streams[0].version(), Version::HTTP_2);
    assert_eq!(streams[1].version(), Version::HTTP_11);

    tracing::info!("--- shut down with two streams open");
    server.stop().await;
    for stream in &mut streams {
        let end = within(stream.chunk()).await;
        assert!(!matches!(end, Ok(Some(_))), "the stream ended: {end:?}");
    }
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut server = Server::start(true).await;
    let client = server.client(|b| b.http1_only());
    let request = tokio::spawn(client.get(server.https("/slow")).send());
    within(server.slow_started.recv())
        .await
        .expect("request arrived");

    tracing::info!("--- shut down while /slow is being answered");
    server.shutdown.cancel();
    server.slow.release.notify_one();
    let response = within(request)
        .await
        .expect("request task")
        .expect("answered despite the shutdown");
    assert_eq!(within(response.text()).await.expect("body"), "done");
    let url = server.https("/hello");
    server.stop().await;

    let after = within(client.get(url).send()).await;
    assert!(after.is_err(), "nothing listens any more: {after:?}");
}
