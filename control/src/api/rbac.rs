//! RBAC authorization, as Kubernetes' RBAC authorizer does it: a pure decision, [`allows`],
//! over a snapshot of the Roles, ClusterRoles and their bindings, and a cache, [`Rbac`], that
//! keeps the snapshot current by listing the four kinds and relisting whenever a watch sees one
//! of them change. [`policy`] holds the bootstrap roles and bindings created at startup.
//!
//! ClusterRole `aggregationRule` is ignored: a ClusterRole grants exactly its own `rules`. The
//! bootstrap `admin`, `edit` and `view` roles therefore spell out their rules instead of
//! aggregating `system:aggregate-to-*` roles. Writes of the RBAC kinds pass [`escalation`]'s
//! check; impersonation is not served.

mod escalation;
mod policy;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use serde_json::Value;
use shoal_manifests::KINDS;
use shoal_manifests::k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use shoal_manifests::registry::KindInfo;
use shoal_manifests::selector::FieldSelector;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::http::Method;

pub(crate) use escalation::Guard;
pub(crate) use policy::bootstrap;

use super::auth::{MASTERS_GROUP, User};
use super::error::ApiError;
use super::request::{Query, Target};
use super::resources::Resources;
use crate::store::Consistency;

/// The API group of the RBAC kinds.
pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// How long a request waits for the first snapshot before it is decided on an empty one.
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(5);
/// How long changes are gathered before a relist.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The first and the longest wait before a failed list or watch is tried again.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a request does, in RBAC's words. The last four are only verbs of non-resource
/// requests, which use the lower-cased HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    Post,
    Put,
    Head,
    Options,
    /// The verbs RBAC knows beyond the request verbs, asked only through access reviews.
    Escalate,
    Bind,
    Impersonate,
    Use,
    Approve,
    Sign,
    /// A verb nothing above names: only a `*` rule allows it.
    Other,
}

impl Verb {
    /// The verb as PolicyRules name it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Head => "head",
            Verb::Options => "options",
            Verb::Escalate => "escalate",
            Verb::Bind => "bind",
            Verb::Impersonate => "impersonate",
            Verb::Use => "use",
            Verb::Approve => "approve",
            Verb::Sign => "sign",
            Verb::Other => "",
        }
    }

    /// The verb an access review names, as PolicyRules spell it.
    pub(crate) fn named(name: &str) -> Verb {
        const ALL: [Verb; 18] = [
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Create,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
            Verb::DeleteCollection,
            Verb::Post,
            Verb::Put,
            Verb::Head,
            Verb::Options,
            Verb::Escalate,
            Verb::Bind,
            Verb::Impersonate,
            Verb::Use,
            Verb::Approve,
            Verb::Sign,
        ];
        ALL.into_iter()
            .find(|verb| verb.as_str() == name)
            .unwrap_or(Verb::Other)
    }

    /// The verb of a non-resource request with this method.
    fn of_method(method: &Method) -> Option<Verb> {
        Some(match *method {
            Method::GET => Verb::Get,
            Method::POST => Verb::Post,
            Method::PUT => Verb::Put,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            Method::HEAD => Verb::Head,
            Method::OPTIONS => Verb::Options,
            _ => return None,
        })
    }
}

/// What is asked, as kube-apiserver's `authorizer.Attributes`: a resource request (group,
/// resource, subresource, namespace, name) or a non-resource request (a path).
#[derive(Debug, Clone)]
pub(crate) struct Attributes<'a> {
    pub(crate) user: &'a User,
    pub(crate) verb: Verb,
    pub(crate) api_group: String,
    pub(crate) resource: String,
    pub(crate) subresource: Option<String>,
    /// `None` (or empty) for cluster-scoped requests and lists across all namespaces.
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    /// Set for, and only for, non-resource requests.
    pub(crate) non_resource_path: Option<String>,
}

