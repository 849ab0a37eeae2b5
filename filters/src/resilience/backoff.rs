//! Exponential backoff with full jitter (AWS's "full jitter"): spreads retries of many requests
//! that failed together, so a recovering provider is not hit by a synchronized wave.

use std::time::Duration;

/// The wait before retry number `retry` (0-based) on the same endpoint. `unit` is a uniform
/// random number in [0, 1) supplied by the caller.
pub fn backoff_delay(base: Duration, max: Duration, retry: u32, unit: f64) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_stays_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(
            backoff_delay(base, max, 0, 0.999_999),
            Duration::from_nanos(99_999_900)
        );
        assert_eq!(backoff_delay(base, max, 3, 0.5), Duration::from_millis(400));
        assert_eq!(backoff_delay(base, max, 30, 0.5), Duration::from_secs(1));
        assert_eq!(backoff_delay(base, max, 2, 0.0), Duration::ZERO);
    }
}
