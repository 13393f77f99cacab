//! The generic object store behind every resource: what kube-apiserver's registry does between
//! a decoded request and etcd. It maps objects to store keys, runs admission (the server-owned
//! metadata, defaults, validation, status and generation rules), makes every write a
//! conditional Raft command, and retries read-modify-write cycles that lose a race, unless the
//! client asked for a precondition, in which case it answers 409 as Kubernetes does.
//!
//! Controllers use this same type, so an object a controller writes passes the same admission
//! as one kubectl writes.

use std::sync::Arc;

use serde_json::Value;
use shoal_manifests::decode::FieldValidation;
use shoal_manifests::patch::apply as ssa;
use shoal_manifests::patch::{self, PatchType};
use shoal_manifests::registry::{KindInfo, Subresource};

use super::admission::{
    admit, apply_error, check_namespace, check_type, metadata_mut, patch_error, prepare_update,
    reset_status_on_create, tracks_generation,
};
use super::error::ApiError;
use crate::store::read::ListOptions;
use crate::store::{
    Command, Consistency, KeyPrefix, Object, ObjectKey, ObjectValue, Op, OpOutcome, Preconditions,
    Revision, Store, Timestamp, Uid,
};

/// How often a read-modify-write that keeps losing races is retried before giving up.
const MAX_ATTEMPTS: usize = 16;

/// Finalizer that makes an owner wait for its dependents' deletion (foreground cascading).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer that makes the garbage collector orphan an owner's dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Who writes and how: the parts of a request every write needs.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub manager: String,
    pub validation: FieldValidation,
    pub force: bool,
    /// RBAC's escalation check for the user who writes; controllers write without one.
    pub(crate) guard: Option<super::rbac::Guard>,
}

impl WriteOptions {
    /// The options controllers write with.
    pub fn controller(manager: &str) -> Self {
        WriteOptions {
            dry_run: false,
            manager: manager.to_owned(),
            validation: FieldValidation::Strict,
            force: false,
            guard: None,
        }
    }
}

/// A successful write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored, with its `resourceVersion`.
    pub object: Value,
    /// Tolerated problems, for `Warning` headers.
    pub warnings: Vec<String>,
    /// Whether the write created the object.
    pub created: bool,
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone; its last state.
    Gone(Value),
    /// The object waits for finalizers or a grace period; its current state.
    Pending(Value),
}

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// The body of a DELETE.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Parses a `DeleteOptions` body (JSON, possibly empty) merged with the query parameters.
    pub fn parse(body: &[u8], query: &super::request::Query) -> Result<Self, ApiError> {
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::BadRequest(format!("the DeleteOptions body is not valid JSON: {e}"))
            })?
        };
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| query.get(key).map(str::to_owned))
        };
        let propagation = match text("propagationPolicy").as_deref() {
            None | Some("") | Some("Background") => Propagation::Background,
            Some("Foreground") => Propagation::Foreground,
            Some("Orphan") => Propagation::Orphan,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "propagationPolicy: Unsupported value: {other:?}: supported values: \
                     \"Foreground\", \"Background\", \"Orphan\""
                )));
            }
        };
        let orphan_dependents = value
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| query.get("orphanDependents").map(|v| v == "true"));
        let propagation = match orphan_dependents {
            Some(true) => Propagation::Orphan,
            _ => propagation,
        };
        let grace_period_seconds = match value.get("gracePeriodSeconds").and_then(Value::as_i64) {
            Some(seconds) => Some(seconds),
            None => query
                .get("gracePeriodSeconds")
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        ApiError::BadRequest(format!("gracePeriodSeconds: invalid value {v:?}"))
                    })
                })
                .transpose()?,
        };
        let dry_run = value
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|d| d == "All"))
            || query.all("dryRun").iter().any(|d| d == "All");
        Ok(DeleteOptions {
            propagation,
            uid: value
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            resource_version: value
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned),
            grace_period_seconds,
            dry_run,
        })
    }
}