impl<'a> Attributes<'a> {
    /// A request for a resource path. `None` for a method no resource verb stands for.
    ///
    /// GET on a collection is `list`, or `watch` with `watch=true`; either takes its name from
    /// a `metadata.name=` field selector, as kube-apiserver does, so a rule with
    /// `resourceNames` can allow watching one object. A namespace's own path is in that
    /// namespace, so a RoleBinding can grant reading the namespace it is in.
    pub(crate) fn for_target(
        user: &'a User,
        method: &Method,
        target: &Target,
        query: &Query,
    ) -> Option<Self> {
        let mut name = target.name.clone();
        let verb = match (method, name.is_some()) {
            (&Method::GET, true) => Verb::Get,
            (&Method::GET, false) => {
                name = name_from_field_selector(query);
                if query.flag("watch") {
                    Verb::Watch
                } else {
                    Verb::List
                }
            }
            (&Method::POST, _) => Verb::Create,
            (&Method::PUT, _) => Verb::Update,
            (&Method::PATCH, _) => Verb::Patch,
            (&Method::DELETE, true) => Verb::Delete,
            (&Method::DELETE, false) => Verb::DeleteCollection,
            _ => return None,
        };
        let kind = target.kind;
        let namespace = if is_namespaces(kind) && target.name.is_some() {
            target.name.clone()
        } else {
            target.namespace.clone()
        };
        Some(Attributes {
            user,
            verb,
            api_group: kind.group.to_owned(),
            resource: kind.plural.to_owned(),
            subresource: target.subresource.map(|s| s.name().to_owned()),
            namespace,
            name,
            non_resource_path: None,
        })
    }

    /// A request for a path that names no resource (`/apis`, `/version`, `/openapi/v3`).
    /// `None` for a method without a verb.
    pub(crate) fn for_path(user: &'a User, method: &Method, path: &str) -> Option<Self> {
        Some(Self::non_resource(user, Verb::of_method(method)?, path))
    }

    /// A non-resource request.
    pub(crate) fn non_resource(user: &'a User, verb: Verb, path: &str) -> Self {
        Attributes {
            user,
            verb,
            api_group: String::new(),
            resource: String::new(),
            subresource: None,
            namespace: None,
            name: None,
            non_resource_path: Some(path.to_owned()),
        }
    }

    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|ns| !ns.is_empty())
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// `pods`, or `pods/log` for a subresource.
    fn combined_resource(&self) -> String {
        match self.subresource.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }
}

fn is_namespaces(kind: &KindInfo) -> bool {
    kind.group.is_empty() && kind.plural == "namespaces"
}

/// The name a list or watch is confined to by `fieldSelector=metadata.name=<name>`.
fn name_from_field_selector(query: &Query) -> Option<String> {
    let text = query.get("fieldSelector").filter(|s| !s.is_empty())?;
    let selector = FieldSelector::parse(text).ok()?;
    let name = selector.exact_value("metadata.name")?;
    let valid = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%']);
    valid.then(|| name.to_owned())
}

/// The answer: allowed, or refused with kube-apiserver's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    /// The whole `Status` message, e.g. `pods is forbidden: User "bob" cannot list ...`.
    Deny(String),
}

impl Decision {
    fn into_result(self) -> Result<(), ApiError> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(message) => Err(ApiError::Forbidden(message)),
        }
    }
}

/// The RBAC objects at one moment, indexed for [`allows`].
#[derive(Debug, Default)]
pub(crate) struct RbacSnapshot {
    /// Roles by (namespace, name).
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    /// RoleBindings by namespace.
    role_bindings: HashMap<String, Vec<RoleBinding>>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
}

