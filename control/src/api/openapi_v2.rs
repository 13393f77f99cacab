//! OpenAPI v2 (Swagger 2.0) for kubectl 1.27 and 1.28, which read it instead of v3 to decide
//! whether the server validates fields (`shared/KUBECTL-WIRE.md` 1.3 and 3). They ask for
//! `GET /openapi/v2` in gnostic's protobuf encoding and fall back to `GET /swagger-2.0.0.pb-v1`.
//!
//! The document is generated from the kind registry: every kind's collection and item paths
//! (and, for namespaced kinds, the list across namespaces), each operation carrying
//! `x-kubernetes-group-version-kind` and `x-kubernetes-action`, every POST, PUT and PATCH the
//! `fieldValidation` query parameter. There are no definitions, so kubectl skips client-side
//! schema validation and computes client-side apply patches from its compiled-in types.
//!
//! The gnostic messages below are the protobuf model; the JSON form is written from them, so
//! both forms always describe the same paths.

use std::sync::LazyLock;

use bytes::Bytes;
use prost::Message as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};
use shoal_manifests::registry::{KINDS, KindInfo};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::http::header::{CACHE_CONTROL, ETAG, HeaderValue, VARY};
use warp::reply::Response;

use super::discovery::{bytes_response, git_version, to_json};

/// The media type of gnostic's protobuf encoding as kubectl 1.27 and 1.28 ask for it.
const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The same type as kube-apiserver labels its answer, whichever spelling was asked for. It
/// must be this one: Go's `mime.ParseMediaType` rejects the `@`, and client-go turns that
/// into "Internal error occurred: mime: unexpected content after media subtype".
const PROTOBUF_DOTTED: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The content types a PATCH body may have.
const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

// ---------------------------------------------------------------------------------------------
// The gnostic `openapi.v2` messages, as far as this document uses them. Field numbers are
// those of gnostic's `openapiv2/OpenAPIv2.proto`. A `oneof` there is modelled as optional
// fields with the oneof's tags: the wire format is the same, and at most one is ever set.

#[derive(Clone, PartialEq, prost::Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Paths {
    #[prost(message, repeated, tag = "2")]
    path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedPathItem {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<PathItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PathItem {
    #[prost(message, optional, tag = "2")]
    get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    patch: Option<Operation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Operation {
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, repeated, tag = "7")]
    consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    responses: Option<Responses>,
    #[prost(message, repeated, tag = "13")]
    vendor_extension: Vec<NamedAny>,
}

/// `oneof { Parameter parameter = 1; JsonReference json_reference = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    parameter: Option<Parameter>,
}

/// `oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
struct Parameter {
    #[prost(message, optional, tag = "2")]
    non_body_parameter: Option<NonBodyParameter>,
}

/// `oneof { header = 1; form data = 2; query = 3; path = 4 }`.
#[derive(Clone, PartialEq, prost::Message)]
struct NonBodyParameter {
    #[prost(message, optional, tag = "3")]
    query_parameter_sub_schema: Option<QueryParameterSubSchema>,
    #[prost(message, optional, tag = "4")]
    path_parameter_sub_schema: Option<PathParameterSubSchema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct QueryParameterSubSchema {
    #[prost(bool, tag = "1")]
    required: bool,
    #[prost(string, tag = "2")]
    r#in: String,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(string, tag = "6")]
    r#type: String,
    #[prost(bool, tag = "20")]
    unique_items: bool,
}

/// The same fields as [`QueryParameterSubSchema`], numbered differently from `type` on.
#[derive(Clone, PartialEq, prost::Message)]
struct PathParameterSubSchema {
    #[prost(bool, tag = "1")]
    required: bool,
    #[prost(string, tag = "2")]
    r#in: String,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(string, tag = "5")]
    r#type: String,
    #[prost(bool, tag = "19")]
    unique_items: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Responses {
    #[prost(message, repeated, tag = "1")]
    response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedResponseValue {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<ResponseValue>,
}

/// `oneof { Response response = 1; JsonReference json_reference = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    response: Option<ResponseObject>,
}

/// gnostic's `Response`.
#[derive(Clone, PartialEq, prost::Message)]
struct ResponseObject {
    #[prost(string, tag = "1")]
    description: String,
}

/// A vendor extension: its name and its value as YAML text.
#[derive(Clone, PartialEq, prost::Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

/// gnostic's `Any`; only the `yaml` text is used, as kubectl reads it.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

/// No schemas yet: `additional_properties = 1` stays empty.
#[derive(Clone, PartialEq, prost::Message)]
struct Definitions {}

// ---------------------------------------------------------------------------------------------
// Building the document from the registry

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
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::Get => "read the specified object",
            Self::List => "list or watch objects",
            Self::Post => "create an object",
            Self::Put => "replace the specified object",
            Self::Patch => "partially update the specified object",
            Self::Delete => "delete an object",
            Self::DeleteCollection => "delete a collection of objects",
        }
    }

    /// The query parameters of the action, write parameters included.
    fn query(self) -> &'static [&'static [Param]] {
        match self {
            Self::Get => &[],
            Self::List => &[SELECT, WATCH],
            Self::Post | Self::Put => &[WRITE],
            Self::Patch => &[WRITE, FORCE],
            Self::Delete => &[DELETE],
            Self::DeleteCollection => &[DELETE, SELECT],
        }
    }
}