/// The store of API objects.
#[derive(Debug, Clone)]
pub struct Resources {
    store: Arc<Store>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Listed {
    pub items: Vec<Value>,
    pub revision: Revision,
    pub continue_token: Option<String>,
}

impl Resources {
    pub fn new(store: Arc<Store>) -> Self {
        Resources { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The store key of an object.
    pub fn key(kind: &KindInfo, namespace: &str, name: &str) -> Result<ObjectKey, ApiError> {
        let resource = kind.qualified_plural();
        let key = if kind.namespaced {
            ObjectKey::new(&resource, namespace, name)
        } else {
            ObjectKey::cluster(&resource, name)
        };
        key.map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    /// The prefix of a collection: one namespace, or all of them.
    pub fn prefix(kind: &KindInfo, namespace: Option<&str>) -> Result<KeyPrefix, ApiError> {
        let resource = kind.qualified_plural();
        let prefix = match namespace {
            Some(ns) if kind.namespaced => KeyPrefix::namespace(&resource, ns),
            _ => KeyPrefix::resource(&resource),
        };
        prefix.map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    /// Reads one object; `None` if absent.
    pub async fn get(
        &self,
        kind: &KindInfo,
        namespace: &str,
        name: &str,
        consistency: Consistency,
    ) -> Result<Option<Value>, ApiError> {
        let key = Self::key(kind, namespace, name)?;
        let reader = self.store.read(consistency).await?;
        reader.get(&key).await?.map(|o| to_api(&o)).transpose()
    }

    /// Reads one object, or answers 404.
    pub async fn get_existing(
        &self,
        kind: &KindInfo,
        namespace: &str,
        name: &str,
        consistency: Consistency,
    ) -> Result<Value, ApiError> {
        self.get(kind, namespace, name, consistency)
            .await?
            .ok_or_else(|| not_found(kind, name))
    }

    /// One page of a collection, filtered by `keep`. Pages are read from the store until
    /// `limit` objects pass the filter (or the collection ends), so a selective filter still
    /// fills a page; the continue token then points just after the last object returned.
    pub async fn list(
        &self,
        kind: &KindInfo,
        namespace: Option<&str>,
        limit: usize,
        continue_token: Option<String>,
        consistency: Consistency,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Listed, ApiError> {
        let prefix = Self::prefix(kind, namespace)?;
        let reader = self.store.read(consistency).await?;
        let mut items = Vec::new();
        let mut token = continue_token;
        let mut revision = None;
        loop {
            let page = reader
                .list(ListOptions {
                    prefix: prefix.clone(),
                    limit: if limit == 0 { 0 } else { limit.max(64) },
                    continue_token: token.take(),
                })
                .await?;
            revision.get_or_insert(page.revision);
            let count = page.items.len();
            for (index, object) in page.items.iter().enumerate() {
                let value = to_api(object)?;
                if keep(&value) {
                    items.push(value);
                    if limit > 0 && items.len() == limit {
                        let more = index + 1 < count || page.continue_token.is_some();
                        let token = more.then(|| {
                            crate::store::read::ContinueToken {
                                revision: page.revision,
                                last_key: object.key.as_str().to_owned(),
                            }
                            .encode()
                        });
                        return Ok(Listed {
                            items,
                            revision: page.revision,
                            continue_token: token,
                        });
                    }
                }
            }
            match page.continue_token {
                Some(next) => token = Some(next),
                None => {
                    return Ok(Listed {
                        items,
                        revision: revision.unwrap_or(page.revision),
                        continue_token: None,
                    });
                }
            }
        }
    }

    /// Creates an object from a request body.
    pub async fn create(
        &self,
        kind: &'static KindInfo,
        namespace: Option<&str>,
        body: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        self.create_inner(kind, namespace, body, options, false)
            .await
    }

    /// Creates an object; with `owned`, its managedFields are already computed (an apply).
    async fn create_inner(
        &self,
        kind: &'static KindInfo,
        namespace: Option<&str>,
        body: Value,
        options: &WriteOptions,
        owned: bool,
    ) -> Result<Written, ApiError> {
        let now = now_rfc3339();
        let mut body = body;
        check_type(kind, &mut body)?;
        let namespace = check_namespace(kind, namespace, &mut body)?;
        let meta = metadata_mut(&mut body)?;
        if meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::BadRequest(
                "resourceVersion should not be set on objects to be created".to_owned(),
            ));
        }
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    let name = format!("{prefix}{}", random_suffix());
                    meta.insert("name".to_owned(), Value::from(name.clone()));
                    name
                }
                _ => String::new(),
            },
        };
        let uid = uuid::Uuid::new_v4().to_string();
        meta.insert("uid".to_owned(), Value::from(uid.clone()));
        meta.insert("creationTimestamp".to_owned(), Value::from(now.clone()));
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if tracks_generation(kind) {
            meta.insert("generation".to_owned(), Value::from(1));
        } else {
            meta.remove("generation");
        }
        reset_status_on_create(kind, &mut body);

        let (mut value, warnings) = admit(kind, body, options.validation, &name)?;
        if let Some(guard) = &options.guard {
            guard.check(kind, &namespace, &name, None, &value)?;
        }
        if !owned {
            ssa::record_update(kind.schema, None, &mut value, &options.manager, &now);
        }
        if kind.namespaced {
            self.check_namespace_accepts(&namespace).await?;
        }
        if options.dry_run {
            return Ok(Written {
                object: value,
                warnings,
                created: true,
            });
        }
        let key = Self::key(kind, &namespace, &name)?;
        let service = super::services::is_service(kind);
        let mut attempt = 0;
        let response = loop {
            // Only a Service can go round again (a reservation taken meanwhile), so only a
            // Service's object is copied for the attempt.
            let mut candidate = if service {
                value.clone()
            } else {
                std::mem::take(&mut value)
            };
            let reservations = if service {
                super::services::allocate(&self.store, &mut candidate, &uid).await?
            } else {
                super::services::Reservations::default()
            };
            let stored = ObjectValue::from_value(&candidate).map_err(ApiError::from)?;
            let mut ops = vec![Op::Create {
                key: key.clone(),
                uid: Uid(uid.clone()),
                value: stored,
            }];
            ops.extend(reservations.ops.iter().cloned());
            let response = self
                .store
                .write(Command::txn(Timestamp::now(), ops))
                .await?;
            // A reservation taken in the meantime: pick again (or tell the client, if it asked
            // for that address or port).
            let clash = response
                .outcomes
                .iter()
                .skip(1)
                .position(|o| matches!(o, OpOutcome::AlreadyExists { .. }));
            match clash {
                Some(index)
                    if !matches!(
                        response.outcomes.first(),
                        Some(OpOutcome::AlreadyExists { .. })
                    ) =>
                {
                    if let Some(error) = reservations.clash(index, &name) {
                        return Err(error);
                    }
                    attempt += 1;
                    if attempt >= 8 {
                        return Err(ApiError::Internal(
                            "could not allocate a ClusterIP or NodePort; try again".to_owned(),
                        ));
                    }
                }
                _ => {
                    value = candidate;
                    break response;
                }
            }
        };
        match response.outcomes.first() {
            Some(OpOutcome::Created { revision }) => {
                set_resource_version(&mut value, *revision);
                Ok(Written {
                    object: value,
                    warnings,
                    created: true,
                })
            }
            Some(OpOutcome::AlreadyExists { .. }) => Err(ApiError::AlreadyExists {
                resource: kind.qualified_plural(),
                name,
            }),
            other => Err(ApiError::Internal(format!(
                "unexpected outcome of a create: {other:?}"
            ))),
        }
    }

