//! A linearizability checker for histories of reads and writes on independent registers (one
//! per key), used by the fault tests to judge what clients saw.
//!
//! Linearizability is local: a history is linearizable when the history of every key is, so each
//! key is checked alone. Per key, the search follows Wing and Gong: repeatedly pick an operation
//! that could take effect next (one invoked before every pending operation's completion), apply
//! it to the register, and backtrack when a read does not match; partial linearizations already
//! explored (the set of operations taken and the register's value) are remembered and skipped,
//! as Lowe suggests.
//!
//! A write whose outcome the client never learned (it timed out, or the connection dropped) may
//! take effect at any point after its invocation, or never: it has no completion and is not
//! required in a linearization. Writes that certainly failed and reads that returned no value
//! are left out of the history.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// What an operation did to its register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<V> {
    /// Set the register to the value.
    Write(V),
    /// Returned the register's value (`None`: the key did not exist).
    Read(Option<V>),
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<K, V> {
    pub key: K,
    pub action: Action<V>,
    /// When the client invoked it, on the history's clock.
    pub invoked: u64,
    /// When the client learned its result; `None` if it never did (writes only).
    pub completed: Option<u64>,
}

/// A key whose operations admit no linearization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation<K, V> {
    pub key: K,
    /// The key's operations, by invocation.
    pub operations: Vec<Operation<K, V>>,
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Display for Violation<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the operations on {:?} are not linearizable:", self.key)?;
        for op in &self.operations {
            let completed = op
                .completed
                .map_or_else(|| "?".to_owned(), |c| c.to_string());
            writeln!(f, "  [{}, {completed}] {:?}", op.invoked, op.action)?;
        }
        Ok(())
    }
}

impl<K: fmt::Debug, V: fmt::Debug> std::error::Error for Violation<K, V> {}

/// A history recorded by concurrent clients. The clock is logical: every invocation and
/// completion takes the next tick, so real-time order between operations is exact.
#[derive(Debug)]
pub struct History<K, V> {
    clock: AtomicU64,
    operations: Mutex<Vec<Operation<K, V>>>,
}

impl<K, V> Default for History<K, V> {
    fn default() -> Self {
        History {
            clock: AtomicU64::new(1),
            operations: Mutex::new(Vec::new()),
        }
    }
}

impl<K: Ord + Clone + fmt::Debug, V: Clone + Eq + Hash + fmt::Debug> History<K, V> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn push(&self, operation: Operation<K, V>) {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(operation);
    }

    /// Marks an invocation; pass the returned time to the call that records the result.
    pub fn invoke(&self) -> u64 {
        self.tick()
    }

    /// A write invoked at `invoked` that was acknowledged now.
    pub fn write_acknowledged(&self, key: K, value: V, invoked: u64) {
        let completed = Some(self.tick());
        self.push(Operation {
            key,
            action: Action::Write(value),
            invoked,
            completed,
        });
    }

    /// A write invoked at `invoked` whose outcome is unknown.
    pub fn write_unknown(&self, key: K, value: V, invoked: u64) {
        self.push(Operation {
            key,
            action: Action::Write(value),
            invoked,
            completed: None,
        });
    }

    /// A read invoked at `invoked` that returned `value` now.
    pub fn read(&self, key: K, value: Option<V>, invoked: u64) {
        let completed = Some(self.tick());
        self.push(Operation {
            key,
            action: Action::Read(value),
            invoked,
            completed,
        });
    }

    /// The operations recorded so far.
    pub fn operations(&self) -> Vec<Operation<K, V>> {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Checks the recorded history; `initial` holds the registers' values before it began
    /// (a key not in it starts absent).
    pub fn check(&self, initial: &BTreeMap<K, V>) -> Result<(), Violation<K, V>> {
        check(&self.operations(), initial)
    }
}

/// Checks a history of operations on independent registers.
pub fn check<K, V>(
    operations: &[Operation<K, V>],
    initial: &BTreeMap<K, V>,
) -> Result<(), Violation<K, V>>
where
    K: Ord + Clone,
    V: Clone + Eq + Hash,
{
    let mut by_key: BTreeMap<&K, Vec<&Operation<K, V>>> = BTreeMap::new();
    for op in operations {
        by_key.entry(&op.key).or_default().push(op);
    }
    for (key, mut ops) in by_key {
        ops.sort_by_key(|op| op.invoked);
        let register = Register {
            ops: &ops,
            memo: HashSet::new(),
        };
        if !register.linearizable(initial.get(key).cloned()) {
            return Err(Violation {
                key: key.clone(),
                operations: ops.into_iter().cloned().collect(),
            });
        }
    }
    Ok(())
}

/// The search over one register's operations.
struct Register<'a, K, V> {
    ops: &'a [&'a Operation<K, V>],
    /// Partial linearizations already explored: operations taken and the value they leave.
    memo: HashSet<(Vec<u64>, Option<V>)>,
}

