//! The scheduler's driver against a real store: Nodes and Pods created through `Resources`,
//! the driver running, and the bindings, `PodScheduled` conditions and `FailedScheduling`
//! Events it writes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shoal_control::api::resources::{Resources, WriteOptions};
use shoal_control::scheduler::driver;
use shoal_control::store::Consistency;
use shoal_manifests::KindInfo;
use shoal_manifests::registry::by_resource;
use tokio_util::sync::CancellationToken;

use crate::common::{open, trace, within};

fn kind(plural: &str) -> &'static KindInfo {
    by_resource("", "v1", plural).expect("a core kind")
}

async fn create(resources: &Resources, plural: &str, namespace: Option<&str>, body: Value) {
    resources
        .create(
            kind(plural),
            namespace,
            body,
            &WriteOptions::controller("test"),
        )
        .await
        .unwrap_or_else(|e| panic!("creating {plural}: {e}"));
}

fn node(name: &str, cpu: &str, taints: Value) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    })
}

fn pod(name: &str, cpu: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"containers": [{
            "name": "app",
            "image": "registry.example/app:1",
            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
        }]},
    })
}

async fn get(resources: &Resources, plural: &str, name: &str) -> Value {
    resources
        .get_existing(kind(plural), "default", name, Consistency::Local)
        .await
        .expect("the object exists")
}

async fn events(resources: &Resources) -> Vec<Value> {
    resources
        .list(
            kind("events"),
            Some("default"),
            0,
            None,
            Consistency::Local,
            |_| true,
        )
        .await
        .expect("events list")
        .items
}

/// Polls `check` until it returns something, failing the test at the deadline.
async fn until<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

fn scheduled_condition(pod: &Value) -> Option<&Value> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "PodScheduled")
}

#[tokio::test]
async fn scheduler_binds_what_fits_and_explains_what_does_not() {
    trace();
    let dir = tempfile::tempdir().expect("temp dir");
    let resources = Resources::new(Arc::new(open(dir.path()).await));
    create(
        &resources,
        "namespaces",
        None,
        json!({"metadata": {"name": "default"}}),
    )
    .await;
    create(&resources, "nodes", None, node("small", "2", json!([]))).await;
    let gpu = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    create(&resources, "nodes", None, node("gpu", "16", gpu)).await;
    create(&resources, "pods", Some("default"), pod("fits", "500m")).await;
    create(&resources, "pods", Some("default"), pod("too-big", "8")).await;

    tracing::info!("--- run the scheduler");
    let cancel = CancellationToken::new();
    let scheduler = tokio::spawn(driver::run(resources.clone(), cancel.clone()));

    let fits = until(|| async {
        let pod = get(&resources, "pods", "fits").await;
        let scheduled = scheduled_condition(&pod).is_some_and(|c| c["status"] == "True");
        scheduled.then_some(pod)
    })
    .await;
    assert_eq!(fits["spec"]["nodeName"], "small");

    let message = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
                   {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not \
                   helpful for scheduling.";
    let too_big = until(|| async {
        let pod = get(&resources, "pods", "too-big").await;
        scheduled_condition(&pod).is_some().then_some(pod)
    })
    .await;
    let condition = scheduled_condition(&too_big).expect("the condition");
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(condition["message"], message);
    assert!(too_big["spec"].get("nodeName").is_none_or(Value::is_null));

    let event = until(|| async { events(&resources).await.into_iter().next() }).await;
    assert_eq!(event["reason"], "FailedScheduling");
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["message"], message);
    assert_eq!(event["count"], 1);
    assert_eq!(event["source"]["component"], "default-scheduler");
    assert_eq!(event["involvedObject"]["kind"], "Pod");
    assert_eq!(event["involvedObject"]["name"], "too-big");
    assert_eq!(event["involvedObject"]["uid"], too_big["metadata"]["uid"]);

    tracing::info!("--- another pass, for a new pod, repeats no Event");
    create(&resources, "pods", Some("default"), pod("later", "100m")).await;
    until(|| async {
        let pod = get(&resources, "pods", "later").await;
        pod["spec"]["nodeName"].as_str().map(str::to_owned)
    })
    .await;
    let all = events(&resources).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["count"], 1);

    tracing::info!("--- a pod that tolerates the taint goes to the big node");
    let mut tolerant = pod("tolerant", "8");
    tolerant["spec"]["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
    create(&resources, "pods", Some("default"), tolerant).await;
    let node = until(|| async {
        let pod = get(&resources, "pods", "tolerant").await;
        pod["spec"]["nodeName"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(node, "gpu");

    cancel.cancel();
    within(scheduler).await.expect("the driver stops");
}
