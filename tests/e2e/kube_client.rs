//! A Rust client, kube-rs, against a real `shoal server`: paginated lists consistent at one
//! revision, watches with selectors, bookmarks and 410 Gone, and strategic, merge and
//! server-side-apply patches with a conflict, exactly as controllers written with kube-rs use
//! the API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use shoal_manifests::k8s_openapi::api::apps::v1::Deployment;
use shoal_manifests::k8s_openapi::api::core::v1::ConfigMap;
use shoal_tests::cluster::ControlPlane;

const EVENT_DEADLINE: Duration = Duration::from_secs(20);

async fn client(plane: &ControlPlane) -> Client {
    let kubeconfig = Kubeconfig::read_from(&plane.kubeconfig).expect("the kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a client config from the kubeconfig");
    Client::try_from(config).expect("a client")
}

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        },
        "data": {"n": name},
    }))
    .expect("a ConfigMap")
}

/// The next watch event within the deadline.
async fn next<S, K>(events: &mut S) -> WatchEvent<K>
where
    S: futures::Stream<Item = Result<WatchEvent<K>, kube::Error>> + Unpin,
{
    tokio::time::timeout(EVENT_DEADLINE, events.try_next())
        .await
        .expect("a watch event in time")
        .expect("the watch stream is healthy")
        .expect("the watch stream is open")
}

fn name_of(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_consistently_and_watches_follow_selectors() {
    let plane = ControlPlane::start_with(&["--watch-bookmark-seconds", "1"]);
    let client = client(&plane).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");

    tracing::info!("--- 25 objects, listed 7 at a time");
    for i in 0..25 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        cms.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i:02}"), &[("app", "pager"), ("tier", tier)]),
        )
        .await
        .expect("create");
    }
    let first = cms
        .list(&ListParams::default().labels("app=pager").limit(7))
        .await
        .expect("first page");
    let revision = first
        .metadata
        .resource_version
        .clone()
        .expect("a list revision");
    let mut names: Vec<String> = first.items.iter().map(name_of).collect();
    let mut token = first.metadata.continue_.clone();
    // A write between pages must not show up in the later pages.
    cms.create(
        &PostParams::default(),
        &config_map("cm-late", &[("app", "pager")]),
    )
    .await
    .expect("create between pages");
    while let Some(next_token) = token.filter(|t| !t.is_empty()) {
        let page = cms
            .list(
                &ListParams::default()
                    .labels("app=pager")
                    .limit(7)
                    .continue_token(&next_token),
            )
            .await
            .expect("next page");
        assert!(page.items.len() <= 7);
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(revision.as_str()),
            "every page is read at the first page's revision"
        );
        names.extend(page.items.iter().map(name_of));
        token = page.metadata.continue_.clone();
    }
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(
        names, expected,
        "every object once, in order, without the late one"
    );
    let odd = cms
        .list(&ListParams::default().labels("app=pager,tier=odd"))
        .await
        .expect("selected list");
    assert_eq!(odd.items.len(), 12);
    let by_field = cms
        .list(&ListParams::default().fields("metadata.name=cm-03"))
        .await
        .expect("field selector");
    assert_eq!(
        by_field.items.iter().map(name_of).collect::<Vec<_>>(),
        ["cm-03"]
    );

    tracing::info!("--- a watch with a label selector sees objects enter and leave it");
    let now = cms
        .list(&ListParams::default().limit(1))
        .await
        .expect("list");
    let from = now.metadata.resource_version.expect("revision");
    let mut events = cms
        .watch(
            &WatchParams::default().labels("tier=odd").timeout(60),
            &from,
        )
        .await
        .expect("watch starts")
        .boxed();
    cms.patch(
        "cm-01",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .expect("merge patch");
    match next(&mut events).await {
        WatchEvent::Modified(cm) => assert_eq!(name_of(&cm), "cm-01"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    cms.patch(
        "cm-02",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "odd"}}})),
    )
    .await
    .expect("label into the selector");
    match next(&mut events).await {
        WatchEvent::Added(cm) => assert_eq!(name_of(&cm), "cm-02"),
        other => panic!("expected ADDED for an object entering the selector, got {other:?}"),
    }
    cms.patch(
        "cm-03",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "even"}}})),
    )
    .await
    .expect("label out of the selector");
    match next(&mut events).await {
        WatchEvent::Deleted(cm) => assert_eq!(name_of(&cm), "cm-03"),
        other => panic!("expected DELETED for an object leaving the selector, got {other:?}"),
    }
    cms.delete("cm-05", &DeleteParams::default())
        .await
        .expect("delete");
    let deleted = match next(&mut events).await {
        WatchEvent::Deleted(cm) => cm,
        other => panic!("expected DELETED, got {other:?}"),
    };
    assert_eq!(name_of(&deleted), "cm-05");
    let deleted_at: u64 = deleted.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        deleted_at > from.parse::<u64>().unwrap(),
        "the deletion has its own revision"
    );

    tracing::info!("--- bookmarks while idle");
    let mut marked = cms
        .watch(
            &WatchParams::default().labels("tier=none").timeout(30),
            &deleted_at.to_string(),
        )
        .await
        .expect("watch starts")
        .boxed();
    match next(&mut marked).await {
        WatchEvent::Bookmark(b) => {
            let at: u64 = b
                .metadata
                .resource_version
                .parse()
                .expect("a numeric bookmark");
            assert!(
                at >= deleted_at,
                "bookmark {at} is not behind the watch start {deleted_at}"
            );
        }
        other => panic!("expected BOOKMARK, got {other:?}"),
    }

    tracing::info!("--- a watch from the start replays current objects");
    let mut replay = cms
        .watch(&WatchParams::default().labels("tier=odd").timeout(30), "0")
        .await
        .expect("watch starts")
        .boxed();
    // Every current object arrives as ADDED, then the idle watch gets a bookmark.
    let mut replayed = BTreeSet::new();
    loop {
        match next(&mut replay).await {
            WatchEvent::Added(cm) => {
                assert!(
                    replayed.insert(name_of(&cm)),
                    "each object is replayed once"
                );
            }
            WatchEvent::Bookmark(_) => break,
            other => panic!("expected ADDED while replaying, got {other:?}"),
        }
    }
    let expected: BTreeSet<String> = [1, 2, 7, 9, 11, 13, 15, 17, 19, 21, 23]
        .iter()
        .map(|i| format!("cm-{i:02}"))
        .collect();
    assert_eq!(replayed, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_resource_version_gets_410() {
    let plane = ControlPlane::start_with(&["--watch-history-events", "10"]);
    let client = client(&plane).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = cms
        .create(&PostParams::default(), &config_map("old", &[]))
        .await
        .expect("create");
    let old = first.metadata.resource_version.expect("revision");
    for i in 0..20 {
        cms.patch(
            "old",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": i.to_string()}})),
        )
        .await
        .expect("patch");
    }
    let mut events = cms
        .watch(&WatchParams::default(), &old)
        .await
        .expect("the watch request is answered")
        .boxed();
    match next(&mut events).await {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410, "{status:?}");
            assert_eq!(status.reason, "Expired", "{status:?}");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategic_merge_and_server_side_apply_patches() {
    let plane = ControlPlane::start();
    let client = client(&plane).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "app", "image": "registry.example/web:1", "ports": [{"containerPort": 8080}]},
                    {"name": "sidecar", "image": "registry.example/sidecar:1"},
                ]},
            },
        },
    }))
    .expect("a Deployment");
    let created = deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));

    tracing::info!("--- strategic merge patch merges containers by name");
    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "registry.example/sidecar:2"}]}}}})),
        )
        .await
        .expect("strategic merge patch");
    let containers = patched
        .spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers
        .clone();
    let images: BTreeMap<String, String> = containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    assert_eq!(images["app"], "registry.example/web:1");
    assert_eq!(images["sidecar"], "registry.example/sidecar:2");
    assert_eq!(
        patched.metadata.generation,
        Some(2),
        "a spec change bumps the generation"
    );

    tracing::info!("--- merge patch on metadata does not bump the generation");
    let labelled = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(labelled.metadata.generation, Some(2));
    assert_eq!(labelled.metadata.labels.as_ref().unwrap()["tier"], "front");

    tracing::info!("--- scale subresource");
    let scale = deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(4));
    assert_eq!(
        scale
            .status
            .map(|s| s.selector.unwrap_or_default())
            .as_deref(),
        Some("app=web")
    );

    tracing::info!("--- server-side apply: create, conflict, force");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}});
    let cm = cms
        .patch(
            "settings",
            &PatchParams::apply("alice"),
            &Patch::Apply(&applied),
        )
        .await
        .expect("apply creates");
    assert_eq!(cm.data.as_ref().unwrap()["mode"], "fast");
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["alice"]);
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "safe"}});
    let conflict = cms
        .patch(
            "settings",
            &PatchParams::apply("bob"),
            &Patch::Apply(&theirs),
        )
        .await
        .expect_err("bob conflicts with alice");
    match conflict {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert_eq!(status.reason, "Conflict", "{status:?}");
            assert!(
                status.message.contains("conflict with \"alice\""),
                "{status:?}"
            );
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    let forced = cms
        .patch(
            "settings",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .expect("a forced apply");
    assert_eq!(forced.data.as_ref().unwrap()["mode"], "safe");

    tracing::info!("--- a stale resourceVersion is a 409");
    let mut stale = cm_without_managed(&forced);
    stale.metadata.resource_version = Some("1".to_owned());
    let error = cms
        .replace("settings", &PostParams::default(), &stale)
        .await
        .expect_err("a stale replace fails");
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 409),
        "{error:?}"
    );
}