impl<K, V: Clone + Eq + Hash> Register<'_, K, V> {
    fn linearizable(mut self, initial: Option<V>) -> bool {
        let required = self.ops.iter().filter(|op| op.completed.is_some()).count();
        let mut taken = vec![0u64; self.ops.len().div_ceil(64)];
        self.search(&mut taken, initial, required)
    }

    fn search(&mut self, taken: &mut Vec<u64>, value: Option<V>, required: usize) -> bool {
        if required == 0 {
            return true;
        }
        let is_taken = |taken: &[u64], i: usize| taken[i / 64] & (1 << (i % 64)) != 0;
        // An operation can take effect next only if it was invoked before every pending
        // operation completed.
        let horizon = (0..self.ops.len())
            .filter(|&i| !is_taken(taken, i))
            .filter_map(|i| self.ops[i].completed)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..self.ops.len() {
            let op = self.ops[i];
            if op.invoked >= horizon {
                break;
            }
            if is_taken(taken, i) {
                continue;
            }
            let next = match &op.action {
                Action::Write(v) => Some(v.clone()),
                Action::Read(seen) if *seen == value => value.clone(),
                Action::Read(_) => continue,
            };
            taken[i / 64] |= 1 << (i % 64);
            let left = required - usize::from(op.completed.is_some());
            if self.memo.insert((taken.clone(), next.clone())) && self.search(taken, next, left) {
                return true;
            }
            taken[i / 64] &= !(1 << (i % 64));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an operation on key "k".
    fn op(
        action: Action<u32>,
        invoked: u64,
        completed: Option<u64>,
    ) -> Operation<&'static str, u32> {
        Operation {
            key: "k",
            action,
            invoked,
            completed,
        }
    }

    use Action::{Read, Write};

    fn initial(value: u32) -> BTreeMap<&'static str, u32> {
        BTreeMap::from([("k", value)])
    }

    #[test]
    fn a_sequential_history_is_linearizable() {
        let ops = [
            op(Write(1), 1, Some(2)),
            op(Read(Some(1)), 3, Some(4)),
            op(Write(2), 5, Some(6)),
            op(Read(Some(2)), 7, Some(8)),
        ];
        assert_eq!(check(&ops, &initial(0)), Ok(()));
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_a_violation() {
        let ops = [op(Write(1), 1, Some(2)), op(Read(Some(0)), 3, Some(4))];
        let violation = check(&ops, &initial(0)).expect_err("stale read");
        assert_eq!(violation.key, "k");
        assert_eq!(violation.operations.len(), 2);
        assert!(violation.to_string().contains("not linearizable"));
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [0, 1] {
            let ops = [op(Write(1), 1, Some(4)), op(Read(Some(seen)), 2, Some(3))];
            assert_eq!(check(&ops, &initial(0)), Ok(()), "read of {seen}");
        }
    }

    #[test]
    fn reads_may_not_go_back_in_time() {
        // Both reads overlap the write, but once one saw the new value a later one cannot see
        // the old value.
        let ops = [
            op(Write(1), 1, Some(10)),
            op(Read(Some(1)), 2, Some(3)),
            op(Read(Some(0)), 4, Some(5)),
        ];
        assert!(check(&ops, &initial(0)).is_err());
    }

    #[test]
    fn a_write_of_unknown_outcome_may_take_effect_late_or_never() {
        let late = [
            op(Write(1), 1, None),
            op(Read(Some(0)), 2, Some(3)),
            op(Read(Some(1)), 4, Some(5)),
        ];
        assert_eq!(check(&late, &initial(0)), Ok(()));
        let never = [op(Write(1), 1, None), op(Read(Some(0)), 2, Some(3))];
        assert_eq!(check(&never, &initial(0)), Ok(()));
        // ... but not before it was invoked.
        let early = [op(Read(Some(1)), 1, Some(2)), op(Write(1), 3, None)];
        assert!(check(&early, &initial(0)).is_err());
    }

    #[test]
    fn a_value_nobody_wrote_is_a_violation_and_absent_keys_read_none() {
        let ops = [op(Read(Some(7)), 1, Some(2))];
        assert!(check(&ops, &initial(0)).is_err());
        let absent = [op(Read(None), 1, Some(2)), op(Write(3), 3, Some(4))];
        assert_eq!(check(&absent, &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut ops = vec![op(Write(1), 1, Some(2))];
        ops.push(Operation {
            key: "other",
            action: Read(Some(5)),
            invoked: 3,
            completed: Some(4),
        });
        let start = BTreeMap::from([("k", 0), ("other", 5)]);
        assert_eq!(check(&ops, &start), Ok(()));
        ops.push(op(Read(Some(0)), 5, Some(6)));
        assert_eq!(check(&ops, &start).map_err(|v| v.key), Err("k"));
    }

    #[test]
    fn a_recorded_history_checks_with_many_concurrent_writers() {
        let history: History<&str, u32> = History::new();
        // Ten writers all overlap, then a read sees the value of one of them.
        let invoked: Vec<u64> = (0..10).map(|_| history.invoke()).collect();
        for (i, at) in invoked.iter().enumerate() {
            history.write_acknowledged("k", i as u32 + 1, *at);
        }
        let at = history.invoke();
        history.read("k", Some(4), at);
        assert_eq!(history.check(&initial(0)), Ok(()));
        let at = history.invoke();
        history.read("k", Some(9), at);
        assert!(
            history.check(&initial(0)).is_err(),
            "the register cannot change back without a write"
        );
    }
}
