//! Smooth weighted round robin (nginx's algorithm), computed once into a fixed schedule.
//!
//! Why a schedule: picking must be lock-free on the request path, so the shell keeps one
//! `AtomicUsize` per choice and indexes this table with `fetch_add`. Smoothness (weights 3:1
//! give `A A B A`, not `A A A B`) spreads load within every window, and an exact schedule makes
//! the split testable: 400 requests over 3:1 give exactly 300 and 100.

use std::fmt;

/// The largest schedule we build; weights are reduced by their GCD first.
const MAX_SCHEDULE_LEN: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct WeightedSchedule {
    order: Box<[u32]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    Empty,
    AllZero,
    TooLarge(u64),
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::Empty => f.write_str("at least one entry is required"),
            ScheduleError::AllZero => f.write_str("at least one weight must be greater than 0"),
            ScheduleError::TooLarge(n) => write!(
                f,
                "weights sum to {n} after reduction; keep the sum of weights at most {MAX_SCHEDULE_LEN}"
            ),
        }
    }
}

impl std::error::Error for ScheduleError {}

impl WeightedSchedule {
    pub fn new(weights: &[u32]) -> Result<Self, ScheduleError> {
        if weights.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let divisor = weights.iter().copied().filter(|w| *w > 0).fold(0, gcd);
        if divisor == 0 {
            return Err(ScheduleError::AllZero);
        }
        let reduced: Vec<i64> = weights.iter().map(|w| i64::from(w / divisor)).collect();
        let total: i64 = reduced.iter().sum();
        if total as u64 > MAX_SCHEDULE_LEN {
            return Err(ScheduleError::TooLarge(total as u64));
        }
        let mut current = vec![0i64; reduced.len()];
        let mut order = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0;
            for i in 0..reduced.len() {
                current[i] += reduced[i];
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            order.push(best as u32);
        }
        Ok(WeightedSchedule {
            order: order.into_boxed_slice(),
        })
    }

    /// The entry for the `n`th pick; callers pass a monotonically increasing counter.
    pub fn pick(&self, n: usize) -> usize {
        self.order[n % self.order.len()] as usize
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(s: &WeightedSchedule, n: usize, k: usize) -> Vec<usize> {
        let mut c = vec![0; k];
        for i in 0..n {
            c[s.pick(i)] += 1;
        }
        c
    }

    #[test]
    fn exact_split_over_whole_rounds() {
        let s = WeightedSchedule::new(&[3, 1]).unwrap();
        assert_eq!(counts(&s, 400, 2), vec![300, 100]);
    }

    #[test]
    fn smooth_interleaving() {
        let s = WeightedSchedule::new(&[5, 1, 1]).unwrap();
        let order: Vec<usize> = (0..7).map(|i| s.pick(i)).collect();
        assert_eq!(order, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn reduces_by_gcd_and_skips_zero() {
        let s = WeightedSchedule::new(&[300, 0, 100]).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(counts(&s, 8, 3), vec![6, 0, 2]);
    }

    #[test]
    fn rejects_degenerate_weights() {
        assert_eq!(
            WeightedSchedule::new(&[]).unwrap_err(),
            ScheduleError::Empty
        );
        assert_eq!(
            WeightedSchedule::new(&[0, 0]).unwrap_err(),
            ScheduleError::AllZero
        );
        assert!(matches!(
            WeightedSchedule::new(&[100_000, 1]).unwrap_err(),
            ScheduleError::TooLarge(_)
        ));
    }
}
