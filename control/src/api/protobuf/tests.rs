//! The decoder against bodies built as client-go writes them: one test per kubectl command that
//! sends protobuf, then the ways a body is refused.

use std::collections::HashSet;

use serde_json::json;

use super::*;

/// A protobuf message under construction, fields in the order gogo-protobuf writes them.
#[derive(Default)]
struct Pb(Vec<u8>);

fn pb() -> Pb {
    Pb::default()
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl Pb {
    fn tag(mut self, field: u32, wire_type: u8) -> Self {
        put_varint(&mut self.0, u64::from(field) << 3 | u64::from(wire_type));
        self
    }

    fn varint(self, field: u32, value: u64) -> Self {
        let mut pb = self.tag(field, 0);
        put_varint(&mut pb.0, value);
        pb
    }

    fn bool(self, field: u32, value: bool) -> Self {
        self.varint(field, u64::from(value))
    }

    fn bytes(self, field: u32, bytes: &[u8]) -> Self {
        let mut pb = self.tag(field, 2);
        put_varint(&mut pb.0, bytes.len() as u64);
        pb.0.extend_from_slice(bytes);
        pb
    }

    fn str(self, field: u32, value: &str) -> Self {
        self.bytes(field, value.as_bytes())
    }

    fn msg(self, field: u32, message: Pb) -> Self {
        self.bytes(field, &message.0)
    }

    /// One `map<string, string>` entry.
    fn entry(self, field: u32, key: &str, value: &str) -> Self {
        self.msg(field, pb().str(1, key).str(2, value))
    }

    /// Empty strings, as Go writes its unset string fields.
    fn empty(self, fields: &[u32]) -> Self {
        fields.iter().fold(self, |pb, &field| pb.str(field, ""))
    }

    /// A `repeated string`, one field per item.
    fn strs(self, field: u32, items: &[&str]) -> Self {
        items.iter().fold(self, |pb, item| pb.str(field, item))
    }

    /// `false`s, as Go writes its unset bool fields.
    fn no(self, fields: &[u32]) -> Self {
        fields.iter().fold(self, |pb, &field| pb.bool(field, false))
    }
}

/// The magic and a `runtime.Unknown` around `raw`, as client-go's serializer writes them.
fn body(api_version: &str, kind: &str, raw: Pb) -> Vec<u8> {
    let type_meta = pb().str(1, api_version).str(2, kind);
    let unknown = pb().msg(1, type_meta).msg(2, raw).empty(&[3, 4]);
    [MAGIC, &unknown.0].concat()
}

/// An `ObjectMeta` with a name and labels, every other value field written as its zero.
fn object_meta(name: &str, labels: &[(&str, &str)]) -> Pb {
    let meta = namespaced_meta("", name);
    labels
        .iter()
        .fold(meta, |meta, (key, value)| meta.entry(11, key, value))
}

/// An `ObjectMeta` with a namespace and a name, every other value field written as its zero.
fn namespaced_meta(namespace: &str, name: &str) -> Pb {
    pb().str(1, name)
        .str(2, "")
        .str(3, namespace)
        .empty(&[4, 5, 6])
        .varint(7, 0)
        .msg(8, pb())
}

fn quantity(value: &str) -> Pb {
    pb().str(1, value)
}

fn decode(body: &[u8]) -> Value {
    decode_body(body).expect("the body decodes")
}

fn refused(body: &[u8]) -> String {
    decode_body(body)
        .expect_err("the body is refused")
        .to_string()
}

#[test]
fn namespace_as_kubectl_create_namespace_sends_it() {
    let raw = pb()
        .msg(1, object_meta("wasm-apps", &[]))
        .msg(2, pb())
        .msg(3, pb().str(1, ""));
    let expected = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "wasm-apps"}, "spec": {}, "status": {},
    });
    assert_eq!(decode(&body("v1", "Namespace", raw)), expected);
}

#[test]
fn configmap_with_data_and_binary_data() {
    let raw = pb()
        .msg(1, object_meta("app-config", &[]))
        .entry(2, "mode", "fast")
        .entry(2, "workers", "4")
        .msg(
            3,
            pb().str(1, "logo.png").bytes(2, &[0x89, b'P', b'N', b'G']),
        );
    let expected = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "app-config"},
        "data": {"mode": "fast", "workers": "4"},
        "binaryData": {"logo.png": "iVBORw=="},
    });
    assert_eq!(decode(&body("v1", "ConfigMap", raw)), expected);
}

