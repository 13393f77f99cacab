//! The reviews a client makes about itself, answered and never stored, as kube-apiserver
//! does: `SelfSubjectAccessReview` (`kubectl auth can-i`), `SelfSubjectRulesReview`
//! (`kubectl auth can-i --list`) and `SelfSubjectReview` (`kubectl auth whoami`).
//!
//! They are not kinds of the registry, which holds stored objects: each is served at one
//! collection path that only takes `create`, and discovery lists them as kube-apiserver does.

use serde_json::{Value, json};
use shoal_manifests::json::str_at;
use shoal_manifests::k8s_openapi::api::rbac::v1::PolicyRule;
use shoal_manifests::{FieldError, FieldPath};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::auth::User;
use super::error::{ApiError, json_response};
use super::rbac::{Attributes, Rbac, Verb, Verdict};

/// One review resource.
#[derive(Debug)]
pub(crate) struct Review {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) singular: &'static str,
}

impl Review {
    fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

const ACCESS: Review = Review {
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SelfSubjectAccessReview",
    plural: "selfsubjectaccessreviews",
    singular: "selfsubjectaccessreview",
};
const RULES: Review = Review {
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SelfSubjectRulesReview",
    plural: "selfsubjectrulesreviews",
    singular: "selfsubjectrulesreview",
};
const WHOAMI: Review = Review {
    group: "authentication.k8s.io",
    version: "v1",
    kind: "SelfSubjectReview",
    plural: "selfsubjectreviews",
    singular: "selfsubjectreview",
};

/// `kubectl auth whoami` before 1.28 asks only for v1beta1.
const WHOAMI_BETA: Review = Review {
    version: "v1beta1",
    ..WHOAMI
};

/// Every review resource, in discovery order (a group's preferred version first).
pub(crate) const REVIEWS: &[Review] = &[WHOAMI, WHOAMI_BETA, ACCESS, RULES];

/// The review served at `path` (`/apis/<group>/<version>/<plural>`), if any. Every request
/// passes here first, so it compares segments without allocating.
pub(crate) fn at_path(path: &str) -> Option<&'static Review> {
    let rest = path.trim_end_matches('/').strip_prefix("/apis/")?;
    let mut segments = rest.split('/');
    let (group, version, plural) = (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() {
        return None;
    }
    REVIEWS
        .iter()
        .find(|r| (r.group, r.version, r.plural) == (group, version, plural))
}

/// The RBAC question a request to create `review` asks.
pub(crate) fn attributes<'a>(
    review: &Review,
    user: &'a User,
    method: &Method,
) -> Result<Attributes<'a>, ApiError> {
    if method != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    Ok(Attributes {
        user,
        verb: Verb::Create,
        api_group: review.group.to_owned(),
        resource: review.plural.to_owned(),
        subresource: None,
        namespace: None,
        name: None,
        non_resource_path: None,
    })
}

/// Answers a create of `review` with `body` (already decoded to JSON) for `user`: 201 with
/// the review and its `status`.
pub(crate) async fn create(
    review: &Review,
    rbac: &Rbac,
    user: &User,
    body: Value,
) -> Result<Response, ApiError> {
    check_type(review, &body)?;
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match review.kind {
        "SelfSubjectAccessReview" => access_status(rbac, user, &spec).await?,
        "SelfSubjectRulesReview" => rules_status(rbac, user, &spec).await,
        _ => json!({"userInfo": user_info(user)}),
    };
    let metadata = body
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut answer = json!({
        "kind": review.kind,
        "apiVersion": review.api_version(),
        "metadata": metadata,
        "status": status,
    });
    if review.kind != "SelfSubjectReview" {
        answer["spec"] = spec;
    }
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// A body naming another kind is refused as kube-apiserver refuses it.
fn check_type(review: &Review, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::BadRequest(format!(
            "the body of a {} must be a JSON object",
            review.kind
        )));
    }
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let expected = review.api_version();
    if (!kind.is_empty() && kind != review.kind)
        || (!api_version.is_empty() && api_version != expected)
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API \
             version ({expected}) or the kind ({kind}) is not {}",
            review.kind
        )));
    }
    Ok(())
}