/// A query parameter: name, Swagger type, description.
type Param = (&'static str, &'static str, &'static str);

const DRY_RUN: Param = ("dryRun", "string", "`All` to evaluate without persisting");

/// What every POST, PUT and PATCH declares; kubectl looks for `fieldValidation` on PATCH.
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

/// Which path parameters a path has.
#[derive(Clone, Copy, Debug)]
struct PathParams {
    namespace: bool,
    name: bool,
}

/// The whole document, in registry order.
fn document() -> Document {
    Document {
        swagger: "2.0".to_owned(),
        info: Some(Info {
            title: "Shoal".to_owned(),
            version: git_version(),
        }),
        paths: Some(Paths {
            path: KINDS.iter().flat_map(kind_paths).collect(),
        }),
        definitions: Some(Definitions {}),
    }
}

/// The collection and item paths of `kind`, and for namespaced kinds the list across all
/// namespaces; the item path comes first, as kubectl takes the first PATCH with the kind.
fn kind_paths(kind: &KindInfo) -> Vec<NamedPathItem> {
    let prefix = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    let collection = if kind.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{prefix}/{}", kind.plural)
    };
    let item = format!("{collection}/{{name}}");
    let at = |name: bool| PathParams {
        namespace: kind.namespaced,
        name,
    };
    let op = |action: Action, path: PathParams| Some(operation(kind, action, path));

    let mut paths = vec![
        named(
            item,
            PathItem {
                get: op(Action::Get, at(true)),
                put: op(Action::Put, at(true)),
                patch: op(Action::Patch, at(true)),
                delete: op(Action::Delete, at(true)),
                post: None,
            },
        ),
        named(
            collection,
            PathItem {
                get: op(Action::List, at(false)),
                post: op(Action::Post, at(false)),
                delete: op(Action::DeleteCollection, at(false)),
                put: None,
                patch: None,
            },
        ),
    ];
    if kind.namespaced {
        let everywhere = PathParams {
            namespace: false,
            name: false,
        };
        let list = PathItem {
            get: op(Action::List, everywhere),
            ..PathItem::default()
        };
        paths.push(named(format!("{prefix}/{}", kind.plural), list));
    }
    paths
}

fn named(name: String, item: PathItem) -> NamedPathItem {
    NamedPathItem {
        name,
        value: Some(item),
    }
}

