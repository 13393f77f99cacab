//! How lists and maps inside each built-in kind merge: the merge keys and directives that
//! strategic merge patch and server-side apply need. Kubernetes keeps this in Go struct tags;
//! Shoal keeps it here, once, and the kind registry points each kind at its root schema.
//!
//! Anything not listed is a plain field: objects merge key by key, lists are atomic (replaced
//! whole), exactly like the Go types without `patchStrategy` tags.

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMerge {
    /// Replaced as a whole (the default).
    Atomic,
    /// A set of primitive values: a patch adds values, `$deleteFromPrimitiveList` removes them.
    Set,
    /// A list of objects identified by a merge key, merged item by item.
    Map {
        /// The field that identifies an item (`name`, `containerPort`, `type`, ...).
        key: &'static str,
    },
}

/// The merge behaviour of one field.
#[derive(Clone, Copy, Debug)]
pub struct FieldStrategy {
    /// Field name as it appears in JSON.
    pub name: &'static str,
    /// How the field merges if it is a list.
    pub list: ListMerge,
    /// Whether the object (or each list item) honours `$retainKeys` (a union type such as a
    /// volume source or a Deployment strategy).
    pub retain_keys: bool,
    /// The schema of the field's value, or of each item if it is a list.
    pub schema: Option<&'static Schema>,
}

/// The merge behaviour of the fields of one object type.
#[derive(Debug)]
pub struct Schema {
    /// Fields with anything other than the default behaviour, or with such fields below them.
    pub fields: &'static [FieldStrategy],
}

impl Schema {
    /// A schema with no special fields: objects merge, lists are atomic.
    pub const PLAIN: Schema = Schema { fields: &[] };

    /// The strategy of `name`, if it has one other than the default.
    pub fn field(&self, name: &str) -> Option<&FieldStrategy> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The schema below `name` (the plain schema if none is declared).
    pub fn child(&self, name: &str) -> &Schema {
        self.field(name)
            .and_then(|f| f.schema)
            .unwrap_or(&Self::PLAIN)
    }

    /// How the list at `name` merges.
    pub fn list_merge(&self, name: &str) -> ListMerge {
        self.field(name).map_or(ListMerge::Atomic, |f| f.list)
    }
}

const fn obj(name: &'static str, schema: &'static Schema) -> FieldStrategy {
    FieldStrategy {
        name,
        list: ListMerge::Atomic,
        retain_keys: false,
        schema: Some(schema),
    }
}

const fn keyed(
    name: &'static str,
    key: &'static str,
    schema: Option<&'static Schema>,
) -> FieldStrategy {
    FieldStrategy {
        name,
        list: ListMerge::Map { key },
        retain_keys: false,
        schema,
    }
}

const fn set(name: &'static str) -> FieldStrategy {
    FieldStrategy {
        name,
        list: ListMerge::Set,
        retain_keys: false,
        schema: None,
    }
}

const fn retain(
    name: &'static str,
    list: ListMerge,
    schema: Option<&'static Schema>,
) -> FieldStrategy {
    FieldStrategy {
        name,
        list,
        retain_keys: true,
        schema,
    }
}

/// `metadata` of every object.
pub static OBJECT_META: Schema = Schema {
    fields: &[keyed("ownerReferences", "uid", None), set("finalizers")],
};

/// A list of conditions keyed by `type`, under `status`.
pub static STATUS_WITH_CONDITIONS: Schema = Schema {
    fields: &[keyed("conditions", "type", None)],
};

/// A container (also used for init and ephemeral containers).
pub static CONTAINER: Schema = Schema {
    fields: &[
        keyed("ports", "containerPort", None),
        keyed("env", "name", None),
        keyed("volumeMounts", "mountPath", None),
        keyed("volumeDevices", "devicePath", None),
    ],
};

/// A pod spec.
pub static POD_SPEC: Schema = Schema {
    fields: &[
        keyed("containers", "name", Some(&CONTAINER)),
        keyed("initContainers", "name", Some(&CONTAINER)),
        keyed("ephemeralContainers", "name", Some(&CONTAINER)),
        retain("volumes", ListMerge::Map { key: "name" }, None),
        keyed("imagePullSecrets", "name", None),
        keyed("hostAliases", "ip", None),
        keyed("topologySpreadConstraints", "topologyKey", None),
        keyed("resourceClaims", "name", None),
        keyed("schedulingGates", "name", None),
    ],
};

