//! Deployments through the real kubectl against a real `shoal server`: the Deployment and
//! ReplicaSet controllers create ReplicaSets and pods, `rollout status` waits for them,
//! `set image` rolls out, `rollout history` and `rollout undo` use the revisions, `scale`
//! removes surplus pods, and deleting the Deployment takes everything with it. No agent runs
//! yet, so the test plays the kubelet: it marks pods Running and Ready through their status.

use std::sync::mpsc;
use std::time::Duration;

use shoal_tests::cluster::{ControlPlane, Kubectl};

const KUBECTL: Kubectl = Kubectl::Minor(33);

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.example/web:1
";

/// Runs kubectl and asserts it succeeded; returns its standard output.
fn ok(plane: &ControlPlane, args: &[&str]) -> String {
    let run = plane.kubectl(KUBECTL, args);
    assert_eq!(
        run.code,
        Some(0),
        "kubectl {args:?} failed\nstdout: {}\nstderr: {}\n--- server log:\n{}",
        run.stdout,
        run.stderr,
        plane.server_log()
    );
    run.stdout
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// One pod as the test sees it.
#[derive(Debug)]
struct PodView {
    name: String,
    phase: String,
    ready: bool,
    image: String,
    deleting: bool,
}

/// Every pod of the default namespace.
fn pods(plane: &ControlPlane) -> Vec<PodView> {
    let out = ok(
        plane,
        &[
            "get",
            "pods",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}|{.status.phase}|{.status.conditions[?(@.type=="Ready")].status}|{.spec.containers[0].image}|{.metadata.deletionTimestamp}{"\n"}{end}"#,
        ],
    );
    out.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            let [name, phase, ready, image, deleting] = fields.as_slice() else {
                return None;
            };
            Some(PodView {
                name: (*name).to_owned(),
                phase: (*phase).to_owned(),
                ready: *ready == "True",
                image: (*image).to_owned(),
                deleting: !deleting.is_empty(),
            })
        })
        .collect()
}

/// What a kubelet would report for a started pod: Running, and Ready.
fn mark_ready(plane: &ControlPlane) {
    for pod in pods(plane) {
        if pod.ready || pod.deleting {
            continue;
        }
        // The pod may be deleted meanwhile; the next round sees that.
        let _ = plane.kubectl(
            KUBECTL,
            &[
                "patch",
                "pod",
                &pod.name,
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
            ],
        );
    }
}

