//! The kind registry: every API kind Shoal serves, in one table. Routing, discovery, the
//! OpenAPI document, Table output, kubectl's short names and the patch merge keys all read it;
//! nothing else in the workspace lists kinds.
//!
//! Group, version, kind and plural come from `k8s-openapi`'s own constants, so they cannot
//! drift from the types.

use std::time::SystemTime;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};
use serde_json::Value;

use crate::columns;
use crate::strategy::{self, Schema};

/// A subresource served below an object (`pods/log`, `deployments/scale`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subresource {
    /// `<plural>/status`: writes only `status`.
    Status,
    /// `<plural>/scale`: an `autoscaling/v1` `Scale`.
    Scale,
    /// `pods/log`.
    Log,
    /// `pods/exec`.
    Exec,
    /// `pods/attach`.
    Attach,
    /// `pods/portforward`.
    PortForward,
    /// `pods/eviction`: a `policy/v1` `Eviction`.
    Eviction,
    /// `pods/binding`: a `v1` `Binding`.
    Binding,
}

impl Subresource {
    /// The path segment after the object's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Scale => "scale",
            Self::Log => "log",
            Self::Exec => "exec",
            Self::Attach => "attach",
            Self::PortForward => "portforward",
            Self::Eviction => "eviction",
            Self::Binding => "binding",
        }
    }

    /// The group, version and kind of the subresource's body, when it differs from the parent.
    pub fn body_kind(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Self::Scale => Some(("autoscaling", "v1", "Scale")),
            Self::Eviction => Some(("policy", "v1", "Eviction")),
            Self::Binding => Some(("", "v1", "Binding")),
            Self::Exec | Self::Attach | Self::PortForward => Some(("", "v1", "Status")),
            Self::Status | Self::Log => None,
        }
    }
}

/// The type of a printer column, as in a `meta.k8s.io/v1` `TableColumnDefinition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// True or false.
    Boolean,
}

impl ColumnType {
    /// The OpenAPI type name used in `columnDefinitions[].type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

/// One printer column of `kubectl get`.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Column title (kubectl upper-cases it).
    pub name: &'static str,
    /// Cell type.
    pub kind: ColumnType,
    /// `name` for the NAME column, empty otherwise.
    pub format: &'static str,
    /// What the column shows.
    pub description: &'static str,
    /// 0 for the default view, 1 for `-o wide` only.
    pub priority: u8,
    /// Computes the cell from the object's JSON at time `now` (ages are relative to it).
    pub cell: fn(&Value, SystemTime) -> Value,
}

/// Everything Shoal knows about one kind.
#[derive(Debug)]
pub struct KindInfo {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// `group/version`, or just `version` for the core group.
    pub api_version: &'static str,
    /// The kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// The kind of the list type, e.g. `DeploymentList`.
    pub list_kind: &'static str,
    /// The resource name in URLs, e.g. `deployments`.
    pub plural: &'static str,
    /// The singular resource name, e.g. `deployment`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all` for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// Subresources served below each object.
    pub subresources: &'static [Subresource],
    /// Printer columns, NAME (format `name`) included, in the order kubectl shows them.
    pub columns: &'static [Column],
    /// Merge keys and directives for strategic merge patch and server-side apply.
    pub schema: &'static Schema,
    /// Fields usable in a field selector besides `metadata.name` and `metadata.namespace`.
    pub field_selectors: &'static [&'static str],
    /// Decodes JSON into the typed object, reporting the path of the first bad field.
    pub(crate) decode: fn(&Value) -> Result<Object, serde_path_to_error::Error<serde_json::Error>>,
}

impl KindInfo {
    /// The resource name used by kubectl in messages: `deployments.apps`, or `pods`.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether the kind has `sub`.
    pub fn has_subresource(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// Decodes a JSON value of this kind into its typed form.
    ///
    /// # Errors
    /// The path of the first field that does not fit the type, with serde's message.
    pub fn decode(
        &self,
        value: &Value,
    ) -> Result<Object, serde_path_to_error::Error<serde_json::Error>> {
        (self.decode)(value)
    }
}

/// `true` for namespaced kinds, from `k8s-openapi`'s scope types.
trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

macro_rules! kinds {
    ($(
        $variant:ident($ty:ty) {
            singular: $singular:literal,
            short: [$($short:literal),*],
            categories: [$($cat:literal),*],
            subresources: [$($sub:ident),*],
            columns: $columns:expr,
            schema: $schema:expr
            $(, fields: [$($field:literal),*])? $(,)?
        }
    ),* $(,)?) => {
        /// Every registered kind, in discovery order.
        pub static KINDS: &[KindInfo] = &[$(
            KindInfo {
                group: <$ty as Resource>::GROUP,
                version: <$ty as Resource>::VERSION,
                api_version: <$ty as Resource>::API_VERSION,
                kind: <$ty as Resource>::KIND,
                list_kind: <$ty as k8s_openapi::ListableResource>::LIST_KIND,
                plural: <$ty as Resource>::URL_PATH_SEGMENT,
                singular: $singular,
                namespaced: <<$ty as Resource>::Scope as Scope>::NAMESPACED,
                short_names: &[$($short),*],
                categories: &[$($cat),*],
                subresources: &[$(Subresource::$sub),*],
                columns: $columns,
                schema: $schema,
                field_selectors: &[$($($field),*)?],
                decode: |value| {
                    serde_path_to_error::deserialize::<_, $ty>(value)
                        .map(|object| Object::$variant(Box::new(object)))
                },
            },
        )*];

        /// A typed API object of any registered kind.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)]
        pub enum Object {
            $($variant(Box<$ty>),)*
        }

        impl Object {
            /// The registry entry of this object's kind.
            pub fn kind_info(&self) -> &'static KindInfo {
                let index = match self {
                    $(Self::$variant(_) => Kinds::$variant as usize,)*
                };
                &KINDS[index]
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Self::$variant(o) => o.metadata(),)*
                }
            }