#[test]
fn secret_data_becomes_base64() {
    let raw = pb()
        .msg(1, object_meta("db", &[]))
        .msg(2, pb().str(1, "password").bytes(2, b"s3cr3t"))
        .str(3, "Opaque");
    let expected = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db"}, "data": {"password": "czNjcjN0"}, "type": "Opaque",
    });
    assert_eq!(decode(&body("v1", "Secret", raw)), expected);
}

/// `kubectl create deployment web --image=registry.example/web:1 --replicas=3 --port=8080`
#[test]
fn deployment_as_kubectl_create_deployment_sends_it() {
    let port = pb().str(1, "").varint(2, 0).varint(3, 8080).empty(&[4, 5]);
    let container = pb()
        .str(1, "web")
        .str(2, "registry.example/web:1")
        .str(5, "")
        .msg(6, port)
        .msg(8, pb())
        .empty(&[13, 14])
        .no(&[16, 17, 18])
        .str(20, "");
    let pod_spec = pb()
        .msg(2, container)
        .empty(&[3, 6, 8, 9, 10])
        .no(&[11, 12, 13])
        .empty(&[16, 17, 19, 24]);
    let template = pb()
        .msg(1, object_meta("", &[("app", "web")]))
        .msg(2, pod_spec);
    let spec = pb()
        .varint(1, 3)
        .msg(2, pb().entry(1, "app", "web"))
        .msg(3, template)
        .msg(4, pb().str(1, ""))
        .varint(5, 0)
        .bool(7, false);
    let status = [1, 2, 3, 4, 5, 7]
        .iter()
        .fold(pb(), |pb, &field| pb.varint(field, 0));
    let raw = pb()
        .msg(1, object_meta("web", &[("app", "web")]))
        .msg(2, spec)
        .msg(3, status);
    let expected = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "registry.example/web:1",
                    "ports": [{"containerPort": 8080}],
                    "resources": {},
                }]},
            },
            "strategy": {},
        },
        "status": {},
    });
    assert_eq!(decode(&body("apps/v1", "Deployment", raw)), expected);
}

/// `kubectl auth can-i create deployments -n wasm-apps`
#[test]
fn self_subject_access_review_as_auth_can_i_sends_it() {
    let attributes = pb()
        .str(1, "wasm-apps")
        .str(2, "create")
        .str(3, "apps")
        .str(4, "")
        .str(5, "deployments")
        .empty(&[6, 7]);
    let raw = pb()
        .msg(1, object_meta("", &[]))
        .msg(2, pb().msg(1, attributes))
        .msg(3, pb().bool(1, false).empty(&[2, 3]).bool(4, false));
    let expected = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {
            "namespace": "wasm-apps", "verb": "create", "group": "apps", "resource": "deployments",
        }},
        "status": {"allowed": false},
    });
    let review = body("authorization.k8s.io/v1", "SelfSubjectAccessReview", raw);
    assert_eq!(decode(&review), expected);
}

#[test]
fn service_target_ports_are_numbers_or_names() {
    let by_number = pb().varint(1, 0).varint(2, 8080).str(3, "");
    let by_name = pb().varint(1, 1).varint(2, 0).str(3, "metrics");
    let port = |name: &str, number: u64, target: Pb| {
        pb().str(1, name)
            .str(2, "TCP")
            .varint(3, number)
            .msg(4, target)
            .varint(5, 0)
    };
    let spec = pb()
        .msg(1, port("80-8080", 80, by_number))
        .msg(1, port("metrics", 9090, by_name))
        .entry(2, "app", "web")
        .str(3, "")
        .str(4, "ClusterIP")
        .empty(&[7, 8, 10, 11])
        .varint(12, 0)
        .bool(13, false);
    let raw = pb()
        .msg(1, object_meta("web", &[("app", "web")]))
        .msg(2, spec)
        .msg(3, pb().msg(1, pb()));
    let expected = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "ports": [
                {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": "metrics"},
            ],
            "selector": {"app": "web"},
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    });
    assert_eq!(decode(&body("v1", "Service", raw)), expected);
}