    /// Refuses content for a namespace that is missing or terminating. Runs on every create,
    /// so it reads only the namespace's lifecycle fields, not the whole object.
    async fn check_namespace_accepts(&self, namespace: &str) -> Result<(), ApiError> {
        let key = Self::key(namespace_kind(), "", namespace)?;
        let reader = self.store.read(Consistency::Local).await?;
        match reader.get(&key).await? {
            None => Err(ApiError::namespace_not_found(namespace)),
            Some(ns) if Lifecycle::of(&ns.value).is_some_and(|l| l.deleting) => {
                Err(ApiError::Forbidden(format!(
                    "unable to create new content in namespace {namespace} because it is being \
                 terminated"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Replaces an object (PUT), on the main resource or its status.
    pub async fn update(
        &self,
        kind: &'static KindInfo,
        namespace: &str,
        name: &str,
        body: Value,
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let mut body = body;
        check_type(kind, &mut body)?;
        check_namespace(kind, Some(namespace).filter(|n| !n.is_empty()), &mut body)?;
        let body_name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if body_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        self.modify(kind, namespace, name, subresource, options, |_| {
            Ok(Change::Replace(body.clone()))
        })
        .await
    }

    /// Patches an object (PATCH) with any of the four patch types; an apply patch of an absent
    /// object creates it.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        kind: &'static KindInfo,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &[u8],
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if patch_type == PatchType::Apply {
            let applied = patch::parse_apply_body(body).map_err(|e| patch_error(&e))?;
            let existing = self
                .get(kind, namespace, name, Consistency::Linearizable)
                .await?;
            if existing.is_none() && subresource.is_none() {
                let now = now_rfc3339();
                let object = ssa::server_side_apply(
                    kind.schema,
                    None,
                    &applied,
                    &options.manager,
                    options.force,
                    &now,
                )
                .map_err(|e| apply_error(kind, name, e))?;
                if object.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
                    return Err(ApiError::BadRequest(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        object
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )));
                }
                return self
                    .create_inner(
                        kind,
                        Some(namespace).filter(|n| !n.is_empty()),
                        object,
                        options,
                        true,
                    )
                    .await;
            }
            return self
                .modify(kind, namespace, name, subresource, options, |current| {
                    let now = now_rfc3339();
                    let mut live = current.clone();
                    if let Some(meta) = live.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.remove("resourceVersion");
                    }
                    let mut merged = ssa::server_side_apply(
                        kind.schema,
                        Some(&live),
                        &applied,
                        &options.manager,
                        options.force,
                        &now,
                    )
                    .map_err(|e| apply_error(kind, name, e))?;
                    if let Some(rv) = current.pointer("/metadata/resourceVersion") {
                        merged["metadata"]["resourceVersion"] = rv.clone();
                    }
                    Ok(Change::Owned(merged))
                })
                .await;
        }
        self.modify(kind, namespace, name, subresource, options, |current| {
            patch::apply_patch(current, patch_type, body, kind.schema)
                .map(Change::Replace)
                .map_err(|e| patch_error(&e))
        })
        .await
    }

    /// The read-modify-write cycle of every update: reads the object, lets `change` compute
    /// the new one from it, admits that, and writes it on the condition that nothing changed
    /// in between, retrying from a fresh read when something did. A `resourceVersion` in the
    /// new object that differs from the stored one is the client's precondition: 409, no retry.
    pub async fn modify(
        &self,
        kind: &'static KindInfo,
        namespace: &str,
        name: &str,
        subresource: Option<Subresource>,
        options: &WriteOptions,
        mut change: impl FnMut(&Value) -> Result<Change, ApiError>,
    ) -> Result<Written, ApiError> {
        let key = Self::key(kind, namespace, name)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .get_existing(kind, namespace, name, Consistency::Linearizable)
                .await?;
            let current_rv = resource_version(&current).to_owned();
            let (proposed, owned) = match change(&current)? {
                Change::Replace(value) => (value, false),
                Change::Owned(value) => (value, true),
            };
            let proposed_rv = resource_version(&proposed);
            if !proposed_rv.is_empty() && proposed_rv != current_rv {
                return Err(ApiError::modified(&kind.qualified_plural(), name));
            }
            let service = super::services::is_service(kind) && subresource.is_none();
            let mut proposed = proposed;
            if service {
                super::services::drop_type_dependent_fields(&current, &mut proposed);
            }
            let (mut next, warnings) = prepare_update(
                kind,
                &current,
                proposed,
                subresource,
                options.validation,
                name,
            )?;
            if let Some(guard) = &options.guard {
                guard.check(kind, namespace, name, Some(&current), &next)?;
            }
            if !owned {
                let mut old = current.clone();
                strip_resource_version(&mut old);
                ssa::record_update(
                    kind.schema,
                    Some(&old),
                    &mut next,
                    &options.manager,
                    &now_rfc3339(),
                );
            }
            let reservations = if service {
                super::services::allocate_update(&self.store, &current, &mut next).await?
            } else {
                super::services::Reservations::default()
            };
            let finished = is_finished(kind, &next);
            let mut unchanged = current.clone();
            strip_resource_version(&mut unchanged);
            if next == unchanged && !finished {
                return Ok(Written {
                    object: current,
                    warnings,
                    created: false,
                });
            }
            if options.dry_run {
                set_resource_version_text(&mut next, &current_rv);
                return Ok(Written {
                    object: next,
                    warnings,
                    created: false,
                });
            }
            let revision = Revision(current_rv.parse().unwrap_or(0));
            let (outcome, reserved) = self
                .write_at(
                    &key,
                    revision,
                    (!finished).then_some(&next),
                    &reservations.ops,
                )
                .await?;
            // A NodePort taken in the meantime: the client's error if it asked for it, else
            // pick again.
            if matches!(outcome, Some(OpOutcome::Aborted))
                && let Some(index) = reserved
                    .iter()
                    .position(|o| matches!(o, OpOutcome::AlreadyExists { .. }))
            {
                if let Some(error) = reservations.clash(index, name) {
                    return Err(error);
                }
                continue;
            }
            match outcome {
                Some(OpOutcome::Updated { revision })
                | Some(OpOutcome::Deleted { revision, .. }) => {
                    set_resource_version(&mut next, revision);
                    return Ok(Written {
                        object: next,
                        warnings,
                        created: false,
                    });
                }
                Some(OpOutcome::Conflict { .. }) => continue,
                Some(OpOutcome::NotFound) => return Err(not_found(kind, name)),
                other => {
                    return Err(ApiError::Internal(format!(
                        "unexpected outcome of an update: {other:?}"
                    )));
                }
            }
        }
        Err(ApiError::Conflict {
            resource: kind.qualified_plural(),
            name: name.to_owned(),
            detail: "the object changed too often while the write was retried; try again"
                .to_owned(),
        })
    }

    /// Deletes an object: at once, or by marking it for its finalizers and grace period.
    pub async fn delete(
        &self,
        kind: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let key = Self::key(kind, namespace, name)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .get_existing(kind, namespace, name, Consistency::Linearizable)
                .await?;
            check_delete_preconditions(kind, name, &current, options)?;
            let mut next = current.clone();
            strip_resource_version(&mut next);
            let deleting = is_deleting(&current);
            let mut pending = false;
            {
                let meta = metadata_mut(&mut next)?;
                let mut list = meta
                    .get("finalizers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let add = match options.propagation {
                    Propagation::Foreground => Some(FOREGROUND_FINALIZER),
                    Propagation::Orphan => Some(ORPHAN_FINALIZER),
                    Propagation::Background => None,
                };
                if let Some(finalizer) = add
                    && !deleting
                    && !list.iter().any(|f| f == finalizer)
                {
                    list.push(Value::from(finalizer));
                }
                if !list.is_empty() {
                    meta.insert("finalizers".to_owned(), Value::Array(list));
                    pending = true;
                }
            }
            if kind.kind == "Namespace" {
                pending = true;
                next["status"]["phase"] = Value::from("Terminating");
            }
            if let Some(grace) = pod_grace(kind, &current, options)
                && grace > 0
            {
                pending = true;
                let meta = metadata_mut(&mut next)?;
                if !deleting {
                    meta.insert("deletionGracePeriodSeconds".to_owned(), Value::from(grace));
                    meta.insert(
                        "deletionTimestamp".to_owned(),
                        Value::from(rfc3339_after(grace)),
                    );
                }
            }
            if pending {
                if !deleting {
                    let meta = metadata_mut(&mut next)?;
                    meta.entry("deletionTimestamp")
                        .or_insert_with(|| Value::from(now_rfc3339()));
                    meta.entry("deletionGracePeriodSeconds")
                        .or_insert_with(|| Value::from(0));
                }
                let mut unchanged = current.clone();
                strip_resource_version(&mut unchanged);
                if next == unchanged || options.dry_run {
                    if options.dry_run {
                        set_resource_version_text(&mut next, resource_version(&current));
                        return Ok(Deleted::Pending(next));
                    }
                    return Ok(Deleted::Pending(current));
                }
            } else if options.dry_run {
                return Ok(Deleted::Gone(current));
            }
            let revision = Revision(resource_version(&current).parse().unwrap_or(0));
            match self
                .write_at(&key, revision, pending.then_some(&next), &[])
                .await?
                .0
            {
                Some(OpOutcome::Updated { revision }) => {
                    set_resource_version(&mut next, revision);
                    return Ok(Deleted::Pending(next));
                }
                Some(OpOutcome::Deleted { .. }) => return Ok(Deleted::Gone(current)),
                Some(OpOutcome::Conflict { .. }) => continue,
                Some(OpOutcome::NotFound) => return Err(not_found(kind, name)),
                other => {
                    return Err(ApiError::Internal(format!(
                        "unexpected outcome of a delete: {other:?}"
                    )));
                }
            }
        }
        Err(ApiError::modified(&kind.qualified_plural(), name))
    }
}

impl Resources {
    /// Writes `value` under `key` (or deletes the object, for `None`) on the condition that it
    /// is still at `revision`; returns what the store did.
    /// Writes `value` (or deletes, with `None`) if the object is still at `revision`, in one
    /// transaction with `extra` operations; returns the object's outcome and theirs.
    async fn write_at(
        &self,
        key: &ObjectKey,
        revision: Revision,
        value: Option<&Value>,
        extra: &[Op],
    ) -> Result<(Option<OpOutcome>, Vec<OpOutcome>), ApiError> {
        let preconditions = Preconditions::revision(revision);
        let op = match value {
            Some(value) => Op::Update {
                key: key.clone(),
                value: ObjectValue::from_value(value).map_err(ApiError::from)?,
                preconditions,
            },
            None => Op::Delete {
                key: key.clone(),
                preconditions,
            },
        };
        let command = if extra.is_empty() {
            Command::single(Timestamp::now(), op)
        } else {
            let mut ops = vec![op];
            ops.extend(extra.iter().cloned());
            Command::txn(Timestamp::now(), ops)
        };
        let response = self.store.write(command).await?;
        let mut outcomes = response.outcomes.into_iter();
        let first = outcomes.next();
        Ok((first, outcomes.collect()))
    }
}

/// What a read-modify-write produces from the current object.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new object; managedFields are computed for the writer.
    Replace(Value),
    /// A new object whose managedFields are already right (server-side apply).
    Owned(Value),
}

