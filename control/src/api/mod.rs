//! The Kubernetes API server: warp routes over the Raft store, speaking the REST API subset
//! the real kubectl uses (see `shared/KUBECTL-WIRE.md` for what it sends and expects).
//!
//! A request is authenticated first (bearer tokens; only `/healthz`, `/livez` and `/readyz`
//! answer anonymous callers), then served by discovery and OpenAPI, or parsed into a
//! [`request::Target`] and dispatched by verb to [`resources::Resources`], which does what
//! kube-apiserver's registry does: admission, conditional writes, retries. Every authenticated
//! request is authorized by RBAC (`rbac`) first.

mod admission;
mod agents;
pub mod auth;
pub mod discovery;
mod error;
pub mod kubeconfig;
pub mod openapi;
pub mod openapi_v2;
pub mod protobuf;
mod rbac;
pub mod request;
pub mod resources;
mod reviews;
pub(crate) mod services;
pub(crate) mod subresources;
pub mod table;
pub mod tls;
mod watch;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use shoal_manifests::patch::PatchType;
use shoal_manifests::registry::{self, Subresource};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::reply::Response;

pub use error::{ApiError, json_response};
use request::{ListQuery, Query, Target, WriteQuery};
use resources::{DeleteOptions, Deleted, Resources, WriteOptions, Written};
use table::Output;

use self::auth::{Authenticator, User};
use crate::store::{Consistency, Store};

/// The namespaces every cluster has from the start.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The largest request body accepted, as kube-apiserver's limit.
const MAX_BODY: u64 = 3 * 1024 * 1024;

/// Settings of the API server.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How often a watch that allows bookmarks gets one while it has nothing else to send.
    pub bookmark_interval: Duration,
    /// The join token, presented to agents when the server reaches them (`pods/log`).
    pub agent_token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bookmark_interval: Duration::from_secs(30),
            agent_token: None,
        }
    }
}

