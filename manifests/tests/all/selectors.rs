//! Label and field selectors as kubectl sends them, with apimachinery's exact error messages,
//! and the printer columns `kubectl get` shows for realistic objects at a fixed time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{Value, json};
use shoal_manifests::k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use shoal_manifests::registry::resolve;
use shoal_manifests::selector::{FieldSelector, LabelSelector};

const LABEL_VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn label_selectors_parse_to_canonical_form() {
    for (input, canonical) in [
        ("", ""),
        ("app=web", "app=web"),
        ("  app = web  ", "app=web"),
        ("tier==front", "tier==front"),
        ("env!=prod", "env!=prod"),
        ("tier in (web, api)", "tier in (api,web)"),
        ("tier in (web,web)", "tier in (web)"),
        ("tier notin (a)", "tier notin (a)"),
        ("canary", "canary"),
        ("!canary", "!canary"),
        (
            "a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m",
            "a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m",
        ),
        ("z=1,a=2", "a=2,z=1"),
        ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
        ("a=", "a="),
        ("a in ()", "a in ()"),
        ("a in (,b)", "a in (,b)"),
        ("in in (in)", "in in (in)"),
        ("gen>3", "gen>3"),
        ("gen<3", "gen<3"),
        ("a\t=\nb", "a=b"),
    ] {
        let parsed = LabelSelector::parse(input).map(|s| s.to_string());
        assert_eq!(parsed.as_deref(), Ok(canonical), "{input:?}");
    }
}

#[test]
fn label_selector_errors_read_like_apimachinery() {
    let cases = [
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'".to_owned()),
        ("=b", "found '=', expected: !, identifier, or 'end of string'".to_owned()),
        ("a=b=c", "found '=', expected: ',' or 'end of string'".to_owned()),
        ("a=b,", "found '', expected: identifier after ','".to_owned()),
        ("a=b,,c", "found ',', expected: identifier after ','".to_owned()),
        (
            "a b",
            "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"
                .to_owned(),
        ),
        ("a notin", "unable to parse requirement: found '' expected: '('".to_owned()),
        ("!", "unable to parse requirement: found '', expected: identifier".to_owned()),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'".to_owned()),
        (
            "a in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier".to_owned(),
        ),
        ("a=(b", "unable to parse requirement: found '(', expected: identifier".to_owned()),
        (
            "a in (,b,,)",
            "unable to parse requirement: found ')', expected: ',', or identifier".to_owned(),
        ),
        (
            "app:web",
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"app:web\": name part {NAME_RULE}"
            ),
        ),
        (
            "a=b/c",
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"b/c\": {LABEL_VALUE_RULE}"
            ),
        ),
        (
            "a>b",
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer".to_owned(),
        ),
        (
            &format!("a={}", "v".repeat(64)),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{}\": must be no more than 63 characters",
                "v".repeat(64)
            ),
        ),
    ];
    for (input, message) in cases {
        let error = LabelSelector::parse(input).map(|s| s.to_string());
        assert_eq!(error.map_err(|e| e.to_string()), Err(message), "{input:?}");
    }
}

#[test]
fn label_selectors_match_with_kubernetes_semantics() {
    let pod = labels(&[("app", "web"), ("tier", "front"), ("gen", "7")]);
    let none = BTreeMap::new();
    for (selector, on_pod, on_nothing) in [
        ("", true, true),
        ("app=web", true, false),
        ("app==web", true, false),
        ("app=api", false, false),
        ("app!=api", true, true),
        ("app!=web", false, true),
        ("tier in (front,back)", true, false),
        ("tier in (back)", false, false),
        ("tier notin (back)", true, true),
        ("tier notin (front)", false, true),
        ("app", true, false),
        ("!app", false, true),
        ("!canary", true, true),
        ("gen>6", true, false),
        ("gen>7", false, false),
        ("gen<8", true, false),
        ("app>1", false, false),
        ("app=web,tier=front", true, false),
        ("app=web,tier=back", false, false),
        ("a=", false, false),
    ] {
        let parsed = LabelSelector::parse(selector);
        let matched = parsed.as_ref().map(|s| (s.matches(&pod), s.matches(&none)));
        assert_eq!(matched, Ok((on_pod, on_nothing)), "{selector:?}");
    }
    assert_eq!(LabelSelector::parse("").map(|s| s.is_empty()), Ok(true));
    assert!(LabelSelector::parse("a=").is_ok_and(|s| s.matches(&labels(&[("a", "")]))));
}

