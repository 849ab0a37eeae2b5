//! An exact sliding-window limit: the sum of amounts admitted in any `window` never exceeds
//! `limit`. Fixed windows allow twice the limit across a boundary and token buckets allow a
//! full burst on top of the steady rate; a log of admissions does neither. Each entry can be
//! adjusted later (a token reservation reconciled with the real usage).
//!
//! Memory is one entry (24 bytes) per admission still inside the window: for a limit of N
//! requests a minute, at most N entries, and never more than a minute's admissions. `trim`
//! gives a burst's room back once it has left the window.

use std::collections::VecDeque;

/// Room `trim` always leaves: a quiet window does not reallocate on every admission.
const KEPT_CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Capacity left after this admission.
    pub remaining: u64,
    /// Milliseconds until the window has its full capacity again.
    pub reset_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Milliseconds until enough capacity frees up for this amount.
    pub retry_after_ms: u64,
    pub remaining: u64,
}

#[derive(Debug, Clone)]
pub struct SlidingWindow {
    window_ms: u64,
    limit: u64,
    /// (admitted at, id, amount), oldest first.
    entries: VecDeque<(u64, u64, u64)>,
    /// The amounts in `entries`, summed without any rounding: each is a `u64`, so their sum
    /// cannot overflow a `u128` (an adjustment to an absurd usage cannot wrap the window).
    sum: u128,
}

