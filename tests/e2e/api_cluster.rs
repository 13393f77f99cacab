//! The Kubernetes API on a three-node control plane: every node answers, a write through one
//! node is read back through another, and after kill -9 of a node the others keep serving
//! writes, reads and the leader-only garbage collector.

use shoal_tests::cluster::{ControlCluster, Kubectl};

const KUBECTL: Kubectl = Kubectl::Minor(33);

fn app(name: &str) -> String {
    shoal_tests::fixture(&format!("kubectl/{name}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn any_node_serves_the_api_and_survives_losing_one() {
    let mut cluster = ControlCluster::start(3);

    tracing::info!("--- write through node 2, read through node 3");
    let run = cluster.nodes[1].kubectl(KUBECTL, &["apply", "-f", &app("app.yaml")]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = cluster.nodes[2].kubectl(
        KUBECTL,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(run.stdout, "registry.example/web-wasm:1.0", "{run:?}");
    let run = cluster.nodes[0].kubectl(KUBECTL, &["get", "ns", "-o", "name"]);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "namespace/default",
            "namespace/kube-node-lease",
            "namespace/kube-public",
            "namespace/kube-system"
        ],
        "the system namespaces exist once: {run:?}"
    );

    tracing::info!("--- kill -9 node 1; the others go on");
    cluster.nodes[0].kill();
    let survivor = &cluster.nodes[1];
    survivor.wait_until("a write after the failover", || {
        survivor
            .kubectl(KUBECTL, &["apply", "-f", &app("app-v2.yaml")])
            .code
            == Some(0)
    });
    let run = cluster.nodes[2].kubectl(
        KUBECTL,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(run.stdout, "registry.example/web-wasm:1.1", "{run:?}");

    tracing::info!("--- the new leader runs the garbage collector");
    let owner = cluster.nodes[2].kubectl_stdin(
        KUBECTL,
        &["create", "-f", "-", "-o", "jsonpath={.metadata.uid}"],
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owner"}}"#,
    );
    assert_eq!(owner.code, Some(0), "{owner:?}");
    let dependent = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"dependent","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{}"}}]}}}}"#,
        owner.stdout
    );
    let run = cluster.nodes[1].kubectl_stdin(KUBECTL, &["create", "-f", "-"], &dependent);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = cluster.nodes[2].kubectl(KUBECTL, &["delete", "cm", "owner"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let node = &cluster.nodes[1];
    node.wait_until("the dependent to be collected", || {
        let run = node.kubectl(KUBECTL, &["get", "cm", "dependent"]);
        run.code == Some(1) && run.stderr.contains("NotFound")
    });
}