/// A random requirement in the string form.
fn requirement() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(&["app", "tier", "example.com/role", "in", "a.b_c-d"][..]);
    let value = proptest::sample::select(&["", "web", "v1.2", "in", "notin", "X_9"][..]);
    // Empty entries inside a list (`(a,,b)`) are refused by apimachinery's parser too.
    let listed = proptest::sample::select(&["web", "v1.2", "in", "notin", "X_9"][..]);
    let values = proptest::collection::vec(listed, 1..4).prop_map(|v| v.join(","));
    prop_oneof![
        (
            key.clone(),
            value,
            proptest::sample::select(&["=", "==", "!="][..])
        )
            .prop_map(|(k, v, op)| format!("{k} {op} {v}")),
        (
            key.clone(),
            values,
            proptest::sample::select(&["in", "notin"][..])
        )
            .prop_map(|(k, v, op)| format!("{k} {op} ( {v} )")),
        key.clone().prop_map(str::to_owned),
        key.prop_map(|k| format!("!{k}")),
    ]
}

proptest! {
    /// The canonical form parses back to the same selector.
    #[test]
    fn label_selectors_print_canonically(parts in proptest::collection::vec(requirement(), 0..5)) {
        let text = parts.join(" , ");
        let parsed = LabelSelector::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let printed = parsed.as_ref().map(ToString::to_string).unwrap_or_default();
        let reparsed = LabelSelector::parse(&printed);
        prop_assert_eq!(reparsed.as_ref().map(ToString::to_string), Ok(printed.clone()));
        prop_assert_eq!(reparsed, parsed);
    }

    /// Neither parser panics, whatever the text.
    #[test]
    fn selector_parsers_never_panic(text in "[a-z!=(), \\\t.\\/<>-]{0,30}") {
        let _ = LabelSelector::parse(&text);
        let _ = FieldSelector::parse(&text);
    }
}

fn structured(
    match_labels: &[(&str, &str)],
    expressions: &[(&str, &str, Option<Vec<&str>>)],
) -> metav1::LabelSelector {
    metav1::LabelSelector {
        match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
        match_expressions: Some(
            expressions
                .iter()
                .map(|(key, operator, values)| metav1::LabelSelectorRequirement {
                    key: (*key).to_owned(),
                    operator: (*operator).to_owned(),
                    values: values
                        .as_ref()
                        .map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
                })
                .collect(),
        ),
    }
}

#[test]
fn structured_label_selectors() {
    let selector = structured(
        &[("app", "web")],
        &[
            ("tier", "In", Some(vec!["front", "edge"])),
            ("env", "NotIn", Some(vec!["prod"])),
            ("canary", "DoesNotExist", None),
            ("gen", "Exists", Some(vec![])),
        ],
    );
    let parsed = LabelSelector::from_k8s(&selector);
    assert_eq!(
        parsed.as_ref().map(ToString::to_string).as_deref(),
        Ok("app=web,!canary,env notin (prod),gen,tier in (edge,front)")
    );
    let matching = labels(&[("app", "web"), ("tier", "edge"), ("gen", "1")]);
    assert_eq!(parsed.as_ref().map(|s| s.matches(&matching)), Ok(true));
    let prod = labels(&[
        ("app", "web"),
        ("tier", "edge"),
        ("gen", "1"),
        ("env", "prod"),
    ]);
    assert_eq!(parsed.as_ref().map(|s| s.matches(&prod)), Ok(false));
    assert_eq!(
        LabelSelector::from_k8s(&structured(&[], &[])).map(|s| s.is_empty()),
        Ok(true)
    );

    for (selector, message) in [
        (
            structured(&[], &[("a", "Equals", Some(vec!["b"]))]),
            "\"Equals\" is not a valid label selector operator".to_owned(),
        ),
        (
            structured(&[], &[("a", "In", None)]),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty".to_owned(),
        ),
        (
            structured(&[], &[("a", "Exists", Some(vec!["x"]))]),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist".to_owned(),
        ),
        (
            structured(&[("a", "-x")], &[]),
            format!("values[0][a]: Invalid value: \"-x\": {LABEL_VALUE_RULE}"),
        ),
        (
            structured(&[], &[("a/b/c", "NotIn", Some(vec!["-x"]))]),
            format!(
                "[key: Invalid value: \"a/b/c\": a qualified name {NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName'), values[0][a/b/c]: Invalid value: \"-x\": {LABEL_VALUE_RULE}]"
            ),
        ),
    ] {
        let result = LabelSelector::from_k8s(&selector).map(|s| s.to_string());
        assert_eq!(result.map_err(|e| e.to_string()), Err(message));
    }
}

