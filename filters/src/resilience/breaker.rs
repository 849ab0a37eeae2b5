//! A circuit breaker per endpoint (or per API key), lock-free: consecutive failures eject it for
//! a cooldown that doubles with each ejection in a row; when the cooldown ends exactly one
//! request is let through as a probe (half-open), so a recovering endpoint gets one request, not
//! a thundering herd; success closes the circuit, failure re-opens it for longer.
//!
//! Times are milliseconds on the caller's monotonic clock; 0 means "not ejected".

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that eject.
    pub failures: u32,
    /// The first ejection's length; each further ejection in a row doubles it.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

#[derive(Debug, Default)]
pub struct CircuitBreaker {
    consecutive_failures: AtomicU32,
    /// Ejections in a row, for the growing cooldown.
    ejections: AtomicU32,
    open_until_ms: AtomicU64,
    /// A half-open probe is in flight.
    probing: AtomicBool,
    /// Why it was last ejected (an HTTP status, or 0), for the error a client gets meanwhile.
    reason: AtomicU32,
}

impl CircuitBreaker {
    /// Whether a request may go to this endpoint now. When the cooldown has just ended this
    /// claims the single probe; everyone else keeps away until the probe reports.
    pub fn allow(&self, now_ms: u64) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if now_ms < until {
            return false;
        }
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// How long the current ejection still lasts (zero when not ejected or probing).
    pub fn remaining(&self, now_ms: u64) -> Duration {
        let until = self.open_until_ms.load(Ordering::Acquire);
        Duration::from_millis(until.saturating_sub(now_ms))
    }

    /// The status recorded with the last ejection (0 when none was given).
    pub fn reason(&self) -> u32 {
        self.reason.load(Ordering::Acquire)
    }

    pub fn set_reason(&self, status: u32) {
        self.reason.store(status, Ordering::Release);
    }

    /// Whether it is currently ejected (for status pages; does not claim a probe).
    pub fn is_open(&self, now_ms: u64) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        until != 0 && (now_ms < until || self.probing.load(Ordering::Acquire))
    }

    pub fn on_success(&self) {
        self.consecutive_failures.store(0, Ordering::Release);
        if self.open_until_ms.load(Ordering::Acquire) != 0 {
            self.ejections.store(0, Ordering::Release);
            self.open_until_ms.store(0, Ordering::Release);
            self.probing.store(false, Ordering::Release);
        }
    }

    /// Records a failure; returns the cooldown if this failure ejected the endpoint.
    pub fn on_failure(&self, now_ms: u64, config: &BreakerConfig) -> Option<Duration> {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        let was_probe = self.probing.swap(false, Ordering::AcqRel);
        if !was_probe && failures < config.failures.max(1) {
            return None;
        }
        Some(self.eject(now_ms, config, None))
    }

    /// Ejects now: for `exactly` when the provider said how long (`retry-after`), else for the
    /// cooldown that grows with each ejection in a row.
    pub fn eject(
        &self,
        now_ms: u64,
        config: &BreakerConfig,
        exactly: Option<Duration>,
    ) -> Duration {
        let n = self.ejections.fetch_add(1, Ordering::AcqRel);
        let grown = config
            .cooldown
            .checked_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX))
            .unwrap_or(config.max_cooldown)
            .min(config.max_cooldown);
        let cooldown = exactly.unwrap_or(grown);
        self.probing.store(false, Ordering::Release);
        self.open_until_ms
            .store(now_ms + cooldown.as_millis() as u64, Ordering::Release);
        cooldown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: BreakerConfig = BreakerConfig {
        failures: 3,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(8),
    };

    #[test]
    fn ejects_after_consecutive_failures_and_probes_once() {
        let b = CircuitBreaker::default();
        assert!(b.on_failure(0, &CONFIG).is_none());
        assert!(b.on_failure(0, &CONFIG).is_none());
        assert_eq!(b.on_failure(0, &CONFIG), Some(Duration::from_secs(1)));
        assert!(!b.allow(500));
        // Cooldown over: one probe, and only one.
        assert!(b.allow(1000));
        assert!(!b.allow(1001));
        b.on_success();
        assert!(b.allow(1002));
        assert!(b.allow(1003));
    }

    #[test]
    fn a_failed_probe_reopens_for_longer() {
        let b = CircuitBreaker::default();
        for _ in 0..3 {
            b.on_failure(0, &CONFIG);
        }
        assert!(b.allow(1000));
        assert_eq!(b.on_failure(1000, &CONFIG), Some(Duration::from_secs(2)));
        assert!(!b.allow(2999));
        assert!(b.allow(3000));
        assert_eq!(b.on_failure(3000, &CONFIG), Some(Duration::from_secs(4)));
    }

    #[test]
    fn success_resets_the_count() {
        let b = CircuitBreaker::default();
        b.on_failure(0, &CONFIG);
        b.on_failure(0, &CONFIG);
        b.on_success();
        assert!(b.on_failure(0, &CONFIG).is_none());
    }

    #[test]
    fn eject_honours_retry_after() {
        let b = CircuitBreaker::default();
        assert_eq!(
            b.eject(0, &CONFIG, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert!(!b.allow(29_999));
    }
}