            /// The object's metadata, to change it.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Self::$variant(o) => o.metadata_mut(),)*
                }
            }

            /// The object as JSON, with `apiVersion` and `kind`.
            pub fn to_value(&self) -> Value {
                let result = match self {
                    $(Self::$variant(o) => serde_json::to_value(o),)*
                };
                // k8s-openapi types serialize to maps of strings, numbers and nested maps;
                // this cannot fail.
                result.unwrap_or(Value::Null)
            }
        }

        impl serde::Serialize for Object {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(Self::$variant(o) => o.serialize(serializer),)*
                }
            }
        }

        /// Positions of the variants in [`KINDS`].
        #[allow(dead_code)]
        enum Kinds { $($variant,)* }
    };
}

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::v2 as autoscaling;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::coordination::v1 as coordination;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::rbac::v1 as rbac;

kinds! {
    Namespace(core::Namespace) {
        singular: "namespace", short: ["ns"], categories: [], subresources: [Status],
        columns: columns::NAMESPACE, schema: &strategy::WITH_CONDITIONS,
        fields: ["status.phase"],
    },
    Node(core::Node) {
        singular: "node", short: ["no"], categories: [], subresources: [Status],
        columns: columns::NODE, schema: &strategy::NODE,
        fields: ["spec.unschedulable"],
    },
    Pod(core::Pod) {
        singular: "pod", short: ["po"], categories: ["all"],
        subresources: [Status, Log, Exec, Attach, PortForward, Eviction, Binding],
        columns: columns::POD, schema: &strategy::POD,
        fields: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"],
    },
    Service(core::Service) {
        singular: "service", short: ["svc"], categories: ["all"], subresources: [Status],
        columns: columns::SERVICE, schema: &strategy::SERVICE,
        fields: ["spec.clusterIP", "spec.type"],
    },
    Endpoints(core::Endpoints) {
        singular: "endpoints", short: ["ep"], categories: [], subresources: [],
        columns: columns::ENDPOINTS, schema: &strategy::META_ONLY,
    },
    ConfigMap(core::ConfigMap) {
        singular: "configmap", short: ["cm"], categories: [], subresources: [],
        columns: columns::CONFIG_MAP, schema: &strategy::META_ONLY,
    },
    Secret(core::Secret) {
        singular: "secret", short: [], categories: [], subresources: [],
        columns: columns::SECRET, schema: &strategy::META_ONLY,
        fields: ["type"],
    },
    Event(core::Event) {
        singular: "event", short: ["ev"], categories: [], subresources: [],
        columns: columns::EVENT, schema: &strategy::META_ONLY,
        fields: ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"],
    },
    ServiceAccount(core::ServiceAccount) {
        singular: "serviceaccount", short: ["sa"], categories: [], subresources: [],
        columns: columns::SERVICE_ACCOUNT, schema: &strategy::SERVICE_ACCOUNT,
    },
    PersistentVolumeClaim(core::PersistentVolumeClaim) {
        singular: "persistentvolumeclaim", short: ["pvc"], categories: [], subresources: [Status],
        columns: columns::PERSISTENT_VOLUME_CLAIM, schema: &strategy::WITH_CONDITIONS,
    },
    Deployment(apps::Deployment) {
        singular: "deployment", short: ["deploy"], categories: ["all"], subresources: [Status, Scale],
        columns: columns::DEPLOYMENT, schema: &strategy::DEPLOYMENT,
    },
    ReplicaSet(apps::ReplicaSet) {
        singular: "replicaset", short: ["rs"], categories: ["all"], subresources: [Status, Scale],
        columns: columns::REPLICA_SET, schema: &strategy::TEMPLATED,
        fields: ["status.replicas"],
    },
    DaemonSet(apps::DaemonSet) {
        singular: "daemonset", short: ["ds"], categories: ["all"], subresources: [Status],
        columns: columns::DAEMON_SET, schema: &strategy::DAEMON_SET,
    },
    StatefulSet(apps::StatefulSet) {
        singular: "statefulset", short: ["sts"], categories: ["all"], subresources: [Status, Scale],
        columns: columns::STATEFUL_SET, schema: &strategy::TEMPLATED,
    },
    Job(batch::Job) {
        singular: "job", short: [], categories: ["all"], subresources: [Status],
        columns: columns::JOB, schema: &strategy::TEMPLATED,
        fields: ["status.successful"],
    },
    CronJob(batch::CronJob) {
        singular: "cronjob", short: ["cj"], categories: ["all"], subresources: [Status],
        columns: columns::CRON_JOB, schema: &strategy::CRON_JOB,
    },
    HorizontalPodAutoscaler(autoscaling::HorizontalPodAutoscaler) {
        singular: "horizontalpodautoscaler", short: ["hpa"], categories: ["all"], subresources: [Status],
        columns: columns::HORIZONTAL_POD_AUTOSCALER, schema: &strategy::WITH_CONDITIONS,
    },
    EndpointSlice(discovery::EndpointSlice) {
        singular: "endpointslice", short: [], categories: [], subresources: [],
        columns: columns::ENDPOINT_SLICE, schema: &strategy::META_ONLY,
    },
    Lease(coordination::Lease) {
        singular: "lease", short: [], categories: [], subresources: [],
        columns: columns::LEASE, schema: &strategy::META_ONLY,
    },
    Role(rbac::Role) {
        singular: "role", short: [], categories: [], subresources: [],
        columns: columns::ROLE, schema: &strategy::META_ONLY,
    },
    ClusterRole(rbac::ClusterRole) {
        singular: "clusterrole", short: [], categories: [], subresources: [],
        columns: columns::CLUSTER_ROLE, schema: &strategy::META_ONLY,
    },
    RoleBinding(rbac::RoleBinding) {
        singular: "rolebinding", short: [], categories: [], subresources: [],
        columns: columns::ROLE_BINDING, schema: &strategy::META_ONLY,
    },
    ClusterRoleBinding(rbac::ClusterRoleBinding) {
        singular: "clusterrolebinding", short: [], categories: [], subresources: [],
        columns: columns::CLUSTER_ROLE_BINDING, schema: &strategy::META_ONLY,
    },
}