#[test]
fn field_selectors_parse_and_refuse_like_kube_apiserver() {
    for (input, canonical) in [
        ("", ""),
        ("metadata.name=web", "metadata.name=web"),
        ("metadata.name==web", "metadata.name=web"),
        (
            "status.phase!=Failed,spec.nodeName=n1",
            "spec.nodeName=n1,status.phase!=Failed",
        ),
        (
            "metadata.name=a\\,b\\=c\\\\d",
            "metadata.name=a\\,b\\=c\\\\d",
        ),
        ("metadata.namespace=", "metadata.namespace="),
    ] {
        let parsed = FieldSelector::parse(input).map(|s| s.to_string());
        assert_eq!(parsed.as_deref(), Ok(canonical), "{input:?}");
    }
    for (input, message) in [
        (
            "metadata.name",
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
        ),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        (
            "a=b\\",
            "invalid field selector: invalid escape sequence: \\",
        ),
        (
            "a=b\\x",
            "invalid field selector: invalid escape sequence: \\x",
        ),
        (
            "a=b=c",
            "invalid field selector: unescaped character in value: 61",
        ),
    ] {
        let error = FieldSelector::parse(input).map_err(|e| e.to_string());
        assert_eq!(error, Err(message.to_owned()), "{input:?}");
    }

    let check = |kind: &str, selector: &str| {
        let info = resolve(kind).ok_or_else(|| format!("no kind {kind}"))?;
        let selector = FieldSelector::parse(selector).map_err(|e| e.to_string())?;
        selector.validate_for(info).map_err(|e| e.to_string())
    };
    assert_eq!(
        check(
            "pods",
            "spec.nodeName=n1,status.phase!=Failed,metadata.name=x"
        ),
        Ok(())
    );
    assert_eq!(
        check("pods", "spec.foo=bar"),
        Err("field label not supported: spec.foo".to_owned())
    );
    assert_eq!(check("nodes", "spec.unschedulable=false"), Ok(()));
    assert_eq!(check("configmaps", "metadata.namespace=default"), Ok(()));
    assert_eq!(
        check("configmaps", "data.x=1"),
        Err("field label not supported: data.x".to_owned())
    );
    assert_eq!(
        check(
            "events",
            "involvedObject.name=x,involvedObject.namespace=,involvedObject.uid=u"
        ),
        Ok(())
    );
}

#[test]
fn field_selectors_match_object_json() {
    let pod = json!({
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"nodeName": "edge-1", "hostNetwork": false},
        "status": {"phase": "Running"}
    });
    let node = json!({"metadata": {"name": "edge-1"}, "spec": {"unschedulable": true}});
    let rs =
        json!({"metadata": {"name": "web-abc", "namespace": "default"}, "status": {"replicas": 0}});
    let event = json!({
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "edge-1", "namespace": ""},
        "source": {"component": "node-controller"}
    });
    for (selector, object, expected) in [
        ("", &pod, true),
        ("metadata.name=web-1", &pod, true),
        ("metadata.name==web-1", &pod, true),
        ("metadata.name!=web-1", &pod, false),
        ("metadata.name=web-1,metadata.namespace=default", &pod, true),
        (
            "metadata.name=web-1,metadata.namespace=kube-system",
            &pod,
            false,
        ),
        (
            "spec.nodeName=edge-1,status.phase!=Succeeded,status.phase!=Failed",
            &pod,
            true,
        ),
        ("spec.hostNetwork=false", &pod, true),
        ("status.podIP=", &pod, true),
        ("status.podIP!=", &pod, false),
        ("spec.unschedulable=true", &node, true),
        ("spec.unschedulable=false", &pod, true),
        ("metadata.namespace=", &node, true),
        ("metadata.namespace=", &pod, false),
        ("status.replicas=0", &rs, true),
        ("status.replicas!=0", &rs, false),
        (
            "involvedObject.kind=Node,involvedObject.namespace=",
            &event,
            true,
        ),
        ("source=node-controller", &event, true),
    ] {
        let matched = FieldSelector::parse(selector).map(|s| s.matches(object));
        assert_eq!(matched, Ok(expected), "{selector:?}");
    }
}

