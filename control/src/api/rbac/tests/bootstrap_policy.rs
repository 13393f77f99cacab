//! The bootstrap policy through the decision (discovery for everyone, `cluster-admin`, and
//! `admin`, `edit` and `view` against the registry), and the cache over a real single-node
//! store: bootstrap, a binding that appears and disappears.

use super::*;
use crate::api::rbac::policy;

fn bootstrap_snapshot(extra: impl IntoIterator<Item = Value>) -> RbacSnapshot {
    snapshot(
        policy::cluster_roles()
            .into_iter()
            .chain(policy::cluster_role_bindings())
            .chain(extra),
    )
}

#[test]
fn every_authenticated_user_may_discover_the_api() {
    let s = bootstrap_snapshot([]);
    let bob = user("bob", &[]);
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps",
        "/apis/apps/v1",
        "/version",
        "/openapi/v2",
        "/openapi/v3",
        "/openapi/v3/apis/apps/v1",
        "/healthz",
        "/livez",
        "/readyz",
    ] {
        assert!(
            allowed(&s, &Attributes::non_resource(&bob, Verb::Get, path)),
            "{path}"
        );
    }
    assert_eq!(
        denial(&s, &Attributes::non_resource(&bob, Verb::Get, "/metrics")),
        r#"forbidden: User "bob" cannot get path "/metrics""#
    );
    assert!(!allowed(
        &s,
        &Attributes::non_resource(&bob, Verb::Post, "/api")
    ));
    assert_eq!(
        denial(
            &s,
            &ask(&bob, Verb::List, "", "pods", Some("default"), None)
        ),
        r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert!(allowed(
        &s,
        &ask(
            &bob,
            Verb::Create,
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            None,
            None
        )
    ));
}

#[test]
fn cluster_admin_grants_everything_through_a_binding() {
    let s = bootstrap_snapshot([cluster_role_binding(
        "root",
        "cluster-admin",
        &[user_subject("root")],
    )]);
    let root = user("root", &[]);
    assert!(allowed(
        &s,
        &ask(&root, Verb::Delete, "", "nodes", None, Some("n"))
    ));
    assert!(allowed(
        &s,
        &ask(
            &root,
            Verb::Create,
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
            None
        )
    ));
    assert!(allowed(
        &s,
        &Attributes::non_resource(&root, Verb::Post, "/anything")
    ));
}

fn bound(role: &str) -> RbacSnapshot {
    bootstrap_snapshot([role_binding(
        "team",
        "bob",
        "ClusterRole",
        role,
        &[user_subject("bob")],
    )])
}

#[test]
fn edit_bound_in_a_namespace() {
    let s = bound("edit");
    let bob = user("bob", &[]);
    let can = |verb, group: &str, resource: &str, ns: &str| {
        allowed(&s, &ask(&bob, verb, group, resource, Some(ns), None))
    };
    assert!(can(Verb::List, "", "pods", "team"));
    assert!(can(Verb::Watch, "", "pods", "team"));
    assert!(can(Verb::Create, "", "configmaps", "team"));
    assert!(can(Verb::Get, "", "secrets", "team"));
    assert!(can(Verb::Create, "", "secrets", "team"));
    assert!(can(Verb::Get, "", "pods/log", "team"));
    assert!(can(Verb::Create, "", "pods/exec", "team"));
    assert!(can(Verb::Create, "", "pods/eviction", "team"));
    assert!(can(Verb::Patch, "apps", "deployments", "team"));
    assert!(can(Verb::Update, "apps", "deployments/scale", "team"));
    assert!(can(Verb::Delete, "batch", "jobs", "team"));
    assert!(can(
        Verb::Create,
        "autoscaling",
        "horizontalpodautoscalers",
        "team"
    ));
    // Not status, RBAC, or other namespaces.
    assert!(!can(Verb::Update, "", "pods/status", "team"));
    assert!(!can(Verb::Create, "", "pods/binding", "team"));
    assert!(!can(
        Verb::Create,
        "rbac.authorization.k8s.io",
        "rolebindings",
        "team"
    ));
    assert!(!can(Verb::List, "", "pods", "default"));
    assert!(!can(Verb::List, "", "pods", "kube-system"));
    assert!(!allowed(
        &s,
        &ask(&bob, Verb::List, "", "nodes", None, None)
    ));
    // Its own namespace it may read, others not.
    assert!(allowed(
        &s,
        &ask(
            &bob,
            Verb::Get,
            "",
            "namespaces",
            Some("team"),
            Some("team")
        )
    ));
    assert!(!allowed(
        &s,
        &ask(
            &bob,
            Verb::Get,
            "",
            "namespaces",
            Some("default"),
            Some("default")
        )
    ));
}