/// The kind with this `apiVersion` and `kind`, as written in a manifest.
pub fn by_api_version_kind(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

/// The kind served at `/apis/<group>/<version>/<plural>` (or `/api/v1/<plural>`).
pub fn by_resource(group: &str, version: &str, plural: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

/// Resolves a name as kubectl does on the command line: plural, singular, short name or kind
/// (case-insensitive), optionally qualified by group (`deployments.apps`, `deploy.apps`).
pub fn resolve(name: &str) -> Option<&'static KindInfo> {
    let name = name.to_ascii_lowercase();
    let (resource, group) = match name.split_once('.') {
        Some((resource, group)) => (resource.to_owned(), Some(group.to_owned())),
        None => (name.clone(), None),
    };
    KINDS.iter().find(|k| {
        group.as_deref().is_none_or(|g| g == k.group)
            && (k.plural == resource
                || k.singular == resource
                || k.kind.eq_ignore_ascii_case(&resource)
                || k.short_names.contains(&resource.as_str()))
    })
}

/// The API versions of all groups, in discovery order: `("", "v1")`, `("apps", "v1")`, ...
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut seen = Vec::new();
    for kind in KINDS {
        if !seen.contains(&(kind.group, kind.version)) {
            seen.push((kind.group, kind.version));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        assert_eq!(KINDS.len(), 23);
        for (i, kind) in KINDS.iter().enumerate() {
            for other in &KINDS[i + 1..] {
                assert_ne!((kind.group, kind.plural), (other.group, other.plural));
                for short in kind.short_names {
                    assert!(!other.short_names.contains(short), "{short} is used twice");
                }
            }
            assert!(by_api_version_kind(kind.api_version, kind.kind).is_some());
        }
    }

    #[test]
    fn resolves_like_kubectl() {
        assert_eq!(resolve("deploy").map(|k| k.kind), Some("Deployment"));
        assert_eq!(
            resolve("deployments.apps").map(|k| k.kind),
            Some("Deployment")
        );
        assert_eq!(resolve("po").map(|k| k.kind), Some("Pod"));
        assert_eq!(resolve("Service").map(|k| k.kind), Some("Service"));
        assert_eq!(
            resolve("hpa").map(|k| (k.group, k.version)),
            Some(("autoscaling", "v2"))
        );
        assert!(resolve("deployments.batch").is_none());
        assert!(!resolve("ns").unwrap().namespaced);
        assert_eq!(
            resolve("leases").unwrap().api_version,
            "coordination.k8s.io/v1"
        );
    }

    #[test]
    fn decodes_into_the_right_variant() {
        let info = resolve("cm").unwrap();
        let object = info
            .decode(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "x"}, "data": {"a": "b"}}))
            .unwrap();
        assert!(matches!(object, Object::ConfigMap(_)));
        assert_eq!(object.kind_info().kind, "ConfigMap");
        assert_eq!(object.metadata().name.as_deref(), Some("x"));
        assert_eq!(object.to_value()["kind"], "ConfigMap");
    }
}