/// 2024-05-01T12:00:00Z.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_714_564_800)
}

fn header(kind: &str) -> Vec<(&'static str, u8)> {
    resolve(kind).map_or_else(Vec::new, |k| {
        k.columns.iter().map(|c| (c.name, c.priority)).collect()
    })
}

fn row(kind: &str, object: &Value) -> Vec<Value> {
    resolve(kind).map_or_else(Vec::new, |k| {
        k.columns.iter().map(|c| (c.cell)(object, now())).collect()
    })
}

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d4b9c-x2x9z", "namespace": "default",
                     "creationTimestamp": "2024-05-01T11:54:30Z"},
        "spec": {"nodeName": "edge-1",
                 "containers": [{"name": "app", "image": "registry.example/web:1.0"}]},
        "status": status,
    })
}

#[test]
fn pod_columns() {
    assert_eq!(
        header("pods"),
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
    let running = pod(json!({
        "phase": "Running", "podIP": "10.42.0.7", "podIPs": [{"ip": "10.42.0.7"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2024-05-01T11:54:40Z"}}}]
    }));
    assert_eq!(
        row("pods", &running),
        [
            json!("web-7d4b9c-x2x9z"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m30s"),
            json!("10.42.0.7"),
            json!("edge-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );

    let mut crashing = pod(json!({
        "phase": "Running", "podIPs": [{"ip": "10.42.0.9"}],
        "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "sidecar", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                          "finishedAt": "2024-05-01T11:58:00Z"}}}
        ]
    }));
    crashing["metadata"]["creationTimestamp"] = json!("2024-04-29T08:00:00Z");
    crashing["spec"]["containers"] = json!([{"name": "app"}, {"name": "sidecar"}]);
    let cells = row("pods", &crashing);
    assert_eq!(
        cells[1..5],
        [
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("3 (2m ago)"),
            json!("2d4h")
        ]
    );

    let completed = pod(json!({
        "phase": "Succeeded",
        "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]
    }));
    assert_eq!(
        row("pods", &completed)[1..4],
        [json!("0/1"), json!("Completed"), json!("0")]
    );

    let mut terminating = running.clone();
    terminating["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:50Z");
    assert_eq!(row("pods", &terminating)[2], json!("Terminating"));

    let creating = pod(json!({
        "phase": "Pending",
        "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}}]
    }));
    assert_eq!(
        row("pods", &creating)[1..3],
        [json!("0/1"), json!("ContainerCreating")]
    );

    let mut initializing = pod(json!({
        "phase": "Pending",
        "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 0,
            "state": {"running": {}}}],
        "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}}}]
    }));
    initializing["spec"]["initContainers"] = json!([{"name": "migrate"}]);
    assert_eq!(row("pods", &initializing)[2], json!("Init:0/1"));

    let pending = pod(json!({"phase": "Pending"}));
    let mut unscheduled = pending.clone();
    unscheduled["spec"]["nodeName"] = Value::Null;
    unscheduled["spec"]["readinessGates"] = json!([{"conditionType": "example.com/lb"}]);
    assert_eq!(
        row("pods", &unscheduled)[1..],
        [
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("5m30s"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("0/1")
        ]
    );
}

#[test]
fn deployment_and_job_columns() {
    let deployment = json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-04-19T12:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [
                     {"name": "app", "image": "registry.example/web-wasm:1.0"},
                     {"name": "log", "image": "registry.example/log:2"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        header("deploy"),
        [
            ("Name", 0),
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
    assert_eq!(
        row("deploy", &deployment),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("12d"),
            json!("app,log"),
            json!("registry.example/web-wasm:1.0,registry.example/log:2"),
            json!("app=web")
        ]
    );

    let job = json!({
        "metadata": {"name": "migrate", "creationTimestamp": "2024-05-01T11:00:00Z"},
        "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "m", "image": "i"}]}}},
        "status": {"succeeded": 1, "startTime": "2024-05-01T11:00:00Z",
                   "completionTime": "2024-05-01T11:00:42Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}
    });
    assert_eq!(
        row("jobs", &job)[..5],
        [
            json!("migrate"),
            json!("Complete"),
            json!("1/1"),
            json!("42s"),
            json!("60m")
        ]
    );
}

#[test]
fn service_columns() {
    let service = json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:59:15Z"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                 "selector": {"app": "web", "tier": "front"},
                 "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                           {"port": 443, "protocol": "TCP", "nodePort": 30443},
                           {"port": 53, "protocol": "UDP"}]}
    });
    assert_eq!(
        row("svc", &service),
        [
            json!("web"),
            json!("NodePort"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,443:30443/TCP,53/UDP"),
            json!("45s"),
            json!("app=web,tier=front")
        ]
    );
    let balancer = json!({
        "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80}]}
    });
    assert_eq!(
        row("svc", &balancer),
        [
            json!("lb"),
            json!("LoadBalancer"),
            json!("10.96.0.11"),
            json!("<pending>"),
            json!("80/TCP"),
            json!("<unknown>"),
            json!("<none>")
        ]
    );
}

#[test]
fn node_and_event_columns() {
    let node = json!({
        "metadata": {"name": "edge-1", "creationTimestamp": "2024-05-01T09:00:00Z",
                     "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "Hostname", "address": "edge-1"},
                                 {"type": "InternalIP", "address": "192.168.1.10"}],
                   "nodeInfo": {"kubeletVersion": "v1.33.0-shoal", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "wasmtime://25.0.0"}}
    });
    assert_eq!(
        row("nodes", &node),
        [
            json!("edge-1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,edge"),
            json!("3h"),
            json!("v1.33.0-shoal"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("6.1.0-18-amd64"),
            json!("wasmtime://25.0.0")
        ]
    );
    let silent = json!({"metadata": {"name": "edge-2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    assert_eq!(
        row("nodes", &silent)[1..],
        [
            json!("NotReady"),
            json!("<none>"),
            json!("<unknown>"),
            json!(""),
            json!("<none>"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );

    let event = json!({
        "metadata": {"name": "web-1.17c3a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "type": "Warning",
        "message": "Back-off restarting failed container app\n",
        "source": {"component": "kubelet", "host": "edge-1"},
        "firstTimestamp": "2024-05-01T11:30:00Z", "lastTimestamp": "2024-05-01T11:59:15Z", "count": 7
    });
    assert_eq!(
        header("events"),
        [
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1)
        ]
    );
    assert_eq!(
        row("events", &event),
        [
            json!("45s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-1"),
            json!("spec.containers{app}"),
            json!("kubelet, edge-1"),
            json!("Back-off restarting failed container app"),
            json!("30m"),
            json!(7),
            json!("web-1.17c3a")
        ]
    );
}

#[test]
fn every_kind_starts_with_name_and_shows_age() {
    for kind in shoal_manifests::KINDS {
        let names: Vec<&str> = kind.columns.iter().map(|c| c.name).collect();
        let name_columns: Vec<_> = kind.columns.iter().filter(|c| c.format == "name").collect();
        assert_eq!(name_columns.len(), 1, "{}", kind.kind);
        if kind.kind != "Event" {
            assert_eq!(names.first(), Some(&"Name"), "{}", kind.kind);
        }
        let dated = !matches!(kind.kind, "Event" | "Role" | "ClusterRole");
        assert_eq!(names.contains(&"Age"), dated, "{}", kind.kind);
    }
}
