//! One choice's load, lock-free: a peak-EWMA of its latency and the requests it has in flight.
//!
//! Every worker thread reads and updates these on the request path, so the state is three
//! atomics and nothing else. Time is the caller's monotonic clock in milliseconds; nothing here
//! reads a clock.

use super::AdaptiveConfig;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `updated_ms` before the first sample: the choice has no estimate yet.
const NEVER: u64 = u64::MAX;

/// The config as the arithmetic uses it, clamped so that no input can produce NaN or infinity.
#[derive(Debug, Clone, Copy)]
pub(super) struct Params {
    /// `-1 / decay` in ms, so that decaying is a multiplication and an `exp`.
    neg_rate: f64,
    penalty_ms: f64,
    factor: f64,
    max_ms: f64,
}

impl Params {
    pub(super) fn new(config: &AdaptiveConfig) -> Self {
        let max_ms = millis(config.max_estimate);
        Params {
            // A zero time constant would make the rate infinite, and 0 * infinity is NaN.
            neg_rate: -1.0 / millis(config.decay).max(1.0),
            penalty_ms: millis(config.failure_penalty).min(max_ms),
            // `>=` is false for NaN, which therefore means "no growth".
            factor: if config.failure_factor >= 1.0 {
                config.failure_factor.min(1e6)
            } else {
                1.0
            },
            max_ms,
        }
    }

    /// The weight of the past after `elapsed_ms`: 1 now, 1/e after one time constant.
    fn decay(&self, elapsed_ms: u64) -> f64 {
        if elapsed_ms == 0 {
            return 1.0;
        }
        (elapsed_ms as f64 * self.neg_rate).exp()
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a pick needs to know about one choice at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Load {
    /// The estimate now: the last one decayed toward 0 by the time since (ms).
    pub(super) decayed_ms: f64,
    /// The estimate when last updated, not decayed: what each request in flight will cost.
    pub(super) last_ms: f64,
}

/// The load of one choice (an endpoint of a provider, a target of a model). Built by
/// [`AdaptiveBalancer`](super::AdaptiveBalancer); read it for status pages.
#[derive(Debug)]
pub struct LoadTracker {
    /// The latency estimate in ms as `f64` bits, as of `updated_ms`.
    estimate_bits: AtomicU64,
    updated_ms: AtomicU64,
    in_flight: AtomicU32,
    weight: u32,
    params: Params,
}

impl LoadTracker {
    pub(super) fn new(weight: u32, params: Params) -> Self {
        LoadTracker {
            estimate_bits: AtomicU64::new(0f64.to_bits()),
            updated_ms: AtomicU64::new(NEVER),
            in_flight: AtomicU32::new(0),
            weight,
            params,
        }
    }

    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Requests picked for this choice and not yet finished.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The latency estimate at `now_ms`, or `None` before the first request has finished.
    pub fn estimate(&self, now_ms: u64) -> Option<Duration> {
        self.load(now_ms)
            .map(|l| Duration::try_from_secs_f64(l.decayed_ms / 1000.0).unwrap_or(Duration::MAX))
    }

    /// The estimate at `now_ms`, decayed toward 0 since the last update so that a choice that
    /// was slow and then left alone looks better and better until it is tried again. The
    /// decay is computed here rather than stored, so how often a choice is read changes
    /// nothing.
    ///
    /// The estimate and its time are two atomics, not one: a read racing an update may pair
    /// the new estimate with the old time and decay it a little too far for a moment. It is an
    /// estimate, not an account, and every mix of the two is still finite and in range.
    pub(super) fn load(&self, now_ms: u64) -> Option<Load> {
        let updated = self.updated_ms.load(Ordering::Acquire);
        if updated == NEVER {
            return None;
        }
        let last_ms = f64::from_bits(self.estimate_bits.load(Ordering::Acquire));
        Some(Load {
            decayed_ms: last_ms * self.params.decay(now_ms.saturating_sub(updated)),
            last_ms,
        })
    }

    /// Folds in a finished request's latency: a sample above the current (decayed) estimate
    /// replaces it, so a slowdown shows at once; one below pulls it down with weight
    /// `1 - exp(-elapsed / tau)`, so a speed-up shows over about a time constant.
    fn observe(&self, sample_ms: f64, now_ms: u64) {
        let sample = sample_ms.clamp(0.0, self.params.max_ms);
        let _ = self
            .estimate_bits
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                let updated = self.updated_ms.load(Ordering::Acquire);
                if updated == NEVER {
                    return Some(sample.to_bits());
                }
                let w = self.params.decay(now_ms.saturating_sub(updated));
                let current = f64::from_bits(bits) * w;
                let next = if sample >= current {
                    sample
                } else {
                    sample + (current - sample) * w
                };
                Some(next.to_bits())
            });
        // Threads report with slightly different clocks; the time never goes backwards.
        let _ = self
            .updated_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t == NEVER || now_ms > t).then_some(now_ms)
            });
    }

    /// The latency a failure counts as: the configured penalty, or a multiple of the last
    /// estimate when that is more, so failures in a row push the choice further away (and its
    /// next probe further off), up to the cap.
    fn failure_sample(&self) -> f64 {
        let last = f64::from_bits(self.estimate_bits.load(Ordering::Acquire));
        (last * self.params.factor)
            .max(self.params.penalty_ms)
            .min(self.params.max_ms)
    }
}

