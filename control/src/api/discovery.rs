//! API discovery, legacy and aggregated, generated from the kind registry, plus `/version`.
//! kubectl starts every invocation here: resource names, short names, `get all` and the
//! `deployments/scale` kind all come from these bodies (`shared/KUBECTL-WIRE.md` 1.2).

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};
use shoal_manifests::k8s_openapi::apimachinery::pkg::version::Info;
use shoal_manifests::registry::{self, KINDS, KindInfo, Subresource};

use super::reviews::{REVIEWS, Review};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::host::Authority;
use warp::http::header::{CONTENT_TYPE, HeaderValue, VARY};
use warp::http::{HeaderMap, StatusCode};
use warp::reply::{Reply, Response};

/// The Kubernetes release whose API Shoal serves, as `/version` reports it.
const KUBE_MAJOR: &str = "1";
const KUBE_MINOR: &str = "33";

/// Verbs of every collection: kube-apiserver's full set for a standard resource.
pub(crate) const COLLECTION_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs served on a subresource.
pub(crate) fn subresource_verbs(sub: Subresource) -> &'static [&'static str] {
    match sub {
        Subresource::Status | Subresource::Scale => &["get", "patch", "update"],
        Subresource::Log => &["get"],
        Subresource::Exec | Subresource::Attach | Subresource::PortForward => &["create", "get"],
        Subresource::Eviction | Subresource::Binding => &["create"],
    }
}

/// The group, version and kind of `sub`'s body below an object of `parent`.
pub(crate) fn response_kind(
    parent: &KindInfo,
    sub: Subresource,
) -> (&'static str, &'static str, &'static str) {
    sub.body_kind()
        .unwrap_or((parent.group, parent.version, parent.kind))
}

/// `v1.33.0+shoal-<crate version>`: the served Kubernetes release, built by Shoal.
pub(crate) fn git_version() -> String {
    format!(
        "v{KUBE_MAJOR}.{KUBE_MINOR}.0+shoal-{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The body of `GET /version`.
pub(crate) fn version_info() -> Info {
    Info {
        major: KUBE_MAJOR.to_owned(),
        minor: KUBE_MINOR.to_owned(),
        git_version: git_version(),
        git_commit: String::new(),
        git_tree_state: "clean".to_owned(),
        build_date: String::new(),
        go_version: String::new(),
        compiler: "rustc".to_owned(),
        platform: platform(),
        ..Info::default()
    }
}

/// `os/arch` in Go's words (`linux/amd64`), as kubectl prints it.
fn platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{os}/{arch}")
}

// ---------------------------------------------------------------------------------------------
// Legacy discovery

/// The body of `GET /api`. `server_address` is the `host:port` the client used.
pub(crate) fn api_versions(server_address: &str) -> APIVersions {
    APIVersions {
        versions: versions_of("").into_iter().map(str::to_owned).collect(),
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".to_owned(),
            server_address: server_address.to_owned(),
        }],
    }
}

/// The body of `GET /apis`: every group but the core one.
pub(crate) fn api_group_list() -> APIGroupList {
    APIGroupList {
        groups: named_groups().filter_map(api_group).collect(),
    }
}

/// The body of `GET /apis/<group>`, or `None` when the group is not served.
pub(crate) fn api_group(group: &str) -> Option<APIGroup> {
    if group.is_empty() {
        return None;
    }
    let versions: Vec<GroupVersionForDiscovery> = versions_of(group)
        .into_iter()
        .map(|version| GroupVersionForDiscovery {
            group_version: format!("{group}/{version}"),
            version: version.to_owned(),
        })
        .collect();
    Some(APIGroup {
        name: group.to_owned(),
        preferred_version: Some(versions.first()?.clone()),
        versions,
        server_address_by_client_cidrs: None,
    })
}

