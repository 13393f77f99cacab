//! OpenAPI v2: the protobuf and JSON forms agree, every write validates fields, and both
//! encodings are served and revalidated as kube-apiserver does.

use shoal_manifests::registry::KindInfo;

use super::super::discovery::testing::get;
use super::*;

fn decoded() -> Document {
    Document::decode(PROTOBUF_BODY.body.clone()).unwrap()
}

fn operations(item: &PathItem) -> impl Iterator<Item = (&'static str, &Operation)> {
    [
        ("get", &item.get),
        ("put", &item.put),
        ("post", &item.post),
        ("delete", &item.delete),
        ("patch", &item.patch),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op.as_ref()?)))
}

fn query_names(op: &Operation) -> Vec<&str> {
    op.parameters
        .iter()
        .filter_map(|p| p.parameter.as_ref()?.non_body_parameter.as_ref())
        .filter_map(|p| p.query_parameter_sub_schema.as_ref())
        .map(|q| q.name.as_str())
        .collect()
}

fn extension_value(op: &Operation, name: &str) -> Option<Value> {
    let ext = op.vendor_extension.iter().find(|e| e.name == name)?;
    serde_json::from_str(&ext.value.as_ref()?.yaml).ok()
}

/// kubectl 1.27's check (`supportsQueryParam`): the first path whose PATCH carries the
/// kind's GVK decides, by the query parameters of that PATCH.
fn kubectl_supports(doc: &Document, kind: &KindInfo, param: &str) -> Option<bool> {
    let gvk = json!({"group": kind.group, "kind": kind.kind, "version": kind.version});
    doc.paths.as_ref()?.path.iter().find_map(|named| {
        let patch = named.value.as_ref()?.patch.as_ref()?;
        (extension_value(patch, "x-kubernetes-group-version-kind")? == gvk)
            .then(|| query_names(patch).contains(&param))
    })
}

#[test]
fn protobuf_decodes_back_to_the_document() {
    let doc = decoded();
    assert_eq!(doc, *DOCUMENT);
    assert_eq!(doc.swagger, "2.0");
    let info = doc.info.unwrap();
    assert_eq!(info.title, "Shoal");
    assert!(info.version.starts_with("v1.33.0"), "{}", info.version);
    assert_eq!(doc.definitions, Some(Definitions {}));
    // Field numbers on the wire, independent of the derive: `swagger = 1` comes first,
    // then `info = 2`.
    let bytes = &PROTOBUF_BODY.body;
    assert_eq!(&bytes[..5], b"\x0a\x032.0");
    assert_eq!(bytes[5], 0x12);
}

#[test]
fn every_kind_has_a_validating_patch() {
    let doc = decoded();
    for kind in KINDS {
        for param in ["fieldValidation", "dryRun", "fieldManager"] {
            assert_eq!(
                kubectl_supports(&doc, kind, param),
                Some(true),
                "{} {param}",
                kind.kind
            );
        }
    }
}

#[test]
fn every_operation_is_described() {
    let doc = decoded();
    for named in &doc.paths.unwrap().path {
        for (method, op) in operations(named.value.as_ref().unwrap()) {
            let at = format!("{method} {}", named.name);
            let action = extension_value(op, "x-kubernetes-action").unwrap();
            assert!(action.is_string(), "{at}");
            let gvk = extension_value(op, "x-kubernetes-group-version-kind").unwrap();
            assert!(
                gvk["kind"].is_string() && gvk["version"].is_string(),
                "{at}"
            );
            let writes = matches!(method, "post" | "put" | "patch");
            let query = query_names(op);
            for param in ["dryRun", "fieldManager", "fieldValidation"] {
                let deletes = method == "delete" && param == "dryRun";
                let expected = writes || deletes;
                assert_eq!(query.contains(&param), expected, "{at} {param}");
            }
            if method == "patch" {
                assert!(
                    op.consumes
                        .iter()
                        .any(|c| c == "application/strategic-merge-patch+json")
                );
            }
        }
    }
}