impl RbacSnapshot {
    /// Adds one Role, ClusterRole, RoleBinding or ClusterRoleBinding in its API form; other
    /// kinds are ignored.
    pub(crate) fn insert(&mut self, object: Value) -> Result<(), serde_json::Error> {
        match object.get("kind").and_then(Value::as_str) {
            Some("Role") => {
                let role: Role = serde_json::from_value(object)?;
                let namespace = role.metadata.namespace.unwrap_or_default();
                let name = role.metadata.name.unwrap_or_default();
                self.roles
                    .insert((namespace, name), role.rules.unwrap_or_default());
            }
            Some("ClusterRole") => {
                let role: ClusterRole = serde_json::from_value(object)?;
                self.cluster_roles.insert(
                    role.metadata.name.unwrap_or_default(),
                    role.rules.unwrap_or_default(),
                );
            }
            Some("RoleBinding") => {
                let binding: RoleBinding = serde_json::from_value(object)?;
                let namespace = binding.metadata.namespace.clone().unwrap_or_default();
                self.role_bindings
                    .entry(namespace)
                    .or_default()
                    .push(binding);
            }
            Some("ClusterRoleBinding") => {
                let binding: ClusterRoleBinding = serde_json::from_value(object)?;
                self.cluster_role_bindings.push(binding);
            }
            _ => {}
        }
        Ok(())
    }

    /// The rules a binding in `namespace` (`""` for a ClusterRoleBinding) grants through
    /// `role_ref`, or the reason it grants none.
    fn rules_of(&self, role_ref: &RoleRef, namespace: &str) -> Result<&[PolicyRule], String> {
        let found = match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(&(namespace.to_owned(), role_ref.name.clone())),
            "ClusterRole" => self.cluster_roles.get(&role_ref.name),
            other => return Err(format!("unsupported role reference kind: {other:?}")),
        };
        found.map(Vec::as_slice).ok_or_else(|| {
            format!(
                "{}.{RBAC_GROUP} {:?} not found",
                role_ref.kind.to_ascii_lowercase(),
                role_ref.name
            )
        })
    }
}

/// Whether `snapshot` allows `attrs`, as Kubernetes decides it: members of `system:masters`
/// may do anything; otherwise some rule must allow the request, from a ClusterRoleBinding's
/// ClusterRole anywhere, or from a RoleBinding in the request's namespace (its Role in that
/// namespace, or a ClusterRole confined to that namespace). A denial names the bindings whose
/// roles are missing, as kube-apiserver's `RBAC: ...` reason does.
pub(crate) fn allows(snapshot: &RbacSnapshot, attrs: &Attributes<'_>) -> Decision {
    match evaluate(snapshot, attrs) {
        Verdict::Allowed { .. } => Decision::Allow,
        Verdict::Denied { errors } => Decision::Deny(forbidden_message(attrs, &errors)),
    }
}

/// What [`evaluate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `reason` is kube-apiserver's: `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole
    /// "y" to User "bob"`, or empty for `system:masters`.
    Allowed { reason: String },
    /// `errors` are the bindings whose roles are missing.
    Denied { errors: Vec<String> },
}

/// A binding that names the user: the binding, the subject in it that matched, and its role's
/// rules, or why they could not be found.
struct Grant<'s> {
    binding: BindingName<'s>,
    subject: &'s Subject,
    /// The binding's namespace, `""` for a ClusterRoleBinding.
    namespace: &'s str,
    rules: Result<&'s [PolicyRule], String>,
}

enum BindingName<'s> {
    Cluster(&'s ClusterRoleBinding),
    Namespaced(&'s RoleBinding),
}

impl Grant<'_> {
    /// kube-apiserver's words for an allowed request.
    fn reason(&self) -> String {
        let subject = subject_words(self.subject, self.namespace);
        match self.binding {
            BindingName::Cluster(binding) => format!(
                "RBAC: allowed by ClusterRoleBinding {:?} of ClusterRole {:?} to {subject}",
                binding.metadata.name.as_deref().unwrap_or_default(),
                binding.role_ref.name
            ),
            BindingName::Namespaced(binding) => format!(
                "RBAC: allowed by RoleBinding \"{}/{}\" of {} {:?} to {subject}",
                binding.metadata.name.as_deref().unwrap_or_default(),
                self.namespace,
                binding.role_ref.kind,
                binding.role_ref.name
            ),
        }
    }
}

