//! RBAC: the rules of Roles and ClusterRoles, and the role references and subjects of their
//! bindings.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::{Errors, Path, meta};
use crate::default::RBAC_GROUP;
use crate::names;

/// A Role: namespaced rules may not name non-resource URLs.
pub(crate) fn role(errors: &mut Errors, role: &Role) {
    rules(errors, role.rules.as_deref().unwrap_or_default(), true);
}

/// A ClusterRole, with its optional aggregation rule.
pub(crate) fn cluster_role(errors: &mut Errors, role: &ClusterRole) {
    rules(errors, role.rules.as_deref().unwrap_or_default(), false);
    if let Some(aggregation) = &role.aggregation_rule {
        let at = Path::ROOT.field("aggregationRule");
        let selectors_path = at.field("clusterRoleSelectors");
        let selectors = aggregation
            .cluster_role_selectors
            .as_deref()
            .unwrap_or_default();
        if selectors.is_empty() {
            errors.required(
                &selectors_path,
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            );
        }
        for (i, selector) in selectors.iter().enumerate() {
            meta::label_selector(errors, selector, &selectors_path.index(i));
        }
    }
}

fn rules(errors: &mut Errors, rules: &[PolicyRule], namespaced: bool) {
    let path = Path::ROOT.field("rules");
    for (i, rule) in rules.iter().enumerate() {
        policy_rule(errors, rule, namespaced, &path.index(i));
    }
}

fn policy_rule(errors: &mut Errors, rule: &PolicyRule, namespaced: bool, path: &Path<'_>) {
    if rule.verbs.is_empty() {
        errors.required(
            &path.field("verbs"),
            "verbs must contain at least one value",
        );
    }
    let urls = rule.non_resource_urls.as_deref().unwrap_or_default();
    let groups = rule.api_groups.as_deref().unwrap_or_default();
    let resources = rule.resources.as_deref().unwrap_or_default();
    let resource_names = rule.resource_names.as_deref().unwrap_or_default();
    if !urls.is_empty() {
        let at = path.field("nonResourceURLs");
        if namespaced {
            errors.invalid_raw(
                &at,
                names::go_list(urls),
                "namespaced rules cannot apply to non-resource URLs",
            );
        }
        if !groups.is_empty() || !resources.is_empty() || !resource_names.is_empty() {
            errors.invalid_raw(
                &at,
                names::go_list(urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            );
        }
        return;
    }
    if groups.is_empty() {
        errors.required(
            &path.field("apiGroups"),
            "resource rules must supply at least one api group",
        );
    }
    if resources.is_empty() {
        errors.required(
            &path.field("resources"),
            "resource rules must supply at least one resource",
        );
    }
}

/// A RoleBinding: to a Role or a ClusterRole.
pub(crate) fn role_binding(errors: &mut Errors, binding: &RoleBinding) {
    role_ref(errors, &binding.role_ref, &["Role", "ClusterRole"]);
    subjects(
        errors,
        binding.subjects.as_deref().unwrap_or_default(),
        true,
    );
}

/// A ClusterRoleBinding: to a ClusterRole, with namespaced ServiceAccount subjects.
pub(crate) fn cluster_role_binding(errors: &mut Errors, binding: &ClusterRoleBinding) {
    role_ref(errors, &binding.role_ref, &["ClusterRole"]);
    subjects(
        errors,
        binding.subjects.as_deref().unwrap_or_default(),
        false,
    );
}

fn role_ref(errors: &mut Errors, role_ref: &RoleRef, kinds: &[&str]) {
    let at = Path::ROOT.field("roleRef");
    let group = role_ref.api_group.as_deref().unwrap_or("");
    if group != RBAC_GROUP {
        errors.not_supported(&at.field("apiGroup"), group, &[RBAC_GROUP]);
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errors.not_supported(&at.field("kind"), &role_ref.kind, kinds);
    }
    let name = at.field("name");
    if role_ref.name.is_empty() {
        errors.required(&name, "");
    } else {
        errors.each(&name, &role_ref.name, names::path_segment(&role_ref.name));
    }
}

fn subjects(errors: &mut Errors, subjects: &[Subject], namespaced: bool) {
    let path = Path::ROOT.field("subjects");
    for (i, subject) in subjects.iter().enumerate() {
        let at = path.index(i);
        let name = at.field("name");
        if subject.name.is_empty() {
            errors.required(&name, "");
        }
        let group = subject.api_group.as_deref().unwrap_or("");
        match subject.kind.as_str() {
            "ServiceAccount" => {
                if !subject.name.is_empty() {
                    errors.each(
                        &name,
                        &subject.name,
                        names::dns1123_subdomain(&subject.name),
                    );
                }
                if !group.is_empty() {
                    errors.not_supported(&at.field("apiGroup"), group, &[""]);
                }
                if !namespaced && subject.namespace.as_deref().unwrap_or("").is_empty() {
                    errors.required(&at.field("namespace"), "");
                }
            }
            "User" | "Group" => {
                if group != RBAC_GROUP {
                    errors.not_supported(&at.field("apiGroup"), group, &[RBAC_GROUP]);
                }
            }
            other => errors.not_supported(
                &at.field("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            ),
        }
    }
}
