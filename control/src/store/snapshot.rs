//! Snapshots of the state machine: building one from a consistent read of the objects, and
//! installing one received from the leader.
//!
//! A snapshot holds the objects and the set of retired node ids; the watch history is
//! node-local. Installing replaces the
//! objects in one redb transaction, clears the history and marks it compacted at the snapshot's
//! revision, so a watch or continue token from before the snapshot gets `Gone`. Live watchers
//! keep going: the net difference between the old and new objects is sent to them as events at
//! the snapshot's revision.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use openraft::{RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError};
use redb::{Durability, ReadableDatabase, ReadableTable};

use super::blocking;
use super::codec::{ByteReader, Change, EventKind, Record};
use super::error::{CodecError, StoreError};
use super::identity::Member;
use super::machine::{
    ChangeBatch, HISTORY, META, MachineInner, MachineMeta, OBJECTS, SNAPSHOT, StateMachine,
};
use super::types::{NodeId, Timestamp, TypeConfig};

const MAGIC: &[u8; 8] = b"SHOALSM2";
const SNAPSHOT_META: &str = "meta";
const SNAPSHOT_DATA: &str = "data";

/// What a snapshot carries besides its metadata.
#[derive(Debug, Default, PartialEq, Eq)]
struct Contents {
    retired: BTreeSet<NodeId>,
    objects: BTreeMap<String, Record>,
}

/// Encodes a snapshot as: magic, the retired node ids (count, then each, u64 LE), the object
/// count (u64 LE), then per object its key and record, each as a length (u32 LE) and bytes, in
/// key order.
fn encode(retired: &BTreeSet<NodeId>, objects: &[(String, Vec<u8>)]) -> Vec<u8> {
    let size: usize = objects.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(24 + 8 * retired.len() + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(retired.len() as u64).to_le_bytes());
    for id in retired {
        out.extend_from_slice(&id.to_le_bytes());
    }
    out.extend_from_slice(&(objects.len() as u64).to_le_bytes());
    for (key, record) in objects {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(record.len() as u32).to_le_bytes());
        out.extend_from_slice(record);
    }
    out
}

/// Decodes and checks snapshot data completely before anything is replaced.
fn decode(data: &[u8]) -> Result<Contents, CodecError> {
    const WHAT: &str = "snapshot";
    let mut r = ByteReader::new(data, WHAT);
    if r.take(MAGIC.len())? != MAGIC {
        return Err(CodecError::Malformed {
            what: WHAT,
            reason: "it does not start with the snapshot format marker",
        });
    }
    let mut contents = Contents::default();
    for _ in 0..r.u64()? {
        contents.retired.insert(r.u64()?);
    }
    for _ in 0..r.u64()? {
        let key_len = r.u32()? as usize;
        let key = r.str(key_len)?.to_owned();
        let record_len = r.u32()? as usize;
        let record = Record::decode(r.take(record_len)?)?;
        contents.objects.insert(key, record);
    }
    if !r.is_empty() {
        return Err(CodecError::Malformed {
            what: WHAT,
            reason: "bytes follow the last object",
        });
    }
    Ok(contents)
}

fn encode_meta(meta: &SnapshotMeta<NodeId, Member>) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(meta).map_err(|source| StoreError::Encode {
        what: "snapshot metadata",
        source,
    })
}