/// A request in flight to one choice, from the pick until the caller reports how it went.
///
/// Dropping it without a report (the client went away, or the failure was the request's own
/// fault, not the choice's) ends the request without a sample: the count goes down, the
/// estimate stays.
#[derive(Debug)]
#[must_use = "the request counts as in flight until this is finished or dropped"]
pub struct InFlight {
    tracker: Arc<LoadTracker>,
    index: usize,
}

impl InFlight {
    pub(super) fn start(tracker: Arc<LoadTracker>, index: usize) -> Self {
        tracker.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight { tracker, index }
    }

    /// The index of the chosen entry, in the order the weights were given.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The request was answered after `latency` (for a stream, the time to its first byte:
    /// the whole stream's length says more about the answer than about the choice).
    pub fn on_success(self, latency: Duration, now_ms: u64) {
        self.tracker.observe(millis(latency), now_ms);
    }

    /// The choice failed the request (connect error, timeout, 5xx, 429): counted as a large
    /// latency, so a failing choice loses traffic at once, before any circuit breaker trips.
    pub fn on_failure(self, now_ms: u64) {
        let penalty = self.tracker.failure_sample();
        self.tracker.observe(penalty, now_ms);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tracker.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tracker() -> Arc<LoadTracker> {
        Arc::new(LoadTracker::new(1, Params::new(&AdaptiveConfig::default())))
    }

    fn report(t: &Arc<LoadTracker>, latency_ms: u64, now_ms: u64) {
        InFlight::start(t.clone(), 0).on_success(Duration::from_millis(latency_ms), now_ms);
    }

    fn decayed(t: &LoadTracker, now_ms: u64) -> f64 {
        t.load(now_ms).map_or(f64::NAN, |l| l.decayed_ms)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn unknown_until_the_first_sample() {
        let t = tracker();
        assert_eq!(t.load(0), None);
        assert_eq!(t.estimate(0), None);
        report(&t, 120, 1_000);
        assert_eq!(t.estimate(1_000), Some(Duration::from_millis(120)));
    }

    #[test]
    fn peak_ewma_steps() {
        let e = (-1f64).exp();
        /// Samples as (latency, at), then the estimate read at a time.
        type Case = (&'static [(u64, u64)], u64, f64);
        let cases: &[Case] = &[
            // A higher sample replaces the estimate at once.
            (&[(100, 0), (400, 10)], 10, 400.0),
            // A lower one a time constant later: 1/e of the way from the decayed estimate.
            (
                &[(400, 0), (100, 10_000)],
                10_000,
                100.0 + (400.0 * e - 100.0) * e,
            ),
            // A lower one right away barely moves it.
            (&[(400, 0), (100, 0)], 0, 400.0),
            // Read later without samples: decayed toward 0.
            (&[(400, 0)], 10_000, 400.0 * e),
            (&[(400, 0)], 20_000, 400.0 * e * e),
            // The decayed estimate below the new sample: the sample replaces it.
            (&[(400, 0), (300, 10_000)], 10_000, 300.0),
            // A sample reported with an older clock does not count time backwards.
            (&[(400, 5_000), (100, 1_000)], 5_000, 400.0),
        ];
        for (samples, read_at, want) in cases {
            let t = tracker();
            for (latency, at) in *samples {
                report(&t, *latency, *at);
            }
            let got = decayed(&t, *read_at);
            assert!(
                close(got, *want),
                "{samples:?} at {read_at}: {got} != {want}"
            );
        }
    }

    #[test]
    fn failures_cost_a_penalty_that_grows_to_the_cap() {
        let t = tracker();
        report(&t, 100, 0);
        // Default: 5 s, or twice the last estimate, at most 300 s.
        let mut want = 5_000.0;
        for i in 0..10 {
            InFlight::start(t.clone(), 0).on_failure(i);
            assert!(close(decayed(&t, i), want), "failure {i}");
            want = (want * 2.0).min(300_000.0);
        }
        // A success afterwards (once the penalty has decayed below it) resets it.
        report(&t, 100, 10_000_000);
        assert!(close(decayed(&t, 10_000_000), 100.0));
    }

    #[test]
    fn the_guard_counts_requests_in_flight() {
        let t = tracker();
        let a = InFlight::start(t.clone(), 3);
        let b = InFlight::start(t.clone(), 3);
        let c = InFlight::start(t.clone(), 3);
        assert_eq!((t.in_flight(), a.index()), (3, 3));
        a.on_success(Duration::from_millis(5), 0);
        b.on_failure(0);
        assert_eq!(t.in_flight(), 1);
        drop(c);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_dropped_guard_leaves_the_estimate_alone() {
        let t = tracker();
        report(&t, 100, 0);
        drop(InFlight::start(t.clone(), 0));
        assert!(close(decayed(&t, 0), 100.0));
    }

    #[test]
    fn degenerate_configs_stay_finite() {
        let configs = [
            AdaptiveConfig {
                decay: Duration::ZERO,
                failure_penalty: Duration::ZERO,
                failure_factor: f64::NAN,
                max_estimate: Duration::ZERO,
            },
            AdaptiveConfig {
                decay: Duration::MAX,
                failure_penalty: Duration::MAX,
                failure_factor: f64::INFINITY,
                max_estimate: Duration::MAX,
            },
        ];
        for config in configs {
            let t = Arc::new(LoadTracker::new(1, Params::new(&config)));
            for now in [0, 0, 1, u64::MAX - 1] {
                report(&t, 100, now);
                InFlight::start(t.clone(), 0).on_failure(now);
                let l = t.load(now).expect("sampled");
                assert!(
                    l.decayed_ms.is_finite() && l.last_ms.is_finite(),
                    "{config:?}"
                );
                assert!(t.estimate(now).is_some());
            }
        }
    }

    proptest! {
        /// Whatever happens, in whatever order, the estimate stays a finite number of
        /// milliseconds between 0 and the cap, and never grows while nothing is reported.
        #[test]
        fn estimates_stay_finite_and_in_range(
            events in proptest::collection::vec((any::<bool>(), 0u64..1_000_000, 0u64..100_000), 1..60),
            later in 0u64..10_000_000,
        ) {
            let t = tracker();
            let mut now = 0u64;
            for (fails, latency_ms, step) in events {
                now += step;
                let guard = InFlight::start(t.clone(), 0);
                if fails {
                    guard.on_failure(now);
                } else {
                    guard.on_success(Duration::from_millis(latency_ms), now);
                }
                let l = t.load(now).expect("sampled");
                prop_assert!(l.decayed_ms.is_finite() && l.last_ms.is_finite());
                prop_assert!((0.0..=300_000.0).contains(&l.decayed_ms));
                prop_assert!(l.decayed_ms <= l.last_ms);
            }
            let (at, after) = (t.load(now).expect("sampled"), t.load(now + later).expect("sampled"));
            prop_assert!(after.decayed_ms <= at.decayed_ms);
            prop_assert_eq!(t.in_flight(), 0);
        }
    }
}
