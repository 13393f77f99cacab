//! The vocabulary of the store: object keys, revisions, the commands proposed to Raft and the
//! answers its apply step gives, plus the openraft type configuration that ties them together.

use std::fmt;
use std::io::Cursor;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::StoreError;

/// The identity of a control-plane node inside the Raft group.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft type configuration of Shoal's store.
    pub TypeConfig:
        D = Batch,
        R = BatchResponse,
        NodeId = NodeId,
        Node = super::identity::Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of this store.
pub type StoreRaft = openraft::Raft<TypeConfig>;

/// A point in the store's history: the Raft log index of the entry that made a change, and the
/// position of the change's command inside that entry.
///
/// One entry carries a [`Batch`] of up to [`Revision::SLOTS`] commands, so that one log
/// append (and one fsync) covers many concurrent writes. A revision is `index × SLOTS + slot`:
/// it still names the log entry (`entry_index`), every command of an entry gets its own
/// revision, and revisions strictly increase in log order. Entries that change no object
/// (blank and membership entries, failed transactions) use up their revisions too, so
/// revisions have gaps; nothing may assume the next revision is one more than the last.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Revision(pub u64);

impl Revision {
    /// How many commands one log entry may carry.
    pub const SLOTS: u64 = 1 << 10;

    /// The revision of the command at `slot` of the entry at log `index`.
    pub fn of(index: u64, slot: usize) -> Self {
        let slot = u64::try_from(slot).unwrap_or(u64::MAX).min(Self::SLOTS - 1);
        Revision(index.saturating_mul(Self::SLOTS).saturating_add(slot))
    }

    /// The last revision the entry at log `index` can hold: everything up to it is known once
    /// that entry is applied.
    pub fn through_entry(index: u64) -> Self {
        if index == 0 {
            return Revision(0);
        }
        Self::of(index, usize::MAX)
    }

    /// The log index of the entry this revision belongs to.
    pub fn entry_index(self) -> u64 {
        self.0 / Self::SLOTS
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An object's cluster-wide unique identity (`metadata.uid`), chosen before proposing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(pub String);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, fixed by the proposer.
///
/// The apply step never reads a clock; the history window's age is measured against the
/// timestamps carried by commands, so every node compacts the same way.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time, for proposers.
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        Timestamp(u64::try_from(millis).unwrap_or(u64::MAX))
    }
}

/// The storage key of an object: `"{resource}/{namespace}/{name}"`, with an empty namespace for
/// cluster-scoped objects. No part may contain `/`; resource and name may not be empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key of a namespaced object.
    pub fn new(resource: &str, namespace: &str, name: &str) -> Result<Self, StoreError> {
        let key = format!("{resource}/{namespace}/{name}");
        check_part(&key, "resource", resource, false)?;
        check_part(&key, "namespace", namespace, true)?;
        check_part(&key, "name", name, false)?;
        Ok(ObjectKey(key))
    }

    /// The key of a cluster-scoped object (empty namespace).
    pub fn cluster(resource: &str, name: &str) -> Result<Self, StoreError> {
        Self::new(resource, "", name)
    }

    /// Parses a storage key string back into a key.
    pub fn parse(key: &str) -> Result<Self, StoreError> {
        let mut parts = key.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(resource), Some(namespace), Some(name), None) => {
                Self::new(resource, namespace, name)
            }
            _ => Err(StoreError::InvalidKey {
                key: key.to_owned(),
                reason: "expected resource/namespace/name".to_owned(),
            }),
        }
    }

    /// The storage form, `"{resource}/{namespace}/{name}"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parts(&self) -> (&str, &str, &str) {
        let mut parts = self.0.splitn(3, '/');
        let resource = parts.next().unwrap_or_default();
        let namespace = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        (resource, namespace, name)
    }

    /// The resource (plural kind) part.
    pub fn resource(&self) -> &str {
        self.parts().0
    }

    /// The namespace part; empty for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        self.parts().1
    }

    /// The name part.
    pub fn name(&self) -> &str {
        self.parts().2
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ObjectKey> for String {
    fn from(key: ObjectKey) -> String {
        key.0
    }
}

fn check_part(key: &str, what: &str, part: &str, may_be_empty: bool) -> Result<(), StoreError> {
    let reason = if part.contains('/') {
        format!("the {what} contains '/'")
    } else if part.is_empty() && !may_be_empty {
        format!("the {what} is empty")
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// The set of keys a list or watch covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Every object in the store.
    pub fn all() -> Self {
        KeyPrefix(String::new())
    }

    /// Every object of one resource, in all namespaces.
    pub fn resource(resource: &str) -> Result<Self, StoreError> {
        let prefix = format!("{resource}/");
        check_part(&prefix, "resource", resource, false)?;
        Ok(KeyPrefix(prefix))
    }

    /// Every object of one resource in one namespace (the empty namespace selects the
    /// cluster-scoped objects).
    pub fn namespace(resource: &str, namespace: &str) -> Result<Self, StoreError> {
        let prefix = format!("{resource}/{namespace}/");
        check_part(&prefix, "resource", resource, false)?;
        check_part(&prefix, "namespace", namespace, true)?;
        Ok(KeyPrefix(prefix))
    }

    /// The storage prefix string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a storage key falls under this prefix.
    pub fn matches(&self, key: &str) -> bool {
        key.starts_with(&self.0)
    }
}

/// An object's value: a JSON document, carried verbatim through the Raft log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectValue(Box<RawValue>);

impl ObjectValue {
    /// Wraps JSON text, checking that it is one well-formed JSON document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice::<Box<RawValue>>(bytes)
            .map(ObjectValue)
            .map_err(|source| StoreError::InvalidValue { source })
    }

    /// Serializes a value.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, StoreError> {
        serde_json::value::to_raw_value(value)
            .map(ObjectValue)
            .map_err(|source| StoreError::InvalidValue { source })
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.get().as_bytes()
    }
}