/// Inline Go structs, quantities, probes, volumes and a pointer `false` in one pod.
#[test]
fn cronjob_with_a_detailed_pod() {
    let config_map = pb().msg(1, pb().str(1, "app-config"));
    let mode = pb().msg(3, config_map.str(2, "mode"));
    let pod_name = pb().msg(1, pb().str(1, "v1").str(2, "metadata.name"));
    let resources = pb()
        .msg(1, pb().str(1, "cpu").msg(2, quantity("500m")))
        .msg(2, pb().str(1, "memory").msg(2, quantity("64Mi")));
    let http_get = pb()
        .str(1, "/healthz")
        .msg(2, pb().varint(1, 1).varint(2, 0).str(3, "http"))
        .str(3, "")
        .str(4, "HTTP");
    let probe = [(2, 0), (3, 1), (4, 5), (5, 1), (6, 3)]
        .iter()
        .fold(pb().msg(1, pb().msg(2, http_get)), |pb, &(field, value)| {
            pb.varint(field, value)
        });
    let container = pb()
        .str(1, "report")
        .str(2, "registry.example/report:2")
        .str(3, "/report")
        .str(4, "--daily")
        .str(5, "")
        .msg(7, pb().str(1, "MODE").str(2, "").msg(3, mode))
        .msg(7, pb().str(1, "POD").str(2, "").msg(3, pod_name))
        .msg(8, resources)
        .msg(
            9,
            pb().str(1, "config")
                .bool(2, true)
                .str(3, "/etc/app")
                .empty(&[4, 6]),
        )
        .msg(11, probe)
        .str(13, "/dev/termination-log")
        .str(14, "IfNotPresent")
        .no(&[16, 17, 18])
        .str(20, "File");
    let config_volume = pb().msg(19, pb().msg(1, pb().str(1, "app-config")));
    let pod_spec = pb()
        .msg(1, pb().str(1, "config").msg(2, config_volume))
        .msg(
            1,
            pb().str(1, "scratch").msg(2, pb().msg(2, pb().str(1, ""))),
        )
        .msg(2, container)
        .str(3, "OnFailure")
        .varint(4, 30);
    let job_spec = pb()
        .msg(6, pb().msg(1, object_meta("", &[])).msg(2, pod_spec))
        .varint(7, 2);
    let spec = pb()
        .str(1, "*/5 * * * *")
        .str(3, "")
        .bool(4, false)
        .msg(5, pb().msg(1, object_meta("report", &[])).msg(2, job_spec));
    let raw = pb()
        .msg(1, object_meta("report", &[]))
        .msg(2, spec)
        .msg(3, pb());
    let container = json!({
        "name": "report",
        "image": "registry.example/report:2",
        "command": ["/report"],
        "args": ["--daily"],
        "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "mode"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        ],
        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/app"}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
            "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3,
        },
        "terminationMessagePath": "/dev/termination-log",
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePolicy": "File",
    });
    let expected = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "report"},
        "spec": {
            "schedule": "*/5 * * * *",
            "suspend": false,
            "jobTemplate": {
                "metadata": {"name": "report"},
                "spec": {
                    "backoffLimit": 2,
                    "template": {"metadata": {}, "spec": {
                        "volumes": [
                            {"name": "config", "configMap": {"name": "app-config"}},
                            {"name": "scratch", "emptyDir": {}},
                        ],
                        "containers": [container],
                        "restartPolicy": "OnFailure",
                        "terminationGracePeriodSeconds": 30,
                    }},
                },
            },
        },
        "status": {},
    });
    assert_eq!(decode(&body("batch/v1", "CronJob", raw)), expected);
}

/// `kubectl create role pod-reader --verb=get,list --resource=pods`
#[test]
fn role_as_kubectl_create_role_sends_it() {
    let rule = pb()
        .strs(1, &["get", "list"])
        .strs(2, &[""])
        .strs(3, &["pods"]);
    let raw = pb()
        .msg(1, namespaced_meta("default", "pod-reader"))
        .msg(2, rule);
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "pod-reader", "namespace": "default"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}],
    });
    assert_eq!(
        decode(&body("rbac.authorization.k8s.io/v1", "Role", raw)),
        expected
    );
}