/// One operation on `kind`. Parameters sit on the operation itself: kubectl looks for
/// `fieldValidation` among the PATCH operation's own parameters.
fn operation(kind: &KindInfo, action: Action, path: PathParams) -> Operation {
    let mut parameters = Vec::new();
    if path.name {
        parameters.push(path_param("name", "name of the object"));
    }
    if path.namespace {
        parameters.push(path_param("namespace", "object name and auth scope"));
    }
    let query = action.query().iter().copied().flatten();
    parameters.extend(query.map(|&param| query_param(param)));
    let consumes = match action {
        Action::Patch => PATCH_TYPES.iter().map(|&t| t.to_owned()).collect(),
        _ => Vec::new(),
    };
    let gvk = json!({"group": kind.group, "kind": kind.kind, "version": kind.version});
    Operation {
        description: action.description().to_owned(),
        consumes,
        parameters,
        responses: Some(Responses {
            response_code: vec![NamedResponseValue {
                name: "200".to_owned(),
                value: Some(ResponseValue {
                    response: Some(ResponseObject {
                        description: "OK".to_owned(),
                    }),
                }),
            }],
        }),
        vendor_extension: vec![
            extension("x-kubernetes-action", &json!(action.as_str())),
            extension("x-kubernetes-group-version-kind", &gvk),
        ],
    }
}

fn path_param(name: &str, description: &str) -> ParametersItem {
    non_body(NonBodyParameter {
        path_parameter_sub_schema: Some(PathParameterSubSchema {
            required: true,
            r#in: "path".to_owned(),
            description: description.to_owned(),
            name: name.to_owned(),
            r#type: "string".to_owned(),
            unique_items: true,
        }),
        query_parameter_sub_schema: None,
    })
}

fn query_param((name, swagger_type, description): Param) -> ParametersItem {
    non_body(NonBodyParameter {
        query_parameter_sub_schema: Some(QueryParameterSubSchema {
            required: false,
            r#in: "query".to_owned(),
            description: description.to_owned(),
            name: name.to_owned(),
            r#type: swagger_type.to_owned(),
            unique_items: true,
        }),
        path_parameter_sub_schema: None,
    })
}

fn non_body(parameter: NonBodyParameter) -> ParametersItem {
    ParametersItem {
        parameter: Some(Parameter {
            non_body_parameter: Some(parameter),
        }),
    }
}

/// A vendor extension whose YAML text is `value` as JSON, which YAML parsers read alike.
fn extension(name: &str, value: &Value) -> NamedAny {
    NamedAny {
        name: name.to_owned(),
        value: Some(Any {
            yaml: format!("{value}\n"),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON form, written from the messages

fn document_json(doc: &Document) -> Value {
    let info = doc.info.clone().unwrap_or_default();
    let paths: Map<String, Value> = doc
        .paths
        .iter()
        .flat_map(|paths| &paths.path)
        .map(|named| {
            let item = named.value.clone().unwrap_or_default();
            (named.name.clone(), path_item_json(&item))
        })
        .collect();
    json!({
        "swagger": doc.swagger,
        "info": {"title": info.title, "version": info.version},
        "paths": paths,
        "definitions": {},
    })
}

fn path_item_json(item: &PathItem) -> Value {
    let methods = [
        ("get", &item.get),
        ("put", &item.put),
        ("post", &item.post),
        ("delete", &item.delete),
        ("patch", &item.patch),
    ];
    let operations: Map<String, Value> = methods
        .into_iter()
        .filter_map(|(method, op)| Some((method.to_owned(), operation_json(op.as_ref()?))))
        .collect();
    Value::Object(operations)
}

fn operation_json(op: &Operation) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), json!(op.description));
    if !op.consumes.is_empty() {
        out.insert("consumes".into(), json!(op.consumes));
    }
    let parameters: Vec<Value> = op.parameters.iter().filter_map(parameter_json).collect();
    out.insert("parameters".into(), Value::Array(parameters));
    let responses: Map<String, Value> = op
        .responses
        .iter()
        .flat_map(|r| &r.response_code)
        .map(|named| {
            let description = named
                .value
                .as_ref()
                .and_then(|v| v.response.as_ref())
                .map(|r| r.description.clone())
                .unwrap_or_default();
            (named.name.clone(), json!({"description": description}))
        })
        .collect();
    out.insert("responses".into(), Value::Object(responses));
    for ext in &op.vendor_extension {
        let yaml = ext.value.as_ref().map_or("", |any| any.yaml.as_str());
        // Written by `extension` as JSON; kept as text if it ever is not.
        let value = serde_json::from_str(yaml).unwrap_or_else(|_| json!(yaml));
        out.insert(ext.name.clone(), value);
    }
    Value::Object(out)
}

fn parameter_json(item: &ParametersItem) -> Option<Value> {
    let non_body = item.parameter.as_ref()?.non_body_parameter.as_ref()?;
    if let Some(q) = &non_body.query_parameter_sub_schema {
        return Some(json!({
            "name": q.name, "in": q.r#in, "description": q.description,
            "type": q.r#type, "uniqueItems": q.unique_items,
        }));
    }
    let p = non_body.path_parameter_sub_schema.as_ref()?;
    Some(json!({
        "name": p.name, "in": p.r#in, "description": p.description,
        "required": p.required, "type": p.r#type, "uniqueItems": p.unique_items,
    }))
}

// ---------------------------------------------------------------------------------------------
// Routes

/// One encoding of the document, serialized once.
#[derive(Debug)]
struct Encoded {
    body: Bytes,
    /// `"<uppercase hex SHA-512 of body>"`, as kube-apiserver computes it.
    etag: String,
}

impl Encoded {
    fn new(body: Vec<u8>) -> Self {
        let hex: String = Sha512::digest(&body)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Self {
            body: Bytes::from(body),
            etag: format!("\"{hex}\""),
        }
    }
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(document);
static PROTOBUF_BODY: LazyLock<Encoded> = LazyLock::new(|| Encoded::new(DOCUMENT.encode_to_vec()));
static JSON_BODY: LazyLock<Encoded> =
    LazyLock::new(|| Encoded::new(to_json(&document_json(&DOCUMENT))));

/// Which encoding a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

/// Protobuf when any media range of `Accept` names gnostic's type, JSON otherwise.
fn negotiate(accept: Option<&str>) -> Format {
    let wants_protobuf = accept.is_some_and(|accept| {
        accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case(PROTOBUF) || media.eq_ignore_ascii_case(PROTOBUF_DOTTED)
        })
    });
    if wants_protobuf {
        Format::Protobuf
    } else {
        Format::Json
    }
}

