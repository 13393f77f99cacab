//! Subresources with bodies of their own: `scale` (an `autoscaling/v1` Scale over the parent's
//! `spec.replicas`), `eviction` (a policy/v1 Eviction that deletes a pod), `binding` (the
//! scheduler's decision) and `log` (served by the node's agent).

use serde_json::{Value, json};
use shoal_manifests::patch::{self, PatchType};
use shoal_manifests::registry::{KindInfo, Subresource};
use shoal_manifests::strategy::Schema;
use warp::Reply as _;
use warp::http::StatusCode;
use warp::reply::Response;

use super::agents::AgentDialer;
use super::error::{ApiError, json_response};
use super::request::{Query, Target};
use super::resources::{Change, DeleteOptions, Resources, WriteOptions, Written, resource_version};
use crate::store::Consistency;

/// The Scale view of a scalable object.
pub(crate) fn scale_of(object: &Value) -> Value {
    let selector = object
        .pointer("/spec/selector")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .and_then(|s| shoal_manifests::selector::LabelSelector::from_k8s(&s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let pick = |key: &str| metadata.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(Value::from(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(Value::from(0)),
            "selector": selector,
        },
    })
}

pub(crate) async fn get_scale(
    resources: &Resources,
    target: &Target,
    name: &str,
) -> Result<Response, ApiError> {
    let object = resources
        .get_existing(
            target.kind,
            target.namespace_or_empty(),
            name,
            Consistency::Linearizable,
        )
        .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&object)))
}

/// Applies a new Scale to the parent: its `spec.replicas`, with the Scale's resourceVersion as
/// the precondition when it carries one.
fn rescale(current: &Value, scale: &Value) -> Result<Change, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale.autoscaling",
            "autoscaling",
            current
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            shoal_manifests::FieldError::invalid_raw(
                shoal_manifests::FieldPath::parse_dotted("spec.replicas"),
                replicas,
                "must be greater than or equal to 0",
            ),
        ));
    }
    let mut next = current.clone();
    next["spec"]["replicas"] = Value::from(replicas);
    let rv = resource_version(scale);
    if !rv.is_empty() {
        next["metadata"]["resourceVersion"] = Value::from(rv);
    }
    Ok(Change::Replace(next))
}

pub(crate) async fn put_scale(
    resources: &Resources,
    target: &Target,
    name: &str,
    body: Value,
    options: &WriteOptions,
) -> Result<Response, ApiError> {
    let written = resources
        .modify(
            target.kind,
            target.namespace_or_empty(),
            name,
            None,
            options,
            |current| rescale(current, &body),
        )
        .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&written.object)))
}

pub(crate) async fn patch_scale(
    resources: &Resources,
    target: &Target,
    name: &str,
    patch_type: PatchType,
    body: &[u8],
    options: &WriteOptions,
) -> Result<Response, ApiError> {
    if patch_type == PatchType::Apply {
        return Err(ApiError::UnsupportedPatch(
            patch_type.content_type().to_owned(),
        ));
    }
    let written = resources
        .modify(
            target.kind,
            target.namespace_or_empty(),
            name,
            None,
            options,
            |current| {
                let scale = scale_of(current);
                let patched = patch::apply_patch(&scale, patch_type, body, &Schema::PLAIN)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                rescale(current, &patched)
            },
        )
        .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&written.object)))
}

/// The `Status` a successful eviction or binding answers with.
fn created_status() -> Response {
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// `POST pods/<name>/eviction`: deletes the pod with the Eviction's delete options.
pub(crate) async fn evict(
    resources: &Resources,
    target: &Target,
    name: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let eviction: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the Eviction body is not valid JSON: {e}")))?;
    let options_body = eviction
        .get("deleteOptions")
        .map(|o| serde_json::to_vec(o).unwrap_or_default())
        .unwrap_or_default();
    let options = DeleteOptions::parse(&options_body, &super::request::Query::default())?;
    resources
        .delete(target.kind, target.namespace_or_empty(), name, &options)
        .await?;
    Ok(created_status())
}

/// `POST pods/<name>/binding`: assigns the pod to the Binding's target node, once.
pub(crate) async fn bind(
    resources: &Resources,
    target: &Target,
    name: &str,
    body: &[u8],
    manager: &str,
) -> Result<Response, ApiError> {
    let binding: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the Binding body is not valid JSON: {e}")))?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("a Binding needs target.name".to_owned()))?
        .to_owned();
    bind_pod(
        resources,
        target.kind,
        target.namespace_or_empty(),
        name,
        &node,
        None,
        manager,
    )
    .await?;
    Ok(created_status())
}

/// The binding rule, shared by `POST pods/<name>/binding` and the scheduler: sets
/// `spec.nodeName` once, with `PodScheduled=True`, as kube-apiserver's binding does; a pod
/// already assigned answers 409. With `uid`, a pod that is not
/// that one (deleted and created again under the same name) answers 409 too.
pub(crate) async fn bind_pod(
    resources: &Resources,
    kind: &'static KindInfo,
    namespace: &str,
    name: &str,
    node: &str,
    uid: Option<&str>,
    manager: &str,
) -> Result<Written, ApiError> {
    let options = WriteOptions::controller(manager);
    let now = super::resources::now_rfc3339();
    resources
        .modify(
            kind,
            namespace,
            name,
            Some(Subresource::Binding),
            &options,
            |current| {
            let conflict = |detail: String| ApiError::Conflict {
                resource: "pods".to_owned(),
                name: name.to_owned(),
                detail,
            };
            let actual = current
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(uid) = uid
                && uid != actual
            {
                return Err(conflict(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                )));
            }
            match current.pointer("/spec/nodeName").and_then(Value::as_str) {
                Some(bound) if !bound.is_empty() => Err(conflict(format!(
                    "pod {name} is already assigned to node \"{bound}\""
                ))),
                _ => {
                    let mut next = current.clone();
                    next["spec"]["nodeName"] = Value::from(node);
                    set_pod_scheduled(&mut next, "True", None, &now);
                    Ok(Change::Replace(next))
                }
            }
        })
        .await
}

