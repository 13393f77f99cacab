//! The Raft log in redb: entries keyed by index, plus the vote and the committed and purged
//! markers.
//!
//! Writes go through one writer thread that commits everything queued since its last commit in
//! a single redb transaction (group commit): while one fsync runs, the Raft core keeps appending,
//! and the next fsync covers all of it. An append is readable as soon as [`LogStore::append`]
//! returns (from the in-memory `pending` map until its transaction commits) and acknowledged to
//! openraft only once it is on disk. Truncations, purges and votes wait for their own commit;
//! the committed marker never costs a transaction of its own: the latest one waits in a slot
//! and rides on the writer's next commit.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::cluster::error_chain;
use super::error::{CodecError, StoreError};
use super::identity::Identity;
use super::types::{NodeId, TypeConfig};
use super::{blocking, create_database};

/// Log entries, JSON-encoded, keyed by log index.
const ENTRIES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("entries");
/// The vote, the committed log id and the last purged log id, JSON-encoded.
const MARKERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("markers");

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "purged";
/// This directory's node id and incarnation, written once when the directory is first used.
const IDENTITY: &str = "identity";
/// Present once the cluster has told this node that it was removed from the membership.
const RETIRED: &str = "retired";

/// At most this many queued writes share one transaction.
const MAX_GROUP: usize = 4096;

/// Entries appended but not yet committed to redb, by index.
type Pending = Arc<Mutex<BTreeMap<u64, Entry<TypeConfig>>>>;

/// The newest committed marker not yet written, JSON-encoded.
type CommittedSlot = Arc<Mutex<Option<Vec<u8>>>>;

/// The Raft log storage of one node. Clones share the same database and writer; openraft's
/// replication tasks read through clones while the Raft core writes.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    pending: Pending,
    committed: CommittedSlot,
    writer: Arc<Writer>,
}

/// The writer thread's queue. Dropping the last handle closes the queue and waits for the
/// thread to finish, so the database is closed when the last [`LogStore`] clone is gone.
struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // The thread only finishes its last commit; a panic there was already reported.
            let _ = thread.join();
        }
    }
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("pending", &lock(&self.pending).len())
            .finish_non_exhaustive()
    }
}

/// One write for the writer thread, answered once the transaction holding it commits.
enum Job {
    Append {
        entries: Vec<(LogId<NodeId>, Vec<u8>)>,
        flushed: LogFlushed<TypeConfig>,
    },
    Truncate {
        from: u64,
        done: oneshot::Sender<Result<(), String>>,
    },
    Purge {
        upto: LogId<NodeId>,
        marker: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Marker {
        name: &'static str,
        bytes: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding either lock leaves its value as it was: every critical section is
    // a single insert, removal, take or copy.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer thread: takes every job queued, commits them in one transaction with the newest
/// committed marker, then answers them in order. Ends when the last [`LogStore`] clone is
/// dropped, writing a marker still waiting first.
fn write_loop(
    db: &Database,
    pending: &Pending,
    committed: &CommittedSlot,
    jobs: &mpsc::Receiver<Job>,
) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let marker = lock(committed).take();
        let began = std::time::Instant::now();
        let result = commit_group(db, &group, marker.as_deref()).map_err(|e| error_chain(&e));
        tracing::debug!(
            jobs = group.len(),
            ok = result.is_ok(),
            micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX),
            "log writes committed"
        );
        if result.is_ok() {
            let mut pending = lock(pending);
            for job in &group {
                if let Job::Append { entries, .. } = job {
                    for (id, _) in entries {
                        if pending.get(&id.index).is_some_and(|e| e.log_id == *id) {
                            pending.remove(&id.index);
                        }
                    }
                }
            }
        }
        for job in group {
            match job {
                Job::Append { flushed, .. } => {
                    flushed.log_io_completed(result.clone().map_err(std::io::Error::other))
                }
                Job::Truncate { done, .. } | Job::Purge { done, .. } => {
                    let _ = done.send(result.clone());
                }
                Job::Marker { done, .. } => {
                    let _ = done.send(result.clone());
                }
            }
        }
    }
    if let Some(marker) = lock(committed).take()
        && let Err(e) = commit_group(db, &[], Some(&marker))
    {
        tracing::debug!(error = %error_chain(&e), "the last committed marker was not written");
    }
}

