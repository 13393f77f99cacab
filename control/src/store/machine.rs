//! The state machine in redb: objects by key, the watch history, and the apply step that decides
//! conditional writes. Apply commits each batch of entries in one redb transaction, then tells
//! live watchers. Those commits are synced only every [`MachineConfig::sync_every`] entries (and
//! whenever a snapshot is built or installed): the Raft log is durable before anything is
//! applied, and on restart openraft re-applies every committed entry after the last synced one,
//! deterministically, so a crash loses no acknowledged write.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use redb::{Database, Durability, ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::codec::{Change, EventKind, Record};
use super::error::{CodecError, StoreError};
use super::identity::Member;
use super::read::Reader;
use super::types::{
    BatchResponse, Command, NodeId, Op, OpOutcome, Revision, Timestamp, TxnResponse, TypeConfig,
};
use super::{blocking, create_database};

/// Objects: storage key to encoded [`Record`].
pub(crate) const OBJECTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("objects");
/// Watch history: (revision, sequence within the revision) to encoded [`Change`].
pub(crate) const HISTORY: TableDefinition<'_, (u64, u32), &[u8]> = TableDefinition::new("history");
/// The state machine's own bookkeeping, one JSON document under [`META_KEY`].
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// The current snapshot: its metadata and its data.
pub(crate) const SNAPSHOT: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("snapshot");

const META_KEY: &str = "state";

/// How much watch history a node keeps. Every node of a cluster should use the same window so
/// they compact alike; compaction is driven by the log, never by a local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    /// At most this many change events are kept; the oldest revisions are dropped first.
    pub max_events: u64,
    /// Events whose command is older than this, measured against the timestamp of the newest
    /// applied command, are dropped.
    pub max_age: Duration,
}

impl Default for HistoryWindow {
    fn default() -> Self {
        HistoryWindow {
            max_events: 100_000,
            max_age: Duration::from_secs(5 * 60),
        }
    }
}

/// Settings of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineConfig {
    pub history: HistoryWindow,
    /// How many applied batches a slow watcher may fall behind before it re-reads the history
    /// table.
    pub watch_buffer: usize,
    /// Sync the state machine to disk once at least this many entries were applied since the
    /// last sync; at most this many entries are re-applied from the log after a crash.
    pub sync_every: u64,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            history: HistoryWindow::default(),
            watch_buffer: 1024,
            sync_every: 1024,
        }
    }
}

/// The state machine's bookkeeping, stored in the same transaction as the changes it describes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MachineMeta {
    pub(crate) last_applied: Option<LogId<NodeId>>,
    pub(crate) membership: StoredMembership<NodeId, Member>,
    /// Every history event at or below this revision has been dropped.
    pub(crate) compacted: Revision,
    /// How many events the history table holds.
    pub(crate) history_len: u64,
    /// Distinguishes snapshots built at the same log id.
    pub(crate) snapshot_seq: u64,
    /// Every node id that has left the membership; such an id is never admitted again.
    #[serde(default)]
    pub(crate) retired: BTreeSet<NodeId>,
}

impl MachineMeta {
    pub(crate) fn applied_revision(&self) -> Revision {
        Revision::through_entry(self.last_applied.map_or(0, |id| id.index))
    }

    pub(crate) fn load(
        table: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Self, StoreError> {
        match table.get(META_KEY)? {
            None => Ok(MachineMeta::default()),
            Some(bytes) => serde_json::from_slice(bytes.value()).map_err(|e| {
                StoreError::Corrupt(CodecError::Json {
                    what: "state machine metadata",
                    message: e.to_string(),
                })
            }),
        }
    }

    pub(crate) fn store(
        &self,
        table: &mut Table<'_, &'static str, &'static [u8]>,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(self).map_err(|source| StoreError::Encode {
            what: "state machine metadata",
            source,
        })?;
        table.insert(META_KEY, bytes.as_slice())?;
        Ok(())
    }
}

/// What one apply call changed, sent to live watchers after it is durable.
#[derive(Debug)]
pub(crate) struct ChangeBatch {
    /// The last revision the batch covers; watchers are consistent up to it afterwards.
    pub(crate) upto: Revision,
    pub(crate) changes: Vec<Change>,
}

/// The shared core of the state machine: the database, the history window and the live change
/// feed.
#[derive(Debug)]
pub(crate) struct MachineInner {
    pub(crate) db: Database,
    pub(crate) config: MachineConfig,
    pub(crate) feed: broadcast::Sender<Arc<ChangeBatch>>,
    /// The applied index of the last apply that synced to disk (in this process).
    pub(crate) synced: AtomicU64,
}

/// The Raft state machine of one node. Clones share the same database; the Raft core applies
/// through one clone while readers and watchers use others.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) inner: Arc<MachineInner>,
}

