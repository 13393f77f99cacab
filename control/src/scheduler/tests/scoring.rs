//! Scoring (least-allocated, spreading, `PreferNoSchedule`), round-robin ties, request
//! arithmetic and the view's bookkeeping.

use serde_json::json;
use shoal_manifests::k8s_openapi::api::core::v1::Pod;

use super::*;

#[test]
fn a_pod_goes_to_the_least_allocated_node() {
    let idle = node("idle", "4", "8Gi");
    let mut v = view(&[node("busy", "4", "8Gi"), idle.clone()]);
    assert!(v.bind(&pod("load", "3", "6Gi"), &NodeName::from("busy")));
    assert_eq!(bound_to(&schedule(&v, &pod("p", "500m", "1Gi"))), "idle");

    // A bigger node, even with something on it, keeps a larger share free.
    let mut v = view(&[idle, node("big", "16", "32Gi")]);
    assert!(v.bind(&pod("a", "1", "1Gi"), &NodeName::from("big")));
    assert_eq!(bound_to(&schedule(&v, &pod("p", "500m", "1Gi"))), "big");
}

#[test]
fn prefer_no_schedule_taints_only_lower_the_score() {
    let soft = with(
        node_value("soft", "4", "8Gi"),
        "/spec/taints",
        json!([{"key": "spot", "effect": "PreferNoSchedule"}]),
    );
    let v = view(&[typed(soft.clone())]);
    assert_eq!(bound_to(&schedule(&v, &pod("p", "1", "1Gi"))), "soft");
    // With an untainted node just as free, the untainted one wins; tolerating evens it out.
    let v = view(&[typed(soft), node("plain", "4", "8Gi")]);
    assert_eq!(bound_to(&schedule(&v, &pod("p", "1", "1Gi"))), "plain");
    let tolerant: Pod = typed(with(
        pod_value("p", Some("1"), Some("1Gi")),
        "/spec/tolerations",
        json!([{"key": "spot", "operator": "Exists"}]),
    ));
    assert_eq!(bound_to(&schedule(&v, &tolerant)), "soft");
}

#[test]
fn replicas_spread_over_equal_nodes() {
    let replicas: Vec<Pod> = (0..3)
        .map(|i| owned_pod(&format!("web-{i}"), "rs-web", "100m", "128Mi"))
        .collect();
    let mut two = view(&[node("a", "4", "8Gi"), node("b", "4", "8Gi")]);
    let placed = place_all(&mut two, &replicas);
    let on_a = placed.iter().filter(|n| *n == "a").count();
    assert_eq!((on_a, placed.len() - on_a), (2, 1), "{placed:?}");
    assert_eq!(two.owner_count("a", "rs-web"), 2);
    assert_eq!(two.owner_count("b", "rs-web"), 1);

    let mut three = view(&[
        node("a", "4", "8Gi"),
        node("b", "4", "8Gi"),
        node("c", "4", "8Gi"),
    ]);
    let mut placed = place_all(&mut three, &replicas);
    placed.sort();
    assert_eq!(placed, ["a", "b", "c"]);
}

#[test]
fn spreading_outweighs_a_small_difference_in_load() {
    // b is a little busier with someone else's pod, but a already runs a replica.
    let mut v = view(&[node("a", "4", "8Gi"), node("b", "4", "8Gi")]);
    assert!(v.bind(
        &owned_pod("web-0", "rs-web", "100m", "128Mi"),
        &NodeName::from("a")
    ));
    assert!(v.bind(&pod("other", "200m", "256Mi"), &NodeName::from("b")));
    let next = owned_pod("web-1", "rs-web", "100m", "128Mi");
    assert_eq!(bound_to(&schedule(&v, &next)), "b");
}

#[test]
fn ties_go_round_robin() {
    // So much room that one small pod does not move the integer scores: every node ties.
    let huge = |name: &str| node(name, "1000", "1Ti");
    let mut v = view(&[huge("a"), huge("b"), huge("c")]);
    let pods: Vec<Pod> = (0..4)
        .map(|i| pod(&format!("p{i}"), "100m", "100Mi"))
        .collect();
    assert_eq!(place_all(&mut v, &pods), ["a", "b", "c", "a"]);

    // A new view continues where the last one stopped.
    let mut fresh = view(&[huge("a"), huge("b"), huge("c")]);
    fresh.resume_after(&NodeName::from("a"));
    assert_eq!(bound_to(&schedule(&fresh, &pods[0])), "b");
    fresh.resume_after(&NodeName::from("c"));
    assert_eq!(bound_to(&schedule(&fresh, &pods[0])), "a");
    // Deciding changes nothing: the same question gets the same answer.
    assert_eq!(schedule(&fresh, &pods[0]), schedule(&fresh, &pods[0]));
}

