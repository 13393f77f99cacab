//! The operations of the API, described once for both OpenAPI documents: which paths each kind
//! has, which operations each path serves, and every operation's query parameters, body types
//! and responses. `openapi` writes them as OpenAPI 3.0, `openapi_v2` as Swagger 2.0.

use shoal_manifests::registry::{KindInfo, Subresource};

use super::gv_path;
use crate::api::discovery::{response_kind, subresource_verbs};

/// The content types a PATCH body may have.
pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// The content types a POST or PUT body may have.
const OBJECT_TYPES: &[&str] = &["application/json", "application/yaml"];

/// A path or query parameter: its name, its OpenAPI type and what it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) ty: &'static str,
    pub(crate) description: &'static str,
}

const fn param(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        ty,
        description,
    }
}

const NAME: Param = param("name", "string", "name of the object");
const NAMESPACE: Param = param("namespace", "string", "object name and auth scope");

const DRY_RUN: Param = param("dryRun", "string", "`All` to evaluate without persisting");

/// What every POST, PUT and PATCH declares; kubectl looks for `fieldValidation` on PATCH.
const WRITE: &[Param] = &[
    DRY_RUN,
    param(
        "fieldManager",
        "string",
        "the name of the actor making the change",
    ),
    param(
        "fieldValidation",
        "string",
        "`Ignore`, `Warn` or `Strict` unknown fields",
    ),
];

const FORCE: &[Param] = &[param(
    "force",
    "boolean",
    "take fields from other managers (apply)",
)];

const SELECT: &[Param] = &[
    param("labelSelector", "string", "a selector on labels"),
    param("fieldSelector", "string", "a selector on fields"),
    param(
        "limit",
        "integer",
        "the most items to return in one response",
    ),
    param("continue", "string", "the token of the previous chunk"),
    param(
        "resourceVersion",
        "string",
        "the resource version to list or watch from",
    ),
];

const WATCH: &[Param] = &[
    param("watch", "boolean", "watch for changes instead of listing"),
    param("allowWatchBookmarks", "boolean", "ask for BOOKMARK events"),
    param(
        "timeoutSeconds",
        "integer",
        "timeout for the list or watch call",
    ),
];

const DELETE: &[Param] = &[
    DRY_RUN,
    param(
        "gracePeriodSeconds",
        "integer",
        "seconds before the object is deleted",
    ),
    param(
        "propagationPolicy",
        "string",
        "`Orphan`, `Background` or `Foreground`",
    ),
];

const LOG: &[Param] = &[
    param("container", "string", "the container whose log to stream"),
    param("follow", "boolean", "keep streaming as the log grows"),
    param("previous", "boolean", "the log of the previous instance"),
    param("sinceSeconds", "integer", "only lines newer than this"),
    param("tailLines", "integer", "only this many lines from the end"),
    param("timestamps", "boolean", "prefix each line with its time"),
    param("limitBytes", "integer", "stop after this many bytes"),
];

const EXEC: &[Param] = &[
    param(
        "command",
        "string",
        "the command, one parameter per argument",
    ),
    param("container", "string", "the container to run it in"),
    param("stdin", "boolean", "attach stdin"),
    param("stdout", "boolean", "attach stdout"),
    param("stderr", "boolean", "attach stderr"),
    param("tty", "boolean", "allocate a terminal"),
];

const ATTACH: &[Param] = &[
    param("container", "string", "the container to attach to"),
    param("stdin", "boolean", "attach stdin"),
    param("stdout", "boolean", "attach stdout"),
    param("stderr", "boolean", "attach stderr"),
    param("tty", "boolean", "the container has a terminal"),
];

const PORT_FORWARD: &[Param] = &[param("ports", "integer", "the ports to forward")];

/// A subresource's own query parameters.
fn subresource_params(sub: Subresource) -> &'static [Param] {
    match sub {
        Subresource::Log => LOG,
        Subresource::Exec => EXEC,
        Subresource::Attach => ATTACH,
        Subresource::PortForward => PORT_FORWARD,
        Subresource::Status | Subresource::Scale | Subresource::Eviction | Subresource::Binding => {
            &[]
        }
    }
}