impl PartialEq for ObjectValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for ObjectValue {}

/// Conditions an update or delete must meet against the object as it is when the entry is
/// applied. Empty preconditions make the operation unconditional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Preconditions {
    /// The object's modify revision must equal this.
    pub revision: Option<Revision>,
    /// The object's uid must equal this.
    pub uid: Option<Uid>,
}

impl Preconditions {
    /// No condition.
    pub fn none() -> Self {
        Self::default()
    }

    /// The object must still be at `revision`.
    pub fn revision(revision: Revision) -> Self {
        Preconditions {
            revision: Some(revision),
            uid: None,
        }
    }

    /// The object must still have `uid`.
    pub fn uid(uid: Uid) -> Self {
        Preconditions {
            revision: None,
            uid: Some(uid),
        }
    }
}

/// One conditional write. Its condition is decided inside apply, the same on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create the object if no object has this key.
    Create {
        key: ObjectKey,
        uid: Uid,
        value: ObjectValue,
    },
    /// Replace an existing object's value, keeping its uid and create revision.
    Update {
        key: ObjectKey,
        value: ObjectValue,
        preconditions: Preconditions,
    },
    /// Remove an existing object.
    Delete {
        key: ObjectKey,
        preconditions: Preconditions,
    },
}

impl Op {
    /// The key this operation writes.
    pub fn key(&self) -> &ObjectKey {
        match self {
            Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key,
        }
    }
}

/// A transaction of conditional writes that all commit or none do, with the proposer's clock
/// reading. Each command gets its own revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// When the proposer built the command.
    pub at: Timestamp,
    /// The writes, applied in order; a later op sees the effect of an earlier one.
    pub ops: Vec<Op>,
}

impl Command {
    /// A transaction of several writes.
    pub fn txn(at: Timestamp, ops: Vec<Op>) -> Self {
        Command { at, ops }
    }

    /// A single write.
    pub fn single(at: Timestamp, op: Op) -> Self {
        Command { at, ops: vec![op] }
    }

    /// Roughly how many bytes the command takes in the log, to bound a batch's size.
    pub fn weight(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Create { key, value, .. } | Op::Update { key, value, .. } => {
                    key.as_str().len() + value.as_bytes().len()
                }
                Op::Delete { key, .. } => key.as_str().len(),
            })
            .sum::<usize>()
            + 16
    }
}

/// The payload of one Raft entry: commands from concurrent writers, applied in order, each
/// independently (one failing does not affect the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub commands: Vec<Command>,
}

/// The answer of apply to one entry: one response per command of its batch, in order (none for
/// blank and membership entries).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchResponse(pub Vec<TxnResponse>);

