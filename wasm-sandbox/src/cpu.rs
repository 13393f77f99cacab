//! CPU limits as fuel: a token bucket refilled at the container's fuel rate, checked at every
//! epoch tick. A container that has spent its budget yields until the bucket refills, so CPU
//! is throttled, never killed; an unlimited container still yields at every tick so one
//! spinning guest cannot starve the executor. Cancellation interrupts at the next tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::UpdateDeadline;

/// Fuel given to every store; consumption is measured against it, never exhausted.
pub(crate) const FUEL_RESERVE: u64 = u64::MAX / 4;

/// How much unused budget may accumulate: a short burst, like a CFS period.
const BURST: Duration = Duration::from_millis(100);

/// A throttled store waits until the bucket holds this long's worth of its rate, not merely
/// until it is no longer empty: it then runs in slices of several milliseconds instead of one
/// tick at a time, which costs less in wake-ups and cold caches per unit of work.
const QUANTUM: Duration = Duration::from_millis(20);

/// The CPU budget of one container run, shared by all its stores (an HTTP handler runs one
/// store per in-flight request; together they get the container's rate).
#[derive(Debug)]
pub(crate) struct CpuBudget {
    /// Fuel per second, or unlimited.
    rate: Option<u64>,
    bucket: Mutex<Bucket>,
    /// Fuel burnt by stores that have ended.
    consumed: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    tokens: i128,
    refilled_at: Instant,
    /// Time stores spent waiting for the bucket, for usage reports.
    throttled: Duration,
}

impl CpuBudget {
    pub(crate) fn new(rate: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            rate,
            bucket: Mutex::new(Bucket {
                tokens: rate.map_or(0, |r| i128::from(r) / 10),
                refilled_at: Instant::now(),
                throttled: Duration::ZERO,
            }),
            consumed: AtomicU64::new(0),
        })
    }

    /// Time spent throttled by all stores of the run.
    pub(crate) fn throttled(&self) -> Duration {
        self.bucket
            .lock()
            .map_or(Duration::ZERO, |bucket| bucket.throttled)
    }

    /// Records the fuel a store burnt when it ends.
    pub(crate) fn record(&self, fuel: u64) {
        self.consumed.fetch_add(fuel, Ordering::Relaxed);
    }

    /// Fuel burnt by the run's ended stores.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// Takes `spent` fuel from the bucket; returns how long to wait before running again.
    fn spend(&self, rate: u64, spent: u64) -> Option<Duration> {
        let Ok(mut bucket) = self.bucket.lock() else {
            return None;
        };
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled_at);
        bucket.refilled_at = now;
        let rate = i128::from(rate.max(1));
        let burst = rate * i128::from(BURST.as_millis() as u64) / 1000;
        let refill = rate * elapsed.as_nanos() as i128 / 1_000_000_000;
        bucket.tokens = (bucket.tokens + refill).min(burst.max(1)) - i128::from(spent);
        if bucket.tokens >= 0 {
            return None;
        }
        let quantum = rate * i128::from(QUANTUM.as_millis() as u64) / 1000;
        let wait_nanos = (quantum - bucket.tokens) * 1_000_000_000 / rate;
        let wait = Duration::from_nanos(u64::try_from(wait_nanos).unwrap_or(u64::MAX));
        bucket.throttled += wait;
        Some(wait)
    }
}

/// The CPU state of one running store.
#[derive(Debug)]
pub(crate) struct CpuThrottle {
    budget: Arc<CpuBudget>,
    /// Fuel remaining in the store at the last check.
    fuel_seen: u64,
    cancel: CancellationToken,
}

impl CpuThrottle {
    pub(crate) fn new(budget: Arc<CpuBudget>, cancel: CancellationToken) -> Self {
        Self {
            budget,
            fuel_seen: FUEL_RESERVE,
            cancel,
        }
    }

    /// Fuel consumed since the store started, given the fuel it has left.
    pub(crate) fn consumed(remaining: u64) -> u64 {
        FUEL_RESERVE.saturating_sub(remaining)
    }

    /// The run's budget.
    pub(crate) fn budget(&self) -> &CpuBudget {
        &self.budget
    }

    /// Called at each epoch deadline with the store's remaining fuel.
    pub(crate) fn on_epoch(&mut self, remaining: u64) -> UpdateDeadline {
        if self.cancel.is_cancelled() {
            return UpdateDeadline::Interrupt;
        }
        let spent = self.fuel_seen.saturating_sub(remaining);
        self.fuel_seen = remaining;
        let Some(rate) = self.budget.rate else {
            return UpdateDeadline::Yield(1);
        };
        let Some(wait) = self.budget.spend(rate, spent) else {
            return UpdateDeadline::Yield(1);
        };
        let cancel = self.cancel.clone();
        UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancel.cancelled() => {}
                }
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_waits_for_the_deficit() {
        let mut throttle =
            CpuThrottle::new(CpuBudget::new(Some(1_000_000)), CancellationToken::new());
        // The starting budget is a tenth of a second; spend a whole second's worth at once: the
        // wait covers the deficit plus one quantum.
        let deadline = throttle.on_epoch(FUEL_RESERVE - 1_000_000);
        assert!(matches!(deadline, UpdateDeadline::YieldCustom(1, _)));
        let waited = throttle.budget().throttled();
        assert!(
            waited > Duration::from_millis(800) && waited <= Duration::from_millis(921),
            "{waited:?}"
        );
    }

    #[test]
    fn unlimited_still_yields_and_cancel_interrupts() {
        let cancel = CancellationToken::new();
        let mut throttle = CpuThrottle::new(CpuBudget::new(None), cancel.clone());
        assert!(matches!(
            throttle.on_epoch(FUEL_RESERVE - 5),
            UpdateDeadline::Yield(1)
        ));
        cancel.cancel();
        assert!(matches!(
            throttle.on_epoch(FUEL_RESERVE - 10),
            UpdateDeadline::Interrupt
        ));
    }

    #[test]
    fn stores_of_one_run_draw_from_one_bucket() {
        let budget = CpuBudget::new(Some(1_000_000));
        let mut first = CpuThrottle::new(Arc::clone(&budget), CancellationToken::new());
        let mut second = CpuThrottle::new(Arc::clone(&budget), CancellationToken::new());
        // The starting budget is 100,000 fuel: each store spends 60,000 of it.
        assert!(matches!(
            first.on_epoch(FUEL_RESERVE - 60_000),
            UpdateDeadline::Yield(1)
        ));
        assert!(matches!(
            second.on_epoch(FUEL_RESERVE - 60_000),
            UpdateDeadline::YieldCustom(1, _)
        ));
        assert!(budget.throttled() > Duration::ZERO);
    }
}