impl StateMachine {
    /// Opens (or creates) the state machine database at `path`.
    pub fn open(path: &Path, config: MachineConfig) -> Result<Self, StoreError> {
        let db = create_database(path, |txn| {
            txn.open_table(OBJECTS)?;
            txn.open_table(HISTORY)?;
            txn.open_table(META)?;
            txn.open_table(SNAPSHOT)?;
            Ok(())
        })?;
        let (feed, _) = broadcast::channel(config.watch_buffer.max(1));
        Ok(StateMachine {
            inner: Arc::new(MachineInner {
                db,
                config,
                feed,
                synced: AtomicU64::new(0),
            }),
        })
    }

    /// A handle for local reads and watches of this state machine, with no consistency check:
    /// [`super::Store::read`] adds one.
    pub fn reader(&self) -> Reader {
        Reader::new(self.clone())
    }

    pub(crate) fn publish(&self, batch: ChangeBatch) {
        if self.inner.feed.receiver_count() > 0 {
            // Sending only fails when every receiver has gone, which is fine.
            let _ = self.inner.feed.send(Arc::new(batch));
        }
    }
}

impl MachineInner {
    pub(crate) fn read_meta(&self) -> Result<MachineMeta, StoreError> {
        let txn = redb::ReadableDatabase::begin_read(&self.db)?;
        MachineMeta::load(&txn.open_table(META)?)
    }

    fn apply_entries(
        &self,
        entries: Vec<Entry<TypeConfig>>,
    ) -> Result<(Vec<BatchResponse>, ChangeBatch), StoreError> {
        let mut txn = self.db.begin_write()?;
        let mut responses = Vec::with_capacity(entries.len());
        let mut changes = Vec::new();
        let upto;
        let sync;
        {
            let mut meta_table = txn.open_table(META)?;
            let mut meta = MachineMeta::load(&meta_table)?;
            let mut objects = txn.open_table(OBJECTS)?;
            let mut history = txn.open_table(HISTORY)?;
            let mut newest: Option<Timestamp> = None;
            for entry in entries {
                let index = entry.log_id.index;
                meta.last_applied = Some(entry.log_id);
                let response = match entry.payload {
                    EntryPayload::Blank => BatchResponse::default(),
                    EntryPayload::Membership(membership) => {
                        let before = meta.membership.nodes().map(|(id, _)| *id);
                        let left: Vec<NodeId> = before
                            .filter(|id| membership.get_node(id).is_none())
                            .collect();
                        meta.retired.extend(left);
                        meta.membership = StoredMembership::new(Some(entry.log_id), membership);
                        BatchResponse::default()
                    }
                    EntryPayload::Normal(batch) => {
                        let mut tables = Tables {
                            objects: &mut objects,
                            history: &mut history,
                        };
                        let mut answers = Vec::with_capacity(batch.commands.len());
                        for (slot, command) in batch.commands.into_iter().enumerate() {
                            newest = newest.max(Some(command.at));
                            let revision = Revision::of(index, slot);
                            answers.push(tables.apply_command(
                                revision,
                                command,
                                &mut meta,
                                &mut changes,
                            )?);
                        }
                        BatchResponse(answers)
                    }
                };
                responses.push(response);
            }
            compact_history(&mut history, &mut meta, &self.config.history, newest)?;
            // Counted in log entries, not revisions: an entry spans `Revision::SLOTS` of them.
            let applied = meta.last_applied.map_or(0, |id| id.index);
            let synced = self.synced.load(Ordering::Relaxed);
            sync = applied >= synced.saturating_add(self.config.sync_every);
            meta.store(&mut meta_table)?;
            upto = meta.applied_revision();
            if sync {
                self.synced.store(applied, Ordering::Relaxed);
            }
        }
        txn.set_durability(if sync {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        txn.commit()?;
        Ok((responses, ChangeBatch { upto, changes }))
    }
}

struct Tables<'a, 'txn> {
    objects: &'a mut Table<'txn, &'static str, &'static [u8]>,
    history: &'a mut Table<'txn, (u64, u32), &'static [u8]>,
}

impl Tables<'_, '_> {
    fn current(&self, key: &str) -> Result<Option<Record>, StoreError> {
        match self.objects.get(key)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(Record::decode(bytes.value())?)),
        }
    }