#[test]
fn requests_follow_kubernetes_effective_request_rules() {
    let spec = |spec: Value| -> Pod { typed(json!({"metadata": {"name": "p"}, "spec": spec})) };
    let container = |name: &str, cpu: &str, memory: &str| json!({"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}});
    // Containers add up; the largest init container sets the floor.
    let p = spec(json!({
        "containers": [container("a", "100m", "64Mi"), container("b", "200m", "64Mi")],
        "initContainers": [container("i1", "500m", "32Mi"), container("i2", "100m", "256Mi")],
    }));
    let r = requests(&p);
    assert_eq!(
        r.fit,
        Compute {
            millicores: 500,
            bytes: 256 << 20
        }
    );
    assert_eq!(r.score, r.fit);

    // A sidecar (restartPolicy: Always) runs alongside what starts after it.
    let mut sidecar = container("proxy", "50m", "16Mi");
    sidecar["restartPolicy"] = json!("Always");
    let p = spec(json!({
        "containers": [container("app", "100m", "64Mi")],
        "initContainers": [sidecar, container("migrate", "300m", "32Mi")],
        "overhead": {"cpu": "10m", "memory": "1Mi"},
    }));
    let r = requests(&p);
    assert_eq!(
        r.fit,
        Compute {
            millicores: 350 + 10,
            bytes: (80 << 20) + (1 << 20)
        }
    );

    // Missing requests fit as zero but score as kube-scheduler's defaults, per container.
    let p = spec(json!({"containers": [
        {"name": "a"},
        {"name": "b", "resources": {"requests": {"cpu": "250m"}}},
    ]}));
    let r = requests(&p);
    assert_eq!(
        r.fit,
        Compute {
            millicores: 250,
            bytes: 0
        }
    );
    assert_eq!(
        r.score,
        Compute {
            millicores: DEFAULT_MILLICORES + 250,
            bytes: 2 * DEFAULT_BYTES
        }
    );

    // Pod-level requests replace the containers' sum for the resources they name.
    let p = spec(json!({
        "containers": [container("a", "100m", "64Mi")],
        "resources": {"requests": {"cpu": "2"}},
    }));
    assert_eq!(
        requests(&p).fit,
        Compute {
            millicores: 2000,
            bytes: 64 << 20
        }
    );
}

#[test]
fn binding_updates_the_view_in_place() {
    let running = with(
        pod_value("old", Some("1"), Some("1Gi")),
        "/spec/nodeName",
        json!("n1"),
    );
    let finished = with(
        with(
            pod_value("done", Some("2"), Some("2Gi")),
            "/spec/nodeName",
            json!("n1"),
        ),
        "/status",
        json!({"phase": "Succeeded"}),
    );
    let elsewhere = with(
        pod_value("lost", Some("1"), None),
        "/spec/nodeName",
        json!("gone"),
    );
    let pods: Vec<Pod> = [running, finished, elsewhere]
        .into_iter()
        .map(typed)
        .collect();
    let mut v = ClusterView::from_objects(&[node("n1", "4", "8Gi")], &pods);
    let n1 = v.node("n1").unwrap();
    assert_eq!(
        n1.requested,
        Compute {
            millicores: 1000,
            bytes: 1 << 30
        }
    );
    assert_eq!(n1.pods, 1);

    let web = owned_pod("web", "rs-1", "500m", "256Mi");
    assert!(v.bind(&web, &NodeName::from("n1")));
    let n1 = v.node("n1").unwrap();
    assert_eq!(
        n1.requested,
        Compute {
            millicores: 1500,
            bytes: (1 << 30) + (256 << 20)
        }
    );
    assert_eq!(n1.non_zero_requested, n1.requested);
    assert_eq!(n1.pods, 2);
    assert_eq!(v.owner_count("n1", "rs-1"), 1);
    assert!(!v.bind(&web, &NodeName::from("nowhere")));

    // Refreshing a node keeps what is bound to it.
    let bigger = with(
        node_value("n1", "8", "8Gi"),
        "/metadata/labels/tier",
        json!("gold"),
    );
    v.add_node(&typed(bigger));
    let n1 = v.node("n1").unwrap();
    assert_eq!(n1.allocatable.millicores, 8000);
    assert_eq!(n1.pods, 2);
    assert_eq!(v.nodes().len(), 1);
}

#[test]
fn allocatable_falls_back_to_capacity() {
    let value = json!({
        "metadata": {"name": "n1"},
        "status": {
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "10"},
            "allocatable": {"cpu": "1500m"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    });
    let info = NodeInfo::from_node(&typed(value)).unwrap();
    assert_eq!(
        info.allocatable,
        Compute {
            millicores: 1500,
            bytes: 4 << 30
        }
    );
    assert_eq!(info.allocatable_pods, 10);
    assert_eq!(info.readiness, Readiness::Ready);
}