/// The bindings that apply to `user`: every ClusterRoleBinding, then the RoleBindings of
/// `namespace` (none when it is `None` or empty), each with its role's rules.
fn grants<'s>(
    snapshot: &'s RbacSnapshot,
    user: &'s User,
    namespace: Option<&'s str>,
) -> impl Iterator<Item = Grant<'s>> {
    let cluster = snapshot
        .cluster_role_bindings
        .iter()
        .map(|b| (BindingName::Cluster(b), &b.subjects, &b.role_ref, ""));
    let namespaced = namespace
        .filter(|ns| !ns.is_empty())
        .and_then(|ns| snapshot.role_bindings.get_key_value(ns))
        .into_iter()
        .flat_map(|(ns, bindings)| {
            bindings.iter().map(move |b| {
                (
                    BindingName::Namespaced(b),
                    &b.subjects,
                    &b.role_ref,
                    ns.as_str(),
                )
            })
        });
    cluster
        .chain(namespaced)
        .filter_map(move |(binding, subjects, role_ref, namespace)| {
            let subject = subjects
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|s| applies_to(s, user, namespace))?;
            Some(Grant {
                binding,
                subject,
                namespace,
                rules: snapshot.rules_of(role_ref, namespace),
            })
        })
}

/// The decision of [`allows`], with the binding that allowed the request.
pub(crate) fn evaluate(snapshot: &RbacSnapshot, attrs: &Attributes<'_>) -> Verdict {
    if is_privileged(attrs.user) {
        return Verdict::Allowed {
            reason: String::new(),
        };
    }
    let mut errors = Vec::new();
    for grant in grants(snapshot, attrs.user, attrs.namespace()) {
        match &grant.rules {
            Ok(rules) if rules.iter().any(|rule| rule_allows(rule, attrs)) => {
                return Verdict::Allowed {
                    reason: grant.reason(),
                };
            }
            Ok(_) => {}
            Err(error) => errors.push(error.clone()),
        }
    }
    Verdict::Denied { errors }
}

/// `User "bob"`, `Group "dev"`, `ServiceAccount "ci/builder"`, as RBAC's reasons name them.
fn subject_words(subject: &Subject, namespace: &str) -> String {
    match subject.kind.as_str() {
        "ServiceAccount" => format!(
            "ServiceAccount \"{}/{}\"",
            subject.name,
            account_namespace(subject, namespace)
        ),
        kind => format!("{kind} {:?}", subject.name),
    }
}

/// The rules that apply to `user` in `namespace` (cluster-wide ones only when it is `None`),
/// as `SelfSubjectRulesReview` lists them, and the bindings whose roles are missing.
pub(crate) fn rules_for(
    snapshot: &RbacSnapshot,
    user: &User,
    namespace: Option<&str>,
) -> (Vec<PolicyRule>, Vec<String>) {
    if is_privileged(user) {
        let everything = PolicyRule {
            verbs: vec!["*".to_owned()],
            api_groups: Some(vec!["*".to_owned()]),
            resources: Some(vec!["*".to_owned()]),
            ..PolicyRule::default()
        };
        let every_path = PolicyRule {
            verbs: vec!["*".to_owned()],
            non_resource_urls: Some(vec!["*".to_owned()]),
            ..PolicyRule::default()
        };
        return (vec![everything, every_path], Vec::new());
    }
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for grant in grants(snapshot, user, namespace) {
        match grant.rules {
            Ok(found) => rules.extend(found.iter().cloned()),
            Err(error) => errors.push(error),
        }
    }
    (rules, errors)
}

/// Kubernetes' superuser group, allowed before any binding is read.
fn is_privileged(user: &User) -> bool {
    user.groups.iter().any(|g| g == MASTERS_GROUP)
}

/// The namespace of a ServiceAccount subject: its own, or else the binding's.
fn account_namespace<'a>(subject: &'a Subject, binding_namespace: &'a str) -> &'a str {
    subject
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(binding_namespace)
}

