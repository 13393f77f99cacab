//! RBAC end to end: users from a static token file, the real kubectl 1.33, and the bootstrap
//! policy. Users without bindings are refused with kube-apiserver's exact Forbidden messages.
//! RoleBindings to the `edit` and `view` ClusterRoles, and to a Role, grant access in their
//! namespace only, to a User, a Group and a ServiceAccount. Deleting a binding takes the
//! access away again. Nobody grants through a Role or a binding what they do not hold
//! themselves, however the object is written.

use shoal_tests::Run;
use shoal_tests::cluster::{ControlPlane, Kubectl};

const KUBECTL: Kubectl = Kubectl::Minor(33);
const BOB: &str = "bob-token-0f3c9a7d51e2";
const CAROL: &str = "carol-token-8b24e6c0d93f";
const ROBOT: &str = "robot-token-5d71a0e9c4b8";

/// The token file: bob in no group, carol among the viewers, and a service account's token.
const TOKENS: &str = "bob-token-0f3c9a7d51e2,bob,uid-bob\n\
                      carol-token-8b24e6c0d93f,carol,uid-carol,\"viewers,staff\"\n\
                      robot-token-5d71a0e9c4b8,system:serviceaccount:default:robot,uid-robot,system:serviceaccounts\n";

/// kubectl as the user of `token`.
fn as_user(plane: &ControlPlane, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    plane.kubectl(KUBECTL, &all)
}

/// Runs kubectl as `token`'s user and asserts it succeeded; returns its standard output.
fn ok(plane: &ControlPlane, token: &str, args: &[&str]) -> String {
    let run = as_user(plane, token, args);
    assert_eq!(
        run.code,
        Some(0),
        "kubectl {args:?} failed\nstdout: {}\nstderr: {}\n--- server log:\n{}",
        run.stdout,
        run.stderr,
        plane.server_log()
    );
    run.stdout
}

/// Runs kubectl as `token`'s user and asserts it was refused with exactly `message`.
fn forbidden(plane: &ControlPlane, token: &str, args: &[&str], message: &str) {
    refused(
        plane,
        token,
        args,
        &format!("Error from server (Forbidden): {message}"),
    );
}

/// Runs kubectl as `token`'s user and asserts it failed, printing exactly `stderr`.
fn refused(plane: &ControlPlane, token: &str, args: &[&str], stderr: &str) {
    let run = as_user(plane, token, args);
    assert_eq!(run.code, Some(1), "kubectl {args:?} should fail: {run:?}");
    assert_eq!(run.stderr.trim(), stderr, "kubectl {args:?}");
}

/// Runs kubectl as the admin and asserts it succeeded.
fn admin(plane: &ControlPlane, args: &[&str]) -> String {
    let run = plane.kubectl(KUBECTL, args);
    assert_eq!(
        run.code,
        Some(0),
        "kubectl {args:?} failed: {run:?}\n--- server log:\n{}",
        plane.server_log()
    );
    run.stdout
}

fn admin_apply(plane: &ControlPlane, yaml: &str) {
    let run = plane.kubectl_stdin(KUBECTL, &["apply", "-f", "-"], yaml);
    assert_eq!(run.code, Some(0), "kubectl apply failed: {run:?}");
}

/// The whitespace-separated words of each line of kubectl's table output.
fn words(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|line| line.split_whitespace().collect())
        .collect()
}

/// Whether kubectl as `token`'s user succeeds (authorization follows bindings a moment late).
fn succeeds(plane: &ControlPlane, token: &str, args: &[&str]) -> bool {
    as_user(plane, token, args).code == Some(0)
}

