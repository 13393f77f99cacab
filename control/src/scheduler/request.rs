//! What a pod asks of a node, computed as Kubernetes' `resourcehelper.PodRequests` does: the
//! containers' requests summed, at least each init container's (with the sidecars started
//! before it), pod-level requests where set, plus the pod's overhead.

use std::collections::BTreeMap;
use std::ops::Add;

use shoal_manifests::k8s_openapi::api::core::v1::{Container, Pod};
use shoal_manifests::k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use shoal_manifests::quantity::Quantity;

/// The CPU kube-scheduler assumes, for scoring only, for a container that requests none.
pub const DEFAULT_MILLICORES: i64 = 100;
/// The memory kube-scheduler assumes, for scoring only, for a container that requests none.
pub const DEFAULT_BYTES: i64 = 200 * 1024 * 1024;

/// An amount of the two resources the scheduler weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compute {
    /// CPU in thousandths of a core.
    pub millicores: i64,
    /// Memory in bytes.
    pub bytes: i64,
}

impl Compute {
    pub const ZERO: Compute = Compute {
        millicores: 0,
        bytes: 0,
    };

    /// Each resource at the larger of the two.
    pub fn max(self, other: Compute) -> Compute {
        Compute {
            millicores: self.millicores.max(other.millicores),
            bytes: self.bytes.max(other.bytes),
        }
    }
}

impl Add for Compute {
    type Output = Compute;

    fn add(self, other: Compute) -> Compute {
        Compute {
            millicores: self.millicores.saturating_add(other.millicores),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// A pod's effective requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requests {
    /// What must fit in what the node has left; a missing request is zero.
    pub fit: Compute,
    /// What scoring counts: a container's missing request is [`DEFAULT_MILLICORES`] or
    /// [`DEFAULT_BYTES`] (kube-scheduler's "non-zero" requests).
    pub score: Compute,
}

impl Add for Requests {
    type Output = Requests;

    fn add(self, other: Requests) -> Requests {
        Requests {
            fit: self.fit + other.fit,
            score: self.score + other.score,
        }
    }
}

impl Requests {
    fn max(self, other: Requests) -> Requests {
        Requests {
            fit: self.fit.max(other.fit),
            score: self.score.max(other.score),
        }
    }
}

/// The pod's effective requests.
///
/// Containers run together, so their requests add up; init containers run one at a time
/// before them, so the pod needs at least the largest of them, where an init container with
/// `restartPolicy: Always` (a sidecar) keeps running and adds to everything after it.
/// Pod-level `spec.resources.requests` replace the containers' sum for the resources they
/// name, and `spec.overhead` comes on top.
pub fn requests(pod: &Pod) -> Requests {
    let Some(spec) = pod.spec.as_ref() else {
        return Requests::default();
    };
    let mut total = spec
        .containers
        .iter()
        .map(container_requests)
        .fold(Requests::default(), Add::add);
    let mut sidecars = Requests::default();
    let mut init = Requests::default();
    for container in spec.init_containers.iter().flatten() {
        let own = container_requests(container);
        let while_running = if container.restart_policy.as_deref() == Some("Always") {
            total = total + own;
            sidecars = sidecars + own;
            sidecars
        } else {
            own + sidecars
        };
        init = init.max(while_running);
    }
    let mut total = total.max(init);
    let pod_level = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
    if let Some(list) = pod_level {
        if let Some(cpu) = list.get("cpu") {
            total.fit.millicores = quantity_millicores(cpu);
            total.score.millicores = total.fit.millicores;
        }
        if let Some(memory) = list.get("memory") {
            total.fit.bytes = quantity_bytes(memory);
            total.score.bytes = total.fit.bytes;
        }
    }
    if let Some(overhead) = spec.overhead.as_ref() {
        let overhead = amounts(Some(overhead));
        let overhead = Compute {
            millicores: overhead.millicores.unwrap_or(0),
            bytes: overhead.bytes.unwrap_or(0),
        };
        total.fit = total.fit + overhead;
        total.score = total.score + overhead;
    }
    total
}

fn container_requests(container: &Container) -> Requests {
    let list = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let asked = amounts(list);
    Requests {
        fit: Compute {
            millicores: asked.millicores.unwrap_or(0),
            bytes: asked.bytes.unwrap_or(0),
        },
        score: Compute {
            millicores: asked.millicores.unwrap_or(DEFAULT_MILLICORES),
            bytes: asked.bytes.unwrap_or(DEFAULT_BYTES),
        },
    }
}

/// CPU and memory of a resource list, each `None` when the list does not name it.
struct Amounts {
    millicores: Option<i64>,
    bytes: Option<i64>,
}

fn amounts(list: Option<&BTreeMap<String, K8sQuantity>>) -> Amounts {
    Amounts {
        millicores: list.and_then(|l| l.get("cpu")).map(quantity_millicores),
        bytes: list.and_then(|l| l.get("memory")).map(quantity_bytes),
    }
}

/// A quantity in thousandths, rounded up as `MilliValue` does; unparsable ones (admission
/// rejects them) count as zero.
pub(crate) fn quantity_millicores(quantity: &K8sQuantity) -> i64 {
    Quantity::from_k8s(quantity).map_or(0, |q| q.millicores())
}

/// A quantity in whole units, rounded up as `Value` does; unparsable ones count as zero.
pub(crate) fn quantity_bytes(quantity: &K8sQuantity) -> i64 {
    Quantity::from_k8s(quantity).map_or(0, |q| q.bytes())
}
