//! One control plane and two agents on loopback, driven by the real kubectl: Wasm pods of a
//! Deployment start on both agents and report Running and Ready; a deleted pod is stopped
//! and replaced; a crashing container goes into CrashLoopBackOff with growing restarts; a
//! missing image shows its pull error; a command that finishes leaves its pod Succeeded; the
//! NodePort of either agent serves every pod; a pod calls a Service by name; scale, a rolling
//! update and its undo lose no request; `kubectl logs` (-f, --tail, --timestamps, --since,
//! --previous, -c) works; an unschedulable pod says why; and when an agent is killed, its node
//! turns unreachable and its pods come back on the other.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use shoal_tests::cluster::{Agent, ControlPlane, Kubectl};

const KUBECTL: Kubectl = Kubectl::Minor(33);

fn guest(file: &str) -> String {
    let path = shoal_tests::workspace_root()
        .join("wasm-sandbox")
        .join("guests")
        .join(file);
    format!("file://{}", path.display())
}

fn hello_app() -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 3
  selector:
    matchLabels: {{app: hello}}
  template:
    metadata:
      labels: {{app: hello}}
    spec:
      containers:
      - name: web
        image: {}
        ports:
        - containerPort: 8080
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef: {{fieldPath: metadata.name}}
        - name: CONTAINER_NAME
          value: web
",
        guest("http-hello.wasm")
    )
}

const HELLO_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  type: NodePort
  selector: {app: hello}
  ports:
  - port: 80
    targetPort: 8080
";

fn pod(name: &str, image: &str, restart: &str, args: &[&str]) -> String {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("    args: [{}]\n", args.join(", "))
    };
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  containers:
  - name: main
    image: {image}
{args}"
    )
}

fn caller_app(image: &str, target: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: caller
  labels: {{app: caller}}
spec:
  containers:
  - name: caller
    image: {image}
    ports:
    - containerPort: 8080
    env:
    - name: TARGET_URL
      value: {target}
---
apiVersion: v1
kind: Service
metadata:
  name: caller
spec:
  type: NodePort
  selector: {{app: caller}}
  ports:
  - port: 80
    targetPort: 8080
"
    )
}

fn ticker_pod(image: &str) -> String {
    pod("ticker", image, "Always", &[]) + "    env:\n    - name: TICK_MS\n      value: \"200\"\n"
}

fn pod_with_memory(name: &str, image: &str, memory: &str) -> String {
    pod(name, image, "Always", &[])
        + &format!("    resources:\n      requests: {{memory: {memory}}}\n")
}

/// Runs `kubectl logs -f --tail 1 <pod>` and returns the first `count` lines it streams.
fn follow_logs(cluster: &Cluster, pod: &str, count: usize) -> Vec<String> {
    use std::io::BufRead as _;
    let mut child = cluster
        .plane
        .kubectl_command(KUBECTL, &["logs", "-f", "--tail", "1", pod])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl logs -f starts");
    let stdout = child.stdout.take().expect("stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match receive.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let still_following = child.try_wait().expect("kubectl status").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        still_following,
        "kubectl logs -f ended by itself: {lines:?}"
    );
    lines
}

struct Cluster {
    plane: ControlPlane,
    agents: Vec<Agent>,
}

impl Cluster {
    fn logs(&self) -> String {
        let mut text = format!("--- server log:\n{}", tail(&self.plane.server_log()));
        for agent in &self.agents {
            text.push_str(&format!(
                "\n--- agent {} log:\n{}",
                agent.name,
                tail(&agent.agent_log())
            ));
        }
        text
    }

    fn ok(&self, args: &[&str]) -> String {
        let run = self.plane.kubectl(KUBECTL, args);
        assert_eq!(
            run.code,
            Some(0),
            "kubectl {args:?} failed\nstdout: {}\nstderr: {}\n{}",
            run.stdout,
            run.stderr,
            self.logs()
        );
        run.stdout
    }

    /// kubectl's output, or its error for a `wait` to report: the object may not exist yet.
    fn attempt(&self, args: &[&str]) -> Result<String, String> {
        let run = self.plane.kubectl(KUBECTL, args);
        if run.code == Some(0) {
            Ok(run.stdout)
        } else {
            Err(run.stderr)
        }
    }

