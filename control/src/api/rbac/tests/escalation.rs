//! The escalation check: roles with rules the writer does not hold, bindings to roles they do
//! not hold, the `escalate` and `bind` verbs, unchanged writes, missing roles, and
//! kube-apiserver's exact wording of the missing permissions.

use shoal_manifests::registry;

use super::*;
use crate::api::rbac::escalation::uncovered;

fn kind(name: &str) -> &'static KindInfo {
    registry::by_api_version_kind("rbac.authorization.k8s.io/v1", name).expect("an RBAC kind")
}

fn rules(values: &[Value]) -> Vec<PolicyRule> {
    serde_json::from_value(Value::from(values.to_vec())).expect("rules")
}

/// `dana` administers `team` through the `admin`-like ClusterRole `ns-admin`; a
/// `cluster-admin` and an `editor` role exist.
fn world() -> Arc<RbacSnapshot> {
    Arc::new(snapshot([
        cluster_role(
            "cluster-admin",
            &[rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        cluster_role(
            "ns-admin",
            &[
                rule(&["*"], &["", "apps"], &["*"]),
                // Not `*`: that would include `bind` and `escalate`.
                rule(
                    &["get", "create", "update", "patch"],
                    &["rbac.authorization.k8s.io"],
                    &["roles", "rolebindings"],
                ),
            ],
        ),
        cluster_role(
            "editor",
            &[rule(&["get", "update"], &["apps"], &["deployments"])],
        ),
        role_binding(
            "team",
            "dana-admin",
            "ClusterRole",
            "ns-admin",
            &[user_subject("dana")],
        ),
    ]))
}

fn binding(kind: &str, role_kind: &str, role: &str, subject: &str) -> Value {
    match kind {
        "RoleBinding" => role_binding("team", "b", role_kind, role, &[user_subject(subject)]),
        _ => cluster_role_binding("b", role, &[user_subject(subject)]),
    }
}

fn forbidden(result: Result<(), ApiError>) -> String {
    match result {
        Err(ApiError::Forbidden(message)) => message,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[test]
fn a_namespace_admin_cannot_bind_cluster_admin() {
    let guard = Guard::new(user("dana", &[]), world());
    let wanted = binding("RoleBinding", "ClusterRole", "cluster-admin", "dana");
    let message = forbidden(guard.check(kind("RoleBinding"), "team", "b", None, &wanted));
    assert_eq!(
        message,
        "rolebindings.rbac.authorization.k8s.io \"b\" is forbidden: user \"dana\" \
         (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not \
         currently held:\n\
         {APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n\
         {NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"
    );
}

#[test]
fn a_namespace_admin_may_bind_what_they_hold_there_and_only_there() {
    let guard = Guard::new(user("dana", &[]), world());
    let editor = binding("RoleBinding", "ClusterRole", "editor", "erin");
    guard
        .check(kind("RoleBinding"), "team", "b", None, &editor)
        .expect("dana holds every apps permission in team");
    let elsewhere = role_binding(
        "other",
        "b",
        "ClusterRole",
        "editor",
        &[user_subject("erin")],
    );
    let message = forbidden(guard.check(kind("RoleBinding"), "other", "b", None, &elsewhere));
    assert!(
        message.ends_with(
            "not currently held:\n{APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"get\" \"update\"]}"
        ),
        "{message}"
    );
    // A ClusterRoleBinding grants cluster-wide, where dana holds nothing.
    let cluster = binding("ClusterRoleBinding", "ClusterRole", "editor", "erin");
    forbidden(guard.check(kind("ClusterRoleBinding"), "", "b", None, &cluster));
}

#[test]
fn the_bind_verb_on_the_role_allows_binding_it() {
    let mut objects = vec![
        cluster_role("cluster-admin", &[rule(&["*"], &["*"], &["*"])]),
        cluster_role(
            "binder",
            &[named_rule(
                &["bind"],
                &["rbac.authorization.k8s.io"],
                &["clusterroles"],
                &["cluster-admin"],
            )],
        ),
        cluster_role("other", &[rule(&["delete"], &[""], &["nodes"])]),
    ];
    objects.push(cluster_role_binding("b", "binder", &[user_subject("bo")]));
    let guard = Guard::new(user("bo", &[]), Arc::new(snapshot(objects)));
    let wanted = binding(
        "ClusterRoleBinding",
        "ClusterRole",
        "cluster-admin",
        "someone",
    );
    guard
        .check(kind("ClusterRoleBinding"), "", "root", None, &wanted)
        .expect("bind on cluster-admin");
    // ... that role only.
    let other = binding("ClusterRoleBinding", "ClusterRole", "other", "someone");
    forbidden(guard.check(kind("ClusterRoleBinding"), "", "root", None, &other));
}

#[test]
fn a_binding_to_a_missing_role_is_not_found_unless_bind_is_allowed() {
    let guard = Guard::new(user("dana", &[]), world());
    let wanted = binding("RoleBinding", "Role", "ghost", "dana");
    match guard.check(kind("RoleBinding"), "team", "b", None, &wanted) {
        Err(ApiError::NotFound { resource, name }) => {
            assert_eq!(resource, "roles.rbac.authorization.k8s.io");
            assert_eq!(name, "ghost");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn roles_may_hold_only_rules_their_writer_holds() {
    let guard = Guard::new(user("dana", &[]), world());
    let modest = role(
        "team",
        "r",
        &[rule(&["get", "delete"], &[""], &["pods", "pods/log"])],
    );
    guard
        .check(kind("Role"), "team", "r", None, &modest)
        .expect("dana holds pods in team");
    let greedy = role(
        "team",
        "r",
        &[
            rule(&["get", "list", "delete"], &[""], &["nodes"]),
            rule(&["create"], &["batch"], &["jobs"]),
        ],
    );
    // Nodes are in the core group, which dana holds in team: only the batch rule is missing.
    let message = forbidden(guard.check(kind("Role"), "team", "r", None, &greedy));
    assert!(
        message.starts_with("roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"dana\""),
        "{message}"
    );
    assert!(
        message
            .ends_with("held:\n{APIGroups:[\"batch\"], Resources:[\"jobs\"], Verbs:[\"create\"]}"),
        "{message}"
    );
    // A ClusterRole is checked against cluster-wide rules only.
    let cluster = cluster_role("r", &[rule(&["get"], &[""], &["pods"])]);
    forbidden(guard.check(kind("ClusterRole"), "", "r", None, &cluster));
}

#[test]
fn the_escalate_verb_allows_any_rules() {
    let objects = vec![
        cluster_role(
            "escalator",
            &[rule(
                &["escalate", "create"],
                &["rbac.authorization.k8s.io"],
                &["clusterroles"],
            )],
        ),
        cluster_role_binding("e", "escalator", &[user_subject("eve")]),
    ];
    let guard = Guard::new(user("eve", &[]), Arc::new(snapshot(objects)));
    let anything = cluster_role("r", &[rule(&["*"], &["*"], &["*"])]);
    guard
        .check(kind("ClusterRole"), "", "r", None, &anything)
        .expect("escalate on clusterroles");
    let namespaced = role("team", "r", &[rule(&["*"], &["*"], &["*"])]);
    forbidden(guard.check(kind("Role"), "team", "r", None, &namespaced));
}

#[test]
fn a_write_that_grants_nothing_new_is_not_checked() {
    let guard = Guard::new(user("dana", &[]), world());
    let current = binding("RoleBinding", "ClusterRole", "cluster-admin", "root");
    let mut relabelled = current.clone();
    relabelled["metadata"]["labels"] = json!({"team": "a"});
    guard
        .check(
            kind("RoleBinding"),
            "team",
            "b",
            Some(&current),
            &relabelled,
        )
        .expect("only a label changed");
    let mut more = current.clone();
    more["subjects"] = json!([user_subject("root"), user_subject("dana")]);
    forbidden(guard.check(kind("RoleBinding"), "team", "b", Some(&current), &more));

    let current = role("team", "r", &[rule(&["*"], &["batch"], &["*"])]);
    let mut relabelled = current.clone();
    relabelled["metadata"]["labels"] = json!({"x": "y"});
    guard
        .check(kind("Role"), "team", "r", Some(&current), &relabelled)
        .expect("rules unchanged");
}

#[test]
fn masters_and_other_kinds_pass() {
    let root = Guard::new(
        user("root", &[MASTERS_GROUP]),
        Arc::new(RbacSnapshot::default()),
    );
    let wanted = binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", "x");
    root.check(kind("ClusterRoleBinding"), "", "b", None, &wanted)
        .expect("system:masters");
    let nobody = Guard::new(user("nobody", &[]), Arc::new(RbacSnapshot::default()));
    let pods = registry::by_api_version_kind("v1", "Pod").expect("pods");
    nobody
        .check(pods, "team", "p", None, &json!({"kind": "Pod"}))
        .expect("not an RBAC kind");
}

#[test]
fn coverage_follows_subresources_names_and_paths() {
    let held = rules(&[
        rule(&["get"], &["apps"], &["*/status"]),
        named_rule(&["update"], &[""], &["configmaps"], &["app"]),
        url_rule(&["get"], &["/logs/*"]),
    ]);
    let none = |wanted: &[Value]| uncovered(&held, &rules(wanted)).is_empty();
    assert!(none(&[rule(&["get"], &["apps"], &["deployments/status"])]));
    assert!(!none(&[rule(&["get"], &["apps"], &["deployments"])]));
    assert!(none(&[named_rule(
        &["update"],
        &[""],
        &["configmaps"],
        &["app"]
    )]));
    assert!(!none(&[rule(&["update"], &[""], &["configmaps"])]));
    assert!(!none(&[named_rule(
        &["update"],
        &[""],
        &["configmaps"],
        &["app", "db"]
    )]));
    assert!(none(&[url_rule(&["get"], &["/logs/today"])]));
    assert!(!none(&[url_rule(&["get"], &["/metrics"])]));
    assert!(!none(&[url_rule(&["post"], &["/logs/today"])]));
    // Two verbs, one held: the other is what is missing.
    let missing = uncovered(
        &held,
        &rules(&[rule(&["get", "list"], &["apps"], &["x/status"])]),
    );
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].verbs, vec!["list".to_owned()]);
}
