//! Watches: every change under a prefix after a revision, in order and exactly once, then live
//! changes.
//!
//! A watcher subscribes to the live feed before it reads the history table, so nothing applied
//! in between is missed; it then skips feed batches at or below the revision its history read
//! reached, so nothing is delivered twice. A watcher that falls behind the feed goes back to the
//! history table from where it is. A watcher whose position drops out of the history window
//! (by compaction, or by a snapshot install, which marks the history compacted at the snapshot's
//! revision) gets [`StoreError::Gone`] and must list again.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use redb::ReadableDatabase;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::blocking;
use super::codec::{Change, EventKind};
use super::error::{CodecError, StoreError};
use super::machine::{ChangeBatch, HISTORY, META, MachineInner, MachineMeta, StateMachine};
use super::types::{KeyPrefix, Object, ObjectKey, Revision};

/// How many matching events one history read gathers before handing them out.
const HISTORY_CHUNK: usize = 512;

/// One change seen by a watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// The revision of the change.
    pub revision: Revision,
    pub kind: EventKind,
    /// The object after the change; for a deletion, its last state.
    pub object: Object,
    /// The object before the change, if it existed.
    pub previous: Option<Object>,
}

impl WatchEvent {
    fn from_change(change: Change) -> Result<Self, StoreError> {
        let key = ObjectKey::parse(&change.key)?;
        let previous = change.previous.map(|r| r.into_object(key.clone()));
        let object = match (change.current, &previous) {
            (Some(current), _) => current.into_object(key),
            (None, Some(previous)) => previous.clone(),
            (None, None) => {
                return Err(StoreError::Corrupt(CodecError::Malformed {
                    what: "history event",
                    reason: "it has neither a previous nor a current object",
                }));
            }
        };
        Ok(WatchEvent {
            revision: change.revision,
            kind: change.kind,
            object,
            previous,
        })
    }
}

struct HistoryChunk {
    events: Vec<WatchEvent>,
    /// Every matching change at or below this revision is in `events` or was delivered before.
    position: Revision,
    /// Whether the read reached the end of the history.
    reached_end: bool,
}

impl MachineInner {
    fn history_chunk(
        &self,
        prefix: &KeyPrefix,
        position: Revision,
    ) -> Result<HistoryChunk, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = MachineMeta::load(&txn.open_table(META)?)?;
        if position < meta.compacted {
            return Err(StoreError::Gone {
                requested: position,
                oldest: meta.compacted,
            });
        }
        let history = txn.open_table(HISTORY)?;
        let mut events = Vec::new();
        let mut last = None;
        for item in history.range((position.0.saturating_add(1), 0)..)? {
            let (key, bytes) = item?;
            let revision = key.value().0;
            if events.len() >= HISTORY_CHUNK && last != Some(revision) {
                // Stop at a revision boundary: everything below `revision` has been read.
                return Ok(HistoryChunk {
                    events,
                    position: Revision(revision - 1),
                    reached_end: false,
                });
            }
            last = Some(revision);
            let change = Change::decode(Revision(revision), bytes.value())?;
            if prefix.matches(&change.key) {
                events.push(WatchEvent::from_change(change)?);
            }
        }
        Ok(HistoryChunk {
            events,
            position: position.max(meta.applied_revision()),
            reached_end: true,
        })
    }
}

/// A stream of changes under one prefix. Holds no strong reference to the store: once the
/// store shuts down, [`Watcher::next`] ends with [`StoreError::WatchClosed`].
#[derive(Debug)]
pub struct Watcher {
    machine: Weak<MachineInner>,
    prefix: KeyPrefix,
    feed: broadcast::Receiver<Arc<ChangeBatch>>,
    queue: VecDeque<WatchEvent>,
    /// Every matching change at or below this revision has been delivered or is queued.
    position: Revision,
    /// Whether the history table has been read up to the live feed.
    caught_up: bool,
}

impl Watcher {
    pub(crate) async fn start(
        machine: &StateMachine,
        prefix: KeyPrefix,
        from: Revision,
    ) -> Result<Self, StoreError> {
        let mut watcher = Watcher {
            machine: Arc::downgrade(&machine.inner),
            prefix,
            feed: machine.inner.feed.subscribe(),
            queue: VecDeque::new(),
            position: from,
            caught_up: false,
        };
        // The first read reports a revision outside the window right away.
        watcher.read_history().await?;
        Ok(watcher)
    }

    /// The revision up to which every matching change has been returned by [`Watcher::next`]:
    /// a bookmark from which a new watch would continue without gap or repeat.
    pub fn revision(&self) -> Revision {
        match self.queue.front() {
            Some(next) => Revision(next.revision.0.saturating_sub(1)),
            None => self.position,
        }
    }

    /// The next change.
    pub async fn next(&mut self) -> Result<WatchEvent, StoreError> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(event);
            }
            if !self.caught_up {
                self.read_history().await?;
                continue;
            }
            match self.feed.recv().await {
                Ok(batch) => self.take_batch(&batch)?,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, rv = self.position.0, "watcher fell behind the feed");
                    self.caught_up = false;
                }
                Err(RecvError::Closed) => return Err(StoreError::WatchClosed),
            }
        }
    }

    async fn read_history(&mut self) -> Result<(), StoreError> {
        let inner = self.machine.upgrade().ok_or(StoreError::WatchClosed)?;
        let prefix = self.prefix.clone();
        let position = self.position;
        let chunk = blocking(move || inner.history_chunk(&prefix, position)).await?;
        self.queue.extend(chunk.events);
        self.position = chunk.position;
        self.caught_up = chunk.reached_end;
        Ok(())
    }

    fn take_batch(&mut self, batch: &ChangeBatch) -> Result<(), StoreError> {
        for change in &batch.changes {
            if change.revision > self.position && self.prefix.matches(&change.key) {
                self.queue
                    .push_back(WatchEvent::from_change(change.clone())?);
            }
        }
        self.position = self.position.max(batch.upto);
        Ok(())
    }
}
