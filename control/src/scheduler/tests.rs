//! Unit tests of the scheduler's decision: every filter and its message, tolerations and
//! affinity here; scores, requests and the view's bookkeeping in [`scoring`].

mod scoring;

use serde_json::{Value, json};
use shoal_manifests::k8s_openapi::api::core::v1::{Node, Pod, Toleration};

use super::*;

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid object")
}

/// A Ready node with this much allocatable cpu and memory and room for 110 pods.
fn node_value(name: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    })
}

fn node(name: &str, cpu: &str, memory: &str) -> Node {
    typed(node_value(name, cpu, memory))
}

fn with(mut value: Value, pointer: &str, field: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    value
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("the parent exists")
        .insert(key.to_owned(), field);
    value
}

fn pod_value(name: &str, cpu: Option<&str>, memory: Option<&str>) -> Value {
    let mut requests = serde_json::Map::new();
    if let Some(cpu) = cpu {
        requests.insert("cpu".to_owned(), Value::from(cpu));
    }
    if let Some(memory) = memory {
        requests.insert("memory".to_owned(), Value::from(memory));
    }
    json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "app", "resources": {"requests": requests}}]},
    })
}

fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    typed(pod_value(name, Some(cpu), Some(memory)))
}

fn owned_pod(name: &str, owner: &str, cpu: &str, memory: &str) -> Pod {
    let value = pod_value(name, Some(cpu), Some(memory));
    typed(with(
        value,
        "/metadata/ownerReferences",
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner,
                "controller": true}]),
    ))
}

fn view(nodes: &[Node]) -> ClusterView {
    ClusterView::from_objects(nodes, &[])
}

fn bound_to(placement: &Placement) -> &str {
    match placement {
        Placement::Bind(node) => node.as_str(),
        Placement::Unschedulable(reasons) => panic!("unschedulable: {reasons}"),
    }
}

fn message(placement: &Placement) -> String {
    match placement {
        Placement::Bind(node) => panic!("bound to {node}"),
        Placement::Unschedulable(reasons) => reasons.to_string(),
    }
}

const PREEMPTION_1: &str =
    " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";

/// Schedules and binds each pod in turn, returning where each went.
fn place_all(view: &mut ClusterView, pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .map(|pod| {
            let placement = schedule(view, pod);
            let node = NodeName::from(bound_to(&placement));
            assert!(view.bind(pod, &node));
            node.0
        })
        .collect()
}

#[test]
fn insufficient_cpu_and_memory_are_both_named() {
    let v = view(&[node("n1", "1", "1Gi")]);
    let both = schedule(&v, &pod("p", "2", "2Gi"));
    assert_eq!(
        message(&both),
        format!(
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.{PREEMPTION_1}"
        )
    );
    let cpu = schedule(&v, &pod("p", "1500m", "1Mi"));
    assert_eq!(
        message(&cpu),
        format!("0/1 nodes are available: 1 Insufficient cpu.{PREEMPTION_1}")
    );
    // Exactly what is left fits.
    assert_eq!(bound_to(&schedule(&v, &pod("p", "1", "1Gi"))), "n1");
}

#[test]
fn what_is_already_requested_is_taken_off_allocatable() {
    let mut v = view(&[node("n1", "2", "4Gi")]);
    assert!(v.bind(&pod("a", "1500m", "1Gi"), &NodeName::from("n1")));
    assert_eq!(
        message(&schedule(&v, &pod("p", "600m", "1Gi"))),
        format!("0/1 nodes are available: 1 Insufficient cpu.{PREEMPTION_1}")
    );
    assert_eq!(bound_to(&schedule(&v, &pod("p", "500m", "1Gi"))), "n1");
    // Requesting nothing fits however full the node is, as in Kubernetes.
    let greedy = pod("b", "4", "1Gi");
    assert!(v.bind(&greedy, &NodeName::from("n1")));
    let nothing: Pod = typed(pod_value("p", None, None));
    assert_eq!(bound_to(&schedule(&v, &nothing)), "n1");
}

