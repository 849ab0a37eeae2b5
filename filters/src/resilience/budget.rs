//! A gateway-wide retry budget (as in Finagle and Envoy): every request deposits `ratio` of a
//! retry, every retry withdraws one, plus a small floor so a quiet gateway can still retry. A
//! provider that is down therefore costs at most `1 + ratio` times the traffic, not
//! `attempts` times.

use std::sync::atomic::{AtomicI64, Ordering};

/// Retries are counted in thousandths so the ratio deposit stays an integer.
const UNIT: i64 = 1000;

#[derive(Debug)]
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: i64,
    cap: i64,
}

impl RetryBudget {
    /// `ratio`: retries per request (0.2 = 20%); `floor`: retries always available when idle.
    pub fn new(ratio: f64, floor: u32) -> Self {
        let floor = i64::from(floor) * UNIT;
        RetryBudget {
            balance: AtomicI64::new(floor),
            deposit: (ratio.clamp(0.0, 10.0) * UNIT as f64) as i64,
            cap: floor.max(UNIT) * 10,
        }
    }

    /// A request came in.
    pub fn deposit(&self) {
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some((b + self.deposit).min(self.cap))
            });
    }

    /// Takes one retry if the budget has it.
    pub fn try_withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b >= UNIT).then_some(b - UNIT)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_a_fraction_of_requests() {
        let budget = RetryBudget::new(0.2, 0);
        let mut retries = 0;
        for _ in 0..1000 {
            budget.deposit();
            if budget.try_withdraw() {
                retries += 1;
            }
        }
        assert_eq!(retries, 200);
    }

    #[test]
    fn the_floor_allows_retries_when_quiet() {
        let budget = RetryBudget::new(0.2, 3);
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    }
}
