//! core/v1: the kinds kubectl creates from the core group, and the pod they share.

use super::Ty::{Bool, Bytes, I32, I64, IntOrString, Msg, Quantity, Str, Time};
use super::meta::{CONDITION, LABEL_SELECTOR, METADATA};
use super::{Message, field, inline, keep, list, map};

pub(super) static KINDS: super::Kinds = &[
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "Secret", &SECRET),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("v1", "Service", &SERVICE),
    ("v1", "Pod", &POD),
];

object! {NAMESPACE, "Namespace", NAMESPACE_SPEC, NAMESPACE_STATUS}
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
object! {SERVICE, "Service", SERVICE_SPEC, SERVICE_STATUS}
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

// --- pods ---

object! {POD, "Pod", POD_SPEC, POD_STATUS}
// The fields a client may send: container statuses are the kubelet's, and refused.
message! {POD_STATUS, "PodStatus", [
    field(1, "phase", Str),
    list(2, "conditions", Msg(&POD_CONDITION)),
    field(3, "message", Str),
    field(4, "reason", Str),
    field(5, "hostIP", Str),
    field(6, "podIP", Str),
    field(7, "startTime", Time),
    field(9, "qosClass", Str),
    field(11, "nominatedNodeName", Str),
    list(12, "podIPs", Msg(&POD_IP)),
    field(14, "resize", Str),
    list(16, "hostIPs", Msg(&HOST_IP)),
    field(17, "observedGeneration", I64),
]}
message! {POD_CONDITION, "PodCondition", [
    keep(1, "type", Str),
    keep(2, "status", Str),
    field(3, "lastProbeTime", Time),
    field(4, "lastTransitionTime", Time),
    field(5, "reason", Str),
    field(6, "message", Str),
    field(7, "observedGeneration", I64),
]}
message! {POD_IP, "PodIP", [keep(1, "ip", Str)]}
message! {HOST_IP, "HostIP", [keep(1, "ip", Str)]}

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

// --- containers ---

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

// --- volumes ---

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
