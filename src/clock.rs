//! The process's monotonic clock in milliseconds, for circuit breakers, load trackers and the
//! retry budget. One timeline for the whole process, so state that outlives a configuration
//! snapshot (a breaker, an ejection) keeps meaning the same thing.

use once_cell::sync::Lazy;
use std::time::Instant;

static START: Lazy<Instant> = Lazy::new(Instant::now);

/// Milliseconds since the process first asked.
pub fn now_ms() -> u64 {
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}
