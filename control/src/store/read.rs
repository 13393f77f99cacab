//! Local reads of the state machine: get by key, and lists by prefix paginated at one revision.
//!
//! A list's first page is read at the node's applied revision; its continue token carries that
//! revision and the last key returned. A later page is read at the same revision by taking the
//! current objects and undoing, from the watch history, every change made after it: for each
//! key changed since, the `previous` record of its first later change is its state at the list's
//! revision. All of it happens in one redb read transaction, so a page never mixes revisions.
//! A token older than the retained history gets `Gone`, as Kubernetes answers an expired
//! continue token with 410.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use redb::ReadableDatabase;

use super::blocking;
use super::codec::{Change, Record};
use super::error::StoreError;
use super::machine::{HISTORY, META, MachineInner, MachineMeta, OBJECTS, StateMachine};
use super::types::{KeyPrefix, Object, ObjectKey, Revision};
use super::watch::Watcher;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    pub prefix: KeyPrefix,
    /// The most items to return; 0 means no limit.
    pub limit: usize,
    /// The token of the previous page, if this is not the first.
    pub continue_token: Option<String>,
}

impl ListOptions {
    /// Everything under `prefix`, in one page.
    pub fn all(prefix: KeyPrefix) -> Self {
        ListOptions {
            prefix,
            limit: 0,
            continue_token: None,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The revision every page of this list is read at.
    pub revision: Revision,
    /// Objects in key order.
    pub items: Vec<Object>,
    /// Present when more items follow.
    pub continue_token: Option<String>,
}

/// Where a list stopped: an opaque `"{revision:x}.{hex(last key)}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContinueToken {
    pub(crate) revision: Revision,
    pub(crate) last_key: String,
}

impl ContinueToken {
    pub(crate) fn encode(&self) -> String {
        let mut out = format!("{:x}.", self.revision.0);
        for byte in self.last_key.as_bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    pub(crate) fn decode(token: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidContinue {
            reason: reason.to_owned(),
        };
        let (revision, key) = token
            .split_once('.')
            .ok_or_else(|| invalid("it has no revision part"))?;
        let revision = u64::from_str_radix(revision, 16)
            .map_err(|_| invalid("the revision is not a number"))?;
        if key.len() % 2 != 0 || !key.is_ascii() {
            return Err(invalid("the key is not hex"));
        }
        let bytes = (0..key.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&key[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid("the key is not hex"))?;
        let last_key = String::from_utf8(bytes).map_err(|_| invalid("the key is not UTF-8"))?;
        Ok(ContinueToken {
            revision: Revision(revision),
            last_key,
        })
    }
}

/// Reads and watches the local state machine. Obtained from [`super::Store::read`], which
/// settles consistency first, or from [`StateMachine::reader`] for plain local access.
#[derive(Debug, Clone)]
pub struct Reader {
    machine: StateMachine,
}

impl Reader {
    pub(crate) fn new(machine: StateMachine) -> Self {
        Reader { machine }
    }

    /// The revision of the last entry applied on this node.
    pub async fn applied_revision(&self) -> Result<Revision, StoreError> {
        let inner = self.machine.inner.clone();
        blocking(move || Ok(inner.read_meta()?.applied_revision())).await
    }

    /// The object under `key`, if any.
    ///
    /// A point read runs on the calling task rather than the blocking pool: it touches a few
    /// pages that redb's cache almost always holds, and the pool's thread wake-up each way
    /// costs more than the read (it was a tenth of the API server's time on creates, which
    /// read their namespace).
    pub async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, StoreError> {
        let txn = self.machine.inner.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        let record = match table.get(key.as_str())? {
            None => return Ok(None),
            Some(bytes) => Record::decode(bytes.value())?,
        };
        Ok(Some(record.into_object(key.clone())))
    }

    /// One page of objects under a prefix.
    pub async fn list(&self, options: ListOptions) -> Result<ListPage, StoreError> {
        let inner = self.machine.inner.clone();
        blocking(move || inner.list(&options)).await
    }

    /// Every change under `prefix` after revision `from`, in order and once each, then live
    /// changes as they are applied. Fails with [`StoreError::Gone`] when `from` is older than
    /// the retained history.
    pub async fn watch(&self, prefix: KeyPrefix, from: Revision) -> Result<Watcher, StoreError> {
        Watcher::start(&self.machine, prefix, from).await
    }
}

impl MachineInner {
    fn list(&self, options: &ListOptions) -> Result<ListPage, StoreError> {
        let prefix = &options.prefix;
        let txn = self.db.begin_read()?;
        let meta = MachineMeta::load(&txn.open_table(META)?)?;
        let applied = meta.applied_revision();
        let (revision, after) = match &options.continue_token {
            None => (applied, None),
            Some(token) => {
                let token = ContinueToken::decode(token)?;
                if !prefix.matches(&token.last_key) {
                    return Err(StoreError::InvalidContinue {
                        reason: "it belongs to a list of another prefix".to_owned(),
                    });
                }
                (token.revision, Some(token.last_key))
            }
        };
        if revision > applied {
            return Err(StoreError::FutureRevision {
                requested: revision,
                applied,
            });
        }
        if revision < applied && revision < meta.compacted {
            return Err(StoreError::Gone {
                requested: revision,
                oldest: meta.compacted,
            });
        }
        let past_after = |key: &str| after.as_deref().is_none_or(|after| key > after);

        // The state at `revision` of every key changed after it.
        let mut at_revision: BTreeMap<String, Option<Record>> = BTreeMap::new();
        if revision < applied {
            let history = txn.open_table(HISTORY)?;
            for item in history.range((revision.0 + 1, 0)..)? {
                let (key, bytes) = item?;
                let change = Change::decode(Revision(key.value().0), bytes.value())?;
                if prefix.matches(&change.key) && past_after(&change.key) {
                    at_revision.entry(change.key).or_insert(change.previous);
                }
            }
        }
        let changed: BTreeSet<String> = at_revision.keys().cloned().collect();
        let mut restored = at_revision
            .into_iter()
            .filter_map(|(key, record)| record.map(|record| (key, record)))
            .peekable();

        let objects = txn.open_table(OBJECTS)?;
        let start = match &after {
            Some(after) => Bound::Excluded(after.as_str()),
            None => Bound::Included(prefix.as_str()),
        };
        let mut unchanged = objects.range::<&str>((start, Bound::Unbounded))?;
        let mut next_unchanged = || -> Result<Option<(String, Record)>, StoreError> {
            for item in unchanged.by_ref() {
                let (key, bytes) = item?;
                let key = key.value();
                if !prefix.matches(key) {
                    return Ok(None);
                }
                if !changed.contains(key) {
                    return Ok(Some((key.to_owned(), Record::decode(bytes.value())?)));
                }
            }
            Ok(None)
        };

        let limit = if options.limit == 0 {
            usize::MAX
        } else {
            options.limit
        };
        let mut items: Vec<Object> = Vec::new();
        let mut current = next_unchanged()?;
        let mut more = false;
        loop {
            let take_current = match (&current, restored.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((a, _)), Some((b, _))) => a < b,
            };
            if items.len() == limit {
                more = true;
                break;
            }
            let next = if take_current {
                let taken = current.take();
                current = next_unchanged()?;
                taken
            } else {
                restored.next()
            };
            if let Some((key, record)) = next {
                items.push(record.into_object(ObjectKey::parse(&key)?));
            }
        }
        let continue_token = match (more, items.last()) {
            (true, Some(last)) => Some(
                ContinueToken {
                    revision,
                    last_key: last.key.as_str().to_owned(),
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(ListPage {
            revision,
            items,
            continue_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = ContinueToken {
            revision: Revision(0x1f4),
            last_key: "pods/default/web-0".into(),
        };
        let encoded = token.encode();
        assert!(encoded.starts_with("1f4."), "{encoded}");
        assert_eq!(ContinueToken::decode(&encoded).ok(), Some(token));
        for bad in ["", "zz.00", "1f4", "1f4.0", "1f4.zz", "1.ff"] {
            assert!(
                ContinueToken::decode(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
