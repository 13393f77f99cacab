//! The OpenAPI v3 documents: every write validates fields, paths and ids follow
//! kube-apiserver, and the hashed URLs cache.

use super::super::discovery::testing::get;
use super::operations::PATCH_TYPES;
use super::*;

fn parsed(doc: &GroupVersionDocument) -> Value {
    serde_json::from_slice(&doc.body).unwrap()
}

fn operations(doc: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (path.as_str(), method.as_str(), op))
        })
}

fn has_param(op: &Value, name: &str, location: &str) -> bool {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == name && p["in"] == location)
}

#[test]
fn every_kind_has_a_validating_patch() {
    for kind in KINDS {
        let doc = DOCUMENTS
            .iter()
            .find(|d| d.path == gv_path(kind.group, kind.version))
            .unwrap();
        let doc = parsed(doc);
        assert_eq!(doc["openapi"], "3.0.0");
        let gvk = json!({"group": kind.group, "version": kind.version, "kind": kind.kind});
        let patch = operations(&doc)
            .find(|(_, method, op)| {
                *method == "patch" && op["x-kubernetes-group-version-kind"] == gvk
            })
            .unwrap_or_else(|| panic!("no PATCH for {}", kind.kind));
        assert!(
            has_param(patch.2, "fieldValidation", "query"),
            "{}",
            patch.0
        );
        assert!(has_param(patch.2, "force", "query"));
        let content = patch.2["requestBody"]["content"].as_object().unwrap();
        for patch_type in PATCH_TYPES {
            assert!(content.contains_key(*patch_type));
        }
    }
}

#[test]
fn every_write_declares_field_validation() {
    for doc in DOCUMENTS.iter() {
        let doc = parsed(doc);
        let mut ids = Vec::new();
        for (path, method, op) in operations(&doc) {
            assert!(op["operationId"].is_string());
            assert!(op["x-kubernetes-action"].is_string());
            assert!(op["x-kubernetes-group-version-kind"]["kind"].is_string());
            assert_eq!(op["responses"]["200"]["description"], "OK");
            if matches!(method, "post" | "put" | "patch") {
                assert!(has_param(op, "fieldValidation", "query"), "{method} {path}");
                assert!(has_param(op, "dryRun", "query"));
                assert!(has_param(op, "fieldManager", "query"));
            }
            for segment in ["name", "namespace"] {
                let templated = path.contains(&format!("{{{segment}}}"));
                assert_eq!(has_param(op, segment, "path"), templated, "{method} {path}");
            }
            ids.push(op["operationId"].as_str().unwrap().to_owned());
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
    }
}

#[test]
fn paths_follow_kube_apiserver() {
    let core = parsed(&DOCUMENTS[0]);
    let paths = core["paths"].as_object().unwrap();
    for path in [
        "/api/v1/namespaces/{namespace}/pods",
        "/api/v1/namespaces/{namespace}/pods/{name}",
        "/api/v1/namespaces/{namespace}/pods/{name}/log",
        "/api/v1/namespaces/{namespace}/pods/{name}/exec",
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
        "/api/v1/pods",
        "/api/v1/nodes",
        "/api/v1/nodes/{name}",
        "/api/v1/nodes/{name}/status",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/nodes"));
    let pod = &paths["/api/v1/namespaces/{namespace}/pods/{name}"];
    assert_eq!(pod["patch"]["operationId"], "patchCoreV1NamespacedPod");
    assert_eq!(pod["get"]["operationId"], "readCoreV1NamespacedPod");
    assert_eq!(
        paths["/api/v1/pods"]["get"]["operationId"],
        "listCoreV1PodForAllNamespaces"
    );
    assert_eq!(
        paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["post"]["operationId"],
        "connectCoreV1PostNamespacedPodExec"
    );
    assert_eq!(
        paths["/api/v1/namespaces/{namespace}/pods"]["delete"]["operationId"],
        "deleteCoreV1CollectionNamespacedPod"
    );

    let apps = parsed(DOCUMENTS.iter().find(|d| d.path == "apis/apps/v1").unwrap());
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    assert_eq!(
        scale["put"]["operationId"],
        "replaceAppsV1NamespacedDeploymentScale"
    );
    let rbac = parsed(
        DOCUMENTS
            .iter()
            .find(|d| d.path == "apis/rbac.authorization.k8s.io/v1")
            .unwrap(),
    );
    assert_eq!(
        rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"]["operationId"],
        "patchRbacAuthorizationV1ClusterRole"
    );
}

#[test]
fn root_hashes_match_the_documents() {
    let root = root();
    let paths = root["paths"].as_object().unwrap();
    let group_versions = registry::group_versions();
    assert_eq!(paths.len(), group_versions.len());
    for (group, version) in group_versions {
        assert!(paths.contains_key(&gv_path(group, version)));
    }
    assert!(paths.contains_key("api/v1") && paths.contains_key("apis/apps/v1"));
    for doc in DOCUMENTS.iter() {
        let url = paths[&doc.path]["serverRelativeURL"].as_str().unwrap();
        let hash = url
            .strip_prefix(&format!("/openapi/v3/{}?hash=", doc.path))
            .unwrap();
        assert_eq!(hash, hex_digest(&doc.body));
        assert_eq!(hash.len(), 128);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }
    assert_eq!(*ROOT, Bytes::from(to_json(&root)));
}

#[tokio::test]
async fn serves_the_documents() {
    let (status, content_type, body) = get(routes(), "/openapi/v3?timeout=32s", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let root: Value = serde_json::from_slice(&body).unwrap();
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let apps = DOCUMENTS.iter().find(|d| d.path == "apis/apps/v1").unwrap();

    for path in [url.as_str(), "/openapi/v3/apis/apps/v1"] {
        let (status, content_type, body) = get(routes(), path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(content_type, "application/json");
        assert_eq!(body, apps.body.to_vec());
        assert_eq!(hex_digest(&body), apps.hash);
    }

    let etag = format!("\"{}\"", apps.hash);
    let (status, _, _) = get(routes(), &url, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    for path in [
        "/openapi/v2",
        "/openapi/v3/apis/nope.example.com/v1",
        "/openapi/v3/api/v2",
    ] {
        let (status, _, body) = get(routes(), path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "NotFound");
    }
}

#[tokio::test]
async fn hashed_urls_are_immutable() {
    use tower_service::Service;

    let apps = DOCUMENTS.iter().find(|d| d.path == "apis/apps/v1").unwrap();
    let mut service = warp::service(routes());
    for (query, cache) in [
        (format!("?hash={}", apps.hash), "public, immutable"),
        ("?hash=0BAD".to_owned(), "no-cache, private"),
        (String::new(), "no-cache, private"),
    ] {
        let request = warp::http::Request::builder()
            .uri(format!("/openapi/v3/apis/apps/v1{query}"))
            .body(String::new())
            .unwrap();
        let response = service.call(request).await.unwrap();
        assert_eq!(response.headers()[CACHE_CONTROL], cache, "{query}");
        assert_eq!(
            response.headers()[ETAG].to_str().unwrap(),
            format!("\"{}\"", apps.hash)
        );
    }
}
