//! CPU limits as fuel: a token bucket refilled at the container's fuel rate, checked at every
//! epoch tick. A container that has spent its budget yields until the bucket refills, so CPU
//! is throttled, never killed; an unlimited container still yields at every tick so one
//! spinning guest cannot starve the executor. Cancellation interrupts at the next tick.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::UpdateDeadline;

/// Fuel given to every store; consumption is measured against it, never exhausted.
pub(crate) const FUEL_RESERVE: u64 = u64::MAX / 4;

/// How much unused budget may accumulate: a short burst, like a CFS period.
const BURST: Duration = Duration::from_millis(100);

/// The CPU state of one running store.
#[derive(Debug)]
pub(crate) struct CpuThrottle {
    /// Fuel per second, or unlimited.
    rate: Option<u64>,
    tokens: i128,
    refilled_at: Instant,
    /// Fuel remaining in the store at the last check.
    fuel_seen: u64,
    /// Time spent waiting for the bucket, for usage reports.
    throttled: Duration,
    cancel: CancellationToken,
}

impl CpuThrottle {
    pub(crate) fn new(rate: Option<u64>, cancel: CancellationToken) -> Self {
        Self {
            rate,
            tokens: rate.map_or(0, |r| i128::from(r) / 10),
            refilled_at: Instant::now(),
            fuel_seen: FUEL_RESERVE,
            throttled: Duration::ZERO,
            cancel,
        }
    }

    /// Fuel consumed since the store started, given the fuel it has left.
    pub(crate) fn consumed(remaining: u64) -> u64 {
        FUEL_RESERVE.saturating_sub(remaining)
    }

    /// Time spent throttled.
    pub(crate) fn throttled(&self) -> Duration {
        self.throttled
    }

    /// Called at each epoch deadline with the store's remaining fuel.
    pub(crate) fn on_epoch(&mut self, remaining: u64) -> UpdateDeadline {
        if self.cancel.is_cancelled() {
            return UpdateDeadline::Interrupt;
        }
        let spent = self.fuel_seen.saturating_sub(remaining);
        self.fuel_seen = remaining;
        let Some(rate) = self.rate else {
            return UpdateDeadline::Yield(1);
        };
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at);
        self.refilled_at = now;
        let rate = i128::from(rate.max(1));
        let burst = rate * i128::from(BURST.as_millis() as u64) / 1000;
        let refill = rate * elapsed.as_nanos() as i128 / 1_000_000_000;
        self.tokens = (self.tokens + refill).min(burst.max(1)) - i128::from(spent);
        if self.tokens >= 0 {
            return UpdateDeadline::Yield(1);
        }
        let wait_nanos = (-self.tokens) * 1_000_000_000 / rate;
        let wait = Duration::from_nanos(u64::try_from(wait_nanos).unwrap_or(u64::MAX));
        self.throttled += wait;
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
        let mut throttle = CpuThrottle::new(Some(1_000_000), CancellationToken::new());
        // The starting budget is a tenth of a second; spend a whole second's worth at once.
        let deadline = throttle.on_epoch(FUEL_RESERVE - 1_000_000);
        assert!(matches!(deadline, UpdateDeadline::YieldCustom(1, _)));
        let waited = throttle.throttled();
        assert!(
            waited > Duration::from_millis(800) && waited <= Duration::from_millis(901),
            "{waited:?}"
        );
    }

    #[test]
    fn unlimited_still_yields_and_cancel_interrupts() {
        let cancel = CancellationToken::new();
        let mut throttle = CpuThrottle::new(None, cancel.clone());
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
}