#[test]
fn paths_follow_kube_apiserver() {
    let json: Value = serde_json::from_slice(&JSON_BODY.body).unwrap();
    let paths = json["paths"].as_object().unwrap();
    for path in [
        "/api/v1/namespaces/{namespace}/pods",
        "/api/v1/namespaces/{namespace}/pods/{name}",
        "/api/v1/pods",
        "/api/v1/nodes",
        "/api/v1/nodes/{name}",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/nodes"));
    assert_eq!(
        paths.len(),
        KINDS
            .iter()
            .map(|k| 2 + usize::from(k.namespaced))
            .sum::<usize>()
    );

    let pod = &paths["/api/v1/namespaces/{namespace}/pods/{name}"];
    assert_eq!(
        pod["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "Pod", "version": "v1"})
    );
    assert_eq!(pod["patch"]["x-kubernetes-action"], "patch");
    assert!(pod.get("post").is_none());
    let names: Vec<&str> = pod["patch"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "name",
            "namespace",
            "dryRun",
            "fieldManager",
            "fieldValidation",
            "force"
        ]
    );
    assert_eq!(pod["patch"]["parameters"][0]["in"], "path");
    assert_eq!(pod["patch"]["parameters"][0]["required"], true);
    assert_eq!(pod["patch"]["parameters"][4]["in"], "query");
    let node = &paths["/api/v1/nodes/{name}"]["put"];
    assert_eq!(node["parameters"].as_array().unwrap().len(), 4);
    assert_eq!(
        paths["/api/v1/namespaces/{namespace}/pods"]["delete"]["x-kubernetes-action"],
        "deletecollection"
    );
    assert_eq!(json["definitions"], json!({}));
}

#[test]
fn json_and_protobuf_describe_the_same_paths() {
    let json: Value = serde_json::from_slice(&JSON_BODY.body).unwrap();
    assert_eq!(json["swagger"], "2.0");
    let paths = json["paths"].as_object().unwrap();
    let doc = decoded();
    let named = &doc.paths.as_ref().unwrap().path;
    let json_names: Vec<&String> = paths.keys().collect();
    let pb_names: Vec<&String> = named.iter().map(|n| &n.name).collect();
    assert_eq!(json_names, pb_names);
    for named in named {
        let item = named.value.as_ref().unwrap();
        let methods: Vec<&str> = operations(item).map(|(m, _)| m).collect();
        let json_methods: Vec<&str> = paths[&named.name]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(methods, json_methods, "{}", named.name);
        for (method, op) in operations(item) {
            let json_op = &paths[&named.name][method];
            for ext in ["x-kubernetes-action", "x-kubernetes-group-version-kind"] {
                assert_eq!(extension_value(op, ext).as_ref(), Some(&json_op[ext]));
            }
            let json_params: Vec<&str> = json_op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(query_names(op), json_params);
        }
    }
}

#[test]
fn negotiates_like_kube_apiserver() {
    assert_eq!(negotiate(Some(PROTOBUF)), Format::Protobuf);
    assert_eq!(negotiate(Some(PROTOBUF_DOTTED)), Format::Protobuf);
    assert_eq!(
        negotiate(Some(&format!("application/json;q=0.9, {PROTOBUF};q=1"))),
        Format::Protobuf
    );
    assert_eq!(negotiate(Some("application/json")), Format::Json);
    assert_eq!(negotiate(Some("*/*")), Format::Json);
    assert_eq!(negotiate(None), Format::Json);
}

#[tokio::test]
async fn serves_both_encodings() {
    let pb = [("accept", PROTOBUF)];
    for (path, headers) in [
        ("/openapi/v2?timeout=32s", &pb[..]),
        ("/swagger-2.0.0.pb-v1", &[]),
    ] {
        let (status, content_type, body) = get(routes(), path, headers).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(content_type, PROTOBUF_DOTTED, "{path}");
        assert_eq!(body, PROTOBUF_BODY.body.to_vec(), "{path}");
    }
    for headers in [&[("accept", "application/json")][..], &[]] {
        let (status, content_type, body) = get(routes(), "/openapi/v2", headers).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        assert_eq!(body, JSON_BODY.body.to_vec());
    }
    let (status, _, _) = get(routes(), "/openapi/v2/extra", &pb).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT, "not ours");
}

#[tokio::test]
async fn etags_revalidate() {
    use tower_service::Service;
    use warp::http::header::CONTENT_TYPE;

    assert_ne!(PROTOBUF_BODY.etag, JSON_BODY.etag);
    let mut service = warp::service(routes());
    for (accept, encoded) in [
        (PROTOBUF, &*PROTOBUF_BODY),
        ("application/json", &*JSON_BODY),
    ] {
        let request = |etag: Option<&str>| {
            let builder = warp::http::Request::builder()
                .uri("/openapi/v2")
                .header("accept", accept);
            let builder = match etag {
                Some(etag) => builder.header("if-none-match", etag),
                None => builder,
            };
            builder.body(String::new()).unwrap()
        };
        let response = service.call(request(None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[ETAG], encoded.etag.as_str());
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache, private");
        assert_eq!(response.headers()[VARY], "Accept");
        let content_type = response.headers()[CONTENT_TYPE].clone();
        let response = service.call(request(Some(&encoded.etag))).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[CONTENT_TYPE], content_type);
        let response = service.call(request(Some("\"0BAD\""))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