/// One API server over one store node.
#[derive(Debug)]
pub struct ApiServer {
    config: ApiConfig,
    resources: Resources,
    authenticator: Arc<Authenticator>,
    rbac: rbac::Rbac,
    agents: agents::AgentDialer,
    /// Watch streams, which outlive the request that started them.
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl ApiServer {
    pub fn new(
        store: Arc<Store>,
        authenticator: Arc<Authenticator>,
        config: ApiConfig,
    ) -> Arc<Self> {
        Arc::new(ApiServer {
            agents: agents::AgentDialer::new(config.agent_token.clone()),
            config,
            resources: Resources::new(store),
            authenticator,
            rbac: rbac::Rbac::new(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        })
    }

    /// The object store the handlers use; controllers write through it too.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// Creates the system namespaces that do not exist yet, retrying while the cluster has no
    /// leader, until `cancel`.
    pub async fn bootstrap(&self, cancel: &CancellationToken) {
        let kind = namespace_kind();
        for name in SYSTEM_NAMESPACES {
            loop {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                match self
                    .resources
                    .create(
                        kind,
                        None,
                        body,
                        &WriteOptions::controller("shoal-apiserver"),
                    )
                    .await
                {
                    Ok(_) | Err(ApiError::AlreadyExists { .. }) => break,
                    Err(error) => {
                        tracing::debug!(error = %error, namespace = name, "creating a system namespace; retrying");
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                }
            }
        }
    }

    /// Creates the bootstrap RBAC policy (`cluster-admin`, discovery, `admin`, `edit`, `view`)
    /// where it does not exist yet, retrying while the cluster has no leader, until `cancel`.
    pub async fn bootstrap_policy(&self, cancel: &CancellationToken) {
        rbac::bootstrap(&self.resources, cancel).await;
    }

    /// Keeps the authorizer's view of Roles and bindings current, on `tasks`, until `cancel`.
    pub fn start_authorizer(&self, tasks: &TaskTracker, cancel: CancellationToken) {
        self.rbac.start(self.resources.clone(), tasks, cancel);
    }

    /// Ends every watch stream and waits for them.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// All routes: health, then (authenticated) discovery, OpenAPI and resources; every
    /// rejection becomes a `Status`.
    pub fn routes(self: &Arc<Self>) -> BoxedFilter<(Response,)> {
        let health = warp::get()
            .and(
                warp::path!("healthz")
                    .or(warp::path!("livez"))
                    .unify()
                    .or(warp::path!("readyz"))
                    .unify(),
            )
            .map(|| {
                let mut response = Response::new("ok".into());
                response.headers_mut().insert(
                    warp::http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            });
        let authenticator = Arc::clone(&self.authenticator);
        let authenticated = warp::header::optional::<String>("authorization").and_then(
            move |header: Option<String>| {
                let authenticator = Arc::clone(&authenticator);
                async move {
                    authenticator
                        .authenticate(header.as_deref())
                        .map_err(|_| warp::reject::custom(Rejected(ApiError::Unauthorized)))
                }
            },
        );
        let server = Arc::clone(self);
        let resources = authenticated
            .clone()
            .and(warp::method())
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .and_then(
                move |user: User,
                      method: Method,
                      path: warp::path::FullPath,
                      query: String,
                      headers: HeaderMap,
                      body: Bytes| {
                    let server = Arc::clone(&server);
                    async move {
                        let request = Request {
                            user,
                            method,
                            path: path.as_str().to_owned(),
                            query: Query::parse(&query),
                            headers,
                            body,
                        };
                        Ok::<_, Infallible>(server.handle(request).await)
                    }
                },
            );
        // Discovery and OpenAPI are non-resource GETs of their path.
        let server = Arc::clone(self);
        let described = authenticated
            .and(warp::path::full())
            .and(
                openapi_v2::routes()
                    .or(discovery::routes())
                    .unify()
                    .or(openapi::routes())
                    .unify(),
            )
            .and_then(
                move |user: User, path: warp::path::FullPath, response: Response| {
                    let server = Arc::clone(&server);
                    async move {
                        let attributes =
                            rbac::Attributes::non_resource(&user, rbac::Verb::Get, path.as_str());
                        Ok::<_, Infallible>(match server.rbac.authorize(&attributes).await {
                            Ok(()) => response,
                            Err(error) => error.into_response(),
                        })
                    }
                },
            );
        health
            .or(described)
            .unify()
            .or(resources)
            .unify()
            .recover(recover)
            .unify()
            .boxed()
    }

    async fn handle(&self, request: Request) -> Response {
        let method = request.method.clone();
        let path = request.path.clone();
        let result = self.dispatch(request).await;
        match result {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%method, %path, error = %error, "request refused");
                error.into_response()
            }
        }
    }

    async fn dispatch(&self, request: Request) -> Result<Response, ApiError> {
        if let Some(review) = reviews::at_path(&request.path) {
            let attributes = reviews::attributes(review, &request.user, &request.method)?;
            self.rbac.authorize(&attributes).await?;
            let body = body_value(&request)?;
            return reviews::create(review, &self.rbac, &request.user, body).await;
        }
        let target = match request::parse_path(&request.path) {
            None => {
                // As in Kubernetes, a path nothing serves is authorized before it is not found.
                let path =
                    rbac::Attributes::for_path(&request.user, &request.method, &request.path);
                if let Some(attributes) = path {
                    self.rbac.authorize(&attributes).await?;
                }
                return Err(ApiError::NoRoute);
            }
            Some(target) => target?,
        };
        let attributes =
            rbac::Attributes::for_target(&request.user, &request.method, &target, &request.query)
                .ok_or(ApiError::MethodNotAllowed)?;
        self.rbac.authorize(&attributes).await?;
        let name = target.name.clone();
        match (&request.method, name, target.subresource) {
            (&Method::GET, None, None) => self.list(&request, &target).await,
            (&Method::GET, Some(name), None | Some(Subresource::Status)) => {
                self.get(&request, &target, &name).await
            }
            (&Method::GET, Some(name), Some(Subresource::Scale)) => {
                subresources::get_scale(&self.resources, &target, &name).await
            }
            (&Method::GET, Some(name), Some(Subresource::Log)) => {
                subresources::log(
                    &self.resources,
                    &self.agents,
                    &target,
                    &name,
                    &request.query,
                )
                .await
            }
            (&Method::POST, None, None) => self.create(&request, &target).await,
            (&Method::POST, Some(name), Some(Subresource::Eviction)) => {
                subresources::evict(&self.resources, &target, &name, &request.body).await
            }
            (&Method::POST, Some(name), Some(Subresource::Binding)) => {
                subresources::bind(
                    &self.resources,
                    &target,
                    &name,
                    &request.body,
                    &manager(&request)?,
                )
                .await
            }
            (&Method::PUT, Some(name), None | Some(Subresource::Status)) => {
                self.update(&request, &target, &name).await
            }
            (&Method::PUT, Some(name), Some(Subresource::Scale)) => {
                let options = self.write_options(&request, &target).await?;
                let body = body_value(&request)?;
                subresources::put_scale(&self.resources, &target, &name, body, &options).await
            }
            (&Method::PATCH, Some(name), None | Some(Subresource::Status)) => {
                self.patch(&request, &target, &name).await
            }
            (&Method::PATCH, Some(name), Some(Subresource::Scale)) => {
                let options = self.write_options(&request, &target).await?;
                let patch_type = patch_type(&request)?;
                subresources::patch_scale(
                    &self.resources,
                    &target,
                    &name,
                    patch_type,
                    &request.body,
                    &options,
                )
                .await
            }
            (&Method::DELETE, Some(name), None) => self.delete(&request, &target, &name).await,
            (&Method::DELETE, None, None) => self.delete_collection(&request, &target).await,
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    async fn get(
        &self,
        request: &Request,
        target: &Target,
        name: &str,
    ) -> Result<Response, ApiError> {
        let consistency = consistency(&request.query);
        let object = self
            .resources
            .get_existing(target.kind, target.namespace_or_empty(), name, consistency)
            .await?;
        let output = output(request);
        let body = match output {
            Output::Json => object,
            Output::Table { version, include } => {
                let rv = resources::resource_version(&object).to_owned();
                table::table(target.kind, version, include, &[object], &rv, None)
            }
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    async fn list(&self, request: &Request, target: &Target) -> Result<Response, ApiError> {
        let query = ListQuery::parse(&request.query, target.kind)?;
        let output = output(request);
        if query.watch {
            let watch = watch::WatchRequest {
                kind: target.kind,
                namespace: target.namespace.clone(),
                query,
                output,
                bookmark_interval: self.config.bookmark_interval,
            };
            return watch::start(&self.resources, watch, &self.tasks, self.shutdown.clone()).await;
        }
        let listed = self
            .resources
            .list(
                target.kind,
                target.namespace.as_deref(),
                query.limit,
                query.continue_token.clone(),
                consistency(&request.query),
                |o| query.fields.matches(o) && query.labels.matches(&watch::labels(o)),
            )
            .await?;
        let revision = listed.revision.0.to_string();
        let body = match output {
            Output::Json => {
                let mut metadata = json!({"resourceVersion": revision});
                if let Some(token) = &listed.continue_token {
                    metadata["continue"] = Value::from(token.as_str());
                }
                json!({
                    "kind": target.kind.list_kind,
                    "apiVersion": target.kind.api_version,
                    "metadata": metadata,
                    "items": listed.items,
                })
            }
            Output::Table { version, include } => table::table(
                target.kind,
                version,
                include,
                &listed.items,
                &revision,
                listed.continue_token.as_deref(),
            ),
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    /// How a write request writes: its query's options and, for the RBAC kinds, the
    /// escalation check for its user.
    async fn write_options(
        &self,
        request: &Request,
        target: &Target,
    ) -> Result<WriteOptions, ApiError> {
        let query = WriteQuery::parse(&request.query)?;
        let guard = match target.kind.group {
            rbac::RBAC_GROUP => Some(self.rbac.guard(&request.user).await),
            _ => None,
        };
        Ok(WriteOptions {
            dry_run: query.dry_run,
            manager: manager(request)?,
            validation: query.validation,
            force: query.force,
            guard,
        })
    }

    async fn create(&self, request: &Request, target: &Target) -> Result<Response, ApiError> {
        let options = self.write_options(request, target).await?;
        let body = body_value(request)?;
        let written = self
            .resources
            .create(target.kind, target.namespace.as_deref(), body, &options)
            .await?;
        Ok(written_response(written, StatusCode::CREATED))
    }

    async fn update(
        &self,
        request: &Request,
        target: &Target,
        name: &str,
    ) -> Result<Response, ApiError> {
        let options = self.write_options(request, target).await?;
        let body = body_value(request)?;
        let written = self
            .resources
            .update(
                target.kind,
                target.namespace_or_empty(),
                name,
                body,
                target.subresource,
                &options,
            )
            .await?;
        Ok(written_response(written, StatusCode::OK))
    }

    async fn patch(
        &self,
        request: &Request,
        target: &Target,
        name: &str,
    ) -> Result<Response, ApiError> {
        let patch_type = patch_type(request)?;
        let mut options = self.write_options(request, target).await?;
        if patch_type == PatchType::Apply {
            match request.query.get("fieldManager").filter(|m| !m.is_empty()) {
                Some(manager) => options.manager = manager.to_owned(),
                None => {
                    return Err(ApiError::invalid(
                        "PatchOptions.meta.k8s.io",
                        "meta.k8s.io",
                        "",
                        shoal_manifests::FieldError::required(
                            shoal_manifests::FieldPath::parse_dotted("fieldManager"),
                            "is required for apply patch",
                        ),
                    ));
                }
            }
        } else if request.query.get("force").is_some() {
            return Err(ApiError::BadRequest(
                "force: Forbidden: may not be specified for non-apply patch".to_owned(),
            ));
        }
        let written = self
            .resources
            .patch(
                target.kind,
                target.namespace_or_empty(),
                name,
                patch_type,
                &request.body,
                target.subresource,
                &options,
            )
            .await?;
        let status = if written.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(written_response(written, status))
    }

    async fn delete(
        &self,
        request: &Request,
        target: &Target,
        name: &str,
    ) -> Result<Response, ApiError> {
        let options = DeleteOptions::parse(&request.body, &request.query)?;
        let deleted = self
            .resources
            .delete(target.kind, target.namespace_or_empty(), name, &options)
            .await?;
        Ok(match deleted {
            Deleted::Pending(object) => json_response(StatusCode::OK, &object),
            Deleted::Gone(object) => {
                json_response(StatusCode::OK, &deleted_status(target, &object))
            }
        })
    }

    async fn delete_collection(
        &self,
        request: &Request,
        target: &Target,
    ) -> Result<Response, ApiError> {
        let query = ListQuery::parse(&request.query, target.kind)?;
        let options = DeleteOptions::parse(&request.body, &request.query)?;
        let listed = self
            .resources
            .list(
                target.kind,
                target.namespace.as_deref(),
                0,
                None,
                Consistency::Linearizable,
                |o| query.fields.matches(o) && query.labels.matches(&watch::labels(o)),
            )
            .await?;
        let mut items = Vec::new();
        for object in listed.items {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match self
                .resources
                .delete(target.kind, namespace, name, &options)
                .await
            {
                Ok(Deleted::Gone(o) | Deleted::Pending(o)) => items.push(o),
                Err(ApiError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let body = json!({
            "kind": target.kind.list_kind,
            "apiVersion": target.kind.api_version,
            "metadata": {"resourceVersion": listed.revision.0.to_string()},
            "items": items,
        });
        Ok(json_response(StatusCode::OK, &body))
    }
}

/// A request as the handlers see it.
#[derive(Debug)]
struct Request {
    user: User,
    method: Method,
    path: String,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn consistency(query: &Query) -> Consistency {
    match query.get("resourceVersion") {
        Some("0") => Consistency::Local,
        _ => Consistency::Linearizable,
    }
}

fn output(request: &Request) -> Output {
    Output::negotiate(request.header("accept"), request.query.get("includeObject"))
}

/// The field manager: the `fieldManager` parameter, else the User-Agent's program name.
fn manager(request: &Request) -> Result<String, ApiError> {
    let query = WriteQuery::parse(&request.query)?;
    Ok(query.field_manager.unwrap_or_else(|| {
        request
            .header("user-agent")
            .and_then(|ua| ua.split('/').next())
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .chars()
            .take(128)
            .collect()
    }))
}

fn patch_type(request: &Request) -> Result<PatchType, ApiError> {
    let content_type = request.header("content-type").unwrap_or_default();
    PatchType::from_content_type(content_type)
        .ok_or_else(|| ApiError::UnsupportedPatch(content_type.to_owned()))
}

/// The request body as JSON, from JSON, YAML or Kubernetes protobuf.
fn body_value(request: &Request) -> Result<Value, ApiError> {
    if request.body.len() as u64 > MAX_BODY {
        return Err(ApiError::BadRequest(format!(
            "the request body is larger than {MAX_BODY} bytes"
        )));
    }
    let content_type = request
        .header("content-type")
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" | "" | "*/*" => serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}"))),
        "application/yaml" => shoal_manifests::patch::parse_apply_body(&request.body)
            .map_err(|e| ApiError::BadRequest(e.to_string())),
        protobuf::CONTENT_TYPE => protobuf::decode_body(&request.body)
            .map_err(|e| ApiError::BadRequest(format!("the protobuf body does not decode: {e}"))),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

fn written_response(written: Written, status: StatusCode) -> Response {
    let mut response = json_response(status, &written.object);
    for warning in written.warnings {
        let text = format!("299 - {}", Value::from(warning));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

fn deleted_status(target: &Target, object: &Value) -> Value {
    let mut details = json!({
        "name": object.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        "kind": target.kind.plural,
        "uid": object.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
    });
    if !target.kind.group.is_empty() {
        details["group"] = Value::from(target.kind.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

fn namespace_kind() -> &'static registry::KindInfo {
    registry::resolve("namespaces").unwrap_or(&registry::KINDS[0])
}

/// A rejection that carries an API error.
#[derive(Debug)]
struct Rejected(ApiError);

impl warp::reject::Reject for Rejected {}

async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let error = if let Some(Rejected(error)) = rejection.find::<Rejected>() {
        match error {
            ApiError::Unauthorized => ApiError::Unauthorized,
            other => ApiError::BadRequest(other.to_string()),
        }
    } else if rejection.is_not_found() {
        ApiError::NoRoute
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::BadRequest(format!("the request body is larger than {MAX_BODY} bytes"))
    } else {
        ApiError::BadRequest(format!("{rejection:?}"))
    };
    Ok(error.into_response())
}
