//! Adaptive load balancing: send each request where it is likely to be answered soonest, by
//! peak-EWMA latency and requests in flight, with power of two choices (as Finagle and Linkerd
//! do). Pure: the shell passes in the time, the random numbers and which choices are eligible.
//!
//! Each choice (an endpoint of a provider, a target of a model) has a [`LoadTracker`]: a
//! latency estimate that jumps up to a slower answer at once and comes down over about
//! [`AdaptiveConfig::decay`] (10 s), and a count of requests in flight. A failure counts as a
//! large latency, so a failing choice loses its traffic at its first failure (and the requests
//! already on their way), well before a circuit breaker trips. With no answers the estimate
//! decays toward 0, so a choice that was slow is tried again later: the one left out is
//! probed once `its estimate * exp(-idle / decay)` falls below the others', after
//! `decay * ln(slow / fast)` (9 s for 250 ms against 100 ms). A choice that has never
//! answered is tried at once, as if it had been idle for long.
//!
//! A pick draws two distinct eligible choices and takes the one with the lower
//! `(estimate + last estimate * in_flight) / weight` (see `cost` in `balancer.rs` for why it is
//! not quite `estimate * (in_flight + 1)`). Weight 0 makes a choice a last resort.
//!
//! Weights split traffic through the in-flight count, so they give their shares under load
//! (3:1 gives about 75/25 with dozens of requests in flight). With one request at a time there
//! is nothing in flight to compare, and a weight acts as a handicap on latency instead: 3:1
//! between equally fast choices sends nearly everything to the first, and the second is only
//! probed when the first's estimate is three times its own. A shell that needs exact shares
//! at any load keeps [`WeightedSchedule`](super::WeightedSchedule).
//!
//! # Usage
//!
//! One balancer per provider (over its endpoints) and per model (over its targets), built with
//! the weights in configuration order; a pick's index is a position in that order.
//!
//! ```
//! use sluice_filters::balance::{AdaptiveBalancer, AdaptiveConfig};
//! use std::time::Duration;
//!
//! let endpoints = AdaptiveBalancer::new(&[3, 1], AdaptiveConfig::default());
//!
//! // Each attempt: what may be tried now (healthy, breaker not open, not yet tried by this
//! // request), two random numbers (`rand::random()`), the monotonic clock in ms.
//! let tried: Vec<usize> = Vec::new();
//! let random = [0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d];
//! let now_ms = 1_000;
//! let Some(attempt) = endpoints.pick(|i| !tried.contains(&i), random, now_ms) else {
//!     return; // nothing eligible: the next target, or an error for the client
//! };
//! let endpoint = attempt.index();
//! # assert!(endpoint < 2);
//!
//! // ... send it to `endpoint`; the guard travels with the request's context ...
//!
//! // When its response headers (or a stream's first byte) arrive:
//! attempt.on_success(Duration::from_millis(180), now_ms + 180);
//! // Or, when the endpoint failed it (connect error, timeout, 5xx, 429):
//! //     attempt.on_failure(now_ms);
//! // Or, when the failure was the request's own or the client left: drop(attempt).
//! # assert_eq!(endpoints.tracker(endpoint).map(|t| t.in_flight()), Some(0));
//! ```
//!
//! With a circuit breaker, ask `!breaker.is_open(now)` in the eligibility closure (it has no
//! side effects) and call `breaker.allow(now)` on the picked choice only; if that loses the
//! half-open probe to another request, drop the guard and pick again without it.

mod balancer;
mod tracker;

#[cfg(test)]
mod scenarios;

pub use balancer::AdaptiveBalancer;
pub use tracker::{InFlight, LoadTracker};

use std::time::Duration;

/// How estimates move. The defaults suit LLM providers: answers take from a fraction of a
/// second to tens of seconds, and a provider's speed changes over seconds, not milliseconds.
/// Values out of range are clamped, not rejected: `decay` at least 1 ms, `failure_factor` at
/// least 1 (NaN counts as 1), `failure_penalty` at most `max_estimate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// The time constant of the average: after this long, an old estimate weighs 1/e. Shorter
    /// reacts faster and probes slow choices more often; longer is steadier.
    pub decay: Duration,
    /// The least latency a failure counts as.
    pub failure_penalty: Duration,
    /// A failure also counts as at least this multiple of the choice's last estimate, so that
    /// failures in a row push it further away and its next probe further off.
    pub failure_factor: f64,
    /// The highest estimate, and so the longest a failing choice waits for its next probe
    /// (`decay * ln(max_estimate / the others' latency)`: about 80 s against 100 ms).
    /// Latencies above it count as it.
    pub max_estimate: Duration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            decay: Duration::from_secs(10),
            failure_penalty: Duration::from_secs(5),
            failure_factor: 2.0,
            max_estimate: Duration::from_secs(300),
        }
    }
}