/// `name replicas revision image` of every ReplicaSet.
fn replica_sets(plane: &ControlPlane) -> Vec<Vec<String>> {
    let out = ok(
        plane,
        &[
            "get",
            "rs",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\.kubernetes\.io/revision} {.spec.template.spec.containers[0].image}{"\n"}{end}"#,
        ],
    );
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn rollout_status(plane: &ControlPlane) {
    let out = ok(plane, &["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
}

#[test]
fn rollout_status_set_image_history_undo_scale_and_delete() {
    let plane = ControlPlane::start();

    tracing::info!("--- apply a Deployment of 3; its pods appear");
    let run = plane.kubectl_stdin(KUBECTL, &["apply", "-f", "-"], WEB);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "deployment.apps/web created");
    plane.wait_until("3 pods", || pods(&plane).len() == 3);
    let sets = replica_sets(&plane);
    assert_eq!(sets.len(), 1, "{sets:?}");
    let first = sets[0][0].clone();
    assert_eq!(sets[0][1..], ["3", "1", "registry.example/web:1"]);
    let hash = ok(
        &plane,
        &[
            "get",
            "rs",
            &first,
            "-o",
            "jsonpath={.metadata.labels.pod-template-hash} {.spec.selector.matchLabels.pod-template-hash} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}",
        ],
    );
    let suffix = first
        .strip_prefix("web-")
        .expect("named after the Deployment");
    assert_eq!(hash, format!("{suffix} {suffix} Deployment/web true"));
    for pod in pods(&plane) {
        assert!(pod.name.starts_with(&format!("{first}-")), "{pod:?}");
        assert_eq!((pod.phase.as_str(), pod.ready), ("Pending", false));
    }
    let owner = ok(
        &plane,
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name}",
        ],
    );
    assert_eq!(owner, format!("ReplicaSet/{first}"));

    tracing::info!("--- the test plays the kubelet; rollout status finishes");
    mark_ready(&plane);
    rollout_status(&plane);
    let out = lines(&ok(&plane, &["get", "deploy", "web"]));
    assert_eq!(out[0], "NAME READY UP-TO-DATE AVAILABLE AGE");
    assert!(out[1].starts_with("web 3/3 3 3 "), "{out:?}");
    let revision = ok(
        &plane,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            r"jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}",
        ],
    );
    assert_eq!(revision, "1");

    let second = std::thread::scope(|scope| {
        let (stop, stopped) = mpsc::channel::<()>();
        let kubelet = scope.spawn(|| {
            let stopped = stopped;
            loop {
                mark_ready(&plane);
                match stopped.recv_timeout(Duration::from_millis(200)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        });

        tracing::info!("--- set image rolls out a second ReplicaSet");
        let out = ok(
            &plane,
            &["set", "image", "deploy/web", "app=registry.example/web:2"],
        );
        assert_eq!(out.trim(), "deployment.apps/web image updated");
        rollout_status(&plane);
        let mut sets = replica_sets(&plane);
        sets.sort_by(|a, b| a[2].cmp(&b[2]));
        assert_eq!(sets.len(), 2, "{sets:?}");
        assert_eq!(
            sets[0],
            [first.as_str(), "0", "1", "registry.example/web:1"]
        );
        assert_eq!(sets[1][1..], ["3", "2", "registry.example/web:2"]);
        let second = sets[1][0].clone();
        plane.wait_until("only new pods", || {
            let pods = pods(&plane);
            pods.len() == 3
                && pods
                    .iter()
                    .all(|p| p.image == "registry.example/web:2" && p.name.starts_with(&second))
        });

        tracing::info!("--- rollout history lists both revisions");
        let out = lines(&ok(&plane, &["rollout", "history", "deploy/web"]));
        assert_eq!(
            out,
            [
                "deployment.apps/web",
                "REVISION CHANGE-CAUSE",
                "1 <none>",
                "2 <none>"
            ]
        );

        tracing::info!("--- rollout undo restores the first template on its ReplicaSet");
        let out = ok(&plane, &["rollout", "undo", "deploy/web"]);
        assert_eq!(out.trim(), "deployment.apps/web rolled back");
        let image = ok(
            &plane,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        );
        assert_eq!(image, "registry.example/web:1");
        rollout_status(&plane);
        plane.wait_until("the reused ReplicaSet at revision 3", || {
            let mut sets = replica_sets(&plane);
            sets.sort();
            sets.len() == 2
                && sets.contains(&vec![
                    first.clone(),
                    "3".to_owned(),
                    "3".to_owned(),
                    "registry.example/web:1".to_owned(),
                ])
        });
        plane.wait_until("the Deployment at revision 3", || {
            plane
                .kubectl(
                    KUBECTL,
                    &[
                        "get",
                        "deploy",
                        "web",
                        "-o",
                        r"jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}",
                    ],
                )
                .stdout
                == "3"
        });
        let out = lines(&ok(&plane, &["rollout", "history", "deploy/web"]));
        assert_eq!(out[2..], ["2 <none>", "3 <none>"]);

        tracing::info!("--- scale to 1 deletes the surplus pods");
        let out = ok(&plane, &["scale", "deploy/web", "--replicas=1"]);
        assert_eq!(out.trim(), "deployment.apps/web scaled");
        plane.wait_until("one pod", || pods(&plane).len() == 1);
        rollout_status(&plane);
        stop.send(()).expect("the kubelet thread runs");
        kubelet.join().expect("the kubelet thread ends");
        second
    });

    tracing::info!("--- get rs shows both ReplicaSets");
    let out = lines(&ok(&plane, &["get", "rs"]));
    assert_eq!(out[0], "NAME DESIRED CURRENT READY AGE");
    assert!(
        out.iter()
            .any(|l| l.starts_with(&format!("{first} 1 1 1 "))),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with(&format!("{second} 0 0 0 "))),
        "{out:?}"
    );
    // The Deployment's counts follow its ReplicaSets' status, one controller pass behind.
    plane.wait_until("the Deployment to count one pod", || {
        lines(&ok(&plane, &["get", "deploy", "web"]))[1].starts_with("web 1/1 1 1 ")
    });

    tracing::info!("--- deleting the Deployment takes its ReplicaSets and pods");
    let out = ok(&plane, &["delete", "deploy", "web"]);
    assert_eq!(out.trim(), "deployment.apps \"web\" deleted");
    plane.wait_until("no ReplicaSets and no pods", || {
        replica_sets(&plane).is_empty() && pods(&plane).is_empty()
    });
}