/// Commits `group` and `committed` (the newest committed marker, if one waits) in one durable
/// transaction.
fn commit_group(db: &Database, group: &[Job], committed: Option<&[u8]>) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut entries = txn.open_table(ENTRIES)?;
        let mut markers = txn.open_table(MARKERS)?;
        for job in group {
            match job {
                Job::Append { entries: new, .. } => {
                    for (id, bytes) in new {
                        entries.insert(id.index, bytes.as_slice())?;
                    }
                }
                Job::Truncate { from, .. } => {
                    entries.retain_in(*from.., |_, _| false)?;
                }
                Job::Purge { upto, marker, .. } => {
                    markers.insert(PURGED, marker.as_slice())?;
                    entries.retain_in(..=upto.index, |_, _| false)?;
                }
                Job::Marker { name, bytes, .. } => {
                    markers.insert(*name, bytes.as_slice())?;
                }
            }
        }
        if let Some(bytes) = committed {
            markers.insert(COMMITTED, bytes)?;
        }
    }
    txn.commit()?;
    Ok(())
}

impl LogStore {
    /// Opens (or creates) the log database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Arc::new(create_database(path, |txn| {
            txn.open_table(ENTRIES)?;
            txn.open_table(MARKERS)?;
            Ok(())
        })?);
        let pending = Pending::default();
        let committed = CommittedSlot::default();
        let (queue, jobs) = mpsc::channel();
        let thread = {
            let db = Arc::clone(&db);
            let pending = Arc::clone(&pending);
            let committed = Arc::clone(&committed);
            std::thread::Builder::new()
                .name("shoal-raft-log".to_owned())
                .spawn(move || write_loop(&db, &pending, &committed, &jobs))
                .map_err(StoreError::SpawnWriter)?
        };
        Ok(LogStore {
            db,
            pending,
            committed,
            writer: Arc::new(Writer {
                queue: Some(queue),
                thread: Some(thread),
            }),
        })
    }

    /// The identity recorded in this directory, if any.
    pub(crate) fn identity(&self) -> Result<Option<Identity>, StoreError> {
        self.read_marker(IDENTITY)
    }

    /// Records this directory's identity, durably.
    pub(crate) fn record_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        self.write_marker(IDENTITY, identity)
    }

    /// Whether the cluster told this node it was removed.
    pub(crate) fn retired(&self) -> Result<bool, StoreError> {
        Ok(self.read_marker::<bool>(RETIRED)?.unwrap_or(false))
    }

    /// Records, durably, that this node was removed from the cluster.
    pub(crate) fn record_retired(&self) -> Result<(), StoreError> {
        self.write_marker(RETIRED, &true)
    }

    fn read_marker<T: DeserializeOwned>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MARKERS)?;
        match table.get(name)? {
            None => Ok(None),
            Some(bytes) => decode_json(name, bytes.value()).map(Some),
        }
    }

    /// Writes a marker durably in a transaction of its own, outside the writer's queue (used
    /// for the node's own bookkeeping, never for Raft state).
    fn write_marker<T: Serialize>(&self, name: &'static str, value: &T) -> Result<(), StoreError> {
        let bytes = encode_json(name, value)?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(MARKERS)?.insert(name, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Queues `job` for the writer thread.
    fn submit(&self, job: Job) -> Result<(), String> {
        self.writer
            .queue
            .as_ref()
            .and_then(|queue| queue.send(job).ok())
            .ok_or_else(|| "the log writer thread has stopped".to_owned())
    }

    /// Queues a job answered on a oneshot channel and waits for its commit.
    async fn submit_and_wait(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Job,
    ) -> Result<(), std::io::Error> {
        let (done, answer) = oneshot::channel();
        self.submit(job(done)).map_err(std::io::Error::other)?;
        answer
            .await
            .map_err(|_| std::io::Error::other("the log writer thread has stopped"))?
            .map_err(std::io::Error::other)
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>, StoreError> {
        // Pending first: an entry leaves `pending` only after its commit, so reading the map
        // before the database never misses one.
        let pending_last = lock(&self.pending)
            .last_key_value()
            .map(|(_, entry)| entry.log_id);
        let txn = self.db.begin_read()?;
        let markers = txn.open_table(MARKERS)?;
        let purged: Option<LogId<NodeId>> = match markers.get(PURGED)? {
            None => None,
            Some(bytes) => Some(decode_json(PURGED, bytes.value())?),
        };
        let entries = txn.open_table(ENTRIES)?;
        let stored = match entries.last()? {
            None => None,
            Some((_, bytes)) => Some(decode_entry(bytes.value())?.log_id),
        };
        let last = [pending_last, stored, purged]
            .into_iter()
            .flatten()
            .max_by_key(|id| id.index);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    fn entries(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        let overlay: Vec<Entry<TypeConfig>> = lock(&self.pending)
            .range((start, end))
            .map(|(_, entry)| entry.clone())
            .collect();
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let mut out = BTreeMap::new();
        for item in table.range::<u64>((start, end))? {
            let (index, bytes) = item?;
            out.insert(index.value(), decode_entry(bytes.value())?);
        }
        for entry in overlay {
            out.insert(entry.log_id.index, entry);
        }
        Ok(out.into_values().collect())
    }
}

fn encode_json<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode { what, source })
}

fn decode_json<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Corrupt(CodecError::Json {
            what,
            message: e.to_string(),
        })
    })
}

fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, StoreError> {
    decode_json("log entry", bytes)
}

fn owned_bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

fn read_err(e: StoreError) -> StorageError<NodeId> {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: StoreError) -> StorageError<NodeId> {
    StorageIOError::write_logs(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let (start, end) = owned_bounds(&range);
        let this = self.clone();
        blocking(move || this.entries(start, end))
            .await
            .map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || this.log_state()).await.map_err(read_err)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let bytes = encode_json(VOTE, vote).map_err(write_err)?;
        self.submit_and_wait(|done| Job::Marker {
            name: VOTE,
            bytes,
            done,
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || this.read_marker(VOTE))
            .await
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    /// The committed marker waits in a slot, newest first, for the writer's next commit
    /// rather than costing a transaction of its own. The state machine replays from the log,
    /// so a marker lost in a crash only means fewer entries are re-applied on restart (the rest
    /// once a leader commits again), never a lost write.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = encode_json(COMMITTED, &committed).map_err(write_err)?;
        *lock(&self.committed) = Some(bytes);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || {
            Ok(this
                .read_marker::<Option<LogId<NodeId>>>(COMMITTED)?
                .flatten())
        })
        .await
        .map_err(read_err)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let encoded = entries
            .iter()
            .map(|entry| Ok((entry.log_id, encode_json("log entry", entry)?)))
            .collect::<Result<Vec<_>, StoreError>>()
            .map_err(write_err)?;
        {
            let mut pending = lock(&self.pending);
            for entry in entries {
                pending.insert(entry.log_id.index, entry);
            }
        }
        self.submit(Job::Append {
            entries: encoded,
            flushed: callback,
        })
        .map_err(|e| StorageIOError::write_logs(&std::io::Error::other(e)).into())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let from = log_id.index;
        lock(&self.pending).retain(|index, _| *index < from);
        self.submit_and_wait(|done| Job::Truncate { from, done })
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let marker = encode_json(PURGED, &log_id).map_err(write_err)?;
        lock(&self.pending).retain(|index, _| *index > log_id.index);
        self.submit_and_wait(|done| Job::Purge {
            upto: log_id,
            marker,
            done,
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