#[test]
fn view_reads_but_not_secrets() {
    let s = bound("view");
    let bob = user("bob", &[]);
    let can = |verb, group: &str, resource: &str| {
        allowed(&s, &ask(&bob, verb, group, resource, Some("team"), None))
    };
    assert!(can(Verb::List, "", "pods"));
    assert!(can(Verb::Get, "", "pods/log"));
    assert!(can(Verb::Watch, "apps", "deployments"));
    assert!(can(Verb::Get, "discovery.k8s.io", "endpointslices"));
    assert!(!can(Verb::Get, "", "secrets"));
    assert!(!can(Verb::Create, "", "configmaps"));
    assert!(!can(Verb::Create, "", "pods/exec"));
}

#[test]
fn admin_also_grants_roles_and_bindings() {
    let s = bound("admin");
    let bob = user("bob", &[]);
    for resource in ["roles", "rolebindings"] {
        assert!(allowed(
            &s,
            &ask(
                &bob,
                Verb::Create,
                "rbac.authorization.k8s.io",
                resource,
                Some("team"),
                None
            )
        ));
    }
    assert!(!allowed(
        &s,
        &ask(
            &bob,
            Verb::Create,
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            None
        )
    ));
    assert!(allowed(
        &s,
        &ask(&bob, Verb::Delete, "", "secrets", Some("team"), Some("s"))
    ));
}

/// Every namespaced kind Shoal serves is readable with `view`, writable with `edit` and
/// `admin`, but for the ones Kubernetes keeps out of them (Endpoints and EndpointSlices are
/// the controllers' to write, Leases the nodes').
#[test]
fn the_user_roles_cover_the_registry() {
    let view = bound("view");
    let edit = bound("edit");
    let admin = bound("admin");
    let bob = user("bob", &[]);
    let not_viewed = ["secrets", "leases", "roles", "rolebindings"];
    let not_edited = [
        "endpoints",
        "endpointslices",
        "leases",
        "roles",
        "rolebindings",
    ];
    let not_administered = ["endpoints", "endpointslices", "leases"];
    for kind in KINDS.iter().filter(|k| k.namespaced) {
        let attrs = |verb| ask(&bob, verb, kind.group, kind.plural, Some("team"), None);
        let expect = |s: &RbacSnapshot, verb, excluded: &[&str]| {
            assert_eq!(
                allowed(s, &attrs(verb)),
                !excluded.contains(&kind.plural),
                "{verb:?} {}",
                kind.plural
            );
        };
        expect(&view, Verb::List, &not_viewed);
        expect(&edit, Verb::Create, &not_edited);
        expect(&admin, Verb::Create, &not_administered);
    }
}

// --- the cache over a real store ---

/// Waits until the cache decides `attrs` as `allowed`.
async fn eventually(rbac: &Rbac, attrs: &Attributes<'_>, allowed: bool) {
    let decided = tokio::time::timeout(Duration::from_secs(20), async {
        while rbac.authorize(attrs).await.is_ok() != allowed {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(decided.is_ok(), "{attrs:?} never became allowed={allowed}");
}

#[tokio::test]
async fn the_cache_follows_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        crate::store::Store::open(dir.path(), crate::store::StoreConfig::default())
            .await
            .expect("the store opens"),
    );
    let resources = Resources::new(Arc::clone(&store));
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let rbac = Rbac::new();
    rbac.start(resources.clone(), &tasks, cancel.clone());
    bootstrap(&resources, &cancel).await;

    let bob = user("bob", &[]);
    let list_pods = ask(&bob, Verb::List, "", "pods", Some("default"), None);
    let discover = Attributes::non_resource(&bob, Verb::Get, "/apis");

    eventually(&rbac, &discover, true).await;
    match rbac.authorize(&list_pods).await {
        Err(ApiError::Forbidden(message)) => assert_eq!(
            message,
            r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default""#
        ),
        other => panic!("{other:?}"),
    }

    let kind = |name| rbac_kinds().find(|k| k.kind == name).expect("an RBAC kind");
    let options = crate::api::resources::WriteOptions::controller("test");
    resources
        .create(
            kind("ClusterRoleBinding"),
            None,
            cluster_role_binding("bob-view", "view", &[user_subject("bob")]),
            &options,
        )
        .await
        .expect("the binding is created");
    eventually(&rbac, &list_pods, true).await;

    resources
        .delete(
            kind("ClusterRoleBinding"),
            "",
            "bob-view",
            &crate::api::resources::DeleteOptions::default(),
        )
        .await
        .expect("the binding is deleted");
    eventually(&rbac, &list_pods, false).await;

    // Bootstrapping again finds everything there.
    bootstrap(&resources, &cancel).await;

    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    drop(resources);
    let store = Arc::try_unwrap(store).unwrap_or_else(|_| panic!("the store is still shared"));
    store.shutdown().await.expect("the store shuts down");
}