/// `status` of a pod.
pub static POD_STATUS: Schema = Schema {
    fields: &[
        keyed("conditions", "type", None),
        keyed("podIPs", "ip", None),
        keyed("hostIPs", "ip", None),
    ],
};

/// A pod template (`spec.template` of the workload kinds).
pub static POD_TEMPLATE_SPEC: Schema = Schema {
    fields: &[obj("metadata", &OBJECT_META), obj("spec", &POD_SPEC)],
};

/// Pod.
pub static POD: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        obj("spec", &POD_SPEC),
        obj("status", &POD_STATUS),
    ],
};

static DEPLOYMENT_SPEC: Schema = Schema {
    fields: &[
        obj("template", &POD_TEMPLATE_SPEC),
        retain("strategy", ListMerge::Atomic, None),
    ],
};

/// Deployment.
pub static DEPLOYMENT: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        obj("spec", &DEPLOYMENT_SPEC),
        obj("status", &STATUS_WITH_CONDITIONS),
    ],
};

static DAEMON_SET_SPEC: Schema = Schema {
    fields: &[
        obj("template", &POD_TEMPLATE_SPEC),
        retain("updateStrategy", ListMerge::Atomic, None),
    ],
};

/// DaemonSet.
pub static DAEMON_SET: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        obj("spec", &DAEMON_SET_SPEC),
        obj("status", &STATUS_WITH_CONDITIONS),
    ],
};

static TEMPLATED_SPEC: Schema = Schema {
    fields: &[obj("template", &POD_TEMPLATE_SPEC)],
};

/// ReplicaSet, StatefulSet and Job: a spec with a pod template, conditions in status.
pub static TEMPLATED: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        obj("spec", &TEMPLATED_SPEC),
        obj("status", &STATUS_WITH_CONDITIONS),
    ],
};

static JOB_TEMPLATE_SPEC: Schema = Schema {
    fields: &[obj("metadata", &OBJECT_META), obj("spec", &TEMPLATED_SPEC)],
};

static CRON_JOB_SPEC: Schema = Schema {
    fields: &[obj("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

/// CronJob.
pub static CRON_JOB: Schema = Schema {
    fields: &[obj("metadata", &OBJECT_META), obj("spec", &CRON_JOB_SPEC)],
};

static SERVICE_SPEC: Schema = Schema {
    fields: &[keyed("ports", "port", None)],
};

/// Service.
pub static SERVICE: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        obj("spec", &SERVICE_SPEC),
        obj("status", &STATUS_WITH_CONDITIONS),
    ],
};

static NODE_STATUS: Schema = Schema {
    fields: &[
        keyed("conditions", "type", None),
        keyed("addresses", "type", None),
    ],
};

/// Node.
pub static NODE: Schema = Schema {
    fields: &[obj("metadata", &OBJECT_META), obj("status", &NODE_STATUS)],
};

/// ServiceAccount.
pub static SERVICE_ACCOUNT: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        keyed("secrets", "name", None),
    ],
};

/// Kinds whose only special fields are in metadata and status conditions (Namespace,
/// PersistentVolumeClaim, HorizontalPodAutoscaler).
pub static WITH_CONDITIONS: Schema = Schema {
    fields: &[
        obj("metadata", &OBJECT_META),
        obj("status", &STATUS_WITH_CONDITIONS),
    ],
};

/// Kinds whose only special fields are in metadata.
pub static META_ONLY: Schema = Schema {
    fields: &[obj("metadata", &OBJECT_META)],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_containers_merge_by_name() {
        let containers = DEPLOYMENT.child("spec").child("template").child("spec");
        assert_eq!(
            containers.list_merge("containers"),
            ListMerge::Map { key: "name" }
        );
        let container = containers.child("containers");
        assert_eq!(
            container.list_merge("volumeMounts"),
            ListMerge::Map { key: "mountPath" }
        );
        assert_eq!(container.list_merge("args"), ListMerge::Atomic);
        assert_eq!(
            DEPLOYMENT.child("metadata").list_merge("finalizers"),
            ListMerge::Set
        );
    }
}