/// Whether a subject of a binding in `namespace` (`""` for a ClusterRoleBinding) is `user`.
/// A ServiceAccount subject without a namespace means one in the binding's namespace.
fn applies_to(subject: &Subject, user: &User, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let sa_namespace = account_namespace(subject, namespace);
            !sa_namespace.is_empty()
                && user
                    .name
                    .strip_prefix("system:serviceaccount:")
                    .and_then(|rest| rest.split_once(':'))
                    .is_some_and(|(ns, name)| ns == sa_namespace && name == subject.name)
        }
        _ => false,
    }
}

/// Whether one PolicyRule allows the request.
fn rule_allows(rule: &PolicyRule, attrs: &Attributes<'_>) -> bool {
    let verb = attrs.verb.as_str();
    if !rule
        .verbs
        .iter()
        .any(|v| v == "*" || (!verb.is_empty() && v == verb))
    {
        return false;
    }
    match &attrs.non_resource_path {
        Some(path) => non_resource_url_matches(rule, path),
        None => {
            let groups = rule.api_groups.as_deref().unwrap_or_default();
            groups.iter().any(|g| g == "*" || *g == attrs.api_group)
                && resource_matches(rule, attrs)
                && resource_name_matches(rule, attrs.name())
        }
    }
}

fn resource_matches(rule: &PolicyRule, attrs: &Attributes<'_>) -> bool {
    let combined = attrs.combined_resource();
    let subresource = attrs.subresource.as_deref().unwrap_or_default();
    rule.resources
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|resource| {
            resource == "*"
                || *resource == combined
                || (!subresource.is_empty()
                    && resource
                        .strip_prefix("*/")
                        .is_some_and(|sub| sub == subresource))
        })
}

/// An empty `resourceNames` allows every name; otherwise the request must name one of them,
/// which a list, watch, create or deletecollection without a name never does.
fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    match rule.resource_names.as_deref().unwrap_or_default() {
        [] => true,
        names => names.iter().any(|n| n == name),
    }
}

fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|url| {
            url == "*"
                || url == path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        })
}

/// kube-apiserver's Forbidden message: `forbiddenMessage` wrapped by `NewForbidden`, with the
/// RBAC reason when a binding's role was missing.
fn forbidden_message(attrs: &Attributes<'_>, errors: &[String]) -> String {
    let user = &attrs.user.name;
    let verb = attrs.verb.as_str();
    let mut detail = match &attrs.non_resource_path {
        Some(path) => format!("User {user:?} cannot {verb} path {path:?}"),
        None => {
            let resource = attrs.combined_resource();
            let group = &attrs.api_group;
            match attrs.namespace() {
                Some(ns) => format!(
                    "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {ns:?}"
                ),
                None => format!(
                    "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
                ),
            }
        }
    };
    match errors {
        [] => {}
        [one] => detail = format!("{detail}: RBAC: {one}"),
        many => detail = format!("{detail}: RBAC: [{}]", many.join(", ")),
    }
    if attrs.non_resource_path.is_some() {
        return format!("forbidden: {detail}");
    }
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    match attrs.name() {
        "" => format!("{qualified} is forbidden: {detail}"),
        name => format!("{qualified} {name:?} is forbidden: {detail}"),
    }
}

/// The authorizer: the latest snapshot of the RBAC objects, kept current by [`Rbac::start`].
#[derive(Debug, Clone)]
pub(crate) struct Rbac {
    /// `None` until the first list.
    state: Arc<watch::Sender<Option<Arc<RbacSnapshot>>>>,
}