fn check_delete_preconditions(
    kind: &KindInfo,
    name: &str,
    current: &Value,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let conflict = |detail: String| ApiError::Conflict {
        resource: kind.qualified_plural(),
        name: name.to_owned(),
        detail,
    };
    if let Some(uid) = &options.uid {
        let actual = current
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if uid != actual {
            return Err(conflict(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
            )));
        }
    }
    if let Some(rv) = &options.resource_version {
        let actual = resource_version(current);
        if rv != actual {
            return Err(conflict(format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion \
                 in object meta: {actual}"
            )));
        }
    }
    Ok(())
}

/// The grace period of a pod's deletion; `None` for other kinds and for pods no node runs
/// (those go at once, as in Kubernetes).
fn pod_grace(kind: &KindInfo, pod: &Value, options: &DeleteOptions) -> Option<i64> {
    if kind.kind != "Pod" || !kind.group.is_empty() {
        return None;
    }
    let bound = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !bound || finished {
        return None;
    }
    Some(options.grace_period_seconds.unwrap_or_else(|| {
        pod.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30)
    }))
}

/// The stored object in its API form: the JSON with `metadata.resourceVersion`.
pub fn to_api(object: &Object) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_slice(&object.value).map_err(|e| {
        ApiError::Internal(format!("stored object {} is not JSON: {e}", object.key))
    })?;
    set_resource_version(&mut value, object.mod_revision);
    Ok(value)
}