    fn apply(&self, manifest: &str) {
        let run = self
            .plane
            .kubectl_stdin(KUBECTL, &["apply", "-f", "-"], manifest);
        assert_eq!(
            run.code,
            Some(0),
            "apply failed: {}\n{}",
            run.stderr,
            self.logs()
        );
    }

    /// Polls `check` (which returns what it saw) until it is `Ok`, for up to `limit`.
    fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            match check() {
                Ok(value) => return value,
                Err(seen) => assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}; last seen: {seen}\n{}",
                    self.logs()
                ),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `name node phase ready restarts waiting-reason` of every pod matching `selector`.
    fn pods(&self, selector: &[&str]) -> Vec<Vec<String>> {
        let template = "{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} \
            {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount} \
            {.status.containerStatuses[0].state.waiting.reason} {.metadata.deletionTimestamp}{\"\\n\"}{end}";
        let mut args = vec!["get", "pods"];
        args.extend_from_slice(selector);
        let jsonpath = format!("jsonpath={template}");
        args.extend_from_slice(&["-o", &jsonpath]);
        self.ok(&args)
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .filter(|fields: &Vec<String>| !fields.is_empty())
            .collect()
    }

    /// Waits until `count` pods of the hello app run, ready and not being deleted; returns
    /// `(name, node)` of each.
    fn hello_running(&self, count: usize, limit: Duration) -> Vec<(String, String)> {
        self.wait(
            &format!("{count} hello pods Running and Ready"),
            limit,
            || {
                let pods = self.pods(&["-l", "app=hello"]);
                let running: Vec<(String, String)> = pods
                    .iter()
                    .filter(|p| p.len() == 5 && p[2] == "Running" && p[3] == "true")
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect();
                if running.len() == count && pods.len() == count {
                    Ok(running)
                } else {
                    Err(format!("{pods:?}"))
                }
            },
        )
    }
}

/// One HTTP/1.1 GET over a fresh connection: `(status, body)`, or why there was none.
fn http_get(address: &str, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// A kubelet-style duration (`500ms`, `2s`, `1m4s`) in milliseconds.
fn delay_ms(text: &str) -> Option<u64> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok();
    }
    let (minutes, seconds) = match text.split_once('m') {
        Some((m, rest)) => (m.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let seconds = match seconds.strip_suffix('s') {
        Some(s) => s.parse::<u64>().ok()?,
        None if seconds.is_empty() => 0,
        None => return None,
    };
    Some((minutes * 60 + seconds) * 1000)
}

/// The pod named in a hello reply (`hello from <pod>/<container> path=...`).
fn replier(body: &str) -> Option<String> {
    let rest = body.split("hello from ").nth(1)?;
    Some(rest.split('/').next()?.to_owned())
}

/// Waits until `address` (a NodePort) has answered from every pod in `pods`.
fn replies_from_all(cluster: &Cluster, address: &str, pods: &BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    cluster.wait(
        &format!("replies from {pods:?} on {address}"),
        Duration::from_secs(30),
        || {
            for _ in 0..pods.len() * 2 {
                if let Ok((200, body)) = http_get(address, "/") {
                    seen.extend(replier(&body));
                }
            }
            if pods.is_subset(&seen) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    );
}

/// A client sending GETs to `address` until told to stop: `(answered, failures)`.
fn steady_client(
    address: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let mut answered = 0;
        let mut failures = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match http_get(&address, "/") {
                Ok((200, _)) => answered += 1,
                Ok((status, body)) => failures.push(format!("{status}: {body}")),
                Err(error) => failures.push(error),
            }
        }
        (answered, failures)
    })
}