/// `kubectl create clusterrole reader --verb=get --resource=nodes --resource-name=n1`, and one
/// with `--aggregation-rule=example.com/aggregate-to-reader=true`, which has no rules.
#[test]
fn cluster_roles_as_kubectl_create_clusterrole_sends_them() {
    let rule = pb()
        .strs(1, &["get"])
        .strs(2, &[""])
        .strs(3, &["nodes"])
        .strs(4, &["n1"]);
    let raw = pb().msg(1, object_meta("reader", &[])).msg(2, rule);
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{
            "verbs": ["get"], "apiGroups": [""], "resources": ["nodes"], "resourceNames": ["n1"],
        }],
    });
    let cluster_role = |raw| body("rbac.authorization.k8s.io/v1", "ClusterRole", raw);
    assert_eq!(decode(&cluster_role(raw)), expected);

    let selector = pb().entry(1, "example.com/aggregate-to-reader", "true");
    let raw = pb()
        .msg(1, object_meta("aggregated", &[]))
        .msg(3, pb().msg(1, selector));
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "aggregated"},
        "aggregationRule": {"clusterRoleSelectors": [
            {"matchLabels": {"example.com/aggregate-to-reader": "true"}},
        ]},
    });
    assert_eq!(decode(&cluster_role(raw)), expected);
}

/// The API group of RBAC, and of User and Group subjects.
const RBAC: &str = "rbac.authorization.k8s.io";

/// A `Subject` as kubectl builds it; Go writes every string, empty or not.
fn subject(kind: &str, api_group: &str, name: &str, namespace: &str) -> Pb {
    pb().str(1, kind)
        .str(2, api_group)
        .str(3, name)
        .str(4, namespace)
}

/// The `RoleRef` of `--clusterrole=<name>`.
fn cluster_role_ref(name: &str) -> Pb {
    pb().str(1, RBAC).str(2, "ClusterRole").str(3, name)
}

/// `kubectl create rolebinding bob-edit --clusterrole=edit --user=bob
/// --serviceaccount=default:ci -n default`
#[test]
fn role_binding_as_kubectl_create_rolebinding_sends_it() {
    let raw = pb()
        .msg(1, namespaced_meta("default", "bob-edit"))
        .msg(2, subject("User", RBAC, "bob", ""))
        .msg(2, subject("ServiceAccount", "", "ci", "default"))
        .msg(3, cluster_role_ref("edit"));
    // A subject's empty `apiGroup` and `namespace` are left out; the role ref keeps its fields.
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "bob-edit", "namespace": "default"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "default"},
        ],
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit",
        },
    });
    let binding = body("rbac.authorization.k8s.io/v1", "RoleBinding", raw);
    assert_eq!(decode(&binding), expected);
}

/// `kubectl create clusterrolebinding bob-read --clusterrole=reader --user=bob --group=readers`
#[test]
fn cluster_role_binding_as_kubectl_create_clusterrolebinding_sends_it() {
    let raw = pb()
        .msg(1, object_meta("bob-read", &[]))
        .msg(2, subject("User", RBAC, "bob", ""))
        .msg(2, subject("Group", RBAC, "readers", ""))
        .msg(3, cluster_role_ref("reader"));
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "bob-read"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"},
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "readers"},
        ],
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader",
        },
    });
    let binding = body("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", raw);
    assert_eq!(decode(&binding), expected);
}

/// A pod as the typed client writes a new one (`kubectl debug --copy-to`): the status has
/// every string field written empty and `observedGeneration` zero.
#[test]
fn a_new_pod_has_an_empty_status() {
    let container = pb().str(1, "app").str(2, "registry.example/app:1");
    let status = pb().empty(&[1, 3, 4, 5, 6, 9, 11, 14]).varint(17, 0);
    let raw = pb()
        .msg(1, namespaced_meta("default", "app"))
        .msg(2, pb().msg(2, container).str(3, "Always"))
        .msg(3, status);
    let expected = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
            "restartPolicy": "Always",
        },
        "status": {},
    });
    assert_eq!(decode(&body("v1", "Pod", raw)), expected);
}