#[test]
fn bindings_grant_access_in_their_namespace() {
    let tokens = tempfile::tempdir().expect("temp dir");
    let token_file = tokens.path().join("tokens.csv");
    std::fs::write(&token_file, TOKENS).expect("the token file is written");
    let token_file = token_file.to_string_lossy().into_owned();
    let plane = ControlPlane::start_with(&["--token-file", &token_file]);

    tracing::info!("--- every authenticated user may discover the API, and no more");
    plane.wait_until("bob can read /version", || {
        succeeds(&plane, BOB, &["get", "--raw", "/version"])
    });
    ok(&plane, BOB, &["api-resources", "-o", "name"]);
    forbidden(
        &plane,
        BOB,
        &["get", "pods"],
        r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default""#,
    );
    forbidden(
        &plane,
        BOB,
        &["get", "pod", "web"],
        r#"pods "web" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default""#,
    );
    forbidden(
        &plane,
        BOB,
        &["get", "--raw", "/metrics"],
        r#"forbidden: User "bob" cannot get path "/metrics""#,
    );

    tracing::info!("--- a RoleBinding to edit, for a user, in default");
    // kubectl 1.33 sends this body as protobuf; the server decodes RoleBindings from it.
    let out = admin(
        &plane,
        &[
            "create",
            "rolebinding",
            "bob-edit",
            "--clusterrole=edit",
            "--user=bob",
            "-n",
            "default",
        ],
    );
    assert_eq!(
        out.trim(),
        "rolebinding.rbac.authorization.k8s.io/bob-edit created"
    );
    plane.wait_until("bob can list pods in default", || {
        succeeds(&plane, BOB, &["get", "pods"])
    });
    let out = ok(
        &plane,
        BOB,
        &[
            "create",
            "configmap",
            "bob-settings",
            "--from-literal=mode=fast",
        ],
    );
    assert_eq!(out.trim(), "configmap/bob-settings created");
    let out = ok(
        &plane,
        BOB,
        &["get", "configmap", "bob-settings", "-o", "name"],
    );
    assert_eq!(out.trim(), "configmap/bob-settings");
    ok(&plane, BOB, &["get", "namespace", "default", "-o", "name"]);

    tracing::info!("--- ... and nowhere else");
    forbidden(
        &plane,
        BOB,
        &["get", "pods", "-n", "kube-system"],
        r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "kube-system""#,
    );
    // `create <generator>` words its errors itself, as against Kubernetes.
    refused(
        &plane,
        BOB,
        &["create", "configmap", "x", "-n", "kube-system"],
        r#"error: failed to create configmap: configmaps is forbidden: User "bob" cannot create resource "configmaps" in API group "" in the namespace "kube-system""#,
    );
    forbidden(
        &plane,
        BOB,
        &["get", "nodes"],
        r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope"#,
    );
    forbidden(
        &plane,
        BOB,
        &["get", "pods", "--all-namespaces"],
        r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" at the cluster scope"#,
    );
    forbidden(
        &plane,
        BOB,
        &["get", "namespace", "kube-system"],
        r#"namespaces "kube-system" is forbidden: User "bob" cannot get resource "namespaces" in API group "" in the namespace "kube-system""#,
    );
    // edit grants no RBAC: bob cannot make himself admin.
    forbidden(
        &plane,
        BOB,
        &["get", "rolebindings"],
        r#"rolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot list resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "default""#,
    );

    tracing::info!("--- a RoleBinding to view, for a group");
    admin_apply(
        &plane,
        "apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: RoleBinding\n\
         metadata: {name: viewers, namespace: default}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: viewers}]\n",
    );
    plane.wait_until("carol can list configmaps in default", || {
        succeeds(&plane, CAROL, &["get", "configmaps"])
    });
    forbidden(
        &plane,
        CAROL,
        &["delete", "configmap", "bob-settings"],
        r#"configmaps "bob-settings" is forbidden: User "carol" cannot delete resource "configmaps" in API group "" in the namespace "default""#,
    );
    forbidden(
        &plane,
        CAROL,
        &["get", "secrets"],
        r#"secrets is forbidden: User "carol" cannot list resource "secrets" in API group "" in the namespace "default""#,
    );

    tracing::info!("--- a Role bound to a service account, by name");
    admin_apply(
        &plane,
        "apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: Role\n\
         metadata: {name: settings-reader, namespace: default}\n\
         rules:\n\
         - {apiGroups: [\"\"], resources: [configmaps], resourceNames: [bob-settings], verbs: [get]}\n\
         ---\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: RoleBinding\n\
         metadata: {name: robot-reads-settings, namespace: default}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: settings-reader}\n\
         subjects: [{kind: ServiceAccount, name: robot}]\n",
    );
    plane.wait_until("the robot can read bob-settings", || {
        succeeds(&plane, ROBOT, &["get", "configmap", "bob-settings"])
    });
    forbidden(
        &plane,
        ROBOT,
        &["get", "configmaps"],
        r#"configmaps is forbidden: User "system:serviceaccount:default:robot" cannot list resource "configmaps" in API group "" in the namespace "default""#,
    );

    tracing::info!("--- kubectl auth can-i, can-i --list and whoami ask the same authorizer");
    let can_i = |version: Kubectl, token: &str, args: &[&str]| {
        let mut all = vec!["--token", token, "auth", "can-i"];
        all.extend_from_slice(args);
        plane.kubectl(version, &all)
    };
    // 1.33 sends the review as protobuf, 1.27 as JSON.
    for version in [KUBECTL, Kubectl::Minor(27)] {
        let run = can_i(version, BOB, &["create", "configmaps"]);
        assert_eq!((run.code, run.stdout.trim()), (Some(0), "yes"), "{run:?}");
        let run = can_i(version, BOB, &["create", "configmaps", "-n", "kube-system"]);
        assert_eq!((run.code, run.stdout.trim()), (Some(1), "no"), "{run:?}");
    }
    let run = can_i(KUBECTL, ROBOT, &["get", "configmap/bob-settings"]);
    assert_eq!((run.code, run.stdout.trim()), (Some(0), "yes"), "{run:?}");
    let run = can_i(KUBECTL, ROBOT, &["get", "configmap/other"]);
    assert_eq!((run.code, run.stdout.trim()), (Some(1), "no"), "{run:?}");
    let run = can_i(KUBECTL, CAROL, &["delete", "configmaps"]);
    assert_eq!((run.code, run.stdout.trim()), (Some(1), "no"), "{run:?}");
    let run = can_i(KUBECTL, CAROL, &["get", "/version"]);
    assert_eq!((run.code, run.stdout.trim()), (Some(0), "yes"), "{run:?}");
    let run = can_i(KUBECTL, CAROL, &["get", "/metrics"]);
    assert_eq!((run.code, run.stdout.trim()), (Some(1), "no"), "{run:?}");
    let run = can_i(KUBECTL, ROBOT, &["--list"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rows = words(&run.stdout);
    assert!(
        rows.contains(&vec!["configmaps", "[]", "[bob-settings]", "[get]"]),
        "the robot's Role is listed: {}",
        run.stdout
    );
    assert!(
        !rows.iter().any(|row| row.first() == Some(&"*.*")),
        "the robot has no wildcard rule: {}",
        run.stdout
    );
    // 1.27 asks authentication.k8s.io/v1beta1, later ones v1.
    for version in [KUBECTL, Kubectl::Minor(27)] {
        let run = plane.kubectl(version, &["--token", CAROL, "auth", "whoami"]);
        assert_eq!(run.code, Some(0), "{run:?}");
        let rows = words(&run.stdout);
        assert!(rows.contains(&vec!["Username", "carol"]), "{run:?}");
        assert!(
            rows.contains(&vec![
                "Groups",
                "[viewers",
                "staff",
                "system:authenticated]"
            ]),
            "{run:?}"
        );
    }
    // A review that asks nothing is invalid; a review is only ever created.
    let empty = plane.kubectl_stdin(
        KUBECTL,
        &[
            "--token",
            BOB,
            "create",
            "--raw",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "-f",
            "-",
        ],
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}"#,
    );
    assert_eq!(empty.code, Some(1), "{empty:?}");
    assert!(
        empty.stderr.contains(
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of \
             nonResourceAttributes or resourceAttributes must be specified"
        ),
        "{empty:?}"
    );
    let get = as_user(
        &plane,
        BOB,
        &[
            "get",
            "--raw",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        ],
    );
    assert_eq!(get.code, Some(1), "{get:?}");
    assert!(get.stderr.contains("MethodNotAllowed"), "{get:?}");

    tracing::info!("--- deleting the binding takes the access away");
    admin(&plane, &["delete", "rolebinding", "bob-edit"]);
    plane.wait_until("bob can no longer list pods", || {
        !succeeds(&plane, BOB, &["get", "pods"])
    });
    forbidden(
        &plane,
        BOB,
        &["get", "configmap", "bob-settings"],
        r#"configmaps "bob-settings" is forbidden: User "bob" cannot get resource "configmaps" in API group "" in the namespace "default""#,
    );
    // The admin, in system:masters, was never in question.
    admin(&plane, &["get", "nodes"]);
}

/// Runs kubectl as `token`'s user and asserts it was refused for permissions not held, with
/// kube-apiserver's words and the missing `rule`; returns kubectl's standard error.
fn not_held(plane: &ControlPlane, token: &str, args: &[&str], input: Option<&str>, rule: &str) {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    let run = match input {
        Some(yaml) => plane.kubectl_stdin(KUBECTL, &all, yaml),
        None => plane.kubectl(KUBECTL, &all),
    };
    assert_eq!(run.code, Some(1), "kubectl {args:?} should fail: {run:?}");
    assert!(
        run.stderr.contains(
            "is forbidden: user \"bob\" (groups=[\"system:authenticated\"]) is attempting to \
             grant RBAC permissions not currently held:"
        ) && run.stderr.contains(rule),
        "kubectl {args:?}: {run:?}"
    );
}

#[test]
fn no_one_grants_what_they_do_not_hold() {
    let tokens = tempfile::tempdir().expect("temp dir");
    let token_file = tokens.path().join("tokens.csv");
    std::fs::write(&token_file, TOKENS).expect("the token file is written");
    let token_file = token_file.to_string_lossy().into_owned();
    let plane = ControlPlane::start_with(&["--token-file", &token_file]);

    tracing::info!("--- bob administers the namespace team");
    admin(&plane, &["create", "namespace", "team"]);
    admin(
        &plane,
        &[
            "create",
            "rolebinding",
            "bob-admin",
            "--clusterrole=admin",
            "--user=bob",
            "-n",
            "team",
        ],
    );
    admin(
        &plane,
        &[
            "create",
            "rolebinding",
            "ops",
            "--clusterrole=cluster-admin",
            "--user=root",
            "-n",
            "team",
        ],
    );
    plane.wait_until("bob can list rolebindings in team", || {
        succeeds(&plane, BOB, &["get", "rolebindings", "-n", "team"])
    });

    tracing::info!("--- binding cluster-admin, by create, apply and patch, is refused");
    let everything = r#"{APIGroups:["*"], Resources:["*"], Verbs:["*"]}"#;
    not_held(
        &plane,
        BOB,
        &[
            "create",
            "rolebinding",
            "root",
            "--clusterrole=cluster-admin",
            "--user=bob",
            "-n",
            "team",
        ],
        None,
        everything,
    );
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\n\
                   kind: RoleBinding\n\
                   metadata: {name: root, namespace: team}\n\
                   roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n\
                   subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]\n";
    for apply in [
        &["apply", "-f", "-"][..],
        &["apply", "--server-side", "-f", "-"][..],
    ] {
        not_held(&plane, BOB, apply, Some(binding), everything);
    }
    not_held(
        &plane,
        BOB,
        &[
            "patch",
            "rolebinding",
            "ops",
            "-n",
            "team",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/subjects/-","value":{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"bob"}}]"#,
        ],
        None,
        everything,
    );
    let run = plane.kubectl(KUBECTL, &["get", "rolebinding", "root", "-n", "team"]);
    assert_eq!(run.code, Some(1), "nothing was created: {run:?}");
    let subjects = admin(
        &plane,
        &[
            "get",
            "rolebinding",
            "ops",
            "-n",
            "team",
            "-o",
            "jsonpath={.subjects[*].name}",
        ],
    );
    assert_eq!(subjects, "root", "the patch changed nothing");

    tracing::info!("--- a write that grants nothing new, and bindings to what bob holds, pass");
    ok(
        &plane,
        BOB,
        &["label", "rolebinding", "ops", "-n", "team", "audited=yes"],
    );
    let out = ok(
        &plane,
        BOB,
        &[
            "create",
            "rolebinding",
            "carol-edit",
            "--clusterrole=edit",
            "--user=carol",
            "-n",
            "team",
        ],
    );
    assert_eq!(
        out.trim(),
        "rolebinding.rbac.authorization.k8s.io/carol-edit created"
    );

    tracing::info!("--- a Role may hold only rules bob holds in its namespace");
    let role = |rules: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\n\
             kind: Role\n\
             metadata: {{name: reader, namespace: team}}\n\
             rules: {rules}\n"
        )
    };
    let pods =
        role(r#"[{apiGroups: [""], resources: ["pods", "pods/log"], verbs: ["get", "list"]}]"#);
    ok_stdin(&plane, BOB, &["apply", "--server-side", "-f", "-"], &pods);
    let storage = role(
        r#"[{apiGroups: [""], resources: ["pods"], verbs: ["get"]}, {apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list"]}]"#,
    );
    not_held(
        &plane,
        BOB,
        &["apply", "--server-side", "-f", "-"],
        Some(&storage),
        r#"{APIGroups:["storage.k8s.io"], Resources:["storageclasses"], Verbs:["get" "list"]}"#,
    );
    let rules = admin(
        &plane,
        &[
            "get",
            "role",
            "reader",
            "-n",
            "team",
            "-o",
            "jsonpath={.rules[*].resources}",
        ],
    );
    assert_eq!(
        rules, r#"["pods","pods/log"]"#,
        "the refused apply changed nothing"
    );

    tracing::info!("--- a binding's roleRef never changes, whoever asks");
    let run = plane.kubectl(
        KUBECTL,
        &[
            "patch",
            "rolebinding",
            "carol-edit",
            "-n",
            "team",
            "--type=merge",
            "-p",
            r#"{"roleRef":{"name":"admin"}}"#,
        ],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        r#"The RoleBinding "carol-edit" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"admin"}: cannot change roleRef"#
    );
}

/// Runs kubectl as `token`'s user with `input` on its standard input and asserts it succeeded.
fn ok_stdin(plane: &ControlPlane, token: &str, args: &[&str], input: &str) {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    let run = plane.kubectl_stdin(KUBECTL, &all, input);
    assert_eq!(run.code, Some(0), "kubectl {args:?} failed: {run:?}");
}