impl Rbac {
    pub(crate) fn new() -> Self {
        Rbac {
            state: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Keeps the snapshot current from `resources`, on `tasks`, until `cancel`.
    pub(crate) fn start(
        &self,
        resources: Resources,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) {
        tasks.spawn(sync(resources, Arc::clone(&self.state), cancel));
    }

    /// Allows the request, or refuses it with `403 Forbidden`. Until the first snapshot is in,
    /// a request waits for it (for a while), as kube-apiserver waits for its informers.
    pub(crate) async fn authorize(&self, attrs: &Attributes<'_>) -> Result<(), ApiError> {
        if is_privileged(attrs.user) {
            return Ok(());
        }
        let snapshot = self.snapshot().await;
        let decision = allows(&snapshot, attrs);
        if let Decision::Deny(message) = &decision {
            tracing::debug!(user = %attrs.user.name, %message, "request forbidden");
        }
        decision.into_result()
    }

    /// The escalation check for `user`'s writes, over the latest snapshot.
    pub(crate) async fn guard(&self, user: &User) -> Guard {
        Guard::new(user.clone(), self.snapshot().await)
    }

    /// The decision on `attrs` with its reason, for an access review.
    pub(crate) async fn review(&self, attrs: &Attributes<'_>) -> Verdict {
        evaluate(&*self.snapshot().await, attrs)
    }

    /// The rules `user` has in `namespace`, for a rules review.
    pub(crate) async fn rules(
        &self,
        user: &User,
        namespace: Option<&str>,
    ) -> (Vec<PolicyRule>, Vec<String>) {
        rules_for(&*self.snapshot().await, user, namespace)
    }

    async fn snapshot(&self) -> Arc<RbacSnapshot> {
        if let Some(snapshot) = self.state.borrow().clone() {
            return snapshot;
        }
        let mut receiver = self.state.subscribe();
        let waited = tokio::time::timeout(FIRST_SYNC_WAIT, async {
            receiver
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|state| state.clone())
        })
        .await;
        waited.ok().flatten().unwrap_or_else(|| {
            tracing::warn!("no RBAC snapshot yet: deciding on no bindings");
            Arc::default()
        })
    }
}

/// The RBAC kinds from the registry: Role, ClusterRole, RoleBinding, ClusterRoleBinding.
fn rbac_kinds() -> impl Iterator<Item = &'static KindInfo> {
    KINDS.iter().filter(|k| k.group == RBAC_GROUP)
}

/// Lists the RBAC kinds, publishes the snapshot and waits for a change to any of them; again
/// and again, with a backoff after failures, until `cancel`.
async fn sync(
    resources: Resources,
    state: Arc<watch::Sender<Option<Arc<RbacSnapshot>>>>,
    cancel: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let synced = tokio::select! {
            () = cancel.cancelled() => return,
            synced = sync_once(&resources, &state) => synced,
        };
        match synced {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(error) => {
                tracing::debug!(error = %error, "RBAC cache: list or watch failed; relisting");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One list and the watch after it: returns once an RBAC object changed (after a short
/// debounce, so a burst of changes is one relist), or with the error that ended the watch.
async fn sync_once(
    resources: &Resources,
    state: &watch::Sender<Option<Arc<RbacSnapshot>>>,
) -> Result<(), ApiError> {
    let mut snapshot = RbacSnapshot::default();
    let mut watchers = Vec::new();
    for kind in rbac_kinds() {
        let listed = resources
            .list(kind, None, 0, None, Consistency::Local, |_| true)
            .await?;
        for object in listed.items {
            if let Err(error) = snapshot.insert(object) {
                tracing::warn!(kind = kind.kind, error = %error, "RBAC cache: skipping an object that does not decode");
            }
        }
        let prefix = Resources::prefix(kind, None)?;
        watchers.push(resources.store().watch(prefix, listed.revision).await?);
    }
    tracing::debug!(
        cluster_roles = snapshot.cluster_roles.len(),
        cluster_role_bindings = snapshot.cluster_role_bindings.len(),
        roles = snapshot.roles.len(),
        "RBAC cache: listed"
    );
    state.send_replace(Some(Arc::new(snapshot)));
    let (event, _, _) = select_all(watchers.iter_mut().map(|w| Box::pin(w.next()))).await;
    event?;
    tokio::time::sleep(DEBOUNCE).await;
    Ok(())
}