impl MachineInner {
    /// Reads the objects and the applied position in one read transaction, then records the
    /// result as the current snapshot.
    fn build_snapshot(&self) -> Result<Snapshot<TypeConfig>, StoreError> {
        let (meta, objects) = {
            let txn = self.db.begin_read()?;
            let meta = MachineMeta::load(&txn.open_table(META)?)?;
            let table = txn.open_table(OBJECTS)?;
            let mut objects = Vec::new();
            for item in table.iter()? {
                let (key, record) = item?;
                objects.push((key.value().to_owned(), record.value().to_vec()));
            }
            (meta, objects)
        };
        let data = encode(&meta.retired, &objects);

        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let snapshot_meta;
        {
            let mut meta_table = txn.open_table(META)?;
            let mut current = MachineMeta::load(&meta_table)?;
            current.snapshot_seq += 1;
            current.store(&mut meta_table)?;
            let snapshot_id = match meta.last_applied {
                Some(id) => format!("{}-{}-{}", id.leader_id, id.index, current.snapshot_seq),
                None => format!("empty-{}", current.snapshot_seq),
            };
            snapshot_meta = SnapshotMeta {
                last_log_id: meta.last_applied,
                last_membership: meta.membership.clone(),
                snapshot_id,
            };
            let mut table = txn.open_table(SNAPSHOT)?;
            table.insert(SNAPSHOT_META, encode_meta(&snapshot_meta)?.as_slice())?;
            table.insert(SNAPSHOT_DATA, data.as_slice())?;
        }
        txn.commit()?;
        Ok(Snapshot {
            meta: snapshot_meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }

    pub(crate) fn current_snapshot(&self) -> Result<Option<Snapshot<TypeConfig>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SNAPSHOT)?;
        let (Some(meta), Some(data)) = (table.get(SNAPSHOT_META)?, table.get(SNAPSHOT_DATA)?)
        else {
            return Ok(None);
        };
        let meta: SnapshotMeta<NodeId, Member> =
            serde_json::from_slice(meta.value()).map_err(|e| {
                StoreError::Corrupt(CodecError::Json {
                    what: "snapshot metadata",
                    message: e.to_string(),
                })
            })?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.value().to_vec())),
        }))
    }

    /// Replaces the state machine with the snapshot in one transaction and returns the net
    /// changes for live watchers.
    pub(crate) fn install_snapshot(
        &self,
        snapshot_meta: &SnapshotMeta<NodeId, Member>,
        data: &[u8],
    ) -> Result<ChangeBatch, StoreError> {
        let Contents {
            retired,
            objects: incoming,
        } = decode(data)?;
        let revision = super::types::Revision::through_entry(
            snapshot_meta.last_log_id.map_or(0, |id| id.index),
        );
        let at = Timestamp::default();

        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut changes = Vec::new();
        {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut remaining = incoming.clone();
            for item in objects.iter()? {
                let (key, bytes) = item?;
                let key = key.value().to_owned();
                let old = Record::decode(bytes.value())?;
                match remaining.remove(&key) {
                    Some(new) if new == old => {}
                    Some(new) => changes.push(Change {
                        revision,
                        kind: EventKind::Modified,
                        at,
                        key,
                        previous: Some(old),
                        current: Some(new),
                    }),
                    None => changes.push(Change {
                        revision,
                        kind: EventKind::Deleted,
                        at,
                        key,
                        previous: Some(old),
                        current: None,
                    }),
                }
            }
            for (key, new) in remaining {
                changes.push(Change {
                    revision,
                    kind: EventKind::Added,
                    at,
                    key,
                    previous: None,
                    current: Some(new),
                });
            }
            changes.sort_by(|a, b| a.key.cmp(&b.key));

            objects.retain(|_, _| false)?;
            for (key, record) in &incoming {
                objects.insert(key.as_str(), record.encode().as_slice())?;
            }

            txn.open_table(HISTORY)?.retain(|_, _| false)?;

            let mut meta_table = txn.open_table(META)?;
            let mut meta = MachineMeta::load(&meta_table)?;
            meta.last_applied = snapshot_meta.last_log_id;
            meta.membership = snapshot_meta.last_membership.clone();
            meta.compacted = revision;
            meta.history_len = 0;
            meta.retired = retired;
            meta.store(&mut meta_table)?;

            let mut table = txn.open_table(SNAPSHOT)?;
            table.insert(SNAPSHOT_META, encode_meta(snapshot_meta)?.as_slice())?;
            table.insert(SNAPSHOT_DATA, data)?;
        }
        txn.commit()?;
        Ok(ChangeBatch {
            upto: revision,
            changes,
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let inner = self.inner.clone();
        let snapshot = blocking(move || inner.build_snapshot())
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        tracing::info!(snapshot = %snapshot.meta.snapshot_id, "built snapshot");
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::{Revision, Uid};

    #[test]
    fn snapshot_data_round_trips_and_rejects_damage() {
        let record = Record {
            uid: Uid("u".into()),
            create_revision: Revision(1),
            mod_revision: Revision(3),
            value: b"{\"k\":1}".to_vec(),
        };
        let objects = vec![
            ("a//x".to_owned(), record.encode()),
            ("b/ns/y".to_owned(), record.encode()),
        ];
        let retired = BTreeSet::from([3, 9]);
        let data = encode(&retired, &objects);
        let decoded = decode(&data).expect("decodes");
        assert_eq!(decoded.objects.len(), 2);
        assert_eq!(decoded.objects.get("b/ns/y"), Some(&record));
        assert_eq!(decoded.retired, retired);
        assert!(decode(&data[..data.len() - 1]).is_err());
        let mut trailing = data.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert!(decode(b"NOTSNAP!\0\0\0\0\0\0\0\0").is_err());
        assert_eq!(
            decode(&encode(&BTreeSet::new(), &[])),
            Ok(Contents::default())
        );
    }
}
