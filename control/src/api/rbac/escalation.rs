//! Privilege escalation prevention, as kube-apiserver's RBAC storage makes it: a user may
//! write a Role or ClusterRole only with rules they already hold (or the `escalate` verb on
//! it), and a RoleBinding or ClusterRoleBinding only to a role whose rules they already hold
//! (or the `bind` verb on that role). Without this, anyone allowed to create RoleBindings,
//! such as a namespace's `admin`, could bind themselves to `cluster-admin`.
//!
//! The check runs on the object as it will be stored, after admission, so it covers every way
//! of writing one: create, replace, each patch type and server-side apply. A write that grants
//! nothing new (the rules, or the subjects and role, unchanged) is not checked, so labels and
//! annotations stay editable by whoever may update the object.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use shoal_manifests::k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};
use shoal_manifests::registry::KindInfo;

use super::{Attributes, RBAC_GROUP, RbacSnapshot, Verb, Verdict, evaluate, is_privileged};
use crate::api::auth::User;
use crate::api::error::ApiError;

/// The escalation check for one user's writes, over the RBAC objects at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    user: User,
    snapshot: Arc<RbacSnapshot>,
}

impl Guard {
    pub(crate) fn new(user: User, snapshot: Arc<RbacSnapshot>) -> Self {
        Guard { user, snapshot }
    }

    /// Allows storing `next` as the object `name` of `kind` in `namespace` (`""` when
    /// cluster-scoped) in place of `current` (`None` on a create), or refuses it: 403 for
    /// permissions the user does not hold, 404 for a binding to a role that does not exist.
    pub(crate) fn check(
        &self,
        kind: &KindInfo,
        namespace: &str,
        name: &str,
        current: Option<&Value>,
        next: &Value,
    ) -> Result<(), ApiError> {
        if kind.group != RBAC_GROUP || is_privileged(&self.user) {
            return Ok(());
        }
        let unchanged = |field: &str| current.is_some_and(|c| c.get(field) == next.get(field));
        // What the request names: kube-apiserver asks about the URL's name, none on a create.
        let named = current.map(|_| name);
        let rules = match kind.kind {
            "Role" | "ClusterRole" => {
                if unchanged("rules") || self.may(Verb::Escalate, kind.plural, namespace, named) {
                    return Ok(());
                }
                decode::<Vec<PolicyRule>>(next.get("rules"))?
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                if unchanged("roleRef") && unchanged("subjects") {
                    return Ok(());
                }
                let role_ref = decode::<RoleRef>(next.get("roleRef"))?;
                let role_plural = match role_ref.kind.as_str() {
                    "Role" => "roles",
                    _ => "clusterroles",
                };
                if self.may(Verb::Bind, role_plural, namespace, Some(&role_ref.name)) {
                    return Ok(());
                }
                self.snapshot
                    .rules_of(&role_ref, namespace)
                    .map_err(|_| ApiError::NotFound {
                        resource: format!("{role_plural}.{RBAC_GROUP}"),
                        name: role_ref.name.clone(),
                    })?
                    .to_vec()
            }
            _ => return Ok(()),
        };
        let scope = Some(namespace).filter(|ns| !ns.is_empty());
        let (held, errors) = super::rules_for(&self.snapshot, &self.user, scope);
        let missing = uncovered(&held, &rules);
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "{}.{RBAC_GROUP} {name:?} is forbidden: {}",
            kind.plural,
            not_held_message(&self.user, &missing, &errors)
        )))
    }

    /// Whether RBAC allows the user `verb` on the RBAC resource `plural`.
    fn may(&self, verb: Verb, plural: &str, namespace: &str, name: Option<&str>) -> bool {
        let attrs = Attributes {
            user: &self.user,
            verb,
            api_group: RBAC_GROUP.to_owned(),
            resource: plural.to_owned(),
            subresource: None,
            namespace: Some(namespace.to_owned()).filter(|ns| !ns.is_empty()),
            name: name.map(str::to_owned),
            non_resource_path: None,
        };
        matches!(evaluate(&self.snapshot, &attrs), Verdict::Allowed { .. })
    }
}

/// A field of an admitted object in its typed form; admission has already checked its shape.
fn decode<T: serde::de::DeserializeOwned + Default>(field: Option<&Value>) -> Result<T, ApiError> {
    match field {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => T::deserialize(value).map_err(|e| {
            ApiError::Internal(format!("an admitted RBAC object does not decode: {e}"))
        }),
    }
}

/// kube-apiserver's words: `user "bob" (groups=["system:authenticated"]) is attempting to
/// grant RBAC permissions not currently held:` and one compact rule per line.
fn not_held_message(user: &User, missing: &[PolicyRule], errors: &[String]) -> String {
    let lines: BTreeSet<String> = compact(missing).iter().map(compact_string).collect();
    let mut message = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        go_quoted(&user.groups),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        message.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    message
}

