//! One control plane and two agents on loopback, driven by the real kubectl: Wasm pods of a
//! Deployment start on both agents and report Running and Ready; a deleted pod is stopped
//! and replaced; a crashing container goes into CrashLoopBackOff with growing restarts; a
//! missing image shows its pull error; a command that finishes leaves its pod Succeeded; and
//! when an agent is killed, its node turns unreachable and its pods come back on the other.

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
            let seen = cluster.ok(&[
                "get",
                "endpoints",
                "hello",
                "-o",
                "jsonpath={.subsets[*].addresses[*].ip} {.subsets[*].ports[*].port}",
            ]);
            let got: BTreeSet<String> = seen.split_whitespace().map(str::to_owned).collect();
            let mut expected = wanted.clone();
            expected.insert("8080".to_owned());
            if got == expected { Ok(()) } else { Err(seen) }
        },
    );
    let slices = cluster.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=hello",
        "-o",
        "jsonpath={.items[*].endpoints[*].addresses[0]}",
    ]);
    let got: BTreeSet<String> = slices.split_whitespace().map(str::to_owned).collect();
    assert_eq!(got, wanted, "{slices}");
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
