//! The protobuf schema of the kinds kubectl sends as protobuf: for each message of k8s.io/api's
//! `generated.proto`, its field numbers, JSON names and types. Data only; the decoder in the
//! parent module walks the wire format with these tables.
//!
//! Architecture invariant: the tables are acyclic (no message reaches itself), so the decoder's
//! recursion depth is bounded by the schema, never by the input. A unit test checks this.

use Shape::{Inline, Many, Map, One};
use Ty::{Bool, Bytes, I32, I64, IntOrString, Msg, Quantity, RawJson, Str, Time};

/// One protobuf message, as far as Shoal knows it. A field number missing here is an error.
#[derive(Debug)]
pub(super) struct Message {
    /// The Go type's name, for error messages: `ObjectMeta`.
    pub(super) name: &'static str,
    pub(super) fields: &'static [Field],
}

impl Message {
    pub(super) fn field(&self, number: u32) -> Option<&'static Field> {
        self.fields.iter().find(|field| field.number == number)
    }
}

/// One field of a message.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) number: u32,
    /// The JSON name. For an inline field it is only the proto field's name, for reading.
    pub(super) json: &'static str,
    pub(super) shape: Shape,
}

/// How often a field occurs and where its JSON goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A single value.
    One(Ty, Zero),
    /// `repeated`: a JSON array. Varint types may come packed or one by one.
    Many(Ty),
    /// `map<string, T>`: a JSON object.
    Map(Ty),
    /// A Go struct embedded with `json:",inline"` (`VolumeSource` in `Volume`): its fields
    /// become fields of the enclosing JSON object.
    Inline(&'static Message),
}

/// What the JSON form does with a single scalar that holds its zero value.
///
/// gogo-protobuf writes every non-pointer field, zero or not, so the wire cannot tell "unset"
/// from "zero"; the Go type's JSON tag can, and this mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zero {
    /// A value field tagged `omitempty`: Go's JSON leaves `""`, `false` and `0` out.
    Omit,
    /// A pointer (only on the wire when set) or a field without `omitempty`: written as is.
    Keep,
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ty {
    Str,
    Bool,
    I32,
    I64,
    /// `bytes`, written as base64 the way Go's JSON writes `[]byte`.
    Bytes,
    Msg(&'static Message),
    /// `metav1.Time`: `{1: seconds, 2: nanos}`, written as RFC 3339 in whole seconds.
    Time,
    /// `resource.Quantity`: `{1: string}`, written as the string.
    Quantity,
    /// `intstr.IntOrString`: `{1: type, 2: intVal, 3: strVal}`, written as a number or string.
    IntOrString,
    /// `metav1.FieldsV1` and `runtime.RawExtension`: `{1: bytes}` holding JSON, written as is.
    RawJson,
}

impl Ty {
    pub(super) fn is_varint(self) -> bool {
        matches!(self, Bool | I32 | I64)
    }
}

/// A single value tagged `omitempty`, or a message (for which [`Zero`] does not matter).
const fn field(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        shape: One(ty, Zero::Omit),
    }
}

/// A single value that is a pointer or has no `omitempty`.
const fn keep(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        shape: One(ty, Zero::Keep),
    }
}

const fn list(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        shape: Many(ty),
    }
}

const fn map(number: u32, json: &'static str, value: Ty) -> Field {
    Field {
        number,
        json,
        shape: Map(value),
    }
}

const fn inline(number: u32, json: &'static str, message: &'static Message) -> Field {
    Field {
        number,
        json,
        shape: Inline(message),
    }
}

// Invoked with braces, which rustfmt leaves alone: one field per line reads best here.
macro_rules! message {
    ($static:ident, $name:literal, [$($field:expr),* $(,)?]) => {
        static $static: Message = Message { name: $name, fields: &[$($field),*] };
    };
}

/// The kinds that can be decoded, by `apiVersion` and `kind`.
pub(super) static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "Secret", &SECRET),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("v1", "Service", &SERVICE),
    ("apps/v1", "Deployment", &DEPLOYMENT),
    ("batch/v1", "Job", &JOB),
    ("batch/v1", "CronJob", &CRON_JOB),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &SELF_SUBJECT_ACCESS_REVIEW,
    ),
];

pub(super) fn kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS
        .iter()
        .find(|(version, name, _)| *version == api_version && *name == kind)
        .map(|(_, _, message)| *message)
}

