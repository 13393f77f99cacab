//! The in-pod HTTP network: handler containers served a fresh instance per request, calls
//! between a pod's containers over localhost and the pod IP, and egress through the router.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use shoal_wasm_sandbox::net::{
    Body, DenyEgress, Origin, RouteError, RouteFuture, Router, empty_body,
};
use shoal_wasm_sandbox::{
    ContainerSpec, Exit, PodSandbox, Runtime, SandboxError, ServeError, WorkloadKind,
};

use crate::harness::{POD_IP, container, load, log_text, pod, runtime, sandbox};

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(empty_body()).unwrap()
}

/// Sends GET `path` to `port` of the pod and returns (status, body).
async fn call(pod: &PodSandbox, port: u16, path: &str) -> Result<(u16, String), ServeError> {
    let uri = format!("http://{}:{port}{path}", pod.spec().pod_ip);
    let response = pod.serve_http(port, get(&uri)).await?;
    Ok(read(response).await)
}

async fn read(response: Response<Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body streams")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// An HTTP handler container `name` of `file` serving `port`.
fn handler(rt: &Runtime, file: &str, name: &str, port: u16, env: &[(&str, &str)]) -> ContainerSpec {
    let mut env = env.to_vec();
    env.push(("POD_NAME", "test-pod"));
    env.push(("CONTAINER_NAME", name));
    let mut spec = container(name, load(rt, file), &[], &env);
    spec.ports = vec![port];
    spec
}

/// Waits (up to five seconds) until `check` holds, polling every few milliseconds.
async fn eventually(mut check: impl FnMut() -> bool) {
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !check() {
            tick.tick().await;
        }
    })
    .await;
    assert!(waited.is_ok(), "condition not reached within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_serves_each_request_in_a_fresh_instance() {
    let rt = runtime(None);
    let dir = tempfile::tempdir().unwrap();
    let web = handler(&rt, "http-hello.wasm", "web", 8080, &[]);
    assert_eq!(web.artifact.kind(), WorkloadKind::Http);
    let pod = sandbox(&rt, dir.path(), vec![web]);

    let before = call(&pod, 8080, "/").await.unwrap_err();
    assert!(
        matches!(before, ServeError::NotServing { .. }) && before.refused(),
        "{before}"
    );
    let handle = pod.start("web").unwrap();
    assert!(matches!(
        pod.start("web"),
        Err(SandboxError::AlreadyRunning(_))
    ));

    let (status, body) = call(&pod, 8080, "/hello?x=1").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "hello from test-pod/web path=/hello?x=1\n");

    let crash = call(&pod, 8080, "/crash").await.unwrap_err();
    let ServeError::Failed {
        exit: Exit::Trapped { trap, .. },
        ..
    } = &crash
    else {
        panic!("{crash:?}")
    };
    assert!(trap.contains("unreachable"), "{trap}");
    assert_eq!(crash.status(), 502);
    assert!(
        log_text(&pod, "web").contains("shoal: request failed: trapped"),
        "{}",
        log_text(&pod, "web")
    );
    // The trap poisoned nothing: the next request gets a fresh instance.
    let (status, _) = call(&pod, 8080, "/after-crash").await.unwrap();
    assert_eq!(status, 200);

    let closed = call(&pod, 9999, "/").await.unwrap_err();
    assert!(
        matches!(closed, ServeError::PortClosed { port: 9999, .. }),
        "{closed}"
    );
    let stats = pod.http_stats("web").unwrap().unwrap();
    assert_eq!((stats.requests, stats.failed), (3, 1));
    // An instance may still be finishing after its body was read.
    eventually(|| pod.http_stats("web").unwrap().unwrap().in_flight == 0).await;

    let exec = pod
        .exec("web", &["web".to_owned()], Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(exec, SandboxError::NotACommand(_)), "{exec}");

    let (exit, usage) = handle.stop(Duration::from_secs(5)).await;
    assert_eq!(exit, Exit::Completed, "a drained handler ends cleanly");
    assert!(usage.fuel > 0, "the requests' fuel is reported");
    assert!(matches!(
        call(&pod, 8080, "/").await,
        Err(ServeError::NotServing { .. })
    ));
    // A new run serves again.
    let _handle = pod.start("web").unwrap();
    assert_eq!(call(&pod, 8080, "/").await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_request_ends_when_its_client_goes_away_or_the_container_stops() {
    let rt = runtime(None);
    let dir = tempfile::tempdir().unwrap();
    let mut web = handler(&rt, "http-hello.wasm", "web", 8080, &[]);
    web.cpu_millis = Some(500);
    let pod = sandbox(&rt, dir.path(), vec![web]);
    let handle = pod.start("web").unwrap();

    let gave_up = tokio::time::timeout(Duration::from_millis(200), call(&pod, 8080, "/spin")).await;
    assert!(gave_up.is_err(), "a spinning handler never answers");
    eventually(|| pod.http_stats("web").unwrap().unwrap().in_flight == 0).await;
    let stats = pod.http_stats("web").unwrap().unwrap();
    assert_eq!(stats.failed, 1, "the abandoned instance was ended");
    assert_eq!(call(&pod, 8080, "/").await.unwrap().0, 200);

    // Spinners still in flight when the grace period ends are cancelled.
    let spinners: Vec<_> = (0..3)
        .map(|_| {
            let pod = pod.clone();
            tokio::spawn(async move { call(&pod, 8080, "/spin").await })
        })
        .collect();
    // Three spinners share one 500m budget, so they are soon throttled.
    eventually(|| {
        let stats = pod.http_stats("web").unwrap().unwrap();
        stats.in_flight == 3 && stats.throttled > Duration::ZERO
    })
    .await;
    let (exit, usage) = handle.stop(Duration::from_millis(100)).await;
    assert_eq!(exit, Exit::Killed);
    assert!(usage.throttled > Duration::ZERO, "{usage:?}");
    for spinner in spinners {
        let result = spinner.await.unwrap();
        assert!(
            matches!(
                result,
                Err(ServeError::Failed {
                    exit: Exit::Killed,
                    ..
                })
            ),
            "{result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_pod_reach_each_other_on_localhost_and_the_pod_ip() {
    let rt = runtime(None);
    let dir = tempfile::tempdir().unwrap();
    let backend = handler(&rt, "http-hello.wasm", "backend", 8081, &[]);
    let via_localhost = handler(
        &rt,
        "http-caller.wasm",
        "local",
        8080,
        &[("TARGET_URL", "http://localhost:8081/from-caller")],
    );
    let via_pod_ip = handler(
        &rt,
        "http-caller.wasm",
        "by-ip",
        8082,
        &[("TARGET_URL", "http://10.244.0.7:8081/by-ip")],
    );
    let to_closed_port = handler(
        &rt,
        "http-caller.wasm",
        "closed",
        8083,
        &[("TARGET_URL", "http://127.0.0.1:9/")],
    );
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![backend, via_localhost, via_pod_ip, to_closed_port],
    );
    let _handles: Vec<_> = ["backend", "local", "by-ip", "closed"]
        .iter()
        .map(|c| pod.start(c).unwrap())
        .collect();

    assert_eq!(
        call(&pod, 8080, "/").await.unwrap(),
        (
            200,
            "caller got 200: hello from test-pod/backend path=/from-caller\n".to_owned()
        )
    );
    assert_eq!(
        call(&pod, 8082, "/").await.unwrap(),
        (
            200,
            "caller got 200: hello from test-pod/backend path=/by-ip\n".to_owned()
        )
    );
    assert_eq!(
        call(&pod, 8083, "/").await.unwrap(),
        (502, "caller failed: connection-refused".to_owned())
    );
    let stats = pod.http_stats("backend").unwrap().unwrap();
    assert_eq!(
        stats.requests, 2,
        "both calls reached the backend in-process"
    );
}

/// A router that knows one Service name, served by another pod, and records who called.
#[derive(Debug)]
struct ServiceRouter {
    backend: PodSandbox,
    seen: Mutex<Vec<(Origin, String)>>,
}

impl Router for ServiceRouter {
    fn route(&self, from: &Origin, request: Request<Body>) -> RouteFuture {
        let host = request.uri().host().unwrap_or_default().to_owned();
        self.seen
            .lock()
            .unwrap()
            .push((from.clone(), request.uri().to_string()));
        let backend = self.backend.clone();
        Box::pin(async move {
            if host != "web.default.svc.cluster.local" {
                return Err(RouteError::NoSuchHost(host));
            }
            backend
                .serve_http(80, request)
                .await
                .map_err(|e| RouteError::Failed(e.to_string()))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_goes_through_the_router_and_is_denied_by_default() {
    let rt = runtime(None);
    let dir = tempfile::tempdir().unwrap();
    let caller = |target: &str| {
        handler(
            &rt,
            "http-caller.wasm",
            "caller",
            8080,
            &[("TARGET_URL", target)],
        )
    };

    let denied = sandbox(
        &rt,
        &dir.path().join("denied"),
        vec![caller("http://example.com/")],
    );
    let _denied = denied.start("caller").unwrap();
    assert_eq!(
        call(&denied, 8080, "/").await.unwrap(),
        (502, "caller failed: HTTP-request-denied".to_owned())
    );

    let backend_ip = IpAddr::V4(Ipv4Addr::new(10, 244, 1, 9));
    let mut web = handler(&rt, "http-hello.wasm", "web", 80, &[]);
    web.env.retain(|(k, _)| k != "POD_NAME");
    web.env
        .push(("POD_NAME".to_owned(), "backend-pod".to_owned()));
    let backend = pod(
        &rt,
        &dir.path().join("backend"),
        "backend-pod",
        backend_ip,
        vec![web],
        Arc::new(DenyEgress),
    );
    let _web = backend.start("web").unwrap();
    let router = Arc::new(ServiceRouter {
        backend,
        seen: Mutex::new(Vec::new()),
    });
    let routed = pod(
        &rt,
        &dir.path().join("routed"),
        "client-pod",
        POD_IP,
        vec![caller("http://web.default.svc.cluster.local/svc")],
        router.clone(),
    );
    let _routed = routed.start("caller").unwrap();
    assert_eq!(
        call(&routed, 8080, "/").await.unwrap(),
        (
            200,
            "caller got 200: hello from backend-pod/web path=/svc\n".to_owned()
        )
    );
    let seen = router.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            Origin {
                pod: "client-pod".to_owned(),
                pod_ip: POD_IP,
                container: "caller".to_owned(),
            },
            "http://web.default.svc.cluster.local/svc".to_owned()
        )]
    );

    let unknown = pod(
        &rt,
        &dir.path().join("unknown"),
        "client-pod",
        POD_IP,
        vec![caller("http://nowhere.default.svc.cluster.local/")],
        router,
    );
    let _unknown = unknown.start("caller").unwrap();
    assert_eq!(
        call(&unknown, 8080, "/").await.unwrap(),
        (502, "caller failed: DNS-error".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_are_checked_and_commands_cannot_listen() {
    let rt = runtime(None);
    let dir = tempfile::tempdir().unwrap();
    let mut command = container("cmd", load(&rt, "ticker.wasm"), &[], &[]);
    command.ports = vec![8080];
    let twin = handler(&rt, "http-hello.wasm", "web", 8080, &[]);
    let conflict = PodSandbox::new(
        &rt,
        shoal_wasm_sandbox::SandboxSpec {
            pod: "p".to_owned(),
            pod_ip: POD_IP,
            dir: dir.path().join("conflict"),
            volumes: Vec::new(),
            containers: vec![command.clone(), twin],
        },
        Arc::new(DenyEgress),
    )
    .unwrap_err();
    assert!(
        matches!(conflict, SandboxError::PortConflict { port: 8080, .. }),
        "{conflict}"
    );

    let pod = sandbox(&rt, &dir.path().join("ok"), vec![command]);
    let _cmd = pod.start("cmd").unwrap();
    let refused = call(&pod, 8080, "/").await.unwrap_err();
    assert!(
        matches!(refused, ServeError::NotHttp { .. }) && refused.refused(),
        "{refused}"
    );
    assert!(refused.to_string().contains("wasi:sockets"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_runtime_serves_and_still_enforces_memory_limits() {
    let rt = Runtime::new(shoal_wasm_sandbox::RuntimeConfig {
        calibration_time: Duration::from_millis(50),
        instance_pool: Some(shoal_wasm_sandbox::InstancePool {
            instances: 8,
            max_memory_bytes: 32 << 20,
        }),
        ..shoal_wasm_sandbox::RuntimeConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let web = handler(&rt, "http-hello.wasm", "web", 8080, &[]);
    let mut bomb = container("bomb", load(&rt, "memory-bomb.wasm"), &[], &[]);
    bomb.memory_limit = Some(4 << 20);
    let pod = sandbox(&rt, dir.path(), vec![web, bomb]);
    let _web = pod.start("web").unwrap();
    // More requests than pool slots, one after another: slots are reused.
    for i in 0..20 {
        let (status, body) = call(&pod, 8080, &format!("/{i}")).await.unwrap();
        assert_eq!(status, 200);
        assert!(body.ends_with(&format!("path=/{i}\n")), "{body}");
    }
    let (exit, _) = pod.start("bomb").unwrap().wait().await;
    assert_eq!(exit, Exit::OutOfMemory);
}
