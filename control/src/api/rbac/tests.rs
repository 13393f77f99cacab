//! The decision over hand-built snapshots (every subject type, Role and ClusterRole references,
//! namespace confinement, resource names, subresources, wildcards, non-resource URLs and the
//! exact denial messages) and the request attributes. `bootstrap_policy` tests the bootstrap
//! policy and the cache.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use warp::http::Method;

use super::*;
use crate::api::auth::AUTHENTICATED_GROUP;
use crate::api::request::parse_path;

mod bootstrap_policy;
mod escalation;

// --- builders ---

fn user(name: &str, groups: &[&str]) -> User {
    let mut groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
    groups.push(AUTHENTICATED_GROUP.to_owned());
    User {
        name: name.to_owned(),
        uid: format!("uid-{name}"),
        groups,
    }
}

fn snapshot(objects: impl IntoIterator<Item = Value>) -> RbacSnapshot {
    let mut snapshot = RbacSnapshot::default();
    for object in objects {
        snapshot.insert(object).expect("an RBAC object");
    }
    snapshot
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn named_rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "resourceNames": names})
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

fn role(namespace: &str, name: &str, rules: &[Value]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": name, "namespace": namespace}, "rules": rules,
    })
}

fn cluster_role(name: &str, rules: &[Value]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}, "rules": rules,
    })
}

fn role_binding(namespace: &str, name: &str, kind: &str, role: &str, subjects: &[Value]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": subjects,
    })
}