/// An HTTP method, the key of an operation in a path item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }

    /// POST, PUT and PATCH: the operations that declare the write parameters.
    fn writes(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

/// What an operation does, as `x-kubernetes-action` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Get,
    List,
    Post,
    Put,
    Patch,
    Delete,
    DeleteCollection,
    Connect,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::DeleteCollection => "deletecollection",
            Self::Connect => "connect",
        }
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Get => "read the specified object",
            Self::List => "list or watch objects",
            Self::Post => "create an object",
            Self::Put => "replace the specified object",
            Self::Patch => "partially update the specified object",
            Self::Delete => "delete an object",
            Self::DeleteCollection => "delete a collection of objects",
            Self::Connect => "connect to the object",
        }
    }

    /// The verb that starts the operation id, e.g. `read` in `readCoreV1NamespacedPod`.
    fn id_verb(self) -> &'static str {
        match self {
            Self::Get => "read",
            Self::List => "list",
            Self::Post => "create",
            Self::Put => "replace",
            Self::Patch => "patch",
            Self::Delete | Self::DeleteCollection => "delete",
            Self::Connect => "connect",
        }
    }

    /// The query parameters of the action besides the write ones, which go by method.
    fn query(self) -> &'static [&'static [Param]] {
        match self {
            Self::List => &[SELECT, WATCH],
            Self::Patch => &[FORCE],
            Self::Delete => &[DELETE],
            Self::DeleteCollection => &[DELETE, SELECT],
            Self::Get | Self::Post | Self::Put | Self::Connect => &[],
        }
    }

    /// The content types of the request body; none for actions without a body.
    pub(crate) fn body_types(self) -> &'static [&'static str] {
        match self {
            Self::Patch => PATCH_TYPES,
            Self::Post | Self::Put => OBJECT_TYPES,
            _ => &[],
        }
    }

    /// The response codes and their descriptions.
    pub(crate) fn responses(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Get | Self::List | Self::Connect => &[("200", "OK"), ("401", "Unauthorized")],
            Self::Post => &[
                ("200", "OK"),
                ("201", "Created"),
                ("202", "Accepted"),
                ("401", "Unauthorized"),
            ],
            Self::Put | Self::Patch => {
                &[("200", "OK"), ("201", "Created"), ("401", "Unauthorized")]
            }
            Self::Delete | Self::DeleteCollection => {
                &[("200", "OK"), ("202", "Accepted"), ("401", "Unauthorized")]
            }
        }
    }
}

/// One operation on one path.
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) action: Action,
    /// kube-apiserver's operation id: `patchCoreV1NamespacedPod`.
    pub(crate) id: String,
    /// The group, version and kind of the body, `x-kubernetes-group-version-kind`.
    pub(crate) gvk: (&'static str, &'static str, &'static str),
    /// The path parameters, `name` before `namespace`.
    pub(crate) path_params: &'static [Param],
    /// The query parameters, on the operation itself: kubectl looks for `fieldValidation`
    /// among the PATCH operation's own parameters.
    pub(crate) query: Vec<Param>,
}

/// One path and its operations.
#[derive(Debug)]
pub(crate) struct PathItem {
    pub(crate) path: String,
    /// The subresource served here, for `…/{name}/<subresource>` paths.
    pub(crate) subresource: Option<Subresource>,
    pub(crate) operations: Vec<Operation>,
}

/// The paths of `kind`: the item, the collection, each subresource and, for namespaced kinds,
/// the list across all namespaces. The item comes first: kubectl 1.27 takes the first PATCH
/// with the kind's group, version and kind.
pub(crate) fn kind_paths(kind: &KindInfo) -> Vec<PathItem> {
    let prefix = format!("/{}", gv_path(kind.group, kind.version));
    let naming = Naming::new(kind);
    let gvk = (kind.group, kind.version, kind.kind);
    let collection = if kind.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{prefix}/{}", kind.plural)
    };
    let item = format!("{collection}/{{name}}");
    let op = |method: Method, action: Action, name: bool| Operation {
        method,
        action,
        id: naming.id(action, "", ""),
        gvk,
        path_params: path_params(kind.namespaced, name),
        query: query(method, action, &[]),
    };
    let path = |path: String, subresource: Option<Subresource>, operations| PathItem {
        path,
        subresource,
        operations,
    };

    // Every kind is served with the full collection verb set of discovery.
    let item_ops = vec![
        op(Method::Get, Action::Get, true),
        op(Method::Put, Action::Put, true),
        op(Method::Patch, Action::Patch, true),
        op(Method::Delete, Action::Delete, true),
    ];
    let collection_ops = vec![
        op(Method::Get, Action::List, false),
        op(Method::Post, Action::Post, false),
        op(Method::Delete, Action::DeleteCollection, false),
    ];
    let mut paths = vec![
        path(item.clone(), None, item_ops),
        path(collection, None, collection_ops),
    ];
    for &sub in kind.subresources {
        let operations = subresource_operations(kind, sub, &naming);
        paths.push(path(
            format!("{item}/{}", sub.name()),
            Some(sub),
            operations,
        ));
    }
    if kind.namespaced {
        let list = Operation {
            id: format!(
                "list{}{}ForAllNamespaces",
                naming.group_version, naming.kind
            ),
            path_params: &[],
            ..op(Method::Get, Action::List, false)
        };
        paths.push(path(format!("{prefix}/{}", kind.plural), None, vec![list]));
    }
    paths
}

