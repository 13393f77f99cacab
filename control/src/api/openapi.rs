//! The OpenAPI v3 documents kubectl's validation reads, generated from the kind registry.
//! kubectl ≥1.29 decides that the server validates fields when a kind's PATCH operation
//! carries `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter
//! (`shared/KUBECTL-WIRE.md` 1.3); these documents give every operation that much.
//!
//! There are no schemas yet: `components.schemas` is empty, so `kubectl explain` finds
//! nothing and kubectl computes client-side apply patches from its compiled-in types.
//! OpenAPI v2 is not served (404), which kubectl ≥1.29 tolerates; ≤1.28 needs
//! `--validate=false`.

use std::sync::LazyLock;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};
use shoal_manifests::registry::{self, KINDS, KindInfo, Subresource};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::http::header::{CACHE_CONTROL, ETAG, HeaderValue};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::discovery::{
    bytes_response, git_version, not_found, response_kind, subresource_verbs, to_json,
};

/// The content types a PATCH body may have.
const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// One group version's document, serialized once.
#[derive(Debug)]
pub(crate) struct GroupVersionDocument {
    /// `api/v1` or `apis/<group>/<version>`: the key in `/openapi/v3` and the URL suffix.
    pub(crate) path: String,
    /// The exact bytes served.
    pub(crate) body: Bytes,
    /// Uppercase hex SHA-512 of `body`, as kube-apiserver computes it.
    pub(crate) hash: String,
}

/// Every group version's document, in registry order.
pub(crate) static DOCUMENTS: LazyLock<Vec<GroupVersionDocument>> = LazyLock::new(|| {
    registry::group_versions()
        .into_iter()
        .map(|(group, version)| {
            let body = Bytes::from(to_json(&document(group, version)));
            GroupVersionDocument {
                path: gv_path(group, version),
                hash: hex_digest(&body),
                body,
            }
        })
        .collect()
});

/// The body of `GET /openapi/v3`.
static ROOT: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(to_json(&root())));

