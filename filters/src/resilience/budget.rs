//! A gateway-wide retry budget, as Finagle's `RetryBudget(ttl, minRetriesPerSec,
//! percentCanRetry)`: every request deposits `ratio` of a retry, every retry withdraws one, and
//! deposits and withdrawals expire after `TTL`; on top of what the window holds there is always a
//! reserve of `floor` retries per second of the window. So a provider that is down costs at most
//! `1 + ratio` times the traffic under load (plus the floor), not `attempts` times; and a quiet
//! gateway can retry at any time, however many failures came before: what a burst spent
//! expires with its window, and the reserve is never spent for longer than that.
//!
//! Lock-free and pure: a ring of one-second slots of atomics; the caller passes the time.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// How long a deposit or withdrawal counts (Finagle's default).
pub const TTL_SECS: u64 = 10;

/// Retries are counted in thousandths, so a deposit of `ratio` stays an integer.
const UNIT: i64 = 1000;

/// One second of the window: which second it holds, and its net deposits.
#[derive(Debug, Default)]
struct Slot {
    second: AtomicU64,
    value: AtomicI64,
}

#[derive(Debug)]
pub struct RetryBudget {
    slots: [Slot; TTL_SECS as usize],
    deposit: i64,
    reserve: i64,
}

impl RetryBudget {
    /// `ratio`: retries per request (0.2 = 20%); `floor`: retries per second always available.
    pub fn new(ratio: f64, floor: u32) -> Self {
        RetryBudget {
            slots: Default::default(),
            deposit: (ratio.clamp(0.0, 10.0) * UNIT as f64).round() as i64,
            reserve: i64::from(floor) * TTL_SECS as i64 * UNIT,
        }
    }

    /// The slot for `second`, emptied first if it still holds an older second.
    fn slot(&self, second: u64) -> &Slot {
        let slot = &self.slots[(second % TTL_SECS) as usize];
        let held = slot.second.load(Ordering::Acquire);
        if held < second
            && slot
                .second
                .compare_exchange(held, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // What this slot held is older than the window. (An add racing this reset may be
            // lost: the budget is a bound, not a ledger.)
            slot.value.store(0, Ordering::Release);
        }
        slot
    }

    /// What the window holds at `second`: deposits minus withdrawals of the last `TTL_SECS`.
    fn window(&self, second: u64) -> i64 {
        self.slots
            .iter()
            .filter(|s| s.second.load(Ordering::Acquire) + TTL_SECS > second)
            .map(|s| s.value.load(Ordering::Acquire))
            .sum()
    }

    /// A request came in at `now_ms`.
    pub fn deposit(&self, now_ms: u64) {
        let second = now_ms / 1000;
        self.slot(second)
            .value
            .fetch_add(self.deposit, Ordering::AcqRel);
    }

    /// Takes one retry at `now_ms` if the budget has it.
    pub fn try_withdraw(&self, now_ms: u64) -> bool {
        let second = now_ms / 1000;
        if self.window(second) + self.reserve < UNIT {
            return false;
        }
        self.slot(second).value.fetch_sub(UNIT, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_load_retries_are_a_fraction_of_requests() {
        let budget = RetryBudget::new(0.2, 0);
        let mut retries = 0;
        for i in 0..1000 {
            budget.deposit(i);
            if budget.try_withdraw(i) {
                retries += 1;
            }
        }
        assert_eq!(retries, 200);
    }

    #[test]
    fn the_floor_is_a_rate_always_there() {
        let budget = RetryBudget::new(0.2, 3);
        // A burst of failures spends the reserve (30 retries for the 10 s window) and more.
        let mut burst = 0;
        for _ in 0..100 {
            budget.deposit(0);
            if budget.try_withdraw(0) {
                burst += 1;
            }
        }
        assert_eq!(burst, 50, "20 from deposits, 30 from the reserve");
        assert!(!budget.try_withdraw(5_000), "still within the window");
        // Once the burst's window has passed, a quiet gateway can retry again.
        for i in 0..30 {
            let now = 10_000 + i * 100;
            budget.deposit(now);
            assert!(budget.try_withdraw(now), "retry {i} after the window");
        }
    }

    #[test]
    fn a_quiet_gateway_retries_at_any_time_after_a_burst() {
        // The scenario: a burst of ~10 failures, then requests one at a time, each
        // failing once: every one of them may retry.
        let budget = RetryBudget::new(0.2, 10);
        for i in 0..60 {
            budget.deposit(i);
            assert!(budget.try_withdraw(i));
        }
        for i in 0..40 {
            let now = 1_000 + i * 250;
            budget.deposit(now);
            assert!(budget.try_withdraw(now), "request {i}");
        }
    }
}
