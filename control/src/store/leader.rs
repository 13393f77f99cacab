//! Leadership as a service: a `tokio::sync::watch` of "am I the leader, in which term", derived
//! from the Raft metrics, so the scheduler and controllers run only on the leader and stop the
//! moment it steps down.
//!
//! A node counts as leading only while a quorum has acknowledged it recently (within the
//! shortest election timeout). A leader cut off from the others keeps its Raft role until it
//! hears of a higher term, but its leadership is reported lost before the others can elect a
//! successor, so leader-only work does not run in two places for long.

use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::millis;
use super::identity::Member;
use super::types::NodeId;

/// This node's view of the leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leadership {
    /// Whether this node is the leader.
    pub is_leader: bool,
    /// The current Raft term.
    pub term: u64,
    /// The leader this node knows of, if any.
    pub leader: Option<NodeId>,
}

impl Leadership {
    fn from_metrics(metrics: &RaftMetrics<NodeId, Member>, lease: u64) -> Self {
        Leadership {
            is_leader: metrics.state == ServerState::Leader
                && metrics.current_leader == Some(metrics.id)
                && metrics
                    .millis_since_quorum_ack
                    .is_some_and(|ms| ms <= lease),
            term: metrics.current_term,
            leader: metrics.current_leader,
        }
    }
}

/// Follows the leadership of this node.
#[derive(Debug, Clone)]
pub struct LeaderWatch {
    rx: watch::Receiver<Leadership>,
}

impl LeaderWatch {
    /// The leadership as it is now.
    pub fn current(&self) -> Leadership {
        *self.rx.borrow()
    }

    /// The underlying watch channel, for `select!` loops.
    pub fn receiver(&self) -> watch::Receiver<Leadership> {
        self.rx.clone()
    }

    /// Waits until this node is the leader and returns the term it leads. Returns `None` if the
    /// store stops first.
    pub async fn acquired(&mut self) -> Option<u64> {
        self.rx.wait_for(|l| l.is_leader).await.ok().map(|l| l.term)
    }

    /// Waits until this node no longer leads in `term`: it stepped down, a later term began, or
    /// the store stopped.
    pub async fn lost(&mut self, term: u64) {
        // An error means the sender is gone: the store stopped, so leadership is lost too.
        let _ = self.rx.wait_for(|l| !l.is_leader || l.term != term).await;
    }
}

/// Starts the task that derives leadership from the Raft metrics, with `lease` as the longest
/// time since a quorum acknowledged the leader. It ends when the Raft node stops, after
/// publishing that this node no longer leads.
pub(crate) fn follow(
    mut metrics: watch::Receiver<RaftMetrics<NodeId, Member>>,
    lease: Duration,
) -> (LeaderWatch, JoinHandle<()>) {
    let lease = millis(lease);
    let initial = Leadership::from_metrics(&metrics.borrow_and_update(), lease);
    let (tx, rx) = watch::channel(initial);
    let task = tokio::spawn(async move {
        loop {
            if metrics.changed().await.is_err() {
                tx.send_modify(|l| l.is_leader = false);
                return;
            }
            let next = Leadership::from_metrics(&metrics.borrow_and_update(), lease);
            let changed = tx.send_if_modified(|current| {
                let changed = *current != next;
                *current = next;
                changed
            });
            if changed {
                tracing::info!(
                    term = next.term,
                    is_leader = next.is_leader,
                    leader = ?next.leader,
                    "leadership changed"
                );
            }
        }
    });
    (LeaderWatch { rx }, task)
}