fn reply(format: Format, if_none_match: Option<&str>) -> Response {
    let (encoded, content_type) = match format {
        Format::Protobuf => (&*PROTOBUF_BODY, PROTOBUF_DOTTED),
        Format::Json => (&*JSON_BODY, "application/json"),
    };
    let fresh = if_none_match.is_some_and(|tags| {
        tags.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == encoded.etag
        })
    });
    // A 304 names the type too: kubectl's HTTP cache copies its headers onto the stored answer.
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, encoded.body.clone())
    };
    let mut response = bytes_response(status, content_type, body);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&encoded.etag) {
        headers.insert(ETAG, value);
    }
    // The document changes only with a new build: clients may keep it but must revalidate.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    headers.insert(VARY, HeaderValue::from_static("Accept"));
    response
}

/// `GET /openapi/v2` (protobuf or JSON by `Accept`) and `GET /swagger-2.0.0.pb-v1`
/// (always protobuf).
pub fn routes() -> BoxedFilter<(Response,)> {
    let accept = warp::header::optional::<String>("accept")
        .or(warp::any().map(|| None))
        .unify();
    let if_none_match = || {
        warp::header::optional::<String>("if-none-match")
            .or(warp::any().map(|| None))
            .unify()
    };
    let v2 = warp::path("openapi")
        .and(warp::path("v2"))
        .and(warp::path::end())
        .and(warp::get())
        .and(accept)
        .and(if_none_match())
        .map(|accept: Option<String>, if_none_match: Option<String>| {
            reply(negotiate(accept.as_deref()), if_none_match.as_deref())
        });
    let legacy = warp::path("swagger-2.0.0.pb-v1")
        .and(warp::path::end())
        .and(warp::get())
        .and(if_none_match())
        .map(|if_none_match: Option<String>| reply(Format::Protobuf, if_none_match.as_deref()));
    v2.or(legacy).unify().boxed()
}

#[cfg(test)]
mod tests {
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
}