    /// Decides every op of the command against the state as the earlier ops leave it, then
    /// writes all of them, or none if any condition failed.
    fn apply_command(
        &mut self,
        revision: Revision,
        command: Command,
        meta: &mut MachineMeta,
        changes: &mut Vec<Change>,
    ) -> Result<TxnResponse, StoreError> {
        let mut staged: BTreeMap<String, Option<Record>> = BTreeMap::new();
        let mut planned: Vec<Change> = Vec::new();
        let mut outcomes = Vec::with_capacity(command.ops.len());
        let mut failed = false;
        for op in command.ops {
            let key = op.key().as_str().to_owned();
            let current = match staged.get(&key) {
                Some(staged) => staged.clone(),
                None => self.current(&key)?,
            };
            match decide(op, current.as_ref(), revision) {
                Decision::Write {
                    kind,
                    next,
                    outcome,
                } => {
                    planned.push(Change {
                        revision,
                        kind,
                        at: command.at,
                        key: key.clone(),
                        previous: current,
                        current: next.clone(),
                    });
                    staged.insert(key, next);
                    outcomes.push(outcome);
                }
                Decision::Reject(outcome) => {
                    failed = true;
                    outcomes.push(outcome);
                }
            }
        }
        if failed {
            for outcome in &mut outcomes {
                if outcome.succeeded() {
                    *outcome = OpOutcome::Aborted;
                }
            }
            return Ok(TxnResponse {
                revision,
                succeeded: false,
                outcomes,
            });
        }
        for (key, next) in &staged {
            match next {
                Some(record) => {
                    self.objects
                        .insert(key.as_str(), record.encode().as_slice())?;
                }
                None => {
                    self.objects.remove(key.as_str())?;
                }
            }
        }
        for (seq, change) in planned.iter().enumerate() {
            let seq = u32::try_from(seq).unwrap_or(u32::MAX);
            self.history
                .insert((revision.0, seq), change.encode().as_slice())?;
        }
        meta.history_len += planned.len() as u64;
        changes.extend(planned);
        Ok(TxnResponse {
            revision,
            succeeded: true,
            outcomes,
        })
    }
}

/// The verdict on one op.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// The condition held: the key becomes `next` (`None` removes it).
    Write {
        kind: EventKind,
        next: Option<Record>,
        outcome: OpOutcome,
    },
    /// The condition failed.
    Reject(OpOutcome),
}

/// Decides one op against the object currently under its key. Pure, so every node reaches the
/// same verdict from the same log.
fn decide(op: Op, current: Option<&Record>, revision: Revision) -> Decision {
    match op {
        Op::Create { uid, value, .. } => match current {
            Some(existing) => Decision::Reject(OpOutcome::AlreadyExists {
                current_revision: existing.mod_revision,
            }),
            None => Decision::Write {
                kind: EventKind::Added,
                next: Some(Record {
                    uid,
                    create_revision: revision,
                    mod_revision: revision,
                    value: value.as_bytes().to_vec(),
                }),
                outcome: OpOutcome::Created { revision },
            },
        },
        Op::Update {
            value,
            preconditions,
            ..
        } => match current {
            None => Decision::Reject(OpOutcome::NotFound),
            Some(existing) => match check(&preconditions, existing) {
                Err(conflict) => Decision::Reject(conflict),
                Ok(()) => Decision::Write {
                    kind: EventKind::Modified,
                    next: Some(Record {
                        uid: existing.uid.clone(),
                        create_revision: existing.create_revision,
                        mod_revision: revision,
                        value: value.as_bytes().to_vec(),
                    }),
                    outcome: OpOutcome::Updated { revision },
                },
            },
        },
        Op::Delete { key, preconditions } => match current {
            None => Decision::Reject(OpOutcome::NotFound),
            Some(existing) => match check(&preconditions, existing) {
                Err(conflict) => Decision::Reject(conflict),
                Ok(()) => Decision::Write {
                    kind: EventKind::Deleted,
                    next: None,
                    outcome: OpOutcome::Deleted {
                        revision,
                        previous: Box::new(existing.clone().into_object(key)),
                    },
                },
            },
        },
    }
}

fn check(preconditions: &super::types::Preconditions, existing: &Record) -> Result<(), OpOutcome> {
    let revision_ok = preconditions
        .revision
        .is_none_or(|r| r == existing.mod_revision);
    let uid_ok = preconditions
        .uid
        .as_ref()
        .is_none_or(|uid| *uid == existing.uid);
    if revision_ok && uid_ok {
        Ok(())
    } else {
        Err(OpOutcome::Conflict {
            current_revision: existing.mod_revision,
            current_uid: existing.uid.clone(),
        })
    }
}

/// Drops whole revisions from the front of the history while it is over the window's count or
/// older than its age (against `newest`, the latest command timestamp of this batch).
fn compact_history(
    history: &mut Table<'_, (u64, u32), &'static [u8]>,
    meta: &mut MachineMeta,
    window: &HistoryWindow,
    newest: Option<Timestamp>,
) -> Result<(), StoreError> {
    let max_age = u64::try_from(window.max_age.as_millis()).unwrap_or(u64::MAX);
    loop {
        let (revision, at) = match history.first()? {
            None => break,
            Some((key, value)) => (key.value().0, Change::decode_at(value.value())?),
        };
        let over_count = meta.history_len > window.max_events;
        let expired = newest.is_some_and(|now| at.0.saturating_add(max_age) < now.0);
        if !over_count && !expired {
            break;
        }
        let mut removed = 0u64;
        for item in history.extract_from_if((revision, 0)..=(revision, u32::MAX), |_, _| true)? {
            item?;
            removed += 1;
        }
        meta.history_len = meta.history_len.saturating_sub(removed);
        meta.compacted = Revision(revision);
    }
    Ok(())
}