#[test]
fn a_full_node_has_too_many_pods() {
    let full = with(
        node_value("n1", "8", "8Gi"),
        "/status/allocatable/pods",
        json!("2"),
    );
    let mut v = view(&[typed(full)]);
    place_all(&mut v, &[pod("a", "1", "1Gi"), pod("b", "1", "1Gi")]);
    assert_eq!(
        message(&schedule(&v, &pod("c", "100m", "1Mi"))),
        format!("0/1 nodes are available: 1 Too many pods.{PREEMPTION_1}")
    );
}

#[test]
fn node_selector_and_required_affinity_match_labels() {
    let ssd = with(
        node_value("ssd", "4", "8Gi"),
        "/metadata/labels/disk",
        json!("ssd"),
    );
    let ssd = with(ssd, "/metadata/labels/generation", json!("5"));
    let hdd = with(
        node_value("hdd", "4", "8Gi"),
        "/metadata/labels/disk",
        json!("hdd"),
    );
    let v = view(&[typed(ssd), typed(hdd), node("bare", "4", "8Gi")]);
    let selecting = |selector: Value| -> Pod {
        typed(with(
            pod_value("p", Some("1"), None),
            "/spec/nodeSelector",
            selector,
        ))
    };
    assert_eq!(
        bound_to(&schedule(&v, &selecting(json!({"disk": "ssd"})))),
        "ssd"
    );
    assert_eq!(
        message(&schedule(&v, &selecting(json!({"disk": "nvme"})))),
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let affine = |terms: Value| -> Pod {
        typed(with(
            pod_value("p", Some("1"), None),
            "/spec/affinity",
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": terms}}}),
        ))
    };
    let only = |terms: Value| match schedule(&v, &affine(terms)) {
        Placement::Bind(node) => node.0,
        Placement::Unschedulable(reasons) => {
            assert_eq!(reasons.count(&Reason::NodeAffinity), 3, "{reasons}");
            "none".to_owned()
        }
    };
    let expr = |key: &str, operator: &str, values: Value| json!([{"matchExpressions": [{"key": key, "operator": operator, "values": values}]}]);
    assert_eq!(only(expr("disk", "In", json!(["hdd", "tape"]))), "hdd");
    assert_eq!(only(expr("disk", "DoesNotExist", json!([]))), "bare");
    assert_eq!(only(expr("generation", "Gt", json!(["4"]))), "ssd");
    assert_eq!(only(expr("generation", "Lt", json!(["4"]))), "none");
    assert_eq!(only(expr("disk", "Exists", json!([]))), "ssd");
    assert_eq!(
        only(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["bare"]}]}])
        ),
        "bare"
    );
    // Terms are alternatives; an empty term matches nothing.
    let either = json!([{}, {"matchExpressions": [{"key": "disk", "operator": "NotIn",
                                                   "values": ["ssd", "hdd"]}]}]);
    assert_eq!(only(either), "bare");
    assert_eq!(only(json!([{}])), "none");
}

#[test]
fn untolerated_taints_are_named_by_key_and_value() {
    let tainted = with(
        node_value("gpu", "4", "8Gi"),
        "/spec/taints",
        json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    );
    let evicting = with(
        node_value("draining", "4", "8Gi"),
        "/spec/taints",
        json!([{"key": "drain", "effect": "NoExecute"}]),
    );
    let v = view(&[typed(tainted), typed(evicting)]);
    let plain = pod("p", "1", "1Gi");
    assert_eq!(
        message(&schedule(&v, &plain)),
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) \
         had untolerated taint {drain: }. preemption: 0/2 nodes are available: 2 Preemption is \
         not helpful for scheduling."
    );
    let tolerating = |tolerations: Value| -> Pod {
        typed(with(
            pod_value("p", Some("1"), None),
            "/spec/tolerations",
            tolerations,
        ))
    };
    let equal = tolerating(json!([{"key": "dedicated", "operator": "Equal", "value": "gpu"}]));
    assert_eq!(bound_to(&schedule(&v, &equal)), "gpu");
    let exists = tolerating(json!([{"key": "drain", "operator": "Exists", "effect": "NoExecute"}]));
    assert_eq!(bound_to(&schedule(&v, &exists)), "draining");
    let wrong_value = tolerating(json!([{"key": "dedicated", "value": "cpu"}]));
    assert!(matches!(
        schedule(&v, &wrong_value),
        Placement::Unschedulable(_)
    ));
}

