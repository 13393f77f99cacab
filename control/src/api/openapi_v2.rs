//! OpenAPI v2 (Swagger 2.0) for kubectl 1.27 and 1.28, which read it instead of v3 to decide
//! whether the server validates fields (`shared/KUBECTL-WIRE.md` 1.3 and 3). They ask for
//! `GET /openapi/v2` in gnostic's protobuf encoding and fall back to `GET /swagger-2.0.0.pb-v1`.
//!
//! The document is written from the operations `openapi::operations` describes for v3 too:
//! every kind's collection and item paths
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
use shoal_manifests::registry::KINDS;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::http::header::{CACHE_CONTROL, ETAG, HeaderValue, VARY};
use warp::reply::Response;

use super::discovery::{bytes_response, git_version, to_json};
use super::openapi::operations::{self, Method, Param};
use super::openapi::{fresh, hex_digest, if_none_match};

/// The media type of gnostic's protobuf encoding as kubectl 1.27 and 1.28 ask for it.
const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The same type as kube-apiserver labels its answer, whichever spelling was asked for. It
/// must be this one: Go's `mime.ParseMediaType` rejects the `@`, and client-go turns that
/// into "Internal error occurred: mime: unexpected content after media subtype".
const PROTOBUF_DOTTED: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

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

/// The whole document, in registry order: every kind's paths but those of its subresources.
fn document() -> Document {
    let path = KINDS
        .iter()
        .flat_map(operations::kind_paths)
        .filter(|item| item.subresource.is_none())
        .map(|item| NamedPathItem {
            name: item.path,
            value: Some(path_item(&item.operations)),
        })
        .collect();
    Document {
        swagger: "2.0".to_owned(),
        info: Some(Info {
            title: "Shoal".to_owned(),
            version: git_version(),
        }),
        paths: Some(Paths { path }),
        definitions: Some(Definitions {}),
    }
}

fn path_item(operations: &[operations::Operation]) -> PathItem {
    let mut item = PathItem::default();
    for op in operations {
        let slot = match op.method {
            Method::Get => &mut item.get,
            Method::Put => &mut item.put,
            Method::Post => &mut item.post,
            Method::Delete => &mut item.delete,
            Method::Patch => &mut item.patch,
        };
        *slot = Some(operation(op));
    }
    item
}

fn operation(op: &operations::Operation) -> Operation {
    let path = op.path_params.iter().map(|&p| path_param(p));
    let query = op.query.iter().map(|&p| query_param(p));
    let (group, version, kind) = op.gvk;
    let gvk = json!({"group": group, "kind": kind, "version": version});
    let response_code = op
        .action
        .responses()
        .iter()
        .map(|&(code, description)| NamedResponseValue {
            name: code.to_owned(),
            value: Some(ResponseValue {
                response: Some(ResponseObject {
                    description: description.to_owned(),
                }),
            }),
        })
        .collect();
    Operation {
        description: op.action.description().to_owned(),
        consumes: op
            .action
            .body_types()
            .iter()
            .map(|&t| t.to_owned())
            .collect(),
        parameters: path.chain(query).collect(),
        responses: Some(Responses { response_code }),
        vendor_extension: vec![
            extension("x-kubernetes-action", &json!(op.action.as_str())),
            extension("x-kubernetes-group-version-kind", &gvk),
        ],
    }
}

/// gnostic's path and query sub-schemas: the same fields, numbered apart from `type` on.
macro_rules! sub_schema {
    ($schema:ident, $param:expr, $in:literal, $required:literal) => {
        $schema {
            required: $required,
            r#in: $in.to_owned(),
            description: $param.description.to_owned(),
            name: $param.name.to_owned(),
            r#type: $param.ty.to_owned(),
            unique_items: true,
        }
    };
}

fn path_param(param: Param) -> ParametersItem {
    non_body(NonBodyParameter {
        path_parameter_sub_schema: Some(sub_schema!(PathParameterSubSchema, param, "path", true)),
        query_parameter_sub_schema: None,
    })
}

fn query_param(param: Param) -> ParametersItem {
    non_body(NonBodyParameter {
        query_parameter_sub_schema: Some(sub_schema!(
            QueryParameterSubSchema,
            param,
            "query",
            false
        )),
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
        Self {
            etag: format!("\"{}\"", hex_digest(&body)),
            body: Bytes::from(body),
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
    // A 304 names the type too: kubectl's HTTP cache copies its headers onto the stored answer.
    let (status, body) = if fresh(if_none_match, &encoded.etag) {
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
mod tests;