/// The body of `GET /api/v1` (group `""`) or `GET /apis/<group>/<version>`, or `None` when
/// that group version is not served.
pub(crate) fn api_resource_list(group: &str, version: &str) -> Option<APIResourceList> {
    if !versions_of(group).contains(&version) {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let mut resources: Vec<APIResource> = reviews_of(group, version)
        .map(review_api_resource)
        .collect();
    for kind in kinds_of(group, version) {
        resources.push(api_resource(kind));
        resources.extend(
            kind.subresources
                .iter()
                .map(|&sub| subresource_api_resource(kind, sub)),
        );
    }
    Some(APIResourceList {
        group_version,
        resources,
    })
}

fn api_resource(kind: &KindInfo) -> APIResource {
    APIResource {
        name: kind.plural.to_owned(),
        singular_name: kind.singular.to_owned(),
        namespaced: kind.namespaced,
        kind: kind.kind.to_owned(),
        verbs: strings(COLLECTION_VERBS),
        short_names: non_empty(kind.short_names),
        categories: non_empty(kind.categories),
        group: None,
        version: None,
        storage_version_hash: None,
    }
}

/// A review resource: cluster-scoped, `create` only.
fn review_api_resource(review: &Review) -> APIResource {
    APIResource {
        name: review.plural.to_owned(),
        singular_name: review.singular.to_owned(),
        namespaced: false,
        kind: review.kind.to_owned(),
        verbs: strings(&["create"]),
        short_names: None,
        categories: None,
        group: None,
        version: None,
        storage_version_hash: None,
    }
}

/// `pods/log`, `deployments/scale`, ...: group and version are given only when the body is
/// of another group version than the parent (`autoscaling/v1` `Scale`).
fn subresource_api_resource(parent: &KindInfo, sub: Subresource) -> APIResource {
    let (group, version, kind) = response_kind(parent, sub);
    let foreign = (group, version) != (parent.group, parent.version);
    APIResource {
        name: format!("{}/{}", parent.plural, sub.name()),
        singular_name: String::new(),
        namespaced: parent.namespaced,
        kind: kind.to_owned(),
        verbs: strings(subresource_verbs(sub)),
        short_names: None,
        categories: None,
        group: foreign.then(|| group.to_owned()),
        version: foreign.then(|| version.to_owned()),
        storage_version_hash: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregated discovery

/// The aggregated discovery version a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggregatedVersion {
    /// `apidiscovery.k8s.io/v2`, offered by kubectl 1.30 and later.
    V2,
    /// `apidiscovery.k8s.io/v2beta1`, the only one kubectl 1.27 to 1.29 offer.
    V2beta1,
}

impl AggregatedVersion {
    fn from_param(version: &str) -> Option<Self> {
        match version {
            "v2" => Some(Self::V2),
            "v2beta1" => Some(Self::V2beta1),
            _ => None,
        }
    }

    /// The `apiVersion` of the `APIGroupDiscoveryList`.
    pub(crate) fn api_version(self) -> &'static str {
        match self {
            Self::V2 => "apidiscovery.k8s.io/v2",
            Self::V2beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }

    /// The response Content-Type, which kubectl compares exactly.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::V2 => "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            Self::V2beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
        }
    }
}

/// Which discovery body answers a request to `/api` or `/apis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiscoveryFormat {
    /// `APIVersions` or `APIGroupList`, followed by one request per group version.
    Legacy,
    /// One `APIGroupDiscoveryList` with every resource.
    Aggregated(AggregatedVersion),
}

/// The root a discovery request was made to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiscoveryRoot {
    /// `/api`: the core group only.
    Core,
    /// `/apis`: every named group.
    Groups,
}

/// Picks the discovery format from an `Accept` header: the first acceptable media range in
/// order of preference (`q`, then position) wins, and anything unrecognised means legacy.
/// An aggregated version Shoal does not serve is skipped, never answered with another one.
pub(crate) fn negotiate(accept: Option<&str>) -> DiscoveryFormat {
    for range in media_ranges(accept.unwrap_or("")) {
        let json = matches!(
            range.essence.as_str(),
            "application/json" | "application/*" | "*/*"
        );
        match (range.param("g"), range.param("as")) {
            (Some("apidiscovery.k8s.io"), Some("APIGroupDiscoveryList"))
                if range.essence == "application/json" =>
            {
                if let Some(version) = range.param("v").and_then(AggregatedVersion::from_param) {
                    return DiscoveryFormat::Aggregated(version);
                }
            }
            (None, None) if json => return DiscoveryFormat::Legacy,
            _ => {}
        }
    }
    DiscoveryFormat::Legacy
}

/// The `APIGroupDiscoveryList` for `/api` (the core group, named `""`) or `/apis`.
pub(crate) fn aggregated(root: DiscoveryRoot, version: AggregatedVersion) -> Value {
    let items: Vec<Value> = match root {
        DiscoveryRoot::Core => vec![group_discovery("")],
        DiscoveryRoot::Groups => named_groups().map(group_discovery).collect(),
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": version.api_version(),
        "metadata": {},
        "items": items,
    })
}