/// The `/openapi/v3` index: each group version's document URL, with its hash.
pub(crate) fn root() -> Value {
    let paths: Map<String, Value> = DOCUMENTS
        .iter()
        .map(|doc| {
            let url = format!("/openapi/v3/{}?hash={}", doc.path, doc.hash);
            (doc.path.clone(), json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// The OpenAPI 3.0 document of one group version: every path of its kinds and their
/// subresources, with operations but no schemas.
pub(crate) fn document(group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for kind in KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        kind_paths(kind, &mut paths);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": git_version()},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

/// `api/v1` or `apis/<group>/<version>`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Paths and operations

/// What an operation does, as `x-kubernetes-action` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Get,
    List,
    Post,
    Put,
    Patch,
    Delete,
    DeleteCollection,
    Connect,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::DeleteCollection => "deletecollection",
            Self::Connect => "connect",
        }
    }

    /// The verb that starts the operation id, e.g. `read` in `readCoreV1NamespacedPod`.
    fn id_verb(self) -> &'static str {
        match self {
            Self::Get => "read",
            Self::List => "list",
            Self::Post => "create",
            Self::Put => "replace",
            Self::Patch => "patch",
            Self::Delete | Self::DeleteCollection => "delete",
            Self::Connect => "connect",
        }
    }
}

/// The names an operation id is built from: `CoreV1`, `Namespaced`, `Pod`.
#[derive(Debug)]
struct Naming {
    group_version: String,
    scope: &'static str,
    kind: &'static str,
}

impl Naming {
    fn new(kind: &KindInfo) -> Self {
        let group = if kind.group.is_empty() {
            "core"
        } else {
            kind.group.strip_suffix(".k8s.io").unwrap_or(kind.group)
        };
        let group_version = group
            .split('.')
            .chain([kind.version])
            .map(capitalize)
            .collect();
        Self {
            group_version,
            scope: if kind.namespaced { "Namespaced" } else { "" },
            kind: kind.kind,
        }
    }

    /// kube-apiserver's operation id: `patchCoreV1NamespacedPod`,
    /// `deleteCoreV1CollectionNamespacedPod`, `replaceAppsV1NamespacedDeploymentScale`.
    fn id(&self, action: Action, infix: &str, suffix: &str) -> String {
        let collection = if action == Action::DeleteCollection {
            "Collection"
        } else {
            ""
        };
        format!(
            "{}{}{collection}{infix}{}{}{suffix}",
            action.id_verb(),
            self.group_version,
            self.scope,
            self.kind
        )
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// An HTTP method, the key of an operation in a path item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }

    /// POST, PUT and PATCH: the operations that declare the write parameters.
    fn writes(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

/// Which path parameters an operation's path has.
#[derive(Clone, Copy, Debug)]
struct PathParams {
    namespace: bool,
    name: bool,
}

/// Adds the collection, item and subresource paths of `kind`, and for namespaced kinds the
/// list across all namespaces.
fn kind_paths(kind: &KindInfo, paths: &mut Map<String, Value>) {
    let prefix = format!("/{}", gv_path(kind.group, kind.version));
    let naming = Naming::new(kind);
    let gvk = (kind.group, kind.version, kind.kind);
    let collection = if kind.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{prefix}/{}", kind.plural)
    };
    let item = format!("{collection}/{{name}}");
    let at = |item: bool| PathParams {
        namespace: kind.namespaced,
        name: item,
    };
    let op = |method: Method, action: Action, item: bool| {
        let id = naming.id(action, "", "");
        (method, operation(&id, (method, action), gvk, at(item), &[]))
    };

    // Every kind is served with the full collection verb set of discovery.
    let collection_ops = [
        op(Method::Get, Action::List, false),
        op(Method::Post, Action::Post, false),
        op(Method::Delete, Action::DeleteCollection, false),
    ];
    paths.insert(collection.clone(), path_item(collection_ops));
    let item_ops = [
        op(Method::Get, Action::Get, true),
        op(Method::Put, Action::Put, true),
        op(Method::Patch, Action::Patch, true),
        op(Method::Delete, Action::Delete, true),
    ];
    paths.insert(item.clone(), path_item(item_ops));
    for &sub in kind.subresources {
        let suffix = capitalize(sub.name());
        let connect = matches!(
            sub,
            Subresource::Exec | Subresource::Attach | Subresource::PortForward
        );
        let methods = subresource_verbs(sub).iter().filter_map(|&verb| {
            let (method, action) = match verb {
                "get" if connect => (Method::Get, Action::Connect),
                "create" if connect => (Method::Post, Action::Connect),
                "get" => (Method::Get, Action::Get),
                "update" => (Method::Put, Action::Put),
                "patch" => (Method::Patch, Action::Patch),
                "create" => (Method::Post, Action::Post),
                _ => return None,
            };
            // Connect operations are named after the HTTP method, as in
            // `connectCoreV1PostNamespacedPodExec`.
            let infix = if connect {
                capitalize(method.as_str())
            } else {
                String::new()
            };
            let id = naming.id(action, &infix, &suffix);
            let extra = subresource_params(sub);
            let op = operation(
                &id,
                (method, action),
                response_kind(kind, sub),
                at(true),
                extra,
            );
            Some((method, op))
        });
        paths.insert(format!("{item}/{}", sub.name()), path_item(methods));
    }
    if kind.namespaced {
        let id = format!(
            "list{}{}ForAllNamespaces",
            naming.group_version, naming.kind
        );
        let everywhere = PathParams {
            namespace: false,
            name: false,
        };
        let list = operation(&id, (Method::Get, Action::List), gvk, everywhere, &[]);
        paths.insert(
            format!("{prefix}/{}", kind.plural),
            path_item([(Method::Get, list)]),
        );
    }
}

fn path_item(operations: impl IntoIterator<Item = (Method, Value)>) -> Value {
    Value::Object(
        operations
            .into_iter()
            .map(|(method, op)| (method.as_str().to_owned(), op))
            .collect(),
    )
}

/// One operation. Parameters sit on the operation itself, not on the path item: kubectl
/// looks for `fieldValidation` among the PATCH operation's own parameters. `extra` are the
/// subresource's own query parameters.
fn operation(
    id: &str,
    (method, action): (Method, Action),
    (group, version, kind): (&str, &str, &str),
    path: PathParams,
    extra: &[Param],
) -> Value {
    let mut parameters = Vec::new();
    if path.name {
        parameters.push(path_param("name", "name of the object"));
    }
    if path.namespace {
        parameters.push(path_param("namespace", "object name and auth scope"));
    }
    let by_action: &[&[Param]] = match action {
        Action::List => &[SELECT, WATCH],
        Action::Delete => &[DELETE],
        Action::DeleteCollection => &[DELETE, SELECT],
        Action::Get | Action::Post | Action::Put | Action::Patch | Action::Connect => &[],
    };
    // Every POST, PUT and PATCH declares the write parameters, connect POSTs included: one
    // rule that kubectl's check cannot miss.
    let writes: &[Param] = if method.writes() { WRITE } else { &[] };
    let force: &[Param] = if action == Action::Patch { FORCE } else { &[] };
    let query = by_action.iter().copied().chain([writes, force, extra]);
    parameters.extend(query.flatten().map(|&param| query_param(param)));

    let mut op = json!({
        "operationId": id,
        "parameters": parameters,
        "responses": responses(action),
        "x-kubernetes-action": action.as_str(),
        "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
    });
    let body_types: &[&str] = match action {
        Action::Patch => PATCH_TYPES,
        Action::Post | Action::Put => &["application/json", "application/yaml"],
        _ => &[],
    };
    if !body_types.is_empty() {
        let content: Map<String, Value> = body_types
            .iter()
            .map(|&t| (t.to_owned(), json!({"schema": {"type": "object"}})))
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

fn responses(action: Action) -> Value {
    let codes: &[(&str, &str)] = match action {
        Action::Get | Action::List | Action::Connect => &[("200", "OK")],
        Action::Post => &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
        Action::Put | Action::Patch => &[("200", "OK"), ("201", "Created")],
        Action::Delete | Action::DeleteCollection => &[("200", "OK"), ("202", "Accepted")],
    };
    let mut responses: Map<String, Value> = codes
        .iter()
        .map(|&(code, description)| (code.to_owned(), json!({"description": description})))
        .collect();
    responses.insert("401".to_owned(), json!({"description": "Unauthorized"}));
    Value::Object(responses)
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

fn query_param((name, schema_type, description): Param) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": schema_type, "uniqueItems": true},
    })
}

/// A query parameter: name, OpenAPI type, description.
type Param = (&'static str, &'static str, &'static str);

const DRY_RUN: Param = ("dryRun", "string", "`All` to evaluate without persisting");

const WRITE: &[Param] = &[
    DRY_RUN,
    (
        "fieldManager",
        "string",
        "the name of the actor making the change",
    ),
    (
        "fieldValidation",
        "string",
        "`Ignore`, `Warn` or `Strict` unknown fields",
    ),
];

const FORCE: &[Param] = &[(
    "force",
    "boolean",
    "take fields from other managers (apply)",
)];

const SELECT: &[Param] = &[
    ("labelSelector", "string", "a selector on labels"),
    ("fieldSelector", "string", "a selector on fields"),
    (
        "limit",
        "integer",
        "the most items to return in one response",
    ),
    ("continue", "string", "the token of the previous chunk"),
    (
        "resourceVersion",
        "string",
        "the resource version to list or watch from",
    ),
];

const WATCH: &[Param] = &[
    ("watch", "boolean", "watch for changes instead of listing"),
    ("allowWatchBookmarks", "boolean", "ask for BOOKMARK events"),
    (
        "timeoutSeconds",
        "integer",
        "timeout for the list or watch call",
    ),
];

const DELETE: &[Param] = &[
    DRY_RUN,
    (
        "gracePeriodSeconds",
        "integer",
        "seconds before the object is deleted",
    ),
    (
        "propagationPolicy",
        "string",
        "`Orphan`, `Background` or `Foreground`",
    ),
];

/// The query parameters of `log`, `exec`, `attach` and `portforward`.
fn subresource_params(sub: Subresource) -> &'static [Param] {
    match sub {
        Subresource::Log => &[
            ("container", "string", "the container whose log to stream"),
            ("follow", "boolean", "keep streaming as the log grows"),
            ("previous", "boolean", "the log of the previous instance"),
            ("sinceSeconds", "integer", "only lines newer than this"),
            ("tailLines", "integer", "only this many lines from the end"),
            ("timestamps", "boolean", "prefix each line with its time"),
            ("limitBytes", "integer", "stop after this many bytes"),
        ],
        Subresource::Exec => &[
            (
                "command",
                "string",
                "the command, one parameter per argument",
            ),
            ("container", "string", "the container to run it in"),
            ("stdin", "boolean", "attach stdin"),
            ("stdout", "boolean", "attach stdout"),
            ("stderr", "boolean", "attach stderr"),
            ("tty", "boolean", "allocate a terminal"),
        ],
        Subresource::Attach => &[
            ("container", "string", "the container to attach to"),
            ("stdin", "boolean", "attach stdin"),
            ("stdout", "boolean", "attach stdout"),
            ("stderr", "boolean", "attach stderr"),
            ("tty", "boolean", "the container has a terminal"),
        ],
        Subresource::PortForward => &[("ports", "integer", "the ports to forward")],
        Subresource::Status | Subresource::Scale | Subresource::Eviction | Subresource::Binding => {
            &[]
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

/// Answers `/openapi/v3/<tail>`, honouring `?hash=` and `If-None-Match`.
fn v3_reply(tail: &str, query: &str, if_none_match: Option<&str>) -> Response {
    let tail = tail.trim_end_matches('/');
    if tail.is_empty() {
        let mut response = bytes_response(StatusCode::OK, "application/json", ROOT.clone());
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        return response;
    }
    let Some(doc) = DOCUMENTS.iter().find(|doc| doc.path == tail) else {
        return not_found();
    };
    let etag = format!("\"{}\"", doc.hash);
    let hashed = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("hash="))
        .any(|hash| hash == doc.hash);
    let fresh = if_none_match.is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag || tag.trim() == "*")
    });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        bytes_response(StatusCode::OK, "application/json", doc.body.clone())
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    // Only a URL naming the current hash may be cached for good; without it, or with a stale
    // one, the client must ask again.
    let cache = if hashed {
        "public, immutable"
    } else {
        "no-cache, private"
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// `GET /openapi/v3`, `GET /openapi/v3/<api/v1 | apis/<group>/<version>>` and
/// `GET /openapi/v2` (404).
pub fn routes() -> BoxedFilter<(Response,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let if_none_match = warp::header::optional::<String>("if-none-match")
        .or(warp::any().map(|| None))
        .unify();
    let v3 = warp::path("openapi")
        .and(warp::path("v3"))
        .and(warp::path::tail())
        .and(warp::get())
        .and(query)
        .and(if_none_match)
        .map(
            |tail: warp::path::Tail, query: String, if_none_match: Option<String>| {
                v3_reply(tail.as_str(), &query, if_none_match.as_deref())
            },
        );
    let v2 = warp::path!("openapi" / "v2")
        .and(warp::get())
        .map(not_found);
    v3.or(v2).unify().boxed()
}

#[cfg(test)]
mod tests {
    use super::super::discovery::testing::get;
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
}