// --- meta/v1 ---

const METADATA: Field = field(1, "metadata", Msg(&OBJECT_META));

message! {OBJECT_META, "ObjectMeta", [
    field(1, "name", Str),
    field(2, "generateName", Str),
    field(3, "namespace", Str),
    field(4, "selfLink", Str),
    field(5, "uid", Str),
    field(6, "resourceVersion", Str),
    field(7, "generation", I64),
    field(8, "creationTimestamp", Time),
    field(9, "deletionTimestamp", Time),
    keep(10, "deletionGracePeriodSeconds", I64),
    map(11, "labels", Str),
    map(12, "annotations", Str),
    list(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
    list(14, "finalizers", Str),
    list(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY)),
]}
message! {OWNER_REFERENCE, "OwnerReference", [
    keep(1, "kind", Str),
    keep(3, "name", Str),
    keep(4, "uid", Str),
    keep(5, "apiVersion", Str),
    keep(6, "controller", Bool),
    keep(7, "blockOwnerDeletion", Bool),
]}
message! {MANAGED_FIELDS_ENTRY, "ManagedFieldsEntry", [
    field(1, "manager", Str),
    field(2, "operation", Str),
    field(3, "apiVersion", Str),
    field(4, "time", Time),
    field(6, "fieldsType", Str),
    field(7, "fieldsV1", RawJson),
    field(8, "subresource", Str),
]}
message! {LABEL_SELECTOR, "LabelSelector", [
    map(1, "matchLabels", Str),
    list(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT)),
]}
message! {LABEL_SELECTOR_REQUIREMENT, "LabelSelectorRequirement", [
    keep(1, "key", Str),
    keep(2, "operator", Str),
    list(3, "values", Str),
]}
message! {CONDITION, "Condition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(3, "observedGeneration", I64),
    field(4, "lastTransitionTime", Time),
    keep(5, "reason", Str),
    keep(6, "message", Str),
]}

// --- core/v1: the kinds ---