fn sm_write_err(e: StoreError) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

fn sm_read_err(e: StoreError) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&e).into()
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Member>), StorageError<NodeId>>
    {
        let inner = self.inner.clone();
        let meta = blocking(move || inner.read_meta())
            .await
            .map_err(sm_read_err)?;
        Ok((meta.last_applied, meta.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchResponse>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let count = entries.len();
        let inner = self.inner.clone();
        let began = std::time::Instant::now();
        let (responses, batch) = blocking(move || inner.apply_entries(entries))
            .await
            .map_err(sm_write_err)?;
        tracing::debug!(
            rv = batch.upto.0,
            entries = count,
            changes = batch.changes.len(),
            micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX),
            "applied"
        );
        self.publish(batch);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Member>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let inner = self.inner.clone();
        let snapshot_meta = meta.clone();
        let data = snapshot.into_inner();
        let batch = blocking(move || inner.install_snapshot(&snapshot_meta, &data))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(
            rv = batch.upto.0,
            changes = batch.changes.len(),
            "installed snapshot"
        );
        self.publish(batch);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.inner.clone();
        blocking(move || inner.current_snapshot())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::{ObjectKey, ObjectValue, Preconditions, Uid};

    fn key() -> ObjectKey {
        ObjectKey::new("configmaps", "default", "c").expect("valid key")
    }

    fn value(text: &str) -> ObjectValue {
        ObjectValue::from_json(text.as_bytes()).expect("valid JSON")
    }

    fn record(mod_revision: u64) -> Record {
        Record {
            uid: Uid("u1".into()),
            create_revision: Revision(2),
            mod_revision: Revision(mod_revision),
            value: b"{}".to_vec(),
        }
    }

    #[test]
    fn create_only_when_absent() {
        let create = Op::Create {
            key: key(),
            uid: Uid("u1".into()),
            value: value("{}"),
        };
        assert_eq!(
            decide(create.clone(), Some(&record(4)), Revision(9)),
            Decision::Reject(OpOutcome::AlreadyExists {
                current_revision: Revision(4)
            })
        );
        let Decision::Write { kind, next, .. } = decide(create, None, Revision(9)) else {
            panic!("create of an absent key must write");
        };
        assert_eq!(kind, EventKind::Added);
        let next = next.expect("a created record");
        assert_eq!(
            (next.create_revision, next.mod_revision),
            (Revision(9), Revision(9))
        );
    }

    #[test]
    fn update_checks_revision_and_uid_and_keeps_identity() {
        let update = |preconditions| Op::Update {
            key: key(),
            value: value("[1]"),
            preconditions,
        };
        let conflict = Decision::Reject(OpOutcome::Conflict {
            current_revision: Revision(4),
            current_uid: Uid("u1".into()),
        });
        assert_eq!(
            decide(
                update(Preconditions::revision(Revision(3))),
                Some(&record(4)),
                Revision(9)
            ),
            conflict
        );
        assert_eq!(
            decide(
                update(Preconditions::uid(Uid("other".into()))),
                Some(&record(4)),
                Revision(9)
            ),
            conflict
        );
        assert_eq!(
            decide(update(Preconditions::none()), None, Revision(9)),
            Decision::Reject(OpOutcome::NotFound)
        );
        let Decision::Write { next, .. } = decide(
            update(Preconditions::revision(Revision(4))),
            Some(&record(4)),
            Revision(9),
        ) else {
            panic!("a matching revision must write");
        };
        let next = next.expect("an updated record");
        assert_eq!(next.uid, Uid("u1".into()));
        assert_eq!(next.create_revision, Revision(2));
        assert_eq!(next.mod_revision, Revision(9));
        assert_eq!(next.value, b"[1]");
    }

    #[test]
    fn delete_by_uid_returns_the_last_state() {
        let delete = Op::Delete {
            key: key(),
            preconditions: Preconditions::uid(Uid("u1".into())),
        };
        match decide(delete, Some(&record(4)), Revision(9)) {
            Decision::Write {
                kind: EventKind::Deleted,
                next: None,
                outcome: OpOutcome::Deleted { revision, previous },
            } => {
                assert_eq!(revision, Revision(9));
                assert_eq!(previous.mod_revision, Revision(4));
            }
            other => panic!("unexpected decision {other:?}"),
        }
    }
}