fn group_discovery(group: &str) -> Value {
    let versions: Vec<Value> = versions_of(group)
        .into_iter()
        .map(|version| {
            let resources: Vec<Value> = reviews_of(group, version)
                .map(review_discovery)
                .chain(kinds_of(group, version).map(resource_discovery))
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group}, "versions": versions})
}

fn resource_discovery(kind: &KindInfo) -> Value {
    let subresources: Vec<Value> = kind
        .subresources
        .iter()
        .map(|&sub| {
            json!({
                "subresource": sub.name(),
                "responseKind": gvk_json(response_kind(kind, sub)),
                "verbs": subresource_verbs(sub),
            })
        })
        .collect();
    let mut resource = json!({
        "resource": kind.plural,
        "responseKind": gvk_json((kind.group, kind.version, kind.kind)),
        "scope": if kind.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": kind.singular,
        "verbs": COLLECTION_VERBS,
    });
    if !kind.short_names.is_empty() {
        resource["shortNames"] = json!(kind.short_names);
    }
    if !kind.categories.is_empty() {
        resource["categories"] = json!(kind.categories);
    }
    resource["subresources"] = Value::Array(subresources);
    resource
}

fn review_discovery(review: &Review) -> Value {
    json!({
        "resource": review.plural,
        "responseKind": gvk_json((review.group, review.version, review.kind)),
        "scope": "Cluster",
        "singularResource": review.singular,
        "verbs": ["create"],
    })
}

fn gvk_json((group, version, kind): (&str, &str, &str)) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

// ---------------------------------------------------------------------------------------------
// The Accept header

/// One media range of an `Accept` header, `type/subtype;name=value;...`.
#[derive(Debug)]
struct MediaRange {
    /// `type/subtype`, lower-cased.
    essence: String,
    /// Parameters other than `q`, names lower-cased, quotes removed.
    params: Vec<(String, String)>,
    quality: f32,
}

impl MediaRange {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The media ranges of `accept`, most preferred first: by `q` descending, ties in header
/// order. Ranges with `q=0` are not acceptable and are left out.
fn media_ranges(accept: &str) -> Vec<MediaRange> {
    let mut ranges: Vec<MediaRange> = split_unquoted(accept, ',')
        .into_iter()
        .filter_map(|range| {
            let mut parts = split_unquoted(range, ';').into_iter();
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let mut quality = 1.0;
            let mut params = Vec::new();
            for part in parts {
                let Some((name, value)) = part.split_once('=') else {
                    continue;
                };
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                if name == "q" {
                    quality = value.parse().unwrap_or(1.0);
                } else {
                    params.push((name, value.to_owned()));
                }
            }
            Some(MediaRange {
                essence,
                params,
                quality,
            })
        })
        .filter(|range| range.quality > 0.0)
        .collect();
    // A stable sort keeps the header's order among equal qualities.
    ranges.sort_by(|a, b| b.quality.total_cmp(&a.quality));
    ranges
}

/// Splits `text` at `separator`s outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

// ---------------------------------------------------------------------------------------------
// The registry, grouped

/// The kinds of one group version, in registry order.
fn kinds_of<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static KindInfo> + 'a {
    KINDS
        .iter()
        .filter(move |k| k.group == group && k.version == version)
}

/// The review resources of one group version.
fn reviews_of<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Review> + 'a {
    REVIEWS
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// Every served group version: the registry's, then those only reviews are served in.
fn all_group_versions() -> Vec<(&'static str, &'static str)> {
    let mut all = registry::group_versions();
    for review in REVIEWS {
        if !all.contains(&(review.group, review.version)) {
            all.push((review.group, review.version));
        }
    }
    all
}

/// The served versions of `group`, preferred first.
fn versions_of(group: &str) -> Vec<&'static str> {
    all_group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect()
}

/// Every group but the core one, in registry order, then the review groups.
fn named_groups() -> impl Iterator<Item = &'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for (group, _) in all_group_versions() {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups.into_iter()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|&w| w.to_owned()).collect()
}

fn non_empty(words: &[&str]) -> Option<Vec<String>> {
    (!words.is_empty()).then(|| strings(words))
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A response with `body` and the given status and Content-Type.
pub(super) fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
    let mut response = warp::http::Response::new(body.into()).into_response();
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `value` as JSON bytes.
pub(super) fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Discovery and OpenAPI bodies are maps with string keys: serializing them cannot fail.
    serde_json::to_vec(value).expect("a JSON body with string keys serializes")
}