async fn access_status(rbac: &Rbac, user: &User, spec: &Value) -> Result<Value, ApiError> {
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let invalid = |field: &str, value: Option<&Value>, detail: &str| {
        ApiError::invalid(
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            "",
            FieldError::invalid_raw(
                FieldPath::parse_dotted(&format!("spec.{field}")),
                value.map_or_else(|| "\"null\"".to_owned(), Value::to_string),
                detail,
            ),
        )
    };
    let attrs = match (resource, non_resource) {
        (Some(_), Some(other)) => {
            return Err(invalid(
                "nonResourceAttributes",
                Some(other),
                "cannot be specified in combination with resourceAttributes",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "resourceAttributes",
                None,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        (Some(resource), None) => resource_attributes(user, resource),
        (None, Some(path)) => non_resource_attributes(user, path),
    };
    Ok(match rbac.review(&attrs).await {
        Verdict::Allowed { reason } if reason.is_empty() => json!({"allowed": true}),
        Verdict::Allowed { reason } => json!({"allowed": true, "reason": reason}),
        Verdict::Denied { errors } if errors.is_empty() => json!({"allowed": false}),
        Verdict::Denied { errors } => {
            json!({"allowed": false, "reason": format!("RBAC: {}", errors.join(", "))})
        }
    })
}

fn text(value: &Value, pointer: &str) -> String {
    str_at(value, pointer).to_owned()
}

fn optional(value: &Value, pointer: &str) -> Option<String> {
    Some(str_at(value, pointer))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// kube-apiserver's `ResourceAttributesFrom`: a verb RBAC does not know is asked as is, so it
/// is allowed only by a `*` rule or a rule naming it.
fn resource_attributes<'a>(user: &'a User, spec: &Value) -> Attributes<'a> {
    Attributes {
        user,
        verb: Verb::named(str_at(spec, "/verb")),
        api_group: text(spec, "/group"),
        resource: text(spec, "/resource"),
        subresource: optional(spec, "/subresource"),
        namespace: optional(spec, "/namespace"),
        name: optional(spec, "/name"),
        non_resource_path: None,
    }
}

fn non_resource_attributes<'a>(user: &'a User, spec: &Value) -> Attributes<'a> {
    Attributes::non_resource(
        user,
        Verb::named(str_at(spec, "/verb")),
        str_at(spec, "/path"),
    )
}

async fn rules_status(rbac: &Rbac, user: &User, spec: &Value) -> Value {
    let namespace = optional(spec, "/namespace");
    let (rules, errors) = rbac.rules(user, namespace.as_deref()).await;
    let (non_resource, resource): (Vec<&PolicyRule>, Vec<&PolicyRule>) =
        rules.iter().partition(|rule| {
            rule.non_resource_urls
                .as_ref()
                .is_some_and(|u| !u.is_empty())
        });
    let resource_rules: Vec<Value> = resource
        .iter()
        .map(|rule| {
            json!({
                "verbs": rule.verbs,
                "apiGroups": rule.api_groups.clone().unwrap_or_default(),
                "resources": rule.resources.clone().unwrap_or_default(),
                "resourceNames": rule.resource_names.clone().unwrap_or_default(),
            })
        })
        .collect();
    let non_resource_rules: Vec<Value> = non_resource
        .iter()
        .map(|rule| {
            json!({
                "verbs": rule.verbs,
                "nonResourceURLs": rule.non_resource_urls.clone().unwrap_or_default(),
            })
        })
        .collect();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = Value::from(errors.join(", "));
    }
    status
}

fn user_info(user: &User) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = Value::from(user.uid.clone());
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            at_path("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").map(|r| r.kind),
            Some("SelfSubjectAccessReview")
        );
        assert_eq!(
            at_path("/apis/authentication.k8s.io/v1/selfsubjectreviews").map(|r| r.kind),
            Some("SelfSubjectReview")
        );
        assert_eq!(
            at_path("/apis/authentication.k8s.io/v1beta1/selfsubjectreviews").map(|r| r.version),
            Some("v1beta1")
        );
        assert!(at_path("/apis/authorization.k8s.io/v1/subjectaccessreviews").is_none());
        assert!(at_path("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/x").is_none());
        assert!(at_path("/api/v1/selfsubjectaccessreviews").is_none());
        assert!(at_path("/apis/authorization.k8s.io/v1beta1/selfsubjectaccessreviews").is_none());
    }

    #[test]
    fn only_create() {
        let user = User {
            name: "bob".to_owned(),
            uid: String::new(),
            groups: Vec::new(),
        };
        assert!(matches!(
            attributes(&ACCESS, &user, &Method::GET),
            Err(ApiError::MethodNotAllowed)
        ));
        let attrs = attributes(&ACCESS, &user, &Method::POST).expect("create");
        assert_eq!(attrs.verb, Verb::Create);
        assert_eq!(attrs.resource, "selfsubjectaccessreviews");
    }

    #[test]
    fn wrong_kind_is_refused() {
        let body = json!({"kind": "Pod", "apiVersion": "v1"});
        let error = check_type(&ACCESS, &body).expect_err("wrong kind");
        assert!(
            error.to_string().contains("is not SelfSubjectAccessReview"),
            "{error}"
        );
        check_type(&ACCESS, &json!({"spec": {}})).expect("kind may be left out");
    }

    #[test]
    fn resource_attributes_from_spec() {
        let user = User {
            name: "bob".to_owned(),
            uid: String::new(),
            groups: Vec::new(),
        };
        let spec = json!({"verb": "get", "group": "apps", "resource": "deployments",
            "subresource": "scale", "namespace": "web", "name": "app"});
        let attrs = resource_attributes(&user, &spec);
        assert_eq!(attrs.verb, Verb::Get);
        assert_eq!(attrs.api_group, "apps");
        assert_eq!(attrs.subresource.as_deref(), Some("scale"));
        assert_eq!(attrs.namespace.as_deref(), Some("web"));
        assert_eq!(attrs.name.as_deref(), Some("app"));
        let spec = json!({"verb": "list", "resource": "pods", "namespace": ""});
        assert_eq!(resource_attributes(&user, &spec).namespace, None);
    }
}
