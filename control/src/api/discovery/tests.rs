//! Discovery: legacy and aggregated bodies list the registry, the Accept header picks the
//! format as kube-apiserver does, and unknown paths are left to other routes or not found.

use super::testing::get;
use super::*;

const KUBECTL_1_32: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const KUBECTL_1_28: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// The element of the JSON array `list` whose `key` is `value`.
fn entry<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    let items = list.as_array().unwrap();
    let found = items.iter().find(|item| item[key] == value);
    found.unwrap_or_else(|| panic!("no {key} {value:?}"))
}

/// A resource's verbs, short names and categories, in either discovery format: the names are
/// left out when the kind has none.
fn assert_lists(resource: &Value, kind: &KindInfo) {
    assert_eq!(
        resource["verbs"],
        json!(COLLECTION_VERBS),
        "{}",
        kind.plural
    );
    let short_names = resource.get("shortNames").cloned().unwrap_or(json!([]));
    assert_eq!(short_names, json!(kind.short_names));
    let categories = resource.get("categories").cloned().unwrap_or(json!([]));
    assert_eq!(categories, json!(kind.categories));
}

#[test]
fn every_kind_is_in_its_resource_list() {
    for kind in KINDS {
        let list = api_resource_list(kind.group, kind.version).unwrap();
        assert_eq!(list.group_version, kind.api_version);
        let list = serde_json::to_value(list).unwrap();
        let resource = entry(&list["resources"], "name", kind.plural);
        assert_eq!(resource["kind"], kind.kind);
        assert_eq!(resource["singularName"], kind.singular);
        assert_eq!(resource["namespaced"], kind.namespaced);
        assert_lists(resource, kind);
        for &sub in kind.subresources {
            let name = format!("{}/{}", kind.plural, sub.name());
            let resource = entry(&list["resources"], "name", &name);
            assert_eq!(resource["verbs"], json!(subresource_verbs(sub)), "{name}");
            assert_eq!(resource["namespaced"], kind.namespaced);
        }
    }
}

#[test]
fn subresources_declare_their_kinds() {
    let apps = serde_json::to_value(api_resource_list("apps", "v1").unwrap()).unwrap();
    let scale = entry(&apps["resources"], "name", "deployments/scale");
    assert_eq!(
        (&scale["group"], &scale["version"], &scale["kind"]),
        (&json!("autoscaling"), &json!("v1"), &json!("Scale"))
    );
    assert_eq!(scale["verbs"], json!(["get", "patch", "update"]));
    let status = entry(&apps["resources"], "name", "deployments/status");
    assert_eq!(status["kind"], "Deployment");
    assert!(status.get("group").is_none());

    let core = serde_json::to_value(api_resource_list("", "v1").unwrap()).unwrap();
    let pod = |sub: &str| entry(&core["resources"], "name", &format!("pods/{sub}")).clone();
    assert_eq!(pod("log")["kind"], "Pod");
    assert_eq!(pod("log")["verbs"], json!(["get"]));
    assert_eq!(pod("exec")["verbs"], json!(["create", "get"]));
    assert_eq!(pod("eviction")["group"], "policy");
    assert_eq!(pod("eviction")["kind"], "Eviction");
    assert_eq!(pod("binding")["verbs"], json!(["create"]));
    assert!(pod("binding").get("group").is_none());
}

#[test]
fn aggregated_lists_match_the_registry() {
    let core = aggregated(DiscoveryRoot::Core, AggregatedVersion::V2);
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    assert_eq!(core["items"].as_array().unwrap().len(), 1);
    assert_eq!(core["items"][0]["metadata"]["name"], "");
    let groups = aggregated(DiscoveryRoot::Groups, AggregatedVersion::V2beta1);
    assert_eq!(groups["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    let names = groups["items"].as_array().unwrap().iter();
    assert!(names.map(|i| &i["metadata"]["name"]).all(|n| n != ""));

    for kind in KINDS {
        let list = if kind.group.is_empty() {
            &core
        } else {
            &groups
        };
        let mut group = list["items"].as_array().unwrap().iter();
        let group = group.find(|i| i["metadata"]["name"] == kind.group).unwrap();
        let version = entry(&group["versions"], "version", kind.version);
        assert_eq!(version["freshness"], "Current");
        let resource = entry(&version["resources"], "resource", kind.plural);
        assert_eq!(
            resource["responseKind"],
            json!({"group": kind.group, "version": kind.version, "kind": kind.kind})
        );
        assert_eq!(resource["singularResource"], kind.singular);
        let scope = if kind.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        };
        assert_eq!(resource["scope"], scope);
        assert_lists(resource, kind);
        for &sub in kind.subresources {
            let listed = entry(&resource["subresources"], "subresource", sub.name());
            assert_eq!(listed["verbs"], json!(subresource_verbs(sub)));
        }
    }

    let mut apps = groups["items"].as_array().unwrap().iter();
    let apps = apps.find(|i| i["metadata"]["name"] == "apps").unwrap();
    let deployments = entry(&apps["versions"][0]["resources"], "resource", "deployments");
    let scale = entry(&deployments["subresources"], "subresource", "scale");
    assert_eq!(
        scale["responseKind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
}

#[test]
fn legacy_roots_list_the_registry() {
    let versions = serde_json::to_value(api_versions("10.0.0.1:6443")).unwrap();
    assert_eq!(versions["kind"], "APIVersions");
    assert_eq!(versions["versions"], json!(["v1"]));
    assert_eq!(
        versions["serverAddressByClientCIDRs"],
        json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}])
    );

    let list = serde_json::to_value(api_group_list()).unwrap();
    assert_eq!(list["kind"], "APIGroupList");
    for (group, version) in registry::group_versions() {
        if group.is_empty() {
            let names = list["groups"].as_array().unwrap().iter();
            assert!(names.map(|g| &g["name"]).all(|n| n != ""));
            continue;
        }
        let listed = entry(&list["groups"], "name", group);
        entry(
            &listed["versions"],
            "groupVersion",
            &format!("{group}/{version}"),
        );
        assert!(listed["preferredVersion"]["version"].is_string());
    }
    assert_eq!(api_group("apps").unwrap().versions[0].version, "v1");
    assert!(api_group("").is_none());
    assert!(api_group("nope.example.com").is_none());
    assert!(api_resource_list("apps", "v1beta1").is_none());
}