fn cm_without_managed(cm: &ConfigMap) -> ConfigMap {
    let mut cm = cm.clone();
    cm.metadata.managed_fields = None;
    cm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_get_401_and_health_is_open() {
    let plane = ControlPlane::start();
    let ca = reqwest::Certificate::from_pem(&plane.ca_pem()).expect("the cluster CA");
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .use_rustls_tls()
        .build()
        .expect("an HTTPS client");
    let url = format!("{}/api/v1/namespaces/default/pods", plane.api_url);

    for token in [None, Some("not-the-token")] {
        let mut request = http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        assert_eq!(response.status(), 401);
        let status: serde_json::Value = response.json().await.expect("a Status body");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Unauthorized");
        assert_eq!(status["code"], 401);
    }
    let response = http
        .get(&url)
        .bearer_auth(plane.admin_token())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    let list: serde_json::Value = response.json().await.expect("a PodList");
    assert_eq!(list["kind"], "PodList");

    let health = http
        .get(format!("{}/healthz", plane.api_url))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("a body"), "ok");

    let plain = plane.api_url.replace("https://", "http://");
    let response = reqwest::Client::new()
        .get(format!("{plain}/api"))
        .send()
        .await
        .expect("the server answers plain HTTP with an error");
    assert_eq!(
        response.status(),
        400,
        "plain HTTP is refused on the TLS port"
    );
}
