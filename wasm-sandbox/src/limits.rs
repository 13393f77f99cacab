//! The memory limit of one container, summed over all its linear memories and tables
//! (wasmtime's built-in limits are per memory). Growing past the limit traps, and the
//! container ends as out-of-memory, the way the kernel's OOM killer ends a cgroup.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::ResourceLimiter;

/// Bytes charged per table element (a function reference is a pointer or two).
const TABLE_ELEMENT_BYTES: usize = 16;

/// The memory budget of one container run, shared by every store of that run: one store for a
/// command, one per in-flight request for an HTTP handler, so concurrent requests together
/// stay inside the container's limit as processes in one cgroup do.
#[derive(Debug, Default)]
pub(crate) struct MemoryPool {
    limit: Option<usize>,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl MemoryPool {
    pub(crate) fn new(limit: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            ..Self::default()
        })
    }

    /// Bytes in use now over all stores.
    pub(crate) fn current(&self) -> u64 {
        self.used.load(Ordering::Relaxed) as u64
    }

    /// The most bytes ever in use at once.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed) as u64
    }

    /// Charges `delta` more bytes, or refuses if that passes the limit; returns the new total.
    fn charge(&self, delta: usize) -> Result<usize, usize> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(delta);
            if self.limit.is_some_and(|limit| next > limit) {
                return Err(next);
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return Ok(next);
                }
                Err(actual) => used = actual,
            }
        }
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Tracks one store's memories and tables and charges their growth to the run's pool; what
/// the store held goes back to the pool when it is dropped.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pool: Arc<MemoryPool>,
    held: usize,
    exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(pool: Arc<MemoryPool>) -> Self {
        Self {
            pool,
            held: 0,
            exceeded: false,
        }
    }

    /// The pool this store charges.
    pub(crate) fn pool(&self) -> &MemoryPool {
        &self.pool
    }

    /// Whether the guest tried to go past its limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current);
        match self.pool.charge(delta) {
            Ok(_) => {
                self.held += delta;
                Ok(true)
            }
            Err(wanted) => {
                self.exceeded = true;
                Err(wasmtime::Error::msg(format!(
                    "memory limit of {} bytes exceeded (wanted {wanted})",
                    self.pool.limit.unwrap_or_default()
                )))
            }
        }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.pool.release(self.held);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_memory_and_table() {
        let pool = MemoryPool::new(Some(3 << 16));
        let mut limiter = MemoryLimiter::new(Arc::clone(&pool));
        assert!(limiter.memory_growing(0, 1 << 16, None).unwrap());
        assert!(
            limiter.memory_growing(0, 1 << 16, None).unwrap(),
            "a second memory"
        );
        assert!(limiter.table_growing(0, 100, None).unwrap());
        assert_eq!(pool.current(), (2 << 16) + 1600);
        assert!(
            limiter.memory_growing(1 << 16, 2 << 16, None).is_err(),
            "the sum passes the limit"
        );
        assert!(limiter.exceeded());
        assert_eq!(pool.peak(), (2 << 16) + 1600);
    }

    #[test]
    fn stores_of_one_run_share_the_limit_and_give_memory_back() {
        let pool = MemoryPool::new(Some(3 << 16));
        let mut first = MemoryLimiter::new(Arc::clone(&pool));
        let mut second = MemoryLimiter::new(Arc::clone(&pool));
        assert!(first.memory_growing(0, 2 << 16, None).unwrap());
        assert!(second.memory_growing(0, 2 << 16, None).is_err());
        assert!(second.exceeded() && !first.exceeded());
        drop(first);
        assert_eq!(pool.current(), 0, "a dropped store releases what it held");
        assert!(second.memory_growing(0, 2 << 16, None).unwrap());
        assert_eq!(pool.peak(), 2 << 16);
    }
}