#[test]
fn negotiates_like_kube_apiserver() {
    use AggregatedVersion::{V2, V2beta1};
    use DiscoveryFormat::{Aggregated, Legacy};
    let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    let cases = [
        (KUBECTL_1_32.to_owned(), Aggregated(V2)),
        (KUBECTL_1_28.to_owned(), Aggregated(V2beta1)),
        // Only v2beta1 on offer: never v2.
        (v2beta1.to_owned(), Aggregated(V2beta1)),
        ("application/json".to_owned(), Legacy),
        (String::new(), Legacy),
        // Preference by position, then by quality.
        (format!("application/json, {v2}"), Legacy),
        (format!("application/json;q=0.5,{v2}"), Aggregated(V2)),
        (format!("{v2};q=0"), Legacy),
        // Unknown versions, protobuf and Table are skipped; spacing, case, quotes are fine.
        (
            format!(
                "{},application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, \
                 Application/JSON ; G=\"apidiscovery.k8s.io\" ; V=v2beta1 ; AS=APIGroupDiscoveryList",
                v2.replace("v=v2", "v=v3")
            ),
            Aggregated(V2beta1),
        ),
        (
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".to_owned(),
            Legacy,
        ),
    ];
    for (accept, expected) in cases {
        assert_eq!(negotiate(Some(&accept)), expected, "{accept}");
    }
    assert_eq!(negotiate(None), Legacy);
    assert_eq!(V2.content_type(), v2);
    assert_eq!(V2beta1.content_type(), v2beta1);
}

#[tokio::test]
async fn roots_answer_with_the_negotiated_content_type() {
    let aggregated = "APIGroupDiscoveryList";
    let cases = [
        (
            Some(KUBECTL_1_32),
            AggregatedVersion::V2.content_type(),
            aggregated,
            aggregated,
        ),
        (
            Some(KUBECTL_1_28),
            AggregatedVersion::V2beta1.content_type(),
            aggregated,
            aggregated,
        ),
        (
            Some("application/json"),
            "application/json",
            "APIVersions",
            "APIGroupList",
        ),
        (None, "application/json", "APIVersions", "APIGroupList"),
    ];
    for (accept, content_type, api_kind, apis_kind) in cases {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        for (path, kind) in [("/api", api_kind), ("/apis", apis_kind)] {
            let (status, served_type, body) = get(routes(), path, &headers).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(served_type, content_type, "{path} {accept:?}");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["kind"], kind, "{path} {accept:?}");
        }
    }
}

#[tokio::test]
async fn api_reports_the_address_the_client_used() {
    let (_, _, body) = get(routes(), "/api", &[("host", "192.0.2.7:6443")]).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    let address = &body["serverAddressByClientCIDRs"][0]["serverAddress"];
    assert_eq!(address, "192.0.2.7:6443");
}

#[tokio::test]
async fn unknown_groups_and_versions_are_not_found() {
    let expected = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "the server could not find the requested resource",
        "reason": "NotFound", "details": {}, "code": 404});
    let paths = [
        "/apis/nope.example.com",
        "/apis/nope.example.com/v1",
        "/apis/apps/v9",
        "/api/v2",
    ];
    for path in paths {
        let (status, content_type, body) = get(routes(), path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type, "application/json");
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    }
}

#[tokio::test]
async fn serves_group_paths_and_lets_longer_paths_through() {
    let (status, _, body) = get(routes(), "/apis/apps/v1", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&body["kind"], &body["groupVersion"]),
        (&json!("APIResourceList"), &json!("apps/v1"))
    );

    let (status, _, body) = get(routes(), "/apis/apps", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["preferredVersion"]["groupVersion"], "apps/v1");

    for path in [
        "/api/v1/namespaces/default/pods",
        "/api/v1/nodes",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/namespaces/default/deployments/web",
    ] {
        let (status, _, _) = get(routes(), path, &[]).await;
        assert_eq!(
            status,
            StatusCode::IM_A_TEAPOT,
            "{path} was not left to other routes"
        );
    }
}

#[tokio::test]
async fn version_reports_the_served_release() {
    let (status, _, body) = get(routes(), "/version", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    let git_version = format!("v1.33.0+shoal-{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (&body["major"], &body["minor"]),
        (&json!("1"), &json!("33"))
    );
    assert_eq!(body["gitVersion"], git_version);
    assert_eq!(body["compiler"], "rustc");
    assert_eq!(body["gitTreeState"], "clean");
    assert!(body["platform"].as_str().unwrap().contains('/'));
}
