//! The real kubectl against a real `shoal server`, for kubectl 1.33, 1.30 and 1.27: apply,
//! get in every form, watch, describe, label, annotate, every patch type, scale, diff,
//! server-side apply with conflicts, cascading deletes, namespaces, and the bad paths. Every
//! step asserts on kubectl's actual output and exit code.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use shoal_tests::Run;
use shoal_tests::cluster::{ControlPlane, Kubectl};

/// Runs kubectl and asserts it succeeded; returns its standard output.
fn ok(plane: &ControlPlane, kubectl: Kubectl, args: &[&str]) -> String {
    let run = plane.kubectl(kubectl, args);
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

/// Runs kubectl and asserts it failed with exit code 1; returns its standard error.
fn fails(plane: &ControlPlane, kubectl: Kubectl, args: &[&str]) -> String {
    let run = plane.kubectl(kubectl, args);
    assert_eq!(
        run.code,
        Some(1),
        "kubectl {args:?} should fail\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    run.stderr
}

fn fixture(name: &str) -> String {
    shoal_tests::fixture(&format!("kubectl/{name}"))
        .to_string_lossy()
        .into_owned()
}

/// `apply -f` (or `create -f`) args. Every kubectl validates as against Kubernetes: 1.27
/// and 1.28 through OpenAPI v2, later releases through v3.
fn with_file<'a>(verb: &'a str, file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![verb, "-f", file];
    args.extend_from_slice(extra);
    args
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn scenario(kubectl: Kubectl) {
    let plane = ControlPlane::start();
    let app = fixture("app.yaml");

    tracing::info!("--- version and discovery");
    let version = ok(&plane, kubectl, &["version"]);
    assert!(version.contains("v1.33.0+shoal"), "{version}");
    let resources = lines(&ok(&plane, kubectl, &["api-resources"]));
    assert!(
        resources
            .iter()
            .any(|l| l == "deployments deploy apps/v1 true Deployment"),
        "{resources:?}"
    );
    assert!(
        resources.iter().any(|l| l == "pods po v1 true Pod"),
        "{resources:?}"
    );
    assert!(
        resources
            .iter()
            .any(|l| l == "namespaces ns v1 false Namespace"),
        "{resources:?}"
    );

    tracing::info!("--- create from a multi-document file");
    let out = ok(&plane, kubectl, &with_file("apply", &app, &[]));
    assert_eq!(
        lines(&out),
        [
            "configmap/web-config created",
            "deployment.apps/web created",
            "service/web created"
        ]
    );

    tracing::info!("--- get, plain and wide");
    let out = lines(&ok(&plane, kubectl, &["get", "deploy"]));
    assert_eq!(out[0], "NAME READY UP-TO-DATE AVAILABLE AGE");
    assert!(out[1].starts_with("web 0/2 0 0 "), "{out:?}");
    let out = lines(&ok(&plane, kubectl, &["get", "deploy", "-o", "wide"]));
    assert_eq!(
        out[0],
        "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
    );
    assert!(
        out[1].ends_with("app registry.example/web-wasm:1.0 app=web"),
        "{out:?}"
    );
    let out = lines(&ok(&plane, kubectl, &["get", "svc", "web"]));
    assert!(out[0].starts_with("NAME TYPE CLUSTER-IP"), "{out:?}");
    assert!(out[1].starts_with("web ClusterIP "), "{out:?}");
    let out = ok(&plane, kubectl, &["get", "deploy,svc,cm", "-o", "name"]);
    assert_eq!(
        lines(&out),
        ["deployment.apps/web", "service/web", "configmap/web-config"]
    );

    tracing::info!("--- apply again with changes");
    let out = ok(
        &plane,
        kubectl,
        &with_file("apply", &fixture("app-v2.yaml"), &[]),
    );
    assert_eq!(
        lines(&out),
        [
            "configmap/web-config configured",
            "deployment.apps/web configured",
            "service/web unchanged"
        ]
    );
    let image = ok(
        &plane,
        kubectl,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(image, "registry.example/web-wasm:1.1");
    let yaml = ok(&plane, kubectl, &["get", "deploy", "web", "-o", "yaml"]);
    assert!(yaml.contains("generation: 2"), "{yaml}");
    assert!(
        yaml.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{yaml}"
    );
    assert!(yaml.contains("kind: Deployment"), "{yaml}");
    assert!(!yaml.contains("managedFields"), "{yaml}");
    let greeting = ok(
        &plane,
        kubectl,
        &["get", "cm", "web-config", "-o", "jsonpath={.data.GREETING}"],
    );
    assert_eq!(greeting, "bonjour");

    tracing::info!("--- all namespaces, labels, selectors");
    let out = lines(&ok(&plane, kubectl, &["get", "cm", "-A", "--show-labels"]));
    assert_eq!(out[0], "NAMESPACE NAME DATA AGE LABELS");
    assert!(
        out.iter()
            .any(|l| l.starts_with("default web-config 1 ") && l.ends_with(" app=web")),
        "{out:?}"
    );
    let run = plane.kubectl(kubectl, &["get", "pods", "-l", "app=absent"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(
        run.stderr.trim(),
        "No resources found in default namespace."
    );
    let out = ok(
        &plane,
        kubectl,
        &[
            "get",
            "deploy",
            "-l",
            "app in (web,api),tier!=db",
            "-o",
            "name",
        ],
    );
    assert_eq!(out.trim(), "deployment.apps/web");
    let out = ok(
        &plane,
        kubectl,
        &[
            "get",
            "deploy",
            "--field-selector",
            "metadata.name=nope",
            "-o",
            "name",
        ],
    );
    assert_eq!(out.trim(), "");

    tracing::info!("--- label, annotate, and every patch type");
    let out = ok(
        &plane,
        kubectl,
        &["label", "cm", "web-config", "tier=frontend"],
    );
    assert_eq!(out.trim(), "configmap/web-config labeled");
    let out = ok(
        &plane,
        kubectl,
        &["get", "cm", "-l", "tier=frontend", "-o", "name"],
    );
    assert_eq!(out.trim(), "configmap/web-config");
    let err = fails(
        &plane,
        kubectl,
        &["label", "cm", "web-config", "tier=backend"],
    );
    assert!(err.contains("already has a value (frontend)"), "{err}");
    let out = ok(
        &plane,
        kubectl,
        &["annotate", "cm", "web-config", "owner=team-a"],
    );
    // kubectl 1.27 prints "annotate", later releases "annotated".
    assert!(
        out.trim().starts_with("configmap/web-config annotate"),
        "{out}"
    );
    let out = ok(
        &plane,
        kubectl,
        &[
            "patch",
            "cm",
            "web-config",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"MERGED":"1"}}"#,
        ],
    );
    assert_eq!(out.trim(), "configmap/web-config patched");
    let out = ok(
        &plane,
        kubectl,
        &[
            "patch",
            "cm",
            "web-config",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/data/JSON","value":"2"}]"#,
        ],
    );
    assert_eq!(out.trim(), "configmap/web-config patched");
    let out = ok(
        &plane,
        kubectl,
        &[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/web-wasm:1.2"}]}}}}"#,
        ],
    );
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let image = ok(
        &plane,
        kubectl,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}",
        ],
    );
    assert_eq!(
        image, "registry.example/web-wasm:1.2 8080",
        "the strategic patch merged the container by name"
    );
    let data = ok(
        &plane,
        kubectl,
        &[
            "get",
            "cm",
            "web-config",
            "-o",
            "jsonpath={.data.MERGED}{.data.JSON}",
        ],
    );
    assert_eq!(data, "12");
    let err = fails(
        &plane,
        kubectl,
        &[
            "patch",
            "cm",
            "web-config",
            "--type",
            "json",
            "-p",
            r#"[{"op":"test","path":"/data/JSON","value":"nope"}]"#,
        ],
    );
    assert!(
        err.contains("The request is invalid: testing value /data/JSON failed"),
        "{err}"
    );

    tracing::info!("--- scale");
    let out = ok(&plane, kubectl, &["scale", "deploy", "web", "--replicas=5"]);
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    let replicas = ok(
        &plane,
        kubectl,
        &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
    );
    assert_eq!(replicas, "5");

    tracing::info!("--- diff does not change the live object");
    let run = plane.kubectl(kubectl, &["diff", "-f", &fixture("app-v3.yaml")]);
    assert_eq!(run.code, Some(1), "diff reports differences: {run:?}");
    assert!(run.stdout.contains("+  replicas: 4"), "{}", run.stdout);
    let replicas = ok(
        &plane,
        kubectl,
        &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
    );
    assert_eq!(replicas, "5", "dryRun=All wrote nothing");

    tracing::info!("--- server-side apply, a conflict, and --force-conflicts");
    let greeting = fixture("greeting.yaml");
    let out = ok(
        &plane,
        kubectl,
        &with_file(
            "apply",
            &greeting,
            &["--server-side", "--field-manager=alice"],
        ),
    );
    assert_eq!(out.trim(), "configmap/greeting serverside-applied");
    let hi = fixture("greeting-hi.yaml");
    let err = fails(
        &plane,
        kubectl,
        &with_file("apply", &hi, &["--server-side"]),
    );
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"alice\": .data.GREETING"),
        "{err}"
    );
    let out = ok(
        &plane,
        kubectl,
        &with_file("apply", &hi, &["--server-side", "--force-conflicts"]),
    );
    assert_eq!(out.trim(), "configmap/greeting serverside-applied");
    let value = ok(
        &plane,
        kubectl,
        &["get", "cm", "greeting", "-o", "jsonpath={.data.GREETING}"],
    );
    assert_eq!(value, "hi");
    let out = ok(
        &plane,
        kubectl,
        &with_file("apply", &app, &["--server-side", "--force-conflicts"]),
    );
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );

    tracing::info!("--- describe shows the object and its events");
    let uid = ok(
        &plane,
        kubectl,
        &["get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"],
    );
    let event = format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"web.e2e"}},
            "involvedObject":{{"apiVersion":"apps/v1","kind":"Deployment","name":"web","namespace":"default","uid":"{uid}"}},
            "reason":"ScalingReplicaSet","message":"Scaled up replica set web-1 to 5","type":"Normal",
            "source":{{"component":"deployment-controller"}},"count":1,
            "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z"}}"#
    );
    let run = plane.kubectl_stdin(kubectl, &with_file("create", "-", &[]), &event);
    assert_eq!(run.code, Some(0), "{run:?}");
    let out = ok(&plane, kubectl, &["describe", "deploy", "web"]);
    assert!(lines(&out).iter().any(|l| l == "Name: web"), "{out}");
    assert!(out.contains("Scaled up replica set web-1 to 5"), "{out}");
    assert!(out.contains("ScalingReplicaSet"), "{out}");
    let out = lines(&ok(&plane, kubectl, &["get", "events"]));
    assert!(
        out[0].starts_with("LAST SEEN TYPE REASON OBJECT MESSAGE"),
        "{out:?}"
    );

    tracing::info!("--- get -w sees a change");
    let mut watch = plane
        .kubectl_command(kubectl, &["get", "cm", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let (seen, lines_rx) = mpsc::channel();
    let stdout = watch.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if seen.send(line).is_err() {
                break;
            }
        }
    });
    // The initial listing first, then the new object.
    let first = lines_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a header");
    assert!(first.starts_with("NAME"), "{first}");
    let run = plane.kubectl_stdin(
        kubectl,
        &with_file("create", "-", &[]),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"watched"},"data":{"a":"b"}}"#,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines_rx
            .recv_timeout(left)
            .expect("the watch shows the new ConfigMap");
        if line.starts_with("watched ") {
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = reader.join();

    tracing::info!("--- delete cascades to owned objects");
    let owner_uid = {
        let run = plane.kubectl_stdin(
            kubectl,
            &with_file("create", "-", &["-o", "jsonpath={.metadata.uid}"]),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owner"}}"#,
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        run.stdout
    };
    for (name, cascade) in [
        ("background", "background"),
        ("foreground", "foreground"),
        ("orphan", "orphan"),
    ] {
        let owner = format!("owner-{name}");
        let run = plane.kubectl_stdin(
            kubectl,
            &with_file("create", "-", &["-o", "jsonpath={.metadata.uid}"]),
            &format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{owner}"}}}}"#),
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        let uid = run.stdout;
        let dependent = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"dependent-{name}",
                "ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"{owner}","uid":"{uid}"}},
                                   {{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{owner_uid}"}}]}}}}"#
        );
        let run = plane.kubectl_stdin(kubectl, &with_file("create", "-", &[]), &dependent);
        assert_eq!(run.code, Some(0), "{run:?}");
        // With a second, living owner the dependent stays; remove that owner reference first
        // so this owner is the only one.
        ok(
            &plane,
            kubectl,
            &[
                "patch",
                "cm",
                &format!("dependent-{name}"),
                "--type",
                "json",
                "-p",
                r#"[{"op":"remove","path":"/metadata/ownerReferences/1"}]"#,
            ],
        );
        let cascade_flag = format!("--cascade={cascade}");
        let out = ok(&plane, kubectl, &["delete", "cm", &owner, &cascade_flag]);
        assert_eq!(out.trim(), format!("configmap \"{owner}\" deleted"));
        let dependent_name = format!("dependent-{name}");
        if cascade == "orphan" {
            plane.wait_until("the orphan to lose its owner reference", || {
                let out = plane.kubectl(
                    kubectl,
                    &[
                        "get",
                        "cm",
                        &dependent_name,
                        "-o",
                        "jsonpath={.metadata.ownerReferences}",
                    ],
                );
                out.code == Some(0) && out.stdout.trim().is_empty()
            });
        } else {
            plane.wait_until("the dependent to be collected", || {
                let run = plane.kubectl(kubectl, &["get", "cm", &dependent_name]);
                run.code == Some(1) && run.stderr.contains("NotFound")
            });
        }
        let run = plane.kubectl(kubectl, &["get", "cm", &owner]);
        assert!(
            run.stderr
                .contains(&format!("configmaps \"{owner}\" not found")),
            "{run:?}"
        );
    }

    tracing::info!("--- generators (protobuf request bodies from kubectl 1.32 on)");
    let out = ok(
        &plane,
        kubectl,
        &[
            "create",
            "configmap",
            "generated",
            "--from-literal=mode=fast",
        ],
    );
    assert_eq!(out.trim(), "configmap/generated created");
    let out = ok(
        &plane,
        kubectl,
        &[
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=key=s3cret",
        ],
    );
    assert_eq!(out.trim(), "secret/token created");
    let secret = ok(
        &plane,
        kubectl,
        &[
            "get",
            "secret",
            "token",
            "-o",
            "jsonpath={.data.key} {.type}",
        ],
    );
    assert_eq!(secret, "czNjcmV0 Opaque");
    let out = ok(
        &plane,
        kubectl,
        &[
            "create",
            "deployment",
            "gen",
            "--image=registry.example/gen:1",
            "--replicas=3",
            "--port=8080",
        ],
    );
    assert_eq!(out.trim(), "deployment.apps/gen created");
    let spec = ok(
        &plane,
        kubectl,
        &[
            "get",
            "deploy",
            "gen",
            "-o",
            "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].ports[0].containerPort}",
        ],
    );
    assert_eq!(spec, "3 gen 8080");
    let out = ok(&plane, kubectl, &["delete", "deploy", "gen"]);
    assert_eq!(out.trim(), "deployment.apps \"gen\" deleted");

    {
        tracing::info!("--- fieldValidation=Warn keeps the object and warns");
        let run = plane.kubectl(
            kubectl,
            &[
                "apply",
                "-f",
                &fixture("unknown-field.yaml"),
                "--validate=warn",
            ],
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(
            run.stderr.contains("Warning: unknown field \"bogus\""),
            "{run:?}"
        );
        assert_eq!(run.stdout.trim(), "configmap/typo created");
        ok(&plane, kubectl, &["delete", "cm", "typo"]);
    }

    tracing::info!("--- namespaces");
    let out = ok(&plane, kubectl, &["create", "namespace", "wasm-apps"]);
    assert_eq!(out.trim(), "namespace/wasm-apps created");
    let out = ok(
        &plane,
        kubectl,
        &with_file("apply", &app, &["-n", "wasm-apps"]),
    );
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = lines(&ok(&plane, kubectl, &["get", "ns"]));
    assert!(
        out.iter().any(|l| l.starts_with("wasm-apps Active ")),
        "{out:?}"
    );
    let out = ok(
        &plane,
        kubectl,
        &["delete", "namespace", "wasm-apps", "--timeout=60s"],
    );
    assert_eq!(out.trim(), "namespace \"wasm-apps\" deleted");
    let run = plane.kubectl(kubectl, &["get", "deploy", "-n", "wasm-apps", "-o", "name"]);
    assert_eq!(run.stdout.trim(), "", "{run:?}");

    tracing::info!("--- bad paths");
    let err = fails(
        &plane,
        kubectl,
        &[
            "apply",
            "-f",
            &fixture("unknown-field.yaml"),
            "--validate=strict",
        ],
    );
    assert!(
        err.contains("strict decoding error: unknown field \"bogus\""),
        "{err}"
    );
    let err = fails(
        &plane,
        kubectl,
        &with_file("apply", &fixture("invalid.yaml"), &[]),
    );
    assert!(
        err.contains("The Deployment \"bad\" is invalid:")
            && err.contains("spec.replicas: Invalid value: -1"),
        "{err}"
    );
    let err = fails(
        &plane,
        kubectl,
        &with_file("apply", &fixture("elsewhere.yaml"), &[]),
    );
    assert!(err.contains("namespaces \"nowhere\" not found"), "{err}");
    let err = fails(&plane, kubectl, &["get", "deploy", "nope"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): deployments.apps \"nope\" not found"
    );
    let stale = ok(&plane, kubectl, &["get", "cm", "web-config", "-o", "json"]);
    let mut stale: serde_json::Value = serde_json::from_str(&stale).expect("kubectl printed JSON");
    ok(&plane, kubectl, &["label", "cm", "web-config", "bump=1"]);
    stale["data"]["STALE"] = "1".into();
    let run = plane.kubectl_stdin(kubectl, &["replace", "-f", "-"], &stale.to_string());
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("Operation cannot be fulfilled on configmaps \"web-config\": the object has been modified"),
        "{run:?}"
    );
    let err = fails(&plane, kubectl, &["get", "pods", "--token", "not-a-token"]);
    assert!(err.contains("You must be logged in to the server"), "{err}");

    tracing::info!("--- delete what the file created");
    let out = ok(&plane, kubectl, &["delete", "-f", &app]);
    assert_eq!(
        lines(&out),
        [
            "configmap \"web-config\" deleted",
            "deployment.apps \"web\" deleted",
            "service \"web\" deleted"
        ]
    );
    let run: Run = plane.kubectl(kubectl, &["get", "deploy,svc", "-o", "name"]);
    assert_eq!(run.stdout.trim(), "", "{run:?}");
}

#[test]
fn kubectl_1_33() {
    scenario(Kubectl::Minor(33));
}

#[test]
fn kubectl_1_30() {
    scenario(Kubectl::Minor(30));
}

#[test]
fn kubectl_1_27() {
    scenario(Kubectl::Minor(27));
}
