//! The memory limit of one container, summed over all its linear memories and tables
//! (wasmtime's built-in limits are per memory). Growing past the limit traps, and the
//! container ends as out-of-memory, the way the kernel's OOM killer ends a cgroup.

use wasmtime::ResourceLimiter;

/// Bytes charged per table element (a function reference is a pointer or two).
const TABLE_ELEMENT_BYTES: usize = 16;

/// Tracks and caps the memory of one store.
#[derive(Debug, Default)]
pub(crate) struct MemoryLimiter {
    limit: Option<usize>,
    total: usize,
    peak: usize,
    exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        Self {
            limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            ..Self::default()
        }
    }

    /// Bytes in use now.
    pub(crate) fn current(&self) -> u64 {
        self.total as u64
    }

    /// The most bytes ever in use.
    pub(crate) fn peak(&self) -> u64 {
        self.peak as u64
    }

    /// Whether the guest tried to go past its limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let next = self.total.saturating_sub(current).saturating_add(desired);
        if self.limit.is_some_and(|limit| next > limit) {
            self.exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded (wanted {next})",
                self.limit.unwrap_or_default()
            )));
        }
        self.total = next;
        self.peak = self.peak.max(next);
        Ok(true)
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
        let mut limiter = MemoryLimiter::new(Some(3 << 16));
        assert!(limiter.memory_growing(0, 1 << 16, None).unwrap());
        assert!(
            limiter.memory_growing(0, 1 << 16, None).unwrap(),
            "a second memory"
        );
        assert!(limiter.table_growing(0, 100, None).unwrap());
        assert_eq!(limiter.current(), (2 << 16) + 1600);
        assert!(
            limiter.memory_growing(1 << 16, 2 << 16, None).is_err(),
            "the sum passes the limit"
        );
        assert!(limiter.exceeded());
        assert_eq!(limiter.peak(), (2 << 16) + 1600);
    }
}