#[test]
fn toleration_matching_follows_kubernetes() {
    let taint = Taint {
        key: "k".to_owned(),
        value: "v".to_owned(),
        effect: TaintEffect::NoSchedule,
    };
    let toleration = |value: Value| -> Toleration { typed(value) };
    let cases = [
        (json!({"operator": "Exists"}), true),
        (json!({"key": "k", "operator": "Exists"}), true),
        (json!({"key": "k", "value": "v"}), true),
        (json!({"key": "k", "operator": "Equal", "value": "v"}), true),
        (
            json!({"key": "k", "operator": "Equal", "value": "w"}),
            false,
        ),
        (json!({"key": "k", "operator": "Equal"}), false),
        (json!({"key": "other", "operator": "Exists"}), false),
        (
            json!({"key": "k", "operator": "Exists", "effect": "NoSchedule"}),
            true,
        ),
        (
            json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}),
            false,
        ),
        (
            json!({"key": "k", "operator": "Exists", "effect": ""}),
            true,
        ),
        (json!({"key": "k", "operator": "Gt", "value": "v"}), false),
    ];
    for (value, expected) in cases {
        assert_eq!(
            tolerates(&toleration(value.clone()), &taint),
            expected,
            "{value}"
        );
    }
}

#[test]
fn cordoned_nodes_are_unschedulable_unless_tolerated() {
    let cordoned = with(
        node_value("n1", "4", "8Gi"),
        "/spec/unschedulable",
        json!(true),
    );
    let v = view(&[typed(cordoned)]);
    assert_eq!(
        message(&schedule(&v, &pod("p", "1", "1Gi"))),
        format!("0/1 nodes are available: 1 node(s) were unschedulable.{PREEMPTION_1}")
    );
    let tolerant: Pod = typed(with(
        pod_value("p", Some("1"), None),
        "/spec/tolerations",
        json!([{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]),
    ));
    assert_eq!(bound_to(&schedule(&v, &tolerant)), "n1");
}

#[test]
fn a_pod_naming_a_node_only_fits_there() {
    let v = view(&[
        node("a", "4", "8Gi"),
        node("b", "4", "8Gi"),
        node("c", "4", "8Gi"),
    ]);
    let named: Pod = typed(with(
        pod_value("p", Some("1"), None),
        "/spec/nodeName",
        json!("c"),
    ));
    assert_eq!(bound_to(&schedule(&v, &named)), "c");
    let elsewhere: Pod = typed(with(
        pod_value("p", Some("1"), None),
        "/spec/nodeName",
        json!("z"),
    ));
    assert_eq!(
        message(&schedule(&v, &elsewhere)),
        "0/3 nodes are available: 3 node(s) didn't match the requested node name. preemption: \
         0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
}

#[test]
fn nodes_that_are_not_ready_carry_the_lifecycle_taints() {
    let ready = |status: &str| {
        with(
            node_value(&format!("n-{status}"), "4", "8Gi"),
            "/status/conditions",
            json!([{"type": "Ready", "status": status}]),
        )
    };
    let v = view(&[typed(ready("False")), typed(ready("Unknown"))]);
    assert_eq!(
        message(&schedule(&v, &pod("p", "1", "1Gi"))),
        "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: \
         }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/2 \
         nodes are available: 2 Preemption is not helpful for scheduling."
    );
    let tolerant: Pod = typed(with(
        pod_value("p", Some("1"), None),
        "/spec/tolerations",
        json!([{"key": NOT_READY_TAINT, "operator": "Exists"}]),
    ));
    assert_eq!(bound_to(&schedule(&v, &tolerant)), "n-False");
    // A node that never reported readiness takes nothing, whatever the pod tolerates.
    let silent = with(
        node_value("silent", "4", "8Gi"),
        "/status/conditions",
        json!([]),
    );
    let v = view(&[typed(silent)]);
    let everything: Pod = typed(with(
        pod_value("p", Some("1"), None),
        "/spec/tolerations",
        json!([{"operator": "Exists"}]),
    ));
    assert_eq!(
        message(&schedule(&v, &everything)),
        format!("0/1 nodes are available: 1 node(s) were not ready.{PREEMPTION_1}")
    );
    // The taint is not doubled when the node already carries it.
    let tainted = with(
        ready("False"),
        "/spec/taints",
        json!([{"key": NOT_READY_TAINT, "effect": "NoSchedule"}]),
    );
    assert_eq!(
        NodeInfo::from_node(&typed(tainted)).unwrap().taints.len(),
        1
    );
}

#[test]
fn reasons_are_counted_and_sorted_as_kube_scheduler_sorts_them() {
    // The example: kube-scheduler sorts "<count> <reason>" strings bytewise.
    let small = |name: &str| node(name, "4", "1Gi");
    let not_ready = with(
        node_value("c", "4", "8Gi"),
        "/status/conditions",
        json!([{"type": "Ready", "status": "False"}]),
    );
    let v = view(&[small("a"), small("b"), typed(not_ready)]);
    assert_eq!(
        message(&schedule(&v, &pod("p", "1", "2Gi"))),
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: \
         }, 2 Insufficient memory. preemption: 0/3 nodes are available: 3 Preemption is not \
         helpful for scheduling."
    );
    let mut reasons = Reasons::new(12);
    for _ in 0..10 {
        reasons.add(Reason::InsufficientMemory);
    }
    reasons.add(Reason::InsufficientCpu);
    reasons.add(Reason::NodeAffinity);
    reasons.add(Reason::NodeAffinity);
    assert_eq!(
        reasons.to_string(),
        "0/12 nodes are available: 1 Insufficient cpu, 10 Insufficient memory, 2 node(s) didn't \
         match Pod's node affinity/selector. preemption: 0/12 nodes are available: 12 \
         Preemption is not helpful for scheduling."
    );
    assert_eq!(
        message(&schedule(&view(&[]), &pod("p", "1", "1Gi"))),
        "no nodes available to schedule pods"
    );
}

#[test]
fn init_containers_count_when_fitting() {
    let v = view(&[node("n1", "1", "8Gi")]);
    let p: Pod = typed(with(
        pod_value("p", Some("100m"), None),
        "/spec/initContainers",
        json!([{"name": "setup", "resources": {"requests": {"cpu": "2"}}}]),
    ));
    assert_eq!(
        message(&schedule(&v, &p)),
        format!("0/1 nodes are available: 1 Insufficient cpu.{PREEMPTION_1}")
    );
}

#[test]
fn the_first_failing_filter_names_the_node() {
    // Cordoned and tainted and too small: kube-scheduler stops at NodeUnschedulable.
    let value = with(
        with(
            node_value("n1", "1", "1Gi"),
            "/spec/unschedulable",
            json!(true),
        ),
        "/spec/taints",
        json!([{"key": "k", "effect": "NoSchedule"}]),
    );
    let v = view(&[typed(value)]);
    let reasons = match schedule(&v, &pod("p", "4", "4Gi")) {
        Placement::Unschedulable(reasons) => reasons,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reasons.iter().collect::<Vec<_>>(),
        [(&Reason::Unschedulable, 1)]
    );
    assert_eq!(reasons.nodes(), 1);
}
