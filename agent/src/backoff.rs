//! Restart backoff, as the kubelet does it: the first restart is immediate, then each waits
//! twice as long as the last (10 s, 20 s, 40 s ... capped at 5 min); a container that ran
//! cleanly for long enough starts over.

use std::time::Duration;

/// The backoff's shape; tests shorten it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// A run at least this long resets the backoff.
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// The backoff of one container (or one image pull).
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    next: Option<Duration>,
}

impl Backoff {
    /// A fresh backoff: the first delay is zero.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, next: None }
    }

    /// The delay before the next attempt, after a run of `ran` (`None`: it never ran).
    pub fn after(&mut self, ran: Option<Duration>) -> Duration {
        if ran.is_some_and(|ran| ran >= self.config.reset_after) {
            self.next = None;
        }
        match self.next {
            None => {
                self.next = Some(self.config.initial.min(self.config.max));
                Duration::ZERO
            }
            Some(delay) => {
                self.next = Some(delay.saturating_mul(2).min(self.config.max));
                delay
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn doubles_from_ten_seconds_to_five_minutes() {
        let mut backoff = Backoff::new(BackoffConfig::default());
        let delays: Vec<u64> = (0..9)
            .map(|_| backoff.after(Some(secs(1))).as_secs())
            .collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_long_clean_run_resets_it() {
        let mut backoff = Backoff::new(BackoffConfig::default());
        for _ in 0..4 {
            backoff.after(Some(secs(1)));
        }
        assert_eq!(backoff.after(Some(secs(599))), secs(80));
        assert_eq!(backoff.after(Some(secs(600))), Duration::ZERO);
        assert_eq!(backoff.after(None), secs(10));
    }
}