/// The text with every run of spaces made one, line by line, so checks need not know
/// kubectl's column widths.
fn squeeze(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[test]
fn agents_run_heal_and_replace_wasm_pods() {
    let plane =
        ControlPlane::start_with(&["--node-grace-seconds", "3", "--pod-eviction-seconds", "1"]);
    let agents = vec![plane.start_agent("edge-a"), plane.start_agent("edge-b")];
    let mut cluster = Cluster { plane, agents };

    // Both nodes register, get a pod range, and report Ready.
    cluster.wait("two Ready nodes with pod CIDRs", Duration::from_secs(60), || {
        let seen = cluster.ok(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}/{.spec.podCIDR} {end}",
        ]);
        let ready = seen.split_whitespace().filter(|n| n.contains("=True/10.244.")).count();
        if ready == 2 { Ok(()) } else { Err(seen) }
    });
    let nodes = cluster.ok(&["get", "nodes"]);
    assert!(
        nodes.contains("edge-a") && nodes.contains("edge-b"),
        "{nodes}"
    );
    assert!(
        nodes.lines().skip(1).all(|l| l.contains(" Ready ")),
        "{nodes}"
    );

    // A Deployment of HTTP handlers: three pods, spread over both agents, Running and Ready.
    cluster.apply(&hello_app());
    let running = cluster.hello_running(3, Duration::from_secs(120));
    let on: BTreeSet<&str> = running.iter().map(|(_, node)| node.as_str()).collect();
    assert_eq!(
        on,
        BTreeSet::from(["edge-a", "edge-b"]),
        "spread over both nodes: {running:?}"
    );
    let ips = cluster.ok(&[
        "get",
        "pods",
        "-l",
        "app=hello",
        "-o",
        "jsonpath={.items[*].status.podIP}",
    ]);
    let ips: BTreeSet<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3, "each pod has its own IP: {ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.244.")), "{ips:?}");
    let table = cluster.ok(&["get", "pods", "-l", "app=hello", "-o", "wide"]);
    assert_eq!(table.matches("1/1     Running").count(), 3, "{table}");
    let described = squeeze(&cluster.ok(&["describe", "pod", &running[0].0]));
    for expected in [
        "Started container web",
        "\nStatus: Running\n",
        "\nReady True\n",
        "\nState: Running\n",
    ] {
        assert!(
            described.contains(expected),
            "describe lacks {expected:?}:\n{described}"
        );
    }
    cluster.wait("the Deployment available", Duration::from_secs(30), || {
        let seen = cluster.ok(&[
            "get",
            "deployment",
            "hello",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ]);
        if seen == "3" { Ok(()) } else { Err(seen) }
    });

    // A NodePort Service gets a ClusterIP and a NodePort; its Endpoints and EndpointSlice
    // list the three ready pods.
    cluster.apply(HELLO_SERVICE);
    let allocated = cluster.ok(&[
        "get",
        "service",
        "hello",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}",
    ]);
    let (cluster_ip, node_port) = allocated.split_once(' ').expect("ip and port");
    assert!(cluster_ip.starts_with("10."), "{allocated}");
    let node_port: u16 = node_port.parse().expect("a NodePort");
    assert!((30000..=32767).contains(&node_port), "{allocated}");
    let wanted: BTreeSet<String> = ips.iter().map(|ip| (*ip).to_owned()).collect();
    cluster.wait(
        "Endpoints of the three pods",
        Duration::from_secs(30),
        || {
            // The Endpoints appear a moment after the Service.
            let seen = cluster.attempt(&[
                "get",
                "endpoints",
                "hello",
                "-o",
                "jsonpath={.subsets[*].addresses[*].ip} {.subsets[*].ports[*].port}",
            ])?;
            let got: BTreeSet<String> = seen.split_whitespace().map(str::to_owned).collect();
            let mut expected = wanted.clone();
            expected.insert("8080".to_owned());
            if got == expected { Ok(()) } else { Err(seen) }
        },
    );
    // The EndpointSlice is written in the same pass, just after the Endpoints.
    cluster.wait(
        "the EndpointSlice of the three pods",
        Duration::from_secs(10),
        || {
            let slices = cluster.attempt(&[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=hello",
                "-o",
                "jsonpath={.items[*].endpoints[*].addresses[0]}",
            ])?;
            let got: BTreeSet<String> = slices.split_whitespace().map(str::to_owned).collect();
            if got == wanted { Ok(()) } else { Err(slices) }
        },
    );
    let second = cluster.plane.kubectl_stdin(
        KUBECTL,
        &["apply", "-f", "-"],
        &HELLO_SERVICE
            .replace("name: hello", "name: hello-2")
            .replace(
                "targetPort: 8080",
                &format!("targetPort: 8080\n    nodePort: {node_port}"),
            ),
    );
    assert_ne!(second.code, Some(0), "a NodePort in use is refused");
    assert!(
        second.stderr.contains("provided port is already allocated"),
        "{}",
        second.stderr
    );

    // A Service changed to NodePort gets its port on the update; its ClusterIP cannot change;
    // back to ClusterIP, the NodePort is dropped.
    cluster.ok(&["create", "service", "clusterip", "plain", "--tcp=80:8080"]);
    cluster.ok(&[
        "patch",
        "service",
        "plain",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    let patched = cluster.ok(&[
        "get",
        "service",
        "plain",
        "-o",
        "jsonpath={.spec.type} {.spec.ports[0].nodePort}",
    ]);
    let (kind, port) = patched.split_once(' ').expect("type and port");
    assert_eq!(kind, "NodePort", "{patched}");
    assert!(
        port.parse::<u16>()
            .is_ok_and(|p| (30000..=32767).contains(&p) && p != node_port),
        "{patched}"
    );
    let moved = cluster.plane.kubectl(
        KUBECTL,
        &[
            "patch",
            "service",
            "plain",
            "-p",
            r#"{"spec":{"clusterIP":"10.96.0.99"}}"#,
        ],
    );
    assert_ne!(moved.code, Some(0));
    assert!(
        moved.stderr.contains("spec.clusterIP") && moved.stderr.contains("field is immutable"),
        "{}",
        moved.stderr
    );
    cluster.ok(&[
        "patch",
        "service",
        "plain",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    let back = cluster.ok(&[
        "get",
        "service",
        "plain",
        "-o",
        "jsonpath={.spec.type}/{.spec.ports[0].nodePort}",
    ]);
    assert_eq!(back, "ClusterIP/", "{back}");

    // The NodePort on either agent answers from all three pods, wherever they run: pods
    // here are served in-process, pods on the other node through its agent.
    let pod_names: BTreeSet<String> = running.iter().map(|(name, _)| name.clone()).collect();
    for agent in &cluster.agents {
        replies_from_all(
            &cluster,
            &format!("{}:{node_port}", agent.address),
            &pod_names,
        );
    }

    // A pod calls the Service by its DNS name; the agent's proxy resolves and balances it.
    cluster.apply(&caller_app(
        &guest("http-caller.wasm"),
        "http://hello.default.svc.cluster.local/",
    ));
    let caller_port = cluster.ok(&[
        "get",
        "service",
        "caller",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    let caller_address = format!("{}:{caller_port}", cluster.agents[0].address);
    let reply = cluster.wait(
        "the caller reaching hello",
        Duration::from_secs(60),
        || match http_get(&caller_address, "/") {
            Ok((200, body)) if body.starts_with("caller got 200: hello from hello-") => Ok(body),
            other => Err(format!("{other:?}")),
        },
    );
    assert!(
        replier(&reply).is_some_and(|p| pod_names.contains(&p)),
        "{reply}"
    );

    // A deleted pod is stopped by its agent, removed, and replaced.
    let victim = running[0].0.clone();
    cluster.ok(&["delete", "pod", &victim, "--wait=true", "--timeout=60s"]);
    let replaced = cluster.hello_running(3, Duration::from_secs(60));
    assert!(
        replaced.iter().all(|(name, _)| *name != victim),
        "{victim} is gone: {replaced:?}"
    );

    // A crashing container: restarted with growing backoff, shown as CrashLoopBackOff.
    cluster.apply(&pod("crasher", &guest("crasher.wasm"), "Always", &[]));
    cluster.wait(
        "crasher in CrashLoopBackOff after restarts",
        Duration::from_secs(60),
        || {
            let pods = cluster.pods(&["--field-selector", "metadata.name=crasher"]);
            match pods.first() {
                Some(p)
                    if p.len() >= 6
                        && p[5] == "CrashLoopBackOff"
                        && p[4].parse::<u32>().is_ok_and(|r| r >= 2) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    );
    // The back-off grows with every restart (500 ms doubling, as the agent is configured
    // here), as the waiting message says: "back-off 1s restarting failed container=...".
    let mut delays: Vec<u64> = Vec::new();
    cluster.wait(
        "three growing back-off delays",
        Duration::from_secs(40),
        || {
            let message = cluster.ok(&[
                "get",
                "pod",
                "crasher",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.waiting.message}",
            ]);
            if let Some(delay) = message
                .strip_prefix("back-off ")
                .and_then(|m| m.split_whitespace().next())
                .and_then(delay_ms)
                && delays.last() != Some(&delay)
            {
                delays.push(delay);
            }
            if delays.len() >= 3 {
                Ok(())
            } else {
                Err(format!("{delays:?}"))
            }
        },
    );
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "the back-off grows: {delays:?} ms"
    );
    let table = cluster.ok(&["get", "pod", "crasher"]);
    assert!(table.contains("CrashLoopBackOff"), "{table}");
    let described = cluster.ok(&["describe", "pod", "crasher"]);
    assert!(
        described.contains("Back-off restarting failed container main"),
        "{described}"
    );
    assert!(
        described.contains("trapped"),
        "a trap is reported as an event:\n{described}"
    );

    // A missing image: a pull error on the container, and a Warning event saying why.
    cluster.apply(&pod(
        "no-image",
        "file:///nonexistent/app.wasm",
        "Always",
        &[],
    ));
    cluster.wait(
        "no-image waiting on its image",
        Duration::from_secs(30),
        || {
            let pods = cluster.pods(&["--field-selector", "metadata.name=no-image"]);
            match pods.first() {
                Some(p)
                    if p.len() >= 6 && (p[5] == "ErrImagePull" || p[5] == "ImagePullBackOff") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    );
    let described = cluster.ok(&["describe", "pod", "no-image"]);
    assert!(described.contains("/nonexistent/app.wasm"), "{described}");

    // A command that finishes: the pod ends Succeeded and is not restarted.
    cluster.apply(&pod("once", &guest("hello.wasm"), "Never", &[]));
    cluster.wait("once Succeeded", Duration::from_secs(30), || {
        let phase = cluster.ok(&["get", "pod", "once", "-o", "jsonpath={.status.phase}"]);
        if phase == "Succeeded" {
            Ok(())
        } else {
            Err(phase)
        }
    });
    let table = cluster.ok(&["get", "pod", "once"]);
    assert!(table.contains("Completed"), "{table}");

    // Scale up: five pods, all served through the NodePort.
    cluster.ok(&["scale", "deployment", "hello", "--replicas=5"]);
    let five = cluster.hello_running(5, Duration::from_secs(60));
    let five: BTreeSet<String> = five.into_iter().map(|(name, _)| name).collect();
    let entry = format!("{}:{node_port}", cluster.agents[1].address);
    replies_from_all(&cluster, &entry, &five);

    // A rolling update to a second guest version while a client keeps calling: rollout
    // status succeeds and not one request fails. Then undo, just as cleanly.
    let v2_dir = tempfile::tempdir().expect("temp dir");
    let v2 = v2_dir.path().join("http-hello-v2.wasm");
    std::fs::copy(
        shoal_tests::workspace_root().join("wasm-sandbox/guests/http-hello.wasm"),
        &v2,
    )
    .expect("copy the guest");
    let v2_image = format!("file://{}", v2.display());
    for (change, image) in [
        (
            vec![
                "set",
                "image",
                "deployment/hello",
                &*format!("web={v2_image}"),
            ],
            v2_image.clone(),
        ),
        (
            vec!["rollout", "undo", "deployment/hello"],
            guest("http-hello.wasm"),
        ),
    ] {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = steady_client(entry.clone(), std::sync::Arc::clone(&stop));
        cluster.ok(&change);
        let status = cluster.ok(&["rollout", "status", "deployment/hello", "--timeout=120s"]);
        assert!(status.contains("successfully rolled out"), "{status}");
        let now = cluster.hello_running(5, Duration::from_secs(60));
        let now: BTreeSet<String> = now.into_iter().map(|(name, _)| name).collect();
        replies_from_all(&cluster, &entry, &now);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (answered, failures) = client.join().expect("client thread");
        assert!(
            failures.is_empty(),
            "{change:?}: {} of {} requests failed: {failures:?}",
            failures.len(),
            answered + failures.len() as u64
        );
        assert!(answered > 0, "the client got answers during {change:?}");
        let template = cluster.ok(&[
            "get",
            "deployment",
            "hello",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]);
        assert_eq!(template, image);
    }
    cluster.ok(&["scale", "deployment", "hello", "--replicas=3"]);
    cluster.hello_running(3, Duration::from_secs(60));

    // Logs: a ticking pod followed with -f, and the usual options.
    cluster.apply(&ticker_pod(&guest("ticker.wasm")));
    cluster.wait("the ticker ticking", Duration::from_secs(30), || {
        let run = cluster
            .plane
            .kubectl(KUBECTL, &["logs", "ticker", "--tail", "2"]);
        let lines: Vec<&str> = run.stdout.lines().collect();
        if run.code == Some(0) && lines.len() == 2 && lines.iter().all(|l| l.starts_with("tick ")) {
            Ok(())
        } else {
            Err(format!("{lines:?} {}", run.stderr))
        }
    });
    let stamped = cluster.ok(&["logs", "ticker", "--tail", "1", "--timestamps"]);
    let (stamp, line) = stamped
        .trim()
        .split_once(' ')
        .expect("a timestamp and a line");
    assert!(stamp.starts_with("20") && stamp.ends_with('Z'), "{stamped}");
    assert!(line.starts_with("tick "), "{stamped}");
    assert!(
        cluster
            .ok(&["logs", "ticker", "--since", "1h"])
            .starts_with("tick 1\n")
    );
    let followed = follow_logs(&cluster, "ticker", 5);
    let numbers: Vec<u32> = followed
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 5, "{followed:?}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "followed lines arrive in order, none twice: {followed:?}"
    );
    let previous = cluster.ok(&["logs", "crasher", "--previous"]);
    assert!(previous.contains("about to crash"), "{previous}");
    for (args, message) in [
        (
            vec!["logs", "ticker", "--previous"],
            "previous terminated container \"main\" in pod \"ticker\" not found",
        ),
        (
            vec!["logs", "ticker", "-c", "nope"],
            "container nope is not valid for pod ticker",
        ),
    ] {
        let run = cluster.plane.kubectl(KUBECTL, &args);
        assert_ne!(run.code, Some(0), "{args:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }

    // A pod that fits nowhere stays Pending and says why.
    cluster.apply(&pod_with_memory(
        "too-big",
        &guest("http-hello.wasm"),
        "1000Gi",
    ));
    cluster.wait("too-big FailedScheduling", Duration::from_secs(30), || {
        let described = squeeze(&cluster.ok(&["describe", "pod", "too-big"]));
        if described.contains("FailedScheduling") && described.contains("Insufficient memory") {
            Ok(())
        } else {
            Err(described)
        }
    });
    let phase = cluster.ok(&["get", "pod", "too-big", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Pending");

    // The control plane goes away: the agents keep their pods running and serving, then
    // carry on with it when it is back; nothing is evicted or restarted.
    let before: BTreeSet<String> = cluster
        .hello_running(3, Duration::from_secs(30))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let renewal_failures =
        |agent: &Agent| agent.agent_log().matches("renewing the node lease").count();
    let failed_before: Vec<usize> = cluster.agents.iter().map(renewal_failures).collect();
    cluster.plane.kill();
    // Serving is checked once every agent has found the control plane gone.
    cluster.wait(
        "both agents failing to renew their Lease",
        Duration::from_secs(30),
        || {
            let now: Vec<usize> = cluster.agents.iter().map(renewal_failures).collect();
            if now.iter().zip(&failed_before).all(|(n, b)| n > b) {
                Ok(())
            } else {
                Err(format!("{now:?} vs {failed_before:?}"))
            }
        },
    );
    for agent in &cluster.agents {
        replies_from_all(&cluster, &format!("{}:{node_port}", agent.address), &before);
    }
    cluster.plane.restart();
    cluster.wait("both nodes Ready again", Duration::from_secs(30), || {
        let seen = cluster.ok(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        if seen == "True True" {
            Ok(())
        } else {
            Err(seen)
        }
    });
    let after: BTreeSet<String> = cluster
        .hello_running(3, Duration::from_secs(30))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(before, after, "the same pods run on");

    // An agent dies: its node turns unreachable, its pods come back on the other node.
    let lost = cluster.agents.remove(1);
    let mut lost = lost;
    lost.kill();
    cluster.wait("edge-b unreachable", Duration::from_secs(30), || {
        let seen = cluster.ok(&[
            "get",
            "node",
            "edge-b",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.taints[*].key}",
        ]);
        if seen.starts_with("Unknown") && seen.contains("node.kubernetes.io/unreachable") {
            Ok(())
        } else {
            Err(seen)
        }
    });
    let moved = cluster.wait("every hello pod on edge-a", Duration::from_secs(60), || {
        let running = cluster.hello_running(3, Duration::from_secs(60));
        if running.iter().all(|(_, node)| node == "edge-a") {
            Ok(running)
        } else {
            Err(format!("{running:?}"))
        }
    });
    assert_eq!(moved.len(), 3);
    cluster.agents.push(lost);
}