/// The rules of `wanted`, split into one verb on one resource (or path) each, that no rule of
/// `held` covers.
pub(super) fn uncovered(held: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    wanted
        .iter()
        .flat_map(simple_rules)
        .filter(|simple| !held.iter().any(|owner| covers(owner, simple)))
        .collect()
}

/// One rule as rules of one verb each on one group and resource (and one name, if it names
/// any), or on one non-resource path.
fn simple_rules(rule: &PolicyRule) -> Vec<PolicyRule> {
    let list = |field: &Option<Vec<String>>| field.clone().unwrap_or_default();
    let names: Vec<Option<String>> = match list(&rule.resource_names) {
        names if names.is_empty() => vec![None],
        names => names.into_iter().map(Some).collect(),
    };
    let mut out = Vec::new();
    for group in list(&rule.api_groups) {
        for resource in list(&rule.resources) {
            for verb in &rule.verbs {
                for name in &names {
                    out.push(PolicyRule {
                        api_groups: Some(vec![group.clone()]),
                        resources: Some(vec![resource.clone()]),
                        verbs: vec![verb.clone()],
                        resource_names: name.clone().map(|n| vec![n]),
                        non_resource_urls: None,
                    });
                }
            }
        }
    }
    for url in list(&rule.non_resource_urls) {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                non_resource_urls: Some(vec![url.clone()]),
                verbs: vec![verb.clone()],
                ..PolicyRule::default()
            });
        }
    }
    out
}

/// Whether `owner` grants everything the simple rule `wanted` does.
fn covers(owner: &PolicyRule, wanted: &PolicyRule) -> bool {
    let owned = |field: &Option<Vec<String>>| field.as_deref().unwrap_or_default().to_vec();
    let has_all = |set: &[String], items: &[String]| items.iter().all(|i| set.contains(i));
    let star = "*".to_owned();
    let verbs = owner.verbs.contains(&star) || has_all(&owner.verbs, &wanted.verbs);
    let owner_groups = owned(&owner.api_groups);
    let groups = owner_groups.contains(&star) || has_all(&owner_groups, &owned(&wanted.api_groups));
    let owner_resources = owned(&owner.resources);
    let resources = owner_resources.contains(&star)
        || owned(&wanted.resources).iter().all(|resource| {
            owner_resources.contains(resource)
                || resource
                    .split_once('/')
                    .is_some_and(|(_, sub)| owner_resources.contains(&format!("*/{sub}")))
        });
    let owner_urls = owned(&owner.non_resource_urls);
    let urls = owned(&wanted.non_resource_urls).iter().all(|path| {
        owner_urls.iter().any(|url| {
            url == path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        })
    });
    let owner_names = owned(&owner.resource_names);
    let names = owner_names.is_empty()
        || (!owned(&wanted.resource_names).is_empty()
            && has_all(&owner_names, &owned(&wanted.resource_names)));
    verbs && groups && resources && urls && names
}

/// Simple rules on the same group, resource and name merged into one with all their verbs, as
/// kube-apiserver lists missing permissions.
fn compact(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let mergeable = |r: &PolicyRule| {
            r.non_resource_urls
                .as_deref()
                .unwrap_or_default()
                .is_empty()
                && r.api_groups.as_deref().unwrap_or_default().len() == 1
                && r.resources.as_deref().unwrap_or_default().len() == 1
        };
        let same = out.iter_mut().find(|r| {
            mergeable(r)
                && mergeable(rule)
                && r.api_groups == rule.api_groups
                && r.resources == rule.resources
                && r.resource_names == rule.resource_names
        });
        match same {
            Some(merged) => {
                for verb in &rule.verbs {
                    if !merged.verbs.contains(verb) {
                        merged.verbs.push(verb.clone());
                    }
                }
            }
            None => out.push(rule.clone()),
        }
    }
    out
}

/// A rule as kube-apiserver prints it: `{APIGroups:["apps"], Resources:["deployments"],
/// Verbs:["get" "list"]}`, naming only the fields that are set.
fn compact_string(rule: &PolicyRule) -> String {
    let parts: Vec<String> = [
        ("APIGroups", rule.api_groups.as_deref()),
        ("Resources", rule.resources.as_deref()),
        ("NonResourceURLs", rule.non_resource_urls.as_deref()),
        ("ResourceNames", rule.resource_names.as_deref()),
        ("Verbs", Some(rule.verbs.as_slice())),
    ]
    .into_iter()
    .filter_map(|(field, values)| {
        let values = values.filter(|v| !v.is_empty())?;
        Some(format!("{field}:{}", go_quoted(values)))
    })
    .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A list of strings as Go's `%q` prints one: `["a" "b"]`.
fn go_quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}
