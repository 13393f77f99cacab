//! The API server's one error type. Every failure a handler can meet is a variant here, and
//! this is the one place that maps each to an HTTP status and a Kubernetes `Status` body with
//! kube-apiserver's reason and message, so kubectl prints `Error from server (NotFound): ...`
//! exactly as it does against Kubernetes. Internal details are logged, never sent.

use serde_json::{Value, json};
use shoal_manifests::FieldError;
use shoal_manifests::patch::apply::ApplyConflicts;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The object does not exist.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// `deployments.apps`, `pods`, ...
        resource: String,
        name: String,
    },
    /// A create found an object with that name.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    /// A precondition (resourceVersion or uid) did not hold.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {detail}")]
    Conflict {
        resource: String,
        name: String,
        detail: String,
    },
    /// A server-side apply would take fields from other managers.
    #[error("{conflicts}")]
    ApplyConflict {
        resource: String,
        name: String,
        conflicts: ApplyConflicts,
    },
    /// The object failed validation.
    #[error("{kind} \"{name}\" is invalid: {}", join_causes(.causes))]
    Invalid {
        /// `Deployment.apps`, `Pod`, ...
        kind: String,
        name: String,
        group: String,
        causes: Vec<FieldError>,
    },
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but cannot be carried out (a JSON patch whose `test` fails).
    #[error("{0}")]
    Unprocessable(String),
    /// The verb is not served on this path.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// No path matched.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// No valid credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A body in a media type the server does not read.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )]
    UnsupportedMediaType,
    /// A patch whose content type is no patch type.
    #[error("the server does not know the patch type {0:?}")]
    UnsupportedPatch(String),
    /// The resourceVersion is older than the retained history.
    #[error("{0}")]
    Gone(String),
    /// The store could not be reached (no leader, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: logged in full, sent as a generic message.
    #[error("{0}")]
    Internal(String),
}

fn join_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl ApiError {
    /// A 404 for a namespace that does not exist.
    pub fn namespace_not_found(namespace: &str) -> Self {
        ApiError::NotFound {
            resource: "namespaces".to_owned(),
            name: namespace.to_owned(),
        }
    }

    /// The standard optimistic-concurrency conflict.
    pub fn modified(resource: &str, name: &str) -> Self {
        ApiError::Conflict {
            resource: resource.to_owned(),
            name: name.to_owned(),
            detail: "the object has been modified; please apply your changes to the latest \
                     version and try again"
                .to_owned(),
        }
    }

    /// An invalid object with a single cause.
    pub fn invalid(kind: &str, group: &str, name: &str, cause: FieldError) -> Self {
        ApiError::Invalid {
            kind: kind.to_owned(),
            group: group.to_owned(),
            name: name.to_owned(),
            causes: vec![cause],
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedPatch(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// kube-apiserver's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::UnsupportedMediaType | ApiError::UnsupportedPatch(_) => {
                "UnsupportedMediaType"
            }
            ApiError::Gone(_) => "Expired",
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `metav1.Status` body.
    pub fn status(&self) -> Value {
        let message = match self {
            ApiError::Internal(_) => "an error on the server prevented the request from \
                                      succeeding; see the server's log"
                .to_owned(),
            other => other.to_string(),
        };
        let details = match self {
            ApiError::NotFound { resource, name } | ApiError::AlreadyExists { resource, name } => {
                details(resource, name)
            }
            ApiError::Conflict { resource, name, .. } => details(resource, name),
            ApiError::ApplyConflict {
                resource,
                name,
                conflicts,
            } => {
                let mut d = details(resource, name);
                d["causes"] = conflicts
                    .conflicts()
                    .iter()
                    .map(|c| {
                        json!({"reason": "FieldManagerConflict", "message": c.message(),
                               "field": c.path.to_string()})
                    })
                    .collect();
                d
            }
            ApiError::Invalid {
                kind,
                name,
                group,
                causes,
            } => {
                let bare_kind = kind.split('.').next().unwrap_or(kind);
                json!({"name": name, "group": group, "kind": bare_kind,
                   "causes": causes.iter().map(cause).collect::<Vec<_>>()})
            }
            _ => json!({}),
        };
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": self.reason(),
            "details": details,
            "code": self.code().as_u16(),
        });
        if details_empty(&status)
            && let Some(map) = status.as_object_mut()
        {
            map.remove("details");
        }
        status
    }

    /// The error as an HTTP response.
    pub fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        json_response(self.code(), &self.status())
    }
}

fn details(resource: &str, name: &str) -> Value {
    let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
    let mut d = json!({"name": name, "kind": kind});
    if !group.is_empty() {
        d["group"] = Value::from(group);
    }
    d
}

fn details_empty(status: &Value) -> bool {
    status
        .get("details")
        .and_then(Value::as_object)
        .is_some_and(serde_json::Map::is_empty)
}

fn cause(error: &FieldError) -> Value {
    let full = error.to_string();
    let path = error.path.to_string();
    let message = full
        .strip_prefix(&format!("{path}: "))
        .unwrap_or(&full)
        .to_owned();
    json!({"reason": error.reason.cause_reason(), "message": message, "field": path})
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(bytes.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Gone { .. } => ApiError::Gone(error.to_string()),
            StoreError::InvalidContinue { .. } => ApiError::BadRequest(error.to_string()),
            other if other.is_unavailable() => ApiError::Unavailable(other.to_string()),
            other => ApiError::Internal(error_chain(&other)),
        }
    }
}

pub(crate) use crate::store::error_chain;

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_manifests::FieldPath;

    #[test]
    fn not_found_reads_like_kube_apiserver() {
        let error = ApiError::NotFound {
            resource: "deployments.apps".into(),
            name: "web".into(),
        };
        let status = error.status();
        assert_eq!(status["message"], "deployments.apps \"web\" not found");
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["code"], 404);
        assert_eq!(status["details"]["kind"], "deployments");
        assert_eq!(status["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_every_cause_with_its_field() {
        let error = ApiError::Invalid {
            kind: "Deployment.apps".into(),
            group: "apps".into(),
            name: "web".into(),
            causes: vec![
                FieldError::required(FieldPath::parse_dotted("spec.selector"), ""),
                FieldError::invalid_raw(
                    FieldPath::parse_dotted("spec.replicas"),
                    -1,
                    "must be >= 0",
                ),
            ],
        };
        let status = error.status();
        assert_eq!(status["code"], 422);
        assert_eq!(
            status["message"],
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, \
             spec.replicas: Invalid value: -1: must be >= 0]"
        );
        assert_eq!(status["details"]["kind"], "Deployment");
        assert_eq!(status["details"]["causes"][1]["field"], "spec.replicas");
        assert_eq!(
            status["details"]["causes"][1]["reason"],
            "FieldValueInvalid"
        );
        assert_eq!(
            status["details"]["causes"][1]["message"],
            "Invalid value: -1: must be >= 0"
        );
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let status = ApiError::Internal("redb: disk on fire at /var/lib/x".into()).status();
        assert!(!status["message"].as_str().unwrap().contains("redb"));
        assert_eq!(status["code"], 500);
        assert!(status.get("details").is_none());
    }
}