fn set_resource_version(value: &mut Value, revision: Revision) {
    set_resource_version_text(value, &revision.0.to_string());
}

fn set_resource_version_text(value: &mut Value, revision: &str) {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".to_owned(), Value::from(revision));
    }
}

fn strip_resource_version(value: &mut Value) {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
}

/// An object's `metadata.resourceVersion`, or `""`.
pub fn resource_version(value: &Value) -> &str {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether a deleted object has nothing left to wait for (finalizers, a grace period, a
/// namespace's content), so the next write removes it.
fn is_finished(kind: &KindInfo, value: &Value) -> bool {
    is_deleting(value)
        && finalizers(value).is_empty()
        && value
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
        && (kind.kind != "Namespace"
            || value
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty))
}

/// The metadata fields that decide an object's lifecycle, read from its stored JSON without
/// building the whole object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    pub(crate) owner_references: usize,
    pub(crate) finalizers: usize,
    pub(crate) deleting: bool,
}

impl Lifecycle {
    /// `None` when the value does not decode as an object with object metadata.
    pub(crate) fn of(value: &[u8]) -> Option<Self> {
        use serde::de::IgnoredAny;
        #[derive(serde::Deserialize)]
        struct Object {
            #[serde(default)]
            metadata: Metadata,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Metadata {
            #[serde(default)]
            owner_references: Vec<IgnoredAny>,
            #[serde(default)]
            finalizers: Vec<IgnoredAny>,
            deletion_timestamp: Option<IgnoredAny>,
        }
        let meta = serde_json::from_slice::<Object>(value).ok()?.metadata;
        Some(Lifecycle {
            owner_references: meta.owner_references.len(),
            finalizers: meta.finalizers.len(),
            deleting: meta.deletion_timestamp.is_some(),
        })
    }
}

/// Whether the object has a deletion timestamp.
pub fn is_deleting(value: &Value) -> bool {
    value
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// The object's finalizers.
pub fn finalizers(value: &Value) -> Vec<&str> {
    value
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn not_found(kind: &KindInfo, name: &str) -> ApiError {
    ApiError::NotFound {
        resource: kind.qualified_plural(),
        name: name.to_owned(),
    }
}

fn namespace_kind() -> &'static KindInfo {
    shoal_manifests::registry::by_resource("", "v1", "namespaces")
        .unwrap_or(&shoal_manifests::KINDS[0])
}

/// The current time as Kubernetes writes it: RFC 3339 in UTC, to the second.
pub fn now_rfc3339() -> String {
    rfc3339_after(0)
}

fn rfc3339_after(seconds: i64) -> String {
    let now = jiff::Timestamp::now().as_second().saturating_add(seconds);
    jiff::Timestamp::from_second(now)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Five characters for `generateName`, from the alphabet Kubernetes uses (no vowels, no
/// look-alikes).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_name_suffixes_use_the_kubernetes_alphabet() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
    }

    #[test]
    fn delete_options_from_body_and_query() {
        let query = super::super::request::Query::parse("gracePeriodSeconds=0");
        let options = DeleteOptions::parse(
            br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","preconditions":{"uid":"u1","resourceVersion":"7"}}"#,
            &query,
        )
        .unwrap();
        assert_eq!(options.propagation, Propagation::Foreground);
        assert_eq!(options.uid.as_deref(), Some("u1"));
        assert_eq!(options.resource_version.as_deref(), Some("7"));
        assert_eq!(options.grace_period_seconds, Some(0));
        let options = DeleteOptions::parse(b"", &super::super::request::Query::parse("")).unwrap();
        assert_eq!(options.propagation, Propagation::Background);
        assert!(DeleteOptions::parse(br#"{"propagationPolicy":"Sideways"}"#, &query).is_err());
        assert!(DeleteOptions::parse(b"{", &query).is_err());
    }
}
