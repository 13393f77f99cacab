//! The OpenAPI v3 documents kubectl's validation reads, generated from the kind registry.
//! kubectl ≥1.29 decides that the server validates fields when a kind's PATCH operation
//! carries `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter
//! (`shared/KUBECTL-WIRE.md` 1.3); these documents give every operation that much.
//!
//! There are no schemas yet: `components.schemas` is empty, so `kubectl explain` finds
//! nothing and kubectl computes client-side apply patches from its compiled-in types.
//! The paths and operations come from `operations`, which `openapi_v2` writes as Swagger 2.0
//! for kubectl ≤1.28; these routes alone answer `/openapi/v2` with 404.

use std::sync::LazyLock;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};
use shoal_manifests::registry::{self, KINDS, KindInfo};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::http::header::{CACHE_CONTROL, ETAG, HeaderValue};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::discovery::{bytes_response, git_version, not_found, to_json};
use operations::{Operation, Param};

pub(super) mod operations;

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
pub(super) fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Uppercase hex SHA-512, as kube-apiserver computes its OpenAPI hashes and ETags.
pub(super) fn hex_digest(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The operations as OpenAPI 3.0

/// Adds the paths of `kind` and their operations.
fn kind_paths(kind: &KindInfo, paths: &mut Map<String, Value>) {
    for item in operations::kind_paths(kind) {
        let operations: Map<String, Value> = item
            .operations
            .iter()
            .map(|op| (op.method.as_str().to_owned(), operation(op)))
            .collect();
        paths.insert(item.path, Value::Object(operations));
    }
}

fn operation(op: &Operation) -> Value {
    let path = op.path_params.iter().map(|&p| parameter(p, "path"));
    let query = op.query.iter().map(|&p| parameter(p, "query"));
    let parameters: Vec<Value> = path.chain(query).collect();
    let responses: Map<String, Value> = op
        .action
        .responses()
        .iter()
        .map(|&(code, description)| (code.to_owned(), json!({"description": description})))
        .collect();
    let (group, version, kind) = op.gvk;
    let mut out = json!({
        "operationId": op.id,
        "parameters": parameters,
        "responses": responses,
        "x-kubernetes-action": op.action.as_str(),
        "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
    });
    let body_types = op.action.body_types();
    if !body_types.is_empty() {
        let content: Map<String, Value> = body_types
            .iter()
            .map(|&t| (t.to_owned(), json!({"schema": {"type": "object"}})))
            .collect();
        out["requestBody"] = json!({"content": content, "required": true});
    }
    out
}

/// A path parameter is required; a query parameter is not.
fn parameter(param: Param, location: &str) -> Value {
    let mut out = json!({
        "name": param.name,
        "in": location,
        "description": param.description,
        "schema": {"type": param.ty, "uniqueItems": true},
    });
    if location == "path" {
        out["required"] = json!(true);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Routes

/// Whether an `If-None-Match` header names `etag` (weak or strong) or `*`.
pub(super) fn fresh(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|tags| {
        tags.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
    })
}

/// The `If-None-Match` header, if any.
pub(super) fn if_none_match()
-> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("if-none-match")
        .or(warp::any().map(|| None))
        .unify()
}

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
    let mut response = if fresh(if_none_match, &etag) {
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
    let v3 = warp::path("openapi")
        .and(warp::path("v3"))
        .and(warp::path::tail())
        .and(warp::get())
        .and(query)
        .and(if_none_match())
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
mod tests;