fn json_response(value: &impl Serialize) -> Response {
    bytes_response(StatusCode::OK, "application/json", to_json(value))
}

/// 404 with kube-apiserver's `Status` for a path it does not serve. Kept local until the API
/// layer's error type covers discovery.
pub(super) fn not_found() -> Response {
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound",
        "details": {},
        "code": 404,
    });
    bytes_response(StatusCode::NOT_FOUND, "application/json", to_json(&status))
}

/// Answers a request to `/api` or `/apis` in the negotiated format.
fn root_reply(root: DiscoveryRoot, accept: Option<&str>, server_address: &str) -> Response {
    let mut response = match negotiate(accept) {
        DiscoveryFormat::Aggregated(version) => bytes_response(
            StatusCode::OK,
            version.content_type(),
            to_json(&aggregated(root, version)),
        ),
        DiscoveryFormat::Legacy => match root {
            DiscoveryRoot::Core => json_response(&api_versions(server_address)),
            DiscoveryRoot::Groups => json_response(&api_group_list()),
        },
    };
    // The body depends on Accept: caches must key on it.
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept"));
    response
}

fn group_reply(group: &str) -> Response {
    api_group(group).map_or_else(not_found, |body| json_response(&body))
}

fn resource_list_reply(group: &str, version: &str) -> Response {
    api_resource_list(group, version).map_or_else(not_found, |body| json_response(&body))
}

/// The `host:port` the client addressed, for `serverAddressByClientCIDRs`.
fn server_address(headers: &HeaderMap, authority: Option<Authority>) -> String {
    authority
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(warp::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `GET /api`, `/apis`, `/api/v1`, `/apis/<group>`, `/apis/<group>/<version>` and `/version`.
/// Each path ends there, so `/api/v1/namespaces/...` falls through to the resource routes.
pub fn routes() -> BoxedFilter<(Response,)> {
    let accept = warp::header::optional::<String>("accept")
        .or(warp::any().map(|| None))
        .unify();
    // A Host header that disagrees with the request target is no reason to fail discovery.
    let authority = warp::host::optional().or(warp::any().map(|| None)).unify();

    let api = warp::path!("api")
        .and(warp::get())
        .and(accept)
        .and(warp::header::headers_cloned())
        .and(authority)
        .map(
            |accept: Option<String>, headers: HeaderMap, authority: Option<Authority>| {
                root_reply(
                    DiscoveryRoot::Core,
                    accept.as_deref(),
                    &server_address(&headers, authority),
                )
            },
        );
    let apis = warp::path!("apis")
        .and(warp::get())
        .and(accept)
        .map(|accept: Option<String>| root_reply(DiscoveryRoot::Groups, accept.as_deref(), ""));
    let core_version = warp::path!("api" / String)
        .and(warp::get())
        .map(|version: String| resource_list_reply("", &version));
    let group = warp::path!("apis" / String)
        .and(warp::get())
        .map(|group: String| group_reply(&group));
    let group_version = warp::path!("apis" / String / String)
        .and(warp::get())
        .map(|group: String, version: String| resource_list_reply(&group, &version));
    let version = warp::path!("version")
        .and(warp::get())
        .map(|| json_response(&version_info()));

    api.or(apis)
        .unify()
        .or(core_version)
        .unify()
        .or(group)
        .unify()
        .or(group_version)
        .unify()
        .or(version)
        .unify()
        .boxed()
}

/// Route-level test support shared with `openapi`'s tests.
#[cfg(test)]
pub(super) mod testing {
    use super::*;

    /// Sends a GET through `filter` (falling back to a 418 marker) and returns status,
    /// Content-Type and body.
    pub(in crate::api) async fn get(
        filter: BoxedFilter<(Response,)>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String, Vec<u8>) {
        use hyper::body::Body;
        use tower_service::Service;

        let fallback = warp::any().map(|| StatusCode::IM_A_TEAPOT.into_response());
        let mut service = warp::service(filter.or(fallback).unify());
        let mut request = warp::http::Request::builder().uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(String::new()).unwrap();
        let response = service.call(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        (status, content_type, bytes)
    }
}

#[cfg(test)]
mod tests;