fn cluster_role_binding(name: &str, role: &str, subjects: &[Value]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn user_subject(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

fn group_subject(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

fn sa_subject(namespace: Option<&str>, name: &str) -> Value {
    match namespace {
        Some(ns) => json!({"kind": "ServiceAccount", "name": name, "namespace": ns}),
        None => json!({"kind": "ServiceAccount", "name": name}),
    }
}

/// A resource request: `resource` may be `pods/log`.
fn ask<'a>(
    user: &'a User,
    verb: Verb,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Attributes<'a> {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub.to_owned())),
        None => (resource, None),
    };
    Attributes {
        user,
        verb,
        api_group: group.to_owned(),
        resource: resource.to_owned(),
        subresource,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        non_resource_path: None,
    }
}

fn allowed(snapshot: &RbacSnapshot, attrs: &Attributes<'_>) -> bool {
    allows(snapshot, attrs) == Decision::Allow
}

fn denial(snapshot: &RbacSnapshot, attrs: &Attributes<'_>) -> String {
    match allows(snapshot, attrs) {
        Decision::Deny(message) => message,
        Decision::Allow => panic!("{attrs:?} should be denied"),
    }
}

// --- the decision ---

#[test]
fn system_masters_may_do_anything_without_any_binding() {
    let empty = RbacSnapshot::default();
    let root = user("admin", &[MASTERS_GROUP]);
    for verb in [Verb::Get, Verb::List, Verb::Create, Verb::DeleteCollection] {
        assert!(allowed(&empty, &ask(&root, verb, "", "nodes", None, None)));
        assert!(allowed(
            &empty,
            &ask(
                &root,
                verb,
                "apps",
                "deployments/scale",
                Some("x"),
                Some("y")
            )
        ));
    }
    assert!(allowed(
        &empty,
        &Attributes::non_resource(&root, Verb::Post, "/anything")
    ));
}

#[test]
fn denial_messages_are_kube_apiservers() {
    let empty = RbacSnapshot::default();
    let bob = user("bob", &[]);
    let cases = [
        (
            ask(&bob, Verb::List, "", "pods", Some("default"), None),
            r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default""#,
        ),
        (
            ask(&bob, Verb::List, "", "nodes", None, None),
            r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope"#,
        ),
        (
            ask(&bob, Verb::Get, "", "pods", Some("default"), Some("web")),
            r#"pods "web" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default""#,
        ),
        (
            ask(
                &bob,
                Verb::Patch,
                "apps",
                "deployments/scale",
                Some("team"),
                Some("web"),
            ),
            r#"deployments.apps "web" is forbidden: User "bob" cannot patch resource "deployments/scale" in API group "apps" in the namespace "team""#,
        ),
        (
            ask(
                &bob,
                Verb::Watch,
                "rbac.authorization.k8s.io",
                "clusterroles",
                None,
                None,
            ),
            r#"clusterroles.rbac.authorization.k8s.io is forbidden: User "bob" cannot watch resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope"#,
        ),
        (
            ask(
                &bob,
                Verb::DeleteCollection,
                "",
                "configmaps",
                Some(""),
                None,
            ),
            r#"configmaps is forbidden: User "bob" cannot deletecollection resource "configmaps" in API group "" at the cluster scope"#,
        ),
        (
            Attributes::non_resource(&bob, Verb::Get, "/apis"),
            r#"forbidden: User "bob" cannot get path "/apis""#,
        ),
        (
            Attributes::non_resource(&bob, Verb::Post, "/api/v1"),
            r#"forbidden: User "bob" cannot post path "/api/v1""#,
        ),
    ];
    for (attrs, expected) in cases {
        assert_eq!(denial(&empty, &attrs), expected);
    }
}

#[test]
fn a_cluster_role_binding_grants_everywhere() {
    let s = snapshot([
        cluster_role("pod-reader", &[rule(&["get", "list"], &[""], &["pods"])]),
        cluster_role_binding("bob-reads", "pod-reader", &[user_subject("bob")]),
    ]);
    let bob = user("bob", &[]);
    for namespace in [Some("default"), Some("team"), None] {
        assert!(allowed(
            &s,
            &ask(&bob, Verb::List, "", "pods", namespace, None)
        ));
    }
    assert!(!allowed(
        &s,
        &ask(&bob, Verb::Delete, "", "pods", Some("team"), Some("web"))
    ));
    assert!(!allowed(
        &s,
        &ask(&user("alice", &[]), Verb::List, "", "pods", None, None)
    ));
}

#[test]
fn a_role_binding_to_a_role_is_confined_to_its_namespace() {
    let s = snapshot([
        role("team", "cm-writer", &[rule(&["*"], &[""], &["configmaps"])]),
        role_binding(
            "team",
            "bob-cm",
            "Role",
            "cm-writer",
            &[user_subject("bob")],
        ),
    ]);
    let bob = user("bob", &[]);
    assert!(allowed(
        &s,
        &ask(&bob, Verb::Create, "", "configmaps", Some("team"), None)
    ));
    assert!(!allowed(
        &s,
        &ask(&bob, Verb::Create, "", "configmaps", Some("other"), None)
    ));
    // A list across all namespaces is a cluster-scope request: no RoleBinding grants it.
    assert!(!allowed(
        &s,
        &ask(&bob, Verb::List, "", "configmaps", None, None)
    ));
}

#[test]
fn a_role_binding_to_a_cluster_role_is_confined_to_its_namespace() {
    let s = snapshot([
        cluster_role(
            "everything",
            &[rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        role_binding(
            "team",
            "bob-all",
            "ClusterRole",
            "everything",
            &[user_subject("bob")],
        ),
    ]);
    let bob = user("bob", &[]);
    assert!(allowed(
        &s,
        &ask(
            &bob,
            Verb::Delete,
            "apps",
            "deployments",
            Some("team"),
            Some("web")
        )
    ));
    assert!(!allowed(
        &s,
        &ask(
            &bob,
            Verb::Get,
            "apps",
            "deployments",
            Some("default"),
            Some("web")
        )
    ));
    assert!(!allowed(
        &s,
        &ask(&bob, Verb::Get, "", "nodes", None, Some("edge-1"))
    ));
    // Non-resource rules never apply through a RoleBinding.
    assert!(!allowed(
        &s,
        &Attributes::non_resource(&bob, Verb::Get, "/apis")
    ));
}

#[test]
fn a_role_binding_refers_to_a_role_of_its_own_namespace() {
    let s = snapshot([
        role("other", "reader", &[rule(&["get"], &[""], &["pods"])]),
        role_binding(
            "team",
            "bob-reader",
            "Role",
            "reader",
            &[user_subject("bob")],
        ),
    ]);
    let bob = user("bob", &[]);
    assert_eq!(
        denial(
            &s,
            &ask(&bob, Verb::Get, "", "pods", Some("team"), Some("web"))
        ),
        r#"pods "web" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "team": RBAC: role.rbac.authorization.k8s.io "reader" not found"#
    );
}

#[test]
fn missing_roles_are_named_only_for_bindings_of_the_user() {
    let s = snapshot([
        cluster_role_binding("bob-ghost", "ghost", &[user_subject("bob")]),
        cluster_role_binding("alice-ghost", "alice-ghost", &[user_subject("alice")]),
        role_binding(
            "team",
            "bob-gone",
            "ClusterRole",
            "gone",
            &[user_subject("bob")],
        ),
    ]);
    let bob = user("bob", &[]);
    assert_eq!(
        denial(&s, &ask(&bob, Verb::List, "", "pods", None, None)),
        r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "ghost" not found"#
    );
    assert_eq!(
        denial(&s, &ask(&bob, Verb::List, "", "pods", Some("team"), None)),
        r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "team": RBAC: [clusterrole.rbac.authorization.k8s.io "ghost" not found, clusterrole.rbac.authorization.k8s.io "gone" not found]"#
    );
    let carol = user("carol", &[]);
    assert_eq!(
        denial(&s, &ask(&carol, Verb::List, "", "pods", None, None)),
        r#"pods is forbidden: User "carol" cannot list resource "pods" in API group "" at the cluster scope"#
    );
}

#[test]
fn subjects_match_users_groups_and_service_accounts() {
    let s = snapshot([
        cluster_role("reader", &[rule(&["get"], &[""], &["pods"])]),
        cluster_role_binding("by-user", "reader", &[user_subject("bob")]),
        cluster_role_binding("by-group", "reader", &[group_subject("devs")]),
        cluster_role_binding("by-sa", "reader", &[sa_subject(Some("ci"), "builder")]),
        // A ServiceAccount without a namespace in a ClusterRoleBinding matches nobody.
        cluster_role_binding("by-bare-sa", "reader", &[sa_subject(None, "robot")]),
        // In a RoleBinding it means one of the binding's namespace.
        role_binding(
            "team",
            "team-sa",
            "ClusterRole",
            "reader",
            &[sa_subject(None, "deployer")],
        ),
    ]);
    let get = |u: &User, ns: &str| allowed(&s, &ask(u, Verb::Get, "", "pods", Some(ns), Some("p")));
    assert!(get(&user("bob", &[]), "x"));
    assert!(get(&user("dana", &["devs"]), "x"));
    assert!(get(&user("system:serviceaccount:ci:builder", &[]), "x"));
    assert!(get(
        &user("system:serviceaccount:team:deployer", &[]),
        "team"
    ));
    // The service account is confined to the binding's namespace.
    assert!(!get(&user("system:serviceaccount:team:deployer", &[]), "x"));
    assert!(!get(
        &user("system:serviceaccount:other:deployer", &[]),
        "team"
    ));
    assert!(!get(&user("system:serviceaccount:ci:builder2", &[]), "x"));
    assert!(!get(&user("system:serviceaccount:ci", &[]), "x"));
    assert!(!get(&user("system:serviceaccount::robot", &[]), "x"));
    assert!(!get(&user("builder", &[]), "x"));
    // A user named like a group is not in it, and a group named like a user is not that user.
    assert!(!get(&user("devs", &[]), "x"));
    assert!(!get(&user("eve", &["bob"]), "x"));
}

#[test]
fn an_unknown_subject_kind_matches_nobody() {
    let s = snapshot([
        cluster_role("reader", &[rule(&["get"], &[""], &["pods"])]),
        cluster_role_binding("odd", "reader", &[json!({"kind": "Robot", "name": "bob"})]),
    ]);
    assert!(!allowed(
        &s,
        &ask(
            &user("bob", &[]),
            Verb::Get,
            "",
            "pods",
            Some("x"),
            Some("p")
        )
    ));
}

#[test]
fn verbs_and_api_groups_match_exactly_or_by_wildcard() {
    let s = snapshot([
        cluster_role(
            "mixed",
            &[
                rule(&["get"], &[""], &["pods"]),
                rule(&["*"], &["apps"], &["deployments"]),
                rule(&["list"], &["*"], &["jobs"]),
            ],
        ),
        cluster_role_binding("bob", "mixed", &[user_subject("bob")]),
    ]);
    let bob = user("bob", &[]);
    let can = |verb, group: &str, resource: &str| {
        allowed(&s, &ask(&bob, verb, group, resource, Some("ns"), None))
    };
    assert!(can(Verb::Get, "", "pods"));
    assert!(!can(Verb::List, "", "pods"));
    assert!(!can(Verb::Get, "apps", "pods"));
    assert!(can(Verb::DeleteCollection, "apps", "deployments"));
    assert!(!can(Verb::Get, "", "deployments"));
    assert!(can(Verb::List, "batch", "jobs"));
    assert!(can(Verb::List, "anything.example.com", "jobs"));
    assert!(!can(Verb::Watch, "batch", "jobs"));
}

#[test]
fn resources_and_subresources() {
    let s = snapshot([
        cluster_role(
            "subs",
            &[
                rule(&["get"], &[""], &["pods"]),
                rule(&["get"], &[""], &["pods/log"]),
                rule(&["update"], &["apps"], &["*/scale"]),
                rule(&["list"], &["batch"], &["*"]),
            ],
        ),
        cluster_role_binding("bob", "subs", &[user_subject("bob")]),
    ]);
    let bob = user("bob", &[]);
    let can = |verb, group: &str, resource: &str| {
        allowed(&s, &ask(&bob, verb, group, resource, Some("ns"), Some("x")))
    };
    assert!(can(Verb::Get, "", "pods"));
    assert!(can(Verb::Get, "", "pods/log"));
    // `pods` does not cover its subresources, nor `pods/log` the others.
    assert!(!can(Verb::Get, "", "pods/exec"));
    assert!(!can(Verb::Get, "", "pods/status"));
    assert!(can(Verb::Update, "apps", "deployments/scale"));
    assert!(can(Verb::Update, "apps", "statefulsets/scale"));
    assert!(!can(Verb::Update, "apps", "deployments"));
    assert!(!can(Verb::Update, "apps", "deployments/status"));
    // `*` covers every resource and subresource.
    assert!(can(Verb::List, "batch", "jobs"));
    assert!(can(Verb::List, "batch", "jobs/status"));
}

#[test]
fn resource_names_need_a_named_request() {
    let s = snapshot([
        cluster_role(
            "one-map",
            &[named_rule(&["*"], &[""], &["configmaps"], &["settings"])],
        ),
        cluster_role_binding("bob", "one-map", &[user_subject("bob")]),
    ]);
    let bob = user("bob", &[]);
    let can = |verb, name: Option<&str>| {
        allowed(&s, &ask(&bob, verb, "", "configmaps", Some("ns"), name))
    };
    for verb in [Verb::Get, Verb::Update, Verb::Patch, Verb::Delete] {
        assert!(can(verb, Some("settings")), "{verb:?}");
        assert!(!can(verb, Some("other")), "{verb:?}");
    }
    for verb in [
        Verb::List,
        Verb::Watch,
        Verb::Create,
        Verb::DeleteCollection,
    ] {
        assert!(!can(verb, None), "{verb:?}");
    }
    // A list or watch confined to the name by a field selector names it.
    assert!(can(Verb::Watch, Some("settings")));
}

#[test]
fn non_resource_urls_match_exactly_or_by_prefix() {
    let s = snapshot([
        cluster_role(
            "urls",
            &[
                url_rule(&["get"], &["/version", "/apis/*"]),
                url_rule(&["get", "post"], &["/hooks"]),
            ],
        ),
        cluster_role("all-urls", &[url_rule(&["get"], &["*"])]),
        cluster_role_binding("bob", "urls", &[user_subject("bob")]),
        cluster_role_binding("carol", "all-urls", &[user_subject("carol")]),
    ]);
    let bob = user("bob", &[]);
    let can = |u: &User, verb, path: &str| allowed(&s, &Attributes::non_resource(u, verb, path));
    assert!(can(&bob, Verb::Get, "/version"));
    assert!(!can(&bob, Verb::Get, "/version/"));
    assert!(can(&bob, Verb::Get, "/apis/"));
    assert!(can(&bob, Verb::Get, "/apis/apps/v1"));
    assert!(!can(&bob, Verb::Get, "/apis"));
    assert!(can(&bob, Verb::Post, "/hooks"));
    assert!(!can(&bob, Verb::Post, "/version"));
    let carol = user("carol", &[]);
    assert!(can(&carol, Verb::Get, "/anything/at/all"));
    assert!(!can(&carol, Verb::Post, "/anything"));
    // Non-resource rules grant no resources, and resource rules no paths.
    assert!(!allowed(
        &s,
        &ask(&carol, Verb::Get, "", "pods", Some("x"), Some("y"))
    ));
}

#[test]
fn resource_rules_grant_no_paths() {
    let s = snapshot([
        cluster_role("all", &[rule(&["*"], &["*"], &["*"])]),
        cluster_role_binding("bob", "all", &[user_subject("bob")]),
    ]);
    let bob = user("bob", &[]);
    assert!(allowed(&s, &ask(&bob, Verb::Get, "", "nodes", None, None)));
    assert!(!allowed(
        &s,
        &Attributes::non_resource(&bob, Verb::Get, "/apis")
    ));
}

// --- request attributes ---

fn attributes_of<'a>(
    user: &'a User,
    method: Method,
    path: &str,
    query: &str,
) -> Option<Attributes<'a>> {
    let target = parse_path(path).expect("a resource path").expect("known");
    Attributes::for_target(user, &method, &target, &Query::parse(query))
}

#[test]
fn verbs_come_from_the_method_and_the_target() {
    let bob = user("bob", &[]);
    let verb = |method: Method, path: &str, query: &str| {
        attributes_of(&bob, method, path, query).map(|a| a.verb)
    };
    let pods = "/api/v1/namespaces/default/pods";
    let pod = "/api/v1/namespaces/default/pods/web";
    assert_eq!(verb(Method::GET, pods, ""), Some(Verb::List));
    assert_eq!(verb(Method::GET, pods, "watch=true"), Some(Verb::Watch));
    assert_eq!(
        verb(Method::GET, pods, "watch=1&resourceVersion=5"),
        Some(Verb::Watch)
    );
    assert_eq!(verb(Method::GET, pods, "watch=false"), Some(Verb::List));
    assert_eq!(verb(Method::GET, pod, "watch=true"), Some(Verb::Get));
    assert_eq!(verb(Method::POST, pods, ""), Some(Verb::Create));
    assert_eq!(verb(Method::PUT, pod, ""), Some(Verb::Update));
    assert_eq!(verb(Method::PATCH, pod, ""), Some(Verb::Patch));
    assert_eq!(verb(Method::DELETE, pod, ""), Some(Verb::Delete));
    assert_eq!(verb(Method::DELETE, pods, ""), Some(Verb::DeleteCollection));
    assert_eq!(verb(Method::HEAD, pods, ""), None);
}

#[test]
fn attributes_of_resource_paths() {
    let bob = user("bob", &[]);
    let a = attributes_of(
        &bob,
        Method::PATCH,
        "/apis/apps/v1/namespaces/team/deployments/web/scale",
        "",
    )
    .unwrap();
    assert_eq!(
        (
            a.api_group.as_str(),
            a.resource.as_str(),
            a.subresource.as_deref(),
            a.namespace.as_deref(),
            a.name.as_deref()
        ),
        (
            "apps",
            "deployments",
            Some("scale"),
            Some("team"),
            Some("web")
        )
    );
    let a = attributes_of(&bob, Method::GET, "/api/v1/pods", "").unwrap();
    assert_eq!((a.namespace, a.name), (None, None));
    let a = attributes_of(&bob, Method::GET, "/api/v1/nodes/edge-1", "").unwrap();
    assert_eq!((a.namespace, a.name.as_deref()), (None, Some("edge-1")));
    // A namespace is in itself; creating or listing namespaces is not in any.
    let a = attributes_of(&bob, Method::GET, "/api/v1/namespaces/team", "").unwrap();
    assert_eq!(
        (a.namespace.as_deref(), a.name.as_deref()),
        (Some("team"), Some("team"))
    );
    let a = attributes_of(&bob, Method::PUT, "/api/v1/namespaces/team/status", "").unwrap();
    assert_eq!(
        (a.namespace.as_deref(), a.subresource.as_deref()),
        (Some("team"), Some("status"))
    );
    let a = attributes_of(&bob, Method::POST, "/api/v1/namespaces", "").unwrap();
    assert_eq!((a.namespace, a.name), (None, None));
    let a = attributes_of(
        &bob,
        Method::GET,
        "/api/v1/namespaces/default/pods/web/log",
        "",
    )
    .unwrap();
    assert_eq!(a.combined_resource(), "pods/log");
}

#[test]
fn a_metadata_name_field_selector_names_a_list_or_watch() {
    let bob = user("bob", &[]);
    let name = |query: &str| {
        attributes_of(&bob, Method::GET, "/api/v1/namespaces/default/pods", query)
            .unwrap()
            .name
    };
    assert_eq!(
        name("fieldSelector=metadata.name%3Dweb&watch=true").as_deref(),
        Some("web")
    );
    assert_eq!(
        name("fieldSelector=metadata.name%3D%3Dweb").as_deref(),
        Some("web")
    );
    assert_eq!(
        name("fieldSelector=spec.nodeName%3Dn1,metadata.name%3Dweb").as_deref(),
        Some("web")
    );
    assert_eq!(name("fieldSelector=metadata.name!%3Dweb"), None);
    assert_eq!(name("fieldSelector=spec.nodeName%3Dn1"), None);
    assert_eq!(name(""), None);
}

#[test]
fn attributes_of_other_paths() {
    let bob = user("bob", &[]);
    let a = Attributes::for_path(&bob, &Method::GET, "/openapi/v3").unwrap();
    assert_eq!(
        (a.verb, a.non_resource_path.as_deref()),
        (Verb::Get, Some("/openapi/v3"))
    );
    let a = Attributes::for_path(&bob, &Method::DELETE, "/x").unwrap();
    assert_eq!(a.verb, Verb::Delete);
    assert!(Attributes::for_path(&bob, &Method::CONNECT, "/x").is_none());
}

// --- reviews ---

#[test]
fn access_reviews_name_the_binding_that_allowed() {
    let s = snapshot([
        cluster_role("reader", &[rule(&["get", "list"], &[""], &["pods"])]),
        cluster_role_binding("readers", "reader", &[group_subject("viewers")]),
        role("team", "cm-writer", &[rule(&["*"], &[""], &["configmaps"])]),
        role_binding(
            "team",
            "robot-cm",
            "Role",
            "cm-writer",
            &[sa_subject(None, "robot")],
        ),
    ]);
    let carol = user("carol", &["viewers"]);
    assert_eq!(
        evaluate(&s, &ask(&carol, Verb::List, "", "pods", Some("x"), None)),
        Verdict::Allowed {
            reason: r#"RBAC: allowed by ClusterRoleBinding "readers" of ClusterRole "reader" to Group "viewers""#.to_owned()
        }
    );
    let robot = user("system:serviceaccount:team:robot", &[]);
    assert_eq!(
        evaluate(
            &s,
            &ask(&robot, Verb::Create, "", "configmaps", Some("team"), None)
        ),
        Verdict::Allowed {
            reason: r#"RBAC: allowed by RoleBinding "robot-cm/team" of Role "cm-writer" to ServiceAccount "robot/team""#.to_owned()
        }
    );
    assert_eq!(
        evaluate(&s, &ask(&carol, Verb::Delete, "", "pods", Some("x"), None)),
        Verdict::Denied { errors: Vec::new() }
    );
    // A verb only reviews ask is matched by name or by `*`, never by an empty rule.
    assert_eq!(Verb::named("escalate"), Verb::Escalate);
    assert_eq!(Verb::named("frobnicate"), Verb::Other);
    assert!(!allowed(
        &s,
        &ask(&carol, Verb::Other, "", "pods", Some("x"), None)
    ));
    assert!(allowed(
        &s,
        &ask(&robot, Verb::Other, "", "configmaps", Some("team"), None)
    ));
}

#[test]
fn rules_reviews_list_the_rules_of_the_users_bindings() {
    let s = snapshot([
        cluster_role("reader", &[rule(&["get"], &[""], &["pods"])]),
        cluster_role_binding("readers", "reader", &[group_subject("viewers")]),
        role("team", "cm-writer", &[rule(&["*"], &[""], &["configmaps"])]),
        role_binding(
            "team",
            "carol-cm",
            "Role",
            "cm-writer",
            &[user_subject("carol")],
        ),
        role_binding(
            "team",
            "carol-gone",
            "Role",
            "missing",
            &[user_subject("carol")],
        ),
        role_binding(
            "team",
            "bob-cm",
            "Role",
            "cm-writer",
            &[user_subject("bob")],
        ),
    ]);
    let carol = user("carol", &["viewers"]);
    let resources = |rules: &[PolicyRule]| -> Vec<String> {
        rules
            .iter()
            .flat_map(|r| r.resources.clone().unwrap_or_default())
            .collect()
    };
    let (rules, errors) = rules_for(&s, &carol, Some("team"));
    assert_eq!(resources(&rules), ["pods", "configmaps"]);
    assert_eq!(
        errors,
        [r#"role.rbac.authorization.k8s.io "missing" not found"#]
    );
    let (rules, errors) = rules_for(&s, &carol, Some("other"));
    assert_eq!(resources(&rules), ["pods"]);
    assert!(errors.is_empty());
    let admin = user("admin", &[MASTERS_GROUP]);
    let (rules, _) = rules_for(&s, &admin, None);
    assert_eq!(resources(&rules), ["*"]);
    assert_eq!(
        rules[1].non_resource_urls.as_deref(),
        Some(&["*".to_owned()][..])
    );
}