#[test]
fn pod_status_conditions_and_addresses() {
    let at = || pb().varint(1, 1_700_000_000).varint(2, 0);
    let ready = pb()
        .str(1, "Ready")
        .str(2, "True")
        .msg(3, pb())
        .msg(4, at())
        .empty(&[5, 6])
        .varint(7, 2);
    let status = pb()
        .str(1, "Running")
        .msg(2, ready)
        .str(5, "192.0.2.10")
        .str(6, "10.1.0.5")
        .msg(7, at())
        .msg(12, pb().str(1, "10.1.0.5"))
        .msg(16, pb().str(1, "192.0.2.10"))
        .varint(17, 2);
    let pod = decode(&body("v1", "Pod", pb().msg(3, status)));
    let expected = json!({
        "phase": "Running",
        "conditions": [{
            "type": "Ready", "status": "True",
            "lastTransitionTime": "2023-11-14T22:13:20Z", "observedGeneration": 2,
        }],
        "hostIP": "192.0.2.10",
        "podIP": "10.1.0.5",
        "startTime": "2023-11-14T22:13:20Z",
        "podIPs": [{"ip": "10.1.0.5"}],
        "hostIPs": [{"ip": "192.0.2.10"}],
        "observedGeneration": 2,
    });
    assert_eq!(pod["status"], expected);
    // Container statuses are the kubelet's to write, and not in the schema.
    let container_statuses = pb().msg(3, pb().msg(8, pb().str(1, "app")));
    assert_eq!(
        refused(&body("v1", "Pod", container_statuses)),
        "field 8 of PodStatus is not known"
    );
}

#[test]
fn metadata_times_owners_and_managed_fields() {
    let owner = pb()
        .str(1, "Deployment")
        .str(3, "web")
        .str(4, "0b5c")
        .str(5, "apps/v1")
        .bool(6, true);
    let managed = pb()
        .str(1, "kubectl-create")
        .str(2, "Update")
        .str(3, "v1")
        .msg(4, pb().varint(1, 1_700_000_000).varint(2, 0))
        .str(6, "FieldsV1")
        .msg(7, pb().bytes(1, br#"{"f:data":{".":{}}}"#))
        .str(8, "");
    let meta = pb()
        .str(1, "app-config")
        .empty(&[2, 3, 4, 5, 6])
        .varint(7, 0)
        .msg(8, pb().varint(1, 1_700_000_000).varint(2, 500))
        .varint(10, 0)
        .msg(13, owner)
        .str(14, "example.com/cleanup")
        .msg(17, managed);
    let raw = pb().msg(1, meta).bool(4, false);
    let expected = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "app-config",
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "deletionGracePeriodSeconds": 0,
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": "0b5c", "apiVersion": "apps/v1", "controller": true},
            ],
            "finalizers": ["example.com/cleanup"],
            "managedFields": [{
                "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
                "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}}},
            }],
        },
        "immutable": false,
    });
    assert_eq!(decode(&body("v1", "ConfigMap", raw)), expected);
}

#[test]
fn repeated_integers_may_come_packed_or_one_by_one() {
    let mut packed = Vec::new();
    put_varint(&mut packed, 1000);
    put_varint(&mut packed, 2000);
    let security = pb().bytes(4, &packed).varint(4, 3000);
    let container = pb().str(1, "job").str(2, "registry.example/job:1");
    let pod_spec = pb().msg(2, container).msg(14, security);
    let raw = pb().msg(2, pb().msg(6, pb().msg(2, pod_spec)));
    let job = decode(&body("batch/v1", "Job", raw));
    let groups = &job["spec"]["template"]["spec"]["securityContext"]["supplementalGroups"];
    assert_eq!(groups, &json!([1000, 2000, 3000]));
}

#[test]
fn negative_integers_survive() {
    let raw = pb().msg(1, pb().varint(10, -5_i64 as u64));
    let secret = decode(&body("v1", "Secret", raw));
    assert_eq!(secret["metadata"]["deletionGracePeriodSeconds"], json!(-5));
}