/// The operations of `sub` below an object of `kind`, one per verb discovery lists.
fn subresource_operations(kind: &KindInfo, sub: Subresource, naming: &Naming) -> Vec<Operation> {
    let suffix = capitalize(sub.name());
    let connect = matches!(
        sub,
        Subresource::Exec | Subresource::Attach | Subresource::PortForward
    );
    let operation = |&verb: &&str| {
        let (method, action) = match verb {
            "get" if connect => (Method::Get, Action::Connect),
            "create" if connect => (Method::Post, Action::Connect),
            "get" => (Method::Get, Action::Get),
            "update" => (Method::Put, Action::Put),
            "patch" => (Method::Patch, Action::Patch),
            "create" => (Method::Post, Action::Post),
            _ => return None,
        };
        // Connect operations are named after the HTTP method, as in
        // `connectCoreV1PostNamespacedPodExec`.
        let infix = if connect {
            capitalize(method.as_str())
        } else {
            String::new()
        };
        Some(Operation {
            method,
            action,
            id: naming.id(action, &infix, &suffix),
            gvk: response_kind(kind, sub),
            path_params: path_params(kind.namespaced, true),
            query: query(method, action, subresource_params(sub)),
        })
    };
    subresource_verbs(sub)
        .iter()
        .filter_map(operation)
        .collect()
}

fn path_params(namespace: bool, name: bool) -> &'static [Param] {
    match (name, namespace) {
        (true, true) => &[NAME, NAMESPACE],
        (true, false) => &[NAME],
        (false, true) => &[NAMESPACE],
        (false, false) => &[],
    }
}

/// The query parameters of an operation: the write parameters for every POST, PUT and PATCH
/// (connect POSTs included: one rule that kubectl's check cannot miss), then the action's own,
/// then the subresource's `extra` ones.
fn query(method: Method, action: Action, extra: &'static [Param]) -> Vec<Param> {
    let writes: &[Param] = if method.writes() { WRITE } else { &[] };
    let groups = [writes].into_iter().chain(action.query().iter().copied());
    groups.chain([extra]).flatten().copied().collect()
}

/// The names an operation id is built from: `CoreV1`, `Namespaced`, `Pod`.
#[derive(Debug)]
struct Naming {
    group_version: String,
    scope: &'static str,
    kind: &'static str,
}

impl Naming {
    fn new(kind: &KindInfo) -> Self {
        let group = if kind.group.is_empty() {
            "core"
        } else {
            kind.group.strip_suffix(".k8s.io").unwrap_or(kind.group)
        };
        let group_version = group
            .split('.')
            .chain([kind.version])
            .map(capitalize)
            .collect();
        Self {
            group_version,
            scope: if kind.namespaced { "Namespaced" } else { "" },
            kind: kind.kind,
        }
    }

    /// kube-apiserver's operation id: `patchCoreV1NamespacedPod`,
    /// `deleteCoreV1CollectionNamespacedPod`, `replaceAppsV1NamespacedDeploymentScale`.
    fn id(&self, action: Action, infix: &str, suffix: &str) -> String {
        let collection = if action == Action::DeleteCollection {
            "Collection"
        } else {
            ""
        };
        format!(
            "{}{}{collection}{infix}{}{}{suffix}",
            action.id_verb(),
            self.group_version,
            self.scope,
            self.kind
        )
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