message! {NAMESPACE, "Namespace", [
    METADATA,
    field(2, "spec", Msg(&NAMESPACE_SPEC)),
    field(3, "status", Msg(&NAMESPACE_STATUS)),
]}
message! {NAMESPACE_SPEC, "NamespaceSpec", [list(1, "finalizers", Str)]}
message! {NAMESPACE_STATUS, "NamespaceStatus", [
    field(1, "phase", Str),
    list(2, "conditions", Msg(&NAMESPACE_CONDITION)),
]}
message! {NAMESPACE_CONDITION, "NamespaceCondition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(4, "lastTransitionTime", Time),
    field(5, "reason", Str),
    field(6, "message", Str),
]}
message! {CONFIG_MAP, "ConfigMap", [
    METADATA,
    map(2, "data", Str),
    map(3, "binaryData", Bytes),
    keep(4, "immutable", Bool),
]}
message! {SECRET, "Secret", [
    METADATA,
    map(2, "data", Bytes),
    field(3, "type", Str),
    map(4, "stringData", Str),
    keep(5, "immutable", Bool),
]}
message! {SERVICE_ACCOUNT, "ServiceAccount", [
    METADATA,
    list(2, "secrets", Msg(&OBJECT_REFERENCE)),
    list(3, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
    keep(4, "automountServiceAccountToken", Bool),
]}
message! {OBJECT_REFERENCE, "ObjectReference", [
    field(1, "kind", Str),
    field(2, "namespace", Str),
    field(3, "name", Str),
    field(4, "uid", Str),
    field(5, "apiVersion", Str),
    field(6, "resourceVersion", Str),
    field(7, "fieldPath", Str),
]}
message! {LOCAL_OBJECT_REFERENCE, "LocalObjectReference", [field(1, "name", Str)]}
message! {SERVICE, "Service", [
    METADATA,
    field(2, "spec", Msg(&SERVICE_SPEC)),
    field(3, "status", Msg(&SERVICE_STATUS)),
]}
message! {SERVICE_SPEC, "ServiceSpec", [
    list(1, "ports", Msg(&SERVICE_PORT)),
    map(2, "selector", Str),
    field(3, "clusterIP", Str),
    field(4, "type", Str),
    list(5, "externalIPs", Str),
    field(7, "sessionAffinity", Str),
    field(8, "loadBalancerIP", Str),
    list(9, "loadBalancerSourceRanges", Str),
    field(10, "externalName", Str),
    field(11, "externalTrafficPolicy", Str),
    field(12, "healthCheckNodePort", I32),
    field(13, "publishNotReadyAddresses", Bool),
    field(14, "sessionAffinityConfig", Msg(&SESSION_AFFINITY_CONFIG)),
    keep(17, "ipFamilyPolicy", Str),
    list(18, "clusterIPs", Str),
    list(19, "ipFamilies", Str),
    keep(20, "allocateLoadBalancerNodePorts", Bool),
    keep(21, "loadBalancerClass", Str),
    keep(22, "internalTrafficPolicy", Str),
    keep(23, "trafficDistribution", Str),
]}
message! {SERVICE_PORT, "ServicePort", [
    field(1, "name", Str),
    field(2, "protocol", Str),
    keep(3, "port", I32),
    field(4, "targetPort", IntOrString),
    field(5, "nodePort", I32),
    keep(6, "appProtocol", Str),
]}
message! {SESSION_AFFINITY_CONFIG, "SessionAffinityConfig", [
    field(1, "clientIP", Msg(&CLIENT_IP_CONFIG)),
]}
message! {CLIENT_IP_CONFIG, "ClientIPConfig", [keep(1, "timeoutSeconds", I32)]}
message! {SERVICE_STATUS, "ServiceStatus", [
    field(1, "loadBalancer", Msg(&LOAD_BALANCER_STATUS)),
    list(2, "conditions", Msg(&CONDITION)),
]}
message! {LOAD_BALANCER_STATUS, "LoadBalancerStatus", [
    list(1, "ingress", Msg(&LOAD_BALANCER_INGRESS)),
]}
message! {LOAD_BALANCER_INGRESS, "LoadBalancerIngress", [
    field(1, "ip", Str),
    field(2, "hostname", Str),
    keep(3, "ipMode", Str),
    list(4, "ports", Msg(&PORT_STATUS)),
]}
message! {PORT_STATUS, "PortStatus", [
    keep(1, "port", I32),
    keep(2, "protocol", Str),
    keep(3, "error", Str),
]}

// --- core/v1: pods ---

message! {POD_TEMPLATE_SPEC, "PodTemplateSpec", [METADATA, field(2, "spec", Msg(&POD_SPEC))]}
message! {POD_SPEC, "PodSpec", [
    list(1, "volumes", Msg(&VOLUME)),
    list(2, "containers", Msg(&CONTAINER)),
    field(3, "restartPolicy", Str),
    keep(4, "terminationGracePeriodSeconds", I64),
    keep(5, "activeDeadlineSeconds", I64),
    field(6, "dnsPolicy", Str),
    map(7, "nodeSelector", Str),
    field(8, "serviceAccountName", Str),
    field(9, "serviceAccount", Str),
    field(10, "nodeName", Str),
    field(11, "hostNetwork", Bool),
    field(12, "hostPID", Bool),
    field(13, "hostIPC", Bool),
    field(14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
    list(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
    field(16, "hostname", Str),
    field(17, "subdomain", Str),
    field(19, "schedulerName", Str),
    list(20, "initContainers", Msg(&CONTAINER)),
    keep(21, "automountServiceAccountToken", Bool),
    list(22, "tolerations", Msg(&TOLERATION)),
    list(23, "hostAliases", Msg(&HOST_ALIAS)),
    field(24, "priorityClassName", Str),
    keep(25, "priority", I32),
    field(26, "dnsConfig", Msg(&POD_DNS_CONFIG)),
    keep(27, "shareProcessNamespace", Bool),
    list(28, "readinessGates", Msg(&POD_READINESS_GATE)),
    keep(29, "runtimeClassName", Str),
    keep(30, "enableServiceLinks", Bool),
    keep(31, "preemptionPolicy", Str),
    map(32, "overhead", Quantity),
    list(33, "topologySpreadConstraints", Msg(&TOPOLOGY_SPREAD_CONSTRAINT)),
    keep(35, "setHostnameAsFQDN", Bool),
    field(36, "os", Msg(&POD_OS)),
    keep(37, "hostUsers", Bool),
    list(38, "schedulingGates", Msg(&POD_SCHEDULING_GATE)),
    list(39, "resourceClaims", Msg(&POD_RESOURCE_CLAIM)),
    field(40, "resources", Msg(&RESOURCE_REQUIREMENTS)),
    keep(41, "hostnameOverride", Str),
]}
message! {TOLERATION, "Toleration", [
    field(1, "key", Str),
    field(2, "operator", Str),
    field(3, "value", Str),
    field(4, "effect", Str),
    keep(5, "tolerationSeconds", I64),
]}
message! {HOST_ALIAS, "HostAlias", [keep(1, "ip", Str), list(2, "hostnames", Str)]}
message! {POD_DNS_CONFIG, "PodDNSConfig", [
    list(1, "nameservers", Str),
    list(2, "searches", Str),
    list(3, "options", Msg(&POD_DNS_CONFIG_OPTION)),
]}
message! {POD_DNS_CONFIG_OPTION, "PodDNSConfigOption", [
    field(1, "name", Str),
    keep(2, "value", Str),
]}
message! {POD_READINESS_GATE, "PodReadinessGate", [keep(1, "conditionType", Str)]}
message! {TOPOLOGY_SPREAD_CONSTRAINT, "TopologySpreadConstraint", [
    keep(1, "maxSkew", I32),
    keep(2, "topologyKey", Str),
    keep(3, "whenUnsatisfiable", Str),
    field(4, "labelSelector", Msg(&LABEL_SELECTOR)),
    keep(5, "minDomains", I32),
    keep(6, "nodeAffinityPolicy", Str),
    keep(7, "nodeTaintsPolicy", Str),
    list(8, "matchLabelKeys", Str),
]}
message! {POD_OS, "PodOS", [keep(1, "name", Str)]}
message! {POD_SCHEDULING_GATE, "PodSchedulingGate", [keep(1, "name", Str)]}
message! {POD_RESOURCE_CLAIM, "PodResourceClaim", [
    keep(1, "name", Str),
    keep(3, "resourceClaimName", Str),
    keep(4, "resourceClaimTemplateName", Str),
]}
message! {POD_SECURITY_CONTEXT, "PodSecurityContext", [
    field(1, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
    keep(2, "runAsUser", I64),
    keep(3, "runAsNonRoot", Bool),
    list(4, "supplementalGroups", I64),
    keep(5, "fsGroup", I64),
    keep(6, "runAsGroup", I64),
    list(7, "sysctls", Msg(&SYSCTL)),
    field(8, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    keep(9, "fsGroupChangePolicy", Str),
    field(10, "seccompProfile", Msg(&SECCOMP_PROFILE)),
    field(11, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
    keep(12, "supplementalGroupsPolicy", Str),
    keep(13, "seLinuxChangePolicy", Str),
]}
message! {SECURITY_CONTEXT, "SecurityContext", [
    field(1, "capabilities", Msg(&CAPABILITIES)),
    keep(2, "privileged", Bool),
    field(3, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
    keep(4, "runAsUser", I64),
    keep(5, "runAsNonRoot", Bool),
    keep(6, "readOnlyRootFilesystem", Bool),
    keep(7, "allowPrivilegeEscalation", Bool),
    keep(8, "runAsGroup", I64),
    keep(9, "procMount", Str),
    field(10, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    field(11, "seccompProfile", Msg(&SECCOMP_PROFILE)),
    field(12, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
]}
message! {CAPABILITIES, "Capabilities", [list(1, "add", Str), list(2, "drop", Str)]}
message! {SE_LINUX_OPTIONS, "SELinuxOptions", [
    field(1, "user", Str),
    field(2, "role", Str),
    field(3, "type", Str),
    field(4, "level", Str),
]}
message! {SECCOMP_PROFILE, "SeccompProfile", [
    keep(1, "type", Str),
    keep(2, "localhostProfile", Str),
]}
message! {APP_ARMOR_PROFILE, "AppArmorProfile", [
    keep(1, "type", Str),
    keep(2, "localhostProfile", Str),
]}
message! {SYSCTL, "Sysctl", [keep(1, "name", Str), keep(2, "value", Str)]}
message! {WINDOWS_SECURITY_CONTEXT_OPTIONS, "WindowsSecurityContextOptions", [
    keep(1, "gmsaCredentialSpecName", Str),
    keep(2, "gmsaCredentialSpec", Str),
    keep(3, "runAsUserName", Str),
    keep(4, "hostProcess", Bool),
]}

// --- core/v1: containers ---

message! {CONTAINER, "Container", [
    keep(1, "name", Str),
    field(2, "image", Str),
    list(3, "command", Str),
    list(4, "args", Str),
    field(5, "workingDir", Str),
    list(6, "ports", Msg(&CONTAINER_PORT)),
    list(7, "env", Msg(&ENV_VAR)),
    field(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
    list(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
    field(10, "livenessProbe", Msg(&PROBE)),
    field(11, "readinessProbe", Msg(&PROBE)),
    field(12, "lifecycle", Msg(&LIFECYCLE)),
    field(13, "terminationMessagePath", Str),
    field(14, "imagePullPolicy", Str),
    field(15, "securityContext", Msg(&SECURITY_CONTEXT)),
    field(16, "stdin", Bool),
    field(17, "stdinOnce", Bool),
    field(18, "tty", Bool),
    list(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
    field(20, "terminationMessagePolicy", Str),
    list(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
    field(22, "startupProbe", Msg(&PROBE)),
    list(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
    keep(24, "restartPolicy", Str),
]}
message! {CONTAINER_PORT, "ContainerPort", [
    field(1, "name", Str),
    field(2, "hostPort", I32),
    keep(3, "containerPort", I32),
    field(4, "protocol", Str),
    field(5, "hostIP", Str),
]}
message! {ENV_VAR, "EnvVar", [
    keep(1, "name", Str),
    field(2, "value", Str),
    field(3, "valueFrom", Msg(&ENV_VAR_SOURCE)),
]}
message! {ENV_VAR_SOURCE, "EnvVarSource", [
    field(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
    field(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
    field(3, "configMapKeyRef", Msg(&CONFIG_MAP_KEY_SELECTOR)),
    field(4, "secretKeyRef", Msg(&SECRET_KEY_SELECTOR)),
]}
message! {OBJECT_FIELD_SELECTOR, "ObjectFieldSelector", [
    field(1, "apiVersion", Str),
    keep(2, "fieldPath", Str),
]}
message! {RESOURCE_FIELD_SELECTOR, "ResourceFieldSelector", [
    field(1, "containerName", Str),
    keep(2, "resource", Str),
    field(3, "divisor", Quantity),
]}
message! {CONFIG_MAP_KEY_SELECTOR, "ConfigMapKeySelector", [
    inline(1, "localObjectReference", &LOCAL_OBJECT_REFERENCE),
    keep(2, "key", Str),
    keep(3, "optional", Bool),
]}
message! {SECRET_KEY_SELECTOR, "SecretKeySelector", [
    inline(1, "localObjectReference", &LOCAL_OBJECT_REFERENCE),
    keep(2, "key", Str),
    keep(3, "optional", Bool),
]}
message! {ENV_FROM_SOURCE, "EnvFromSource", [
    field(1, "prefix", Str),
    field(2, "configMapRef", Msg(&CONFIG_MAP_ENV_SOURCE)),
    field(3, "secretRef", Msg(&SECRET_ENV_SOURCE)),
]}
message! {CONFIG_MAP_ENV_SOURCE, "ConfigMapEnvSource", [
    inline(1, "localObjectReference", &LOCAL_OBJECT_REFERENCE),
    keep(2, "optional", Bool),
]}
message! {SECRET_ENV_SOURCE, "SecretEnvSource", [
    inline(1, "localObjectReference", &LOCAL_OBJECT_REFERENCE),
    keep(2, "optional", Bool),
]}
message! {RESOURCE_REQUIREMENTS, "ResourceRequirements", [
    map(1, "limits", Quantity),
    map(2, "requests", Quantity),
    list(3, "claims", Msg(&RESOURCE_CLAIM)),
]}
message! {RESOURCE_CLAIM, "ResourceClaim", [keep(1, "name", Str), field(2, "request", Str)]}
message! {VOLUME_MOUNT, "VolumeMount", [
    keep(1, "name", Str),
    field(2, "readOnly", Bool),
    keep(3, "mountPath", Str),
    field(4, "subPath", Str),
    keep(5, "mountPropagation", Str),
    field(6, "subPathExpr", Str),
    keep(7, "recursiveReadOnly", Str),
]}
message! {VOLUME_DEVICE, "VolumeDevice", [keep(1, "name", Str), keep(2, "devicePath", Str)]}
message! {CONTAINER_RESIZE_POLICY, "ContainerResizePolicy", [
    keep(1, "resourceName", Str),
    keep(2, "restartPolicy", Str),
]}
message! {PROBE, "Probe", [
    inline(1, "handler", &PROBE_HANDLER),
    field(2, "initialDelaySeconds", I32),
    field(3, "timeoutSeconds", I32),
    field(4, "periodSeconds", I32),
    field(5, "successThreshold", I32),
    field(6, "failureThreshold", I32),
    keep(7, "terminationGracePeriodSeconds", I64),
]}
message! {PROBE_HANDLER, "ProbeHandler", [
    field(1, "exec", Msg(&EXEC_ACTION)),
    field(2, "httpGet", Msg(&HTTP_GET_ACTION)),
    field(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
    field(4, "grpc", Msg(&GRPC_ACTION)),
]}
message! {EXEC_ACTION, "ExecAction", [list(1, "command", Str)]}
message! {HTTP_GET_ACTION, "HTTPGetAction", [
    field(1, "path", Str),
    field(2, "port", IntOrString),
    field(3, "host", Str),
    field(4, "scheme", Str),
    list(5, "httpHeaders", Msg(&HTTP_HEADER)),
]}
message! {HTTP_HEADER, "HTTPHeader", [keep(1, "name", Str), keep(2, "value", Str)]}
message! {TCP_SOCKET_ACTION, "TCPSocketAction", [
    field(1, "port", IntOrString),
    field(2, "host", Str),
]}
message! {GRPC_ACTION, "GRPCAction", [keep(1, "port", I32), keep(2, "service", Str)]}
message! {LIFECYCLE, "Lifecycle", [
    field(1, "postStart", Msg(&LIFECYCLE_HANDLER)),
    field(2, "preStop", Msg(&LIFECYCLE_HANDLER)),
    keep(3, "stopSignal", Str),
]}
message! {LIFECYCLE_HANDLER, "LifecycleHandler", [
    field(1, "exec", Msg(&EXEC_ACTION)),
    field(2, "httpGet", Msg(&HTTP_GET_ACTION)),
    field(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
    field(4, "sleep", Msg(&SLEEP_ACTION)),
]}
message! {SLEEP_ACTION, "SleepAction", [keep(1, "seconds", I64)]}

// --- core/v1: volumes ---

message! {VOLUME, "Volume", [keep(1, "name", Str), inline(2, "volumeSource", &VOLUME_SOURCE)]}
message! {VOLUME_SOURCE, "VolumeSource", [
    field(1, "hostPath", Msg(&HOST_PATH_VOLUME_SOURCE)),
    field(2, "emptyDir", Msg(&EMPTY_DIR_VOLUME_SOURCE)),
    field(6, "secret", Msg(&SECRET_VOLUME_SOURCE)),
    field(10, "persistentVolumeClaim", Msg(&PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE)),
    field(16, "downwardAPI", Msg(&DOWNWARD_API_VOLUME_SOURCE)),
    field(19, "configMap", Msg(&CONFIG_MAP_VOLUME_SOURCE)),
]}
message! {HOST_PATH_VOLUME_SOURCE, "HostPathVolumeSource", [
    keep(1, "path", Str),
    keep(2, "type", Str),
]}
message! {EMPTY_DIR_VOLUME_SOURCE, "EmptyDirVolumeSource", [
    field(1, "medium", Str),
    field(2, "sizeLimit", Quantity),
]}
message! {SECRET_VOLUME_SOURCE, "SecretVolumeSource", [
    field(1, "secretName", Str),
    list(2, "items", Msg(&KEY_TO_PATH)),
    keep(3, "defaultMode", I32),
    keep(4, "optional", Bool),
]}
message! {CONFIG_MAP_VOLUME_SOURCE, "ConfigMapVolumeSource", [
    inline(1, "localObjectReference", &LOCAL_OBJECT_REFERENCE),
    list(2, "items", Msg(&KEY_TO_PATH)),
    keep(3, "defaultMode", I32),
    keep(4, "optional", Bool),
]}
message! {KEY_TO_PATH, "KeyToPath", [
    keep(1, "key", Str),
    keep(2, "path", Str),
    keep(3, "mode", I32),
]}
message! {PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE, "PersistentVolumeClaimVolumeSource", [
    keep(1, "claimName", Str),
    field(2, "readOnly", Bool),
]}
message! {DOWNWARD_API_VOLUME_SOURCE, "DownwardAPIVolumeSource", [
    list(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE)),
    keep(2, "defaultMode", I32),
]}
message! {DOWNWARD_API_VOLUME_FILE, "DownwardAPIVolumeFile", [
    keep(1, "path", Str),
    field(2, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
    field(3, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
    keep(4, "mode", I32),
]}

// --- apps/v1 ---

message! {DEPLOYMENT, "Deployment", [
    METADATA,
    field(2, "spec", Msg(&DEPLOYMENT_SPEC)),
    field(3, "status", Msg(&DEPLOYMENT_STATUS)),
]}
message! {DEPLOYMENT_SPEC, "DeploymentSpec", [
    keep(1, "replicas", I32),
    field(2, "selector", Msg(&LABEL_SELECTOR)),
    field(3, "template", Msg(&POD_TEMPLATE_SPEC)),
    field(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
    field(5, "minReadySeconds", I32),
    keep(6, "revisionHistoryLimit", I32),
    field(7, "paused", Bool),
    keep(9, "progressDeadlineSeconds", I32),
    keep(10, "podReplacementPolicy", Str),
]}
message! {DEPLOYMENT_STRATEGY, "DeploymentStrategy", [
    field(1, "type", Str),
    field(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
]}
message! {ROLLING_UPDATE_DEPLOYMENT, "RollingUpdateDeployment", [
    field(1, "maxUnavailable", IntOrString),
    field(2, "maxSurge", IntOrString),
]}
message! {DEPLOYMENT_STATUS, "DeploymentStatus", [
    field(1, "observedGeneration", I64),
    field(2, "replicas", I32),
    field(3, "updatedReplicas", I32),
    field(4, "availableReplicas", I32),
    field(5, "unavailableReplicas", I32),
    list(6, "conditions", Msg(&DEPLOYMENT_CONDITION)),
    field(7, "readyReplicas", I32),
    keep(8, "collisionCount", I32),
    keep(9, "terminatingReplicas", I32),
]}
message! {DEPLOYMENT_CONDITION, "DeploymentCondition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(4, "reason", Str),
    field(5, "message", Str),
    field(6, "lastUpdateTime", Time),
    field(7, "lastTransitionTime", Time),
]}

// --- batch/v1 ---

message! {JOB, "Job", [
    METADATA,
    field(2, "spec", Msg(&JOB_SPEC)),
    field(3, "status", Msg(&JOB_STATUS)),
]}
message! {JOB_SPEC, "JobSpec", [
    keep(1, "parallelism", I32),
    keep(2, "completions", I32),
    keep(3, "activeDeadlineSeconds", I64),
    field(4, "selector", Msg(&LABEL_SELECTOR)),
    keep(5, "manualSelector", Bool),
    field(6, "template", Msg(&POD_TEMPLATE_SPEC)),
    keep(7, "backoffLimit", I32),
    keep(8, "ttlSecondsAfterFinished", I32),
    keep(9, "completionMode", Str),
    keep(10, "suspend", Bool),
    field(11, "podFailurePolicy", Msg(&POD_FAILURE_POLICY)),
    keep(12, "backoffLimitPerIndex", I32),
    keep(13, "maxFailedIndexes", I32),
    keep(14, "podReplacementPolicy", Str),
    keep(15, "managedBy", Str),
    field(16, "successPolicy", Msg(&SUCCESS_POLICY)),
]}
message! {POD_FAILURE_POLICY, "PodFailurePolicy", [list(1, "rules", Msg(&POD_FAILURE_POLICY_RULE))]}
message! {POD_FAILURE_POLICY_RULE, "PodFailurePolicyRule", [
    keep(1, "action", Str),
    field(2, "onExitCodes", Msg(&POD_FAILURE_POLICY_ON_EXIT_CODES)),
    list(3, "onPodConditions", Msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS)),
]}
message! {POD_FAILURE_POLICY_ON_EXIT_CODES, "PodFailurePolicyOnExitCodesRequirement", [
    keep(1, "containerName", Str),
    keep(2, "operator", Str),
    list(3, "values", I32),
]}
message! {POD_FAILURE_POLICY_ON_POD_CONDITIONS, "PodFailurePolicyOnPodConditionsPattern", [
    keep(1, "type", Str),
    field(2, "status", Str),
]}
message! {SUCCESS_POLICY, "SuccessPolicy", [list(1, "rules", Msg(&SUCCESS_POLICY_RULE))]}
message! {SUCCESS_POLICY_RULE, "SuccessPolicyRule", [
    keep(1, "succeededIndexes", Str),
    keep(2, "succeededCount", I32),
]}
message! {JOB_STATUS, "JobStatus", [
    list(1, "conditions", Msg(&JOB_CONDITION)),
    field(2, "startTime", Time),
    field(3, "completionTime", Time),
    field(4, "active", I32),
    field(5, "succeeded", I32),
    field(6, "failed", I32),
    field(7, "completedIndexes", Str),
    field(8, "uncountedTerminatedPods", Msg(&UNCOUNTED_TERMINATED_PODS)),
    keep(9, "ready", I32),
    keep(10, "failedIndexes", Str),
    keep(11, "terminating", I32),
]}
message! {JOB_CONDITION, "JobCondition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(3, "lastProbeTime", Time),
    field(4, "lastTransitionTime", Time),
    field(5, "reason", Str),
    field(6, "message", Str),
]}
message! {UNCOUNTED_TERMINATED_PODS, "UncountedTerminatedPods", [
    list(1, "succeeded", Str),
    list(2, "failed", Str),
]}
message! {CRON_JOB, "CronJob", [
    METADATA,
    field(2, "spec", Msg(&CRON_JOB_SPEC)),
    field(3, "status", Msg(&CRON_JOB_STATUS)),
]}
message! {CRON_JOB_SPEC, "CronJobSpec", [
    keep(1, "schedule", Str),
    keep(2, "startingDeadlineSeconds", I64),
    field(3, "concurrencyPolicy", Str),
    keep(4, "suspend", Bool),
    field(5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC)),
    keep(6, "successfulJobsHistoryLimit", I32),
    keep(7, "failedJobsHistoryLimit", I32),
    keep(8, "timeZone", Str),
]}
message! {CRON_JOB_STATUS, "CronJobStatus", [
    list(1, "active", Msg(&OBJECT_REFERENCE)),
    field(4, "lastScheduleTime", Time),
    field(5, "lastSuccessfulTime", Time),
]}
message! {JOB_TEMPLATE_SPEC, "JobTemplateSpec", [METADATA, field(2, "spec", Msg(&JOB_SPEC))]}

// --- authorization.k8s.io/v1 ---

message! {SELF_SUBJECT_ACCESS_REVIEW, "SelfSubjectAccessReview", [
    METADATA,
    field(2, "spec", Msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
    field(3, "status", Msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
]}
message! {SELF_SUBJECT_ACCESS_REVIEW_SPEC, "SelfSubjectAccessReviewSpec", [
    field(1, "resourceAttributes", Msg(&RESOURCE_ATTRIBUTES)),
    field(2, "nonResourceAttributes", Msg(&NON_RESOURCE_ATTRIBUTES)),
]}
message! {RESOURCE_ATTRIBUTES, "ResourceAttributes", [
    field(1, "namespace", Str),
    field(2, "verb", Str),
    field(3, "group", Str),
    field(4, "version", Str),
    field(5, "resource", Str),
    field(6, "subresource", Str),
    field(7, "name", Str),
    field(8, "fieldSelector", Msg(&FIELD_SELECTOR_ATTRIBUTES)),
    field(9, "labelSelector", Msg(&LABEL_SELECTOR_ATTRIBUTES)),
]}
message! {NON_RESOURCE_ATTRIBUTES, "NonResourceAttributes", [
    field(1, "path", Str),
    field(2, "verb", Str),
]}
message! {FIELD_SELECTOR_ATTRIBUTES, "FieldSelectorAttributes", [
    field(1, "rawSelector", Str),
    list(2, "requirements", Msg(&FIELD_SELECTOR_REQUIREMENT)),
]}
message! {FIELD_SELECTOR_REQUIREMENT, "FieldSelectorRequirement", [
    keep(1, "key", Str),
    keep(2, "operator", Str),
    list(3, "values", Str),
]}
message! {LABEL_SELECTOR_ATTRIBUTES, "LabelSelectorAttributes", [
    field(1, "rawSelector", Str),
    list(2, "requirements", Msg(&LABEL_SELECTOR_REQUIREMENT)),
]}
message! {SUBJECT_ACCESS_REVIEW_STATUS, "SubjectAccessReviewStatus", [
    keep(1, "allowed", Bool),
    field(2, "reason", Str),
    field(3, "evaluationError", Str),
    field(4, "denied", Bool),
]}