#[test]
fn a_body_without_the_magic_is_refused() {
    assert_eq!(
        refused(br#"{"kind":"Namespace"}"#),
        "the body does not start with the kubernetes protobuf magic"
    );
}

#[test]
fn truncated_input_is_refused() {
    // ObjectMeta's generation is cut off inside its varint.
    let cut_varint = body("v1", "Namespace", Pb(vec![0x0a, 0x02, 0x38, 0x80]));
    assert_eq!(refused(&cut_varint), "ObjectMeta ends inside a varint");
    // The metadata claims ten bytes and has two.
    let cut_length = body("v1", "Namespace", Pb(vec![0x0a, 0x0a, 0x0a, 0x00]));
    let message = "field 1 of Namespace is 10 bytes long but only 2 bytes remain";
    assert_eq!(refused(&cut_length), message);
}

#[test]
fn unknown_field_numbers_are_refused() {
    let raw = pb().msg(1, pb().str(1, "web").str(99, "?"));
    assert_eq!(
        refused(&body("v1", "Namespace", raw)),
        "field 99 of ObjectMeta is not known"
    );
    let entry = pb().str(1, "app").str(2, "web").str(3, "?");
    let raw = pb().msg(1, pb().msg(11, entry));
    assert_eq!(
        refused(&body("v1", "Namespace", raw)),
        "field 3 of the labels entry of ObjectMeta is not known"
    );
}

#[test]
fn unknown_kinds_are_refused() {
    assert_eq!(
        refused(&body("apps/v1", "Foo", pb())),
        "kind apps/v1 Foo cannot be decoded from protobuf"
    );
    let no_type_meta = [MAGIC, &pb().msg(2, pb()).0].concat();
    assert_eq!(
        refused(&no_type_meta),
        "the protobuf envelope does not name an apiVersion and a kind"
    );
}

#[test]
fn wrong_wire_types_are_refused() {
    let name_as_varint = pb().msg(1, pb().varint(1, 5));
    assert_eq!(
        refused(&body("v1", "Namespace", name_as_varint)),
        "field 1 of ObjectMeta has wire type 0, which does not fit its type"
    );
    let replicas_as_bytes = pb().msg(2, pb().str(1, "3"));
    assert_eq!(
        refused(&body("apps/v1", "Deployment", replicas_as_bytes)),
        "field 1 of DeploymentSpec has wire type 2, which does not fit its type"
    );
}

#[test]
fn bad_strings_and_envelopes_are_refused() {
    let raw = pb().msg(1, pb().bytes(1, &[0xff]));
    assert_eq!(
        refused(&body("v1", "Namespace", raw)),
        "field 1 of ObjectMeta is not valid utf-8"
    );
    let type_meta = pb().str(1, "v1").str(2, "Namespace");
    let gzip = pb().msg(1, type_meta).msg(2, pb()).str(3, "gzip");
    assert_eq!(
        refused(&[MAGIC, &gzip.0].concat()),
        "the protobuf envelope's content encoding \"gzip\" is not supported"
    );
}

/// The decoder relies on the tables being acyclic (bounded recursion) and on every message
/// having unique field numbers and, inline fields included, unique JSON names.
#[test]
fn the_schema_is_acyclic_and_unambiguous() {
    fn json_names(message: &'static Message, names: &mut Vec<&'static str>) {
        for field in message.fields {
            match field.shape {
                Shape::Inline(inner) => json_names(inner, names),
                _ => names.push(field.json),
            }
        }
    }
    fn walk(message: &'static Message, path: &mut Vec<&'static str>) {
        assert!(
            !path.contains(&message.name),
            "{path:?} reaches {} again",
            message.name
        );
        let numbers: HashSet<u32> = message.fields.iter().map(|field| field.number).collect();
        assert_eq!(
            numbers.len(),
            message.fields.len(),
            "{} repeats a number",
            message.name
        );
        let mut names = Vec::new();
        json_names(message, &mut names);
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "{} repeats a json name",
            message.name
        );
        path.push(message.name);
        for field in message.fields {
            match field.shape {
                Shape::Inline(inner)
                | Shape::One(Ty::Msg(inner), _)
                | Shape::Many(Ty::Msg(inner))
                | Shape::Map(Ty::Msg(inner)) => walk(inner, path),
                _ => {}
            }
        }
        path.pop();
    }
    for &(_, _, message) in schema::kinds() {
        walk(message, &mut Vec::new());
    }
}