impl SlidingWindow {
    pub fn new(limit: u64, window_ms: u64) -> Self {
        SlidingWindow {
            window_ms: window_ms.max(1),
            limit,
            entries: VecDeque::new(),
            sum: 0,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Changes the limit and keeps what the window holds (a config reload): admissions
    /// already counted still count against the new limit.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Capacity left (none when reconciled usage took the window over its limit).
    fn left(&self) -> u64 {
        u64::try_from(u128::from(self.limit).saturating_sub(self.sum)).unwrap_or(0)
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some(&(at, _, amount)) = self.entries.front() {
            if at + self.window_ms > now_ms {
                break;
            }
            self.sum = self.sum.saturating_sub(u128::from(amount));
            self.entries.pop_front();
        }
    }

    fn reset_ms(&self, now_ms: u64) -> u64 {
        self.entries.back().map_or(0, |&(at, _, _)| {
            (at + self.window_ms).saturating_sub(now_ms)
        })
    }

    /// Admits `amount` under `id` if it fits. An amount larger than the whole limit is refused
    /// with no retry hint worth waiting for (it can never fit).
    pub fn try_admit(&mut self, now_ms: u64, id: u64, amount: u64) -> Result<Admitted, Refused> {
        self.expire(now_ms);
        if self.sum + u128::from(amount) <= u128::from(self.limit) {
            self.sum += u128::from(amount);
            self.entries.push_back((now_ms, id, amount));
            return Ok(Admitted {
                remaining: self.left(),
                reset_ms: self.reset_ms(now_ms),
            });
        }
        // The earliest time enough old entries have left the window.
        let mut freed = self.left();
        let mut retry_after_ms = self.window_ms;
        for &(at, _, a) in &self.entries {
            freed = freed.saturating_add(a);
            if freed >= amount {
                retry_after_ms = (at + self.window_ms).saturating_sub(now_ms);
                break;
            }
        }
        Err(Refused {
            retry_after_ms: retry_after_ms.max(1),
            remaining: self.left(),
        })
    }

    /// Changes the amount recorded for `id` (if still in the window), e.g. a token reservation
    /// to the real count. The entry keeps its admission time. Searched from the newest end: a
    /// request settles soon after it was admitted, so only the requests admitted while it ran
    /// are passed over, not the whole minute's log.
    pub fn adjust(&mut self, id: u64, amount: u64) {
        if let Some(entry) = self.entries.iter_mut().rev().find(|e| e.1 == id) {
            self.sum = self.sum.saturating_sub(u128::from(entry.2)) + u128::from(amount);
            entry.2 = amount;
        }
    }

    /// Takes an admission back (a request refused by another limit after this one admitted it).
    pub fn release(&mut self, id: u64) {
        if let Some(pos) = self.entries.iter().rposition(|e| e.1 == id) {
            if let Some((_, _, amount)) = self.entries.remove(pos) {
                self.sum = self.sum.saturating_sub(u128::from(amount));
            }
        }
    }

    /// Drops what has left the window and, when the log holds less than a quarter of its
    /// room, shrinks it to twice what it holds: after a burst the memory of its minute is
    /// given back (a key at 5,000 requests a second held 7 MiB per window for good).
    pub fn trim(&mut self, now_ms: u64) {
        self.expire(now_ms);
        let (len, capacity) = (self.entries.len(), self.entries.capacity());
        if capacity > KEPT_CAPACITY && len < capacity / 4 {
            self.entries.shrink_to((len * 2).max(KEPT_CAPACITY));
        }
    }

    /// Capacity left now, and milliseconds until it is full again.
    pub fn peek(&mut self, now_ms: u64) -> Admitted {
        self.expire(now_ms);
        Admitted {
            remaining: self.left(),
            reset_ms: self.reset_ms(now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_gives_a_bursts_room_back_once_it_left_the_window() {
        let mut w = SlidingWindow::new(u64::MAX, 60_000);
        for id in 0..100_000 {
            w.try_admit(1_000, id, 1).unwrap();
        }
        w.trim(30_000);
        assert!(w.entries.capacity() >= 100_000, "still inside the window");
        w.try_admit(50_000, 100_000, 1).unwrap();
        w.trim(61_000);
        assert_eq!(w.entries.len(), 1);
        assert!(w.entries.capacity() <= 2 * KEPT_CAPACITY);
        assert_eq!(w.peek(61_000).remaining, u64::MAX - 1);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        // A steady over-limit load: one request every 10 ms against 100 a minute, for 3 minutes.
        let mut w = SlidingWindow::new(100, 60_000);
        let mut admitted = Vec::new();
        for i in 0..18_000u64 {
            let now = i * 10;
            if w.try_admit(now, i, 1).is_ok() {
                admitted.push(now);
            }
        }
        for (i, &start) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|&&t| t < start + 60_000)
                .count();
            assert!(
                in_window <= 100,
                "{in_window} admissions in the minute from {start}"
            );
        }
        assert_eq!(admitted.len(), 300, "exactly the limit each minute");
    }

    #[test]
    fn refusals_say_when_capacity_returns() {
        let mut w = SlidingWindow::new(10, 1000);
        assert!(w.try_admit(0, 1, 6).is_ok());
        assert!(w.try_admit(200, 2, 4).is_ok());
        let refused = w.try_admit(300, 3, 5).unwrap_err();
        assert_eq!(refused.retry_after_ms, 700, "when the first 6 leave");
        assert_eq!(refused.remaining, 0);
        assert!(w.try_admit(1000, 3, 5).is_ok());
        assert_eq!(w.try_admit(1000, 4, 11).unwrap_err().retry_after_ms, 1000);
    }

    #[test]
    fn a_new_limit_counts_what_the_window_already_holds() {
        let mut w = SlidingWindow::new(5, 60_000);
        for id in 0..4 {
            w.try_admit(id, id, 1).unwrap();
        }
        w.set_limit(3);
        assert_eq!(w.peek(10).remaining, 0, "lowered under what it holds");
        assert!(w.try_admit(10, 9, 1).is_err());
        w.set_limit(6);
        assert_eq!(w.try_admit(11, 9, 1).unwrap().remaining, 1);
    }

    #[test]
    fn reservations_are_reconciled_and_released() {
        let mut w = SlidingWindow::new(1000, 60_000);
        w.try_admit(0, 7, 800).unwrap();
        assert!(w.try_admit(1, 8, 300).is_err());
        w.adjust(7, 150);
        assert_eq!(w.try_admit(2, 8, 300).unwrap().remaining, 550);
        w.release(8);
        assert_eq!(w.peek(3).remaining, 850);
    }

    proptest::proptest! {
        /// Whatever the amounts (huge ones included) and the order of admissions, adjustments
        /// and releases, the amounts admitted and still counted never pass the limit at the
        /// moment they are admitted, and what is left is never more than the limit.
        #[test]
        fn admissions_never_pass_the_limit(
            limit in 0u64..=u64::MAX,
            ops in proptest::collection::vec((0u8..3, 0u64..=u64::MAX, 0u64..200), 1..60),
        ) {
            let mut w = SlidingWindow::new(limit, 1000);
            let mut now = 0;
            let mut live: Vec<(u64, u64, u64)> = Vec::new();
            for (i, (op, amount, step)) in ops.into_iter().enumerate() {
                now += step;
                live.retain(|(at, _, _)| at + 1000 > now);
                let id = i as u64;
                match op {
                    0 => {
                        let before: u128 = live.iter().map(|(_, _, a)| *a as u128).sum();
                        if let Ok(admitted) = w.try_admit(now, id, amount) {
                            proptest::prop_assert!(before + amount as u128 <= limit as u128);
                            proptest::prop_assert!(admitted.remaining <= limit);
                            live.push((now, id, amount));
                        }
                    }
                    1 => {
                        if let Some(entry) = live.last_mut() {
                            w.adjust(entry.1, amount);
                            entry.2 = amount;
                        }
                    }
                    _ => {
                        if let Some((_, id, _)) = live.pop() {
                            w.release(id);
                        }
                    }
                }
                proptest::prop_assert!(w.peek(now).remaining <= limit);
            }
        }
    }

    #[test]
    fn amounts_near_the_top_of_the_range_never_wrap() {
        let mut w = SlidingWindow::new(2000, 60_000);
        w.try_admit(0, 1, 23).unwrap();
        assert!(w.try_admit(1, 2, u64::MAX).is_err());
        assert!(w.try_admit(1, 3, u64::MAX - 22).is_err());
        assert_eq!(w.peek(2).remaining, 1977);
        // A reconciled usage far above the reservation saturates instead of wrapping.
        w.adjust(1, u64::MAX);
        assert_eq!(w.peek(3).remaining, 0);
        assert!(w.try_admit(4, 4, 1).is_err());
        w.release(1);
        assert_eq!(w.peek(5).remaining, 2000);
    }
}