/// Sets the pod's `PodScheduled` condition, keeping its transition time while the status
/// stays the same; a message makes it `Unschedulable`.
pub(crate) fn set_pod_scheduled(pod: &mut Value, status: &str, message: Option<&str>, now: &str) {
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    let at = conditions.iter().position(|c| c["type"] == "PodScheduled");
    let transition = at
        .map(|i| &conditions[i])
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime"))
        .filter(|t| !t.is_null())
        .cloned()
        .unwrap_or_else(|| Value::from(now));
    let mut condition = json!({
        "type": "PodScheduled",
        "status": status,
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    });
    if let Some(message) = message {
        condition["reason"] = Value::from("Unschedulable");
        condition["message"] = Value::from(message);
    }
    match at {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

/// `GET pods/<name>/log`: streamed from the agent of the pod's node, with kubelet's query
/// (`follow`, `previous`, `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`,
/// `limitBytes`); until a pod is on a node there are none, as kube-apiserver answers.
pub(crate) async fn log(
    resources: &Resources,
    agents: &AgentDialer,
    target: &Target,
    name: &str,
    query: &Query,
) -> Result<Response, ApiError> {
    let pod = resources
        .get_existing(
            target.kind,
            target.namespace_or_empty(),
            name,
            Consistency::Linearizable,
        )
        .await?;
    let container = log_container(&pod, name, query.get("container"))?;
    let node_name = match pod.pointer("/spec/nodeName").and_then(Value::as_str) {
        None | Some("") => {
            return Err(ApiError::BadRequest(format!(
                "pod {name} does not have a host assigned"
            )));
        }
        Some(node) => node.to_owned(),
    };
    let nodes = shoal_manifests::registry::by_resource("", "v1", "nodes")
        .ok_or_else(|| ApiError::Internal("nodes are not registered".to_owned()))?;
    let node = resources
        .get_existing(nodes, "", &node_name, Consistency::Linearizable)
        .await?;
    let forwarded = {
        let mut forwarded = form_urlencoded::Serializer::new(String::new());
        for key in [
            "follow",
            "previous",
            "timestamps",
            "tailLines",
            "sinceSeconds",
            "sinceTime",
            "limitBytes",
        ] {
            if let Some(value) = query.get(key) {
                forwarded.append_pair(key, value);
            }
        }
        forwarded.finish()
    };
    let path = format!(
        "/containerLogs/{}/{name}/{container}?{forwarded}",
        target.namespace_or_empty(),
    );
    let answer = agents.get(&node, &path).await?;
    let status = answer.status();
    if !status.is_success() {
        let message = answer.text().await.unwrap_or_default();
        let message = message.trim().to_owned();
        return Err(if status.is_client_error() {
            ApiError::BadRequest(message)
        } else {
            ApiError::Unavailable(message)
        });
    }
    let mut response = warp::reply::stream(answer.bytes_stream()).into_response();
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("text/plain"),
    );
    Ok(response)
}

/// The container whose logs are asked for: the one named, or the pod's only container;
/// errors worded as kube-apiserver words them.
fn log_container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    };
    let containers = names("containers");
    let init = names("initContainers");
    match asked.filter(|c| !c.is_empty()) {
        Some(asked) if containers.iter().chain(&init).any(|c| c == asked) => Ok(asked.to_owned()),
        Some(asked) => Err(ApiError::BadRequest(format!(
            "container {asked} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]{}",
            containers.join(" "),
            if init.is_empty() {
                String::new()
            } else {
                format!(" or one of the init containers: [{}]", init.join(" "))
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_container_is_the_one_named_or_the_only_one() {
        let one = json!({"spec": {"containers": [{"name": "web"}]}});
        assert_eq!(log_container(&one, "p", None).unwrap(), "web");
        assert_eq!(log_container(&one, "p", Some("web")).unwrap(), "web");
        assert_eq!(
            log_container(&one, "p", Some("db"))
                .unwrap_err()
                .to_string(),
            "container db is not valid for pod p"
        );
        let two = json!({"spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "setup"}],
        }});
        assert_eq!(log_container(&two, "p", Some("setup")).unwrap(), "setup");
        assert_eq!(
            log_container(&two, "p", None).unwrap_err().to_string(),
            "a container name must be specified for pod p, choose one of: [a b] or one of the \
             init containers: [setup]"
        );
    }
}
