//! Group commit in front of Raft: concurrent writes share log entries.
//!
//! openraft 0.9 appends one client write at a time and waits for that append to be flushed
//! before taking the next, so with one command per entry every write pays for its own fsync
//! and throughput is one write per disk flush, however many clients wait. The proposer queues
//! writes and proposes everything that arrived while earlier entries were in flight as one
//! [`Batch`]: under load an entry carries dozens of commands and one fsync (and one round of
//! replication) covers them all, while a lone writer is proposed at once, paying no delay.
//!
//! At most [`MAX_IN_FLIGHT`] entries are proposed at a time. One is best measured (`shoal bench
//! store`, 3 nodes, 64 clients: 3,490–3,790 writes/s against 3,160–3,360 with two and less with
//! more): openraft 0.9's core waits for each append's fsync before it replicates the entry, so a
//! second entry in flight does not overlap with the first, it only splits the batch and adds an
//! fsync and an apply on every node.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::cluster::{Route, forward_hint};
use super::error::StoreError;
use super::types::{Batch, Command, NodeId, StoreRaft, TxnResponse};

/// Entries proposed and not yet answered, at most.
const MAX_IN_FLIGHT: usize = 1;
/// The most bytes of values one entry carries (a single larger command still goes alone).
const MAX_BATCH_BYTES: usize = 1 << 20;

type Reply = oneshot::Sender<Result<Route<TxnResponse>, StoreError>>;

struct Pending {
    command: Command,
    reply: Reply,
}

/// The handle writers use; the proposing task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Proposer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the proposing task for `raft`.
    pub(crate) fn start(raft: StoreRaft, node: NodeId) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, node, rx));
        Proposer { queue }
    }

    /// Proposes `command` in the next entry and waits for its answer. `Route::Forward` means
    /// this node does not lead and nothing was proposed.
    pub(crate) async fn write(&self, command: Command) -> Result<Route<TxnResponse>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { command, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::RaftStopped(Box::new(openraft::error::Fatal::Stopped))
}

async fn run(raft: StoreRaft, node: NodeId, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Waiting for a free slot is when the next batch fills up.
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let mut bytes = first.command.weight();
        let mut batch = vec![first];
        while batch.len() < slots() && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    bytes += next.command.weight();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, node, batch).await;
            drop(permit);
        });
    }
}

/// How many commands fit in one entry.
fn slots() -> usize {
    usize::try_from(super::types::Revision::SLOTS).unwrap_or(usize::MAX)
}

async fn propose(raft: &StoreRaft, node: NodeId, batch: Vec<Pending>) {
    let (commands, replies): (Vec<Command>, Vec<Reply>) = batch
        .into_iter()
        .map(|pending| (pending.command, pending.reply))
        .unzip();
    let count = commands.len();
    tracing::trace!(commands = count, "proposing a batch");
    let began = std::time::Instant::now();
    let result = raft.client_write(Batch { commands }).await;
    tracing::debug!(
        commands = count,
        micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX),
        "batch answered"
    );
    match result {
        Ok(response) => {
            let answers = response.data.0;
            if answers.len() != count {
                // The apply step answers every command of a normal entry; anything else is
                // a bug, reported to every writer rather than hidden.
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Refused {
                        node,
                        message: format!(
                            "the entry's apply answered {} of {count} commands",
                            answers.len()
                        ),
                    }));
                }
                return;
            }
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(Route::Done(answer)));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(route_error(&error));
            }
        }
    }
}

fn route_error(
    error: &RaftError<NodeId, ClientWriteError<NodeId, super::identity::Member>>,
) -> Result<Route<TxnResponse>, StoreError> {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            Ok(Route::Forward(forward_hint(f)))
        }
        RaftError::APIError(e) => Err(StoreError::Write(Box::new(e.clone()))),
        RaftError::Fatal(e) => Err(StoreError::RaftStopped(Box::new(e.clone()))),
    }
}