/// An object as stored, with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub key: ObjectKey,
    pub uid: Uid,
    /// The JSON value.
    #[serde(with = "json_text")]
    pub value: Vec<u8>,
    /// The revision that created the object.
    pub create_revision: Revision,
    /// The revision that last wrote the object (its `resourceVersion`).
    pub mod_revision: Revision,
}

/// What one operation of a transaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpOutcome {
    Created {
        revision: Revision,
    },
    Updated {
        revision: Revision,
    },
    /// The object was removed; `previous` is its last state.
    Deleted {
        revision: Revision,
        previous: Box<Object>,
    },
    /// A create found an object with that key.
    AlreadyExists {
        current_revision: Revision,
    },
    /// A precondition did not hold against the current object.
    Conflict {
        current_revision: Revision,
        current_uid: Uid,
    },
    /// An update or delete found no object.
    NotFound,
    /// The op's condition held, but another op of the same transaction failed.
    Aborted,
}

impl OpOutcome {
    /// Whether this op's condition held.
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            OpOutcome::Created { .. } | OpOutcome::Updated { .. } | OpOutcome::Deleted { .. }
        )
    }
}

/// The answer of apply to one command.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnResponse {
    /// The command's revision.
    pub revision: Revision,
    /// Whether every op held and the transaction committed.
    pub succeeded: bool,
    /// One outcome per op, in order.
    pub outcomes: Vec<OpOutcome>,
}

/// Serializes JSON bytes as a string, so a value reads as text wherever it crosses a boundary.
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(bytes).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        String::deserialize(d).map(String::into_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_reject_slashes() {
        let key = ObjectKey::new("pods", "default", "web-0").expect("valid key");
        assert_eq!(key.as_str(), "pods/default/web-0");
        assert_eq!(
            (key.resource(), key.namespace(), key.name()),
            ("pods", "default", "web-0")
        );
        assert_eq!(ObjectKey::parse("pods/default/web-0").ok(), Some(key));
        let node = ObjectKey::cluster("nodes", "edge-1").expect("valid key");
        assert_eq!(node.as_str(), "nodes//edge-1");
        assert_eq!(node.namespace(), "");
        assert!(ObjectKey::new("pods", "a/b", "x").is_err());
        assert!(ObjectKey::new("pods", "default", "").is_err());
        assert!(ObjectKey::parse("pods/default").is_err());
        assert!(ObjectKey::parse("pods/a/b/c").is_err());
    }

    #[test]
    fn revisions_name_their_entry_and_increase_in_log_order() {
        assert_eq!(Revision::of(3, 0).entry_index(), 3);
        assert_eq!(Revision::of(3, 1023).entry_index(), 3);
        assert!(Revision::of(3, 1023) < Revision::of(4, 0));
        assert!(Revision::of(3, 0) < Revision::of(3, 1));
        assert_eq!(Revision::through_entry(3), Revision::of(3, 1023));
        assert_eq!(Revision::through_entry(0), Revision(0));
        // A slot past the end is clamped rather than spilling into the next entry.
        assert_eq!(Revision::of(3, 5000), Revision::of(3, 1023));
    }

    #[test]
    fn prefixes_do_not_match_longer_resource_names() {
        let pods = KeyPrefix::resource("pods").expect("valid prefix");
        assert!(pods.matches("pods/default/a"));
        assert!(!pods.matches("podsecuritypolicies//a"));
        let ns = KeyPrefix::namespace("pods", "default").expect("valid prefix");
        assert!(ns.matches("pods/default/a"));
        assert!(!ns.matches("pods/default2/a"));
    }

    #[test]
    fn values_must_be_json_and_travel_verbatim() {
        assert!(ObjectValue::from_json(b"{\"a\": 1").is_err());
        let value = ObjectValue::from_json(b"{\"b\":2,\"a\":1}").expect("valid JSON");
        let command = Command::single(
            Timestamp(5),
            Op::Create {
                key: ObjectKey::new("configmaps", "default", "c").expect("valid key"),
                uid: Uid("u-1".into()),
                value,
            },
        );
        let encoded = serde_json::to_string(&command).expect("serializes");
        assert!(encoded.contains("{\"b\":2,\"a\":1}"), "{encoded}");
        let decoded: Command = serde_json::from_str(&encoded).expect("deserializes");
        assert_eq!(decoded, command);
    }
}
