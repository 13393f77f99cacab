//! The Raft log in redb: entries keyed by index, plus the vote and the committed and purged
//! markers. Appends, truncations, purges and votes commit with `Durability::Immediate` (fsync)
//! before they are acknowledged; the committed marker rides on the next of those.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// The Raft log storage of one node. Clones share the same database; openraft's replication
/// tasks read through clones while the Raft core writes.
#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Opens (or creates) the log database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = create_database(path, |txn| {
            txn.open_table(ENTRIES)?;
            txn.open_table(MARKERS)?;
            Ok(())
        })?;
        Ok(LogStore { db: Arc::new(db) })
    }

    /// The identity recorded in this directory, if any.
    pub(crate) fn identity(&self) -> Result<Option<Identity>, StoreError> {
        self.read_marker(IDENTITY)
    }

    /// Records this directory's identity, durably.
    pub(crate) fn record_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        self.write_marker(IDENTITY, identity, Durability::Immediate)
    }

    /// Whether the cluster told this node it was removed.
    pub(crate) fn retired(&self) -> Result<bool, StoreError> {
        Ok(self.read_marker::<bool>(RETIRED)?.unwrap_or(false))
    }

    /// Records, durably, that this node was removed from the cluster.
    pub(crate) fn record_retired(&self) -> Result<(), StoreError> {
        self.write_marker(RETIRED, &true, Durability::Immediate)
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

    fn write_marker<T: Serialize>(
        &self,
        name: &'static str,
        value: &T,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let bytes = encode_json(name, value)?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)?;
        txn.open_table(MARKERS)?.insert(name, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>, StoreError> {
        let txn = self.db.begin_read()?;
        let markers = txn.open_table(MARKERS)?;
        let purged: Option<LogId<NodeId>> = match markers.get(PURGED)? {
            None => None,
            Some(bytes) => Some(decode_json(PURGED, bytes.value())?),
        };
        let entries = txn.open_table(ENTRIES)?;
        let last = match entries.last()? {
            None => purged,
            Some((_, bytes)) => Some(decode_entry(bytes.value())?.log_id),
        };
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
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let mut out = Vec::new();
        for item in table.range::<u64>((start, end))? {
            let (_, bytes) = item?;
            out.push(decode_entry(bytes.value())?);
        }
        Ok(out)
    }

    fn append_blocking(&self, entries: Vec<(u64, Vec<u8>)>) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(ENTRIES)?;
            for (index, bytes) in &entries {
                table.insert(*index, bytes.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn truncate_blocking(&self, from: u64) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(ENTRIES)?.retain_in(from.., |_, _| false)?;
        txn.commit()?;
        Ok(())
    }

    fn purge_blocking(&self, upto: LogId<NodeId>) -> Result<(), StoreError> {
        let marker = encode_json(PURGED, &upto)?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(MARKERS)?.insert(PURGED, marker.as_slice())?;
        txn.open_table(ENTRIES)?
            .retain_in(..=upto.index, |_, _| false)?;
        txn.commit()?;
        Ok(())
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
        let this = self.clone();
        let vote = *vote;
        blocking(move || this.write_marker(VOTE, &vote, Durability::Immediate))
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || this.read_marker(VOTE))
            .await
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    /// The committed marker is written without its own fsync: it becomes durable with the next
    /// log append. The state machine is durable by itself, so a marker lost in a crash only
    /// means fewer entries are re-applied on restart, never a lost write.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || this.write_marker(COMMITTED, &committed, Durability::None))
            .await
            .map_err(write_err)
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
        let encoded: Result<Vec<(u64, Vec<u8>)>, StoreError> = entries
            .into_iter()
            .map(|entry| Ok((entry.log_id.index, encode_json("log entry", &entry)?)))
            .collect();
        let this = self.clone();
        let written = match encoded {
            Ok(encoded) => blocking(move || this.append_blocking(encoded)).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || this.truncate_blocking(log_id.index))
            .await
            .map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let this = self.clone();
        blocking(move || this.purge_blocking(log_id))
            .await
            .map_err(write_err)
    }
}
