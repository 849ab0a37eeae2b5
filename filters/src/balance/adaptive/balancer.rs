//! Power of two choices over the trackers: draw two distinct eligible choices with the
//! caller's random numbers, take the one with the lower cost.
//!
//! Why two and not the best of all: every worker thread picks at once from slightly stale
//! numbers, and "the best of all" sends all of them to the same choice until its numbers catch
//! up; the better of two random ones is nearly as good on average and spreads concurrent picks
//! (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"). It is also O(1) in
//! the number of choices.

use super::tracker::{InFlight, Load, LoadTracker, Params};
use super::AdaptiveConfig;
use std::sync::Arc;

/// The least a request in flight costs (ms), so that in-flight counts still separate choices
/// whose estimates are 0.
const MIN_COST_MS: f64 = 1e-3;

/// One set of choices balanced by latency and load: a provider's endpoints or a model's
/// targets. Share it between threads (it is `Send + Sync`) and call [`pick`](Self::pick) for
/// each attempt.
#[derive(Debug)]
pub struct AdaptiveBalancer {
    trackers: Box<[Arc<LoadTracker>]>,
    /// Some weight is 0, so a pick must first look for an eligible choice with a weight.
    any_zero_weight: bool,
}

impl AdaptiveBalancer {
    /// One choice per weight, in that order; the indexes of picks refer to it. A weight of 0
    /// makes a choice a last resort, picked only when no eligible choice has a weight.
    pub fn new(weights: &[u32], config: AdaptiveConfig) -> Self {
        let params = Params::new(&config);
        AdaptiveBalancer {
            trackers: weights
                .iter()
                .map(|w| Arc::new(LoadTracker::new(*w, params)))
                .collect(),
            any_zero_weight: weights.contains(&0),
        }
    }

    pub fn len(&self) -> usize {
        self.trackers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }

    /// The tracker of choice `index`, for status pages and metrics.
    pub fn tracker(&self, index: usize) -> Option<&LoadTracker> {
        self.trackers.get(index).map(|t| &**t)
    }

    /// Picks a choice among those `eligible` says yes to (healthy, breaker not open, not yet
    /// tried by this request) and counts a request in flight on it until the returned guard
    /// is finished or dropped. `None` when nothing is eligible.
    ///
    /// `random` is two uniformly random numbers (any fast generator will do); with the same
    /// numbers, state and time the pick is the same, which is what tests rely on. `eligible`
    /// may be called more than once per index, so it must not have side effects: ask a
    /// breaker whether it is open, and claim its half-open probe after the pick.
    pub fn pick(
        &self,
        mut eligible: impl FnMut(usize) -> bool,
        random: [u64; 2],
        now_ms: u64,
    ) -> Option<InFlight> {
        let n = self.trackers.len();
        let usable = |i: usize, eligible: &mut dyn FnMut(usize) -> bool| {
            eligible(i) && (!self.any_zero_weight || self.weight(i) > 0)
        };
        // The common case in O(1): two distinct draws over all choices, both usable.
        if n >= 2 {
            let (a, b) = two_distinct(random, n);
            if usable(a, &mut eligible) && usable(b, &mut eligible) {
                return Some(self.better_of(a, b, now_ms));
            }
        }
        self.pick_by_scan(&mut eligible, random, now_ms)
    }

    /// Starts a request on a choice picked some other way (a pinned endpoint, an operator's
    /// override), so that its load is still counted. `None` if `index` is out of range.
    pub fn start(&self, index: usize) -> Option<InFlight> {
        let tracker = self.trackers.get(index)?;
        Some(InFlight::start(tracker.clone(), index))
    }

    fn weight(&self, index: usize) -> u32 {
        self.trackers.get(index).map_or(0, |t| t.weight())
    }

    /// When a draw hit an ineligible or last-resort choice: count the usable ones and draw
    /// among them. The random numbers are remixed first, because the ones that were just
    /// rejected are no longer uniform over what is left.
    fn pick_by_scan(
        &self,
        eligible: &mut dyn FnMut(usize) -> bool,
        random: [u64; 2],
        now_ms: u64,
    ) -> Option<InFlight> {
        let n = self.trackers.len();
        let mut with_weight = 0;
        let mut without = 0;
        for i in 0..n {
            if eligible(i) {
                if self.weight(i) > 0 {
                    with_weight += 1;
                } else {
                    without += 1;
                }
            }
        }
        let (count, need_weight) = if with_weight > 0 {
            (with_weight, true)
        } else {
            (without, false)
        };
        let mut nth = |k: usize| {
            (0..n)
                .filter(|i| eligible(*i) && (self.weight(*i) > 0) == need_weight)
                .nth(k)
        };
        match count {
            0 => None,
            1 => {
                let only = nth(0)?;
                self.start(only)
            }
            _ => {
                let (a, b) = two_distinct([mix(random[0]), mix(random[1])], count);
                let (a, b) = (nth(a)?, nth(b)?);
                Some(self.better_of(a, b, now_ms))
            }
        }
    }

    /// The cheaper of two choices (the first on a tie), with a request started on it.
    fn better_of(&self, a: usize, b: usize, now_ms: u64) -> InFlight {
        let (ta, tb) = (&self.trackers[a], &self.trackers[b]);
        let (la, lb) = (ta.load(now_ms), tb.load(now_ms));
        // A choice without an answer yet is treated like one idle for long: its next request
        // looks free, so it is tried at once, but each request already in flight on it costs
        // the other's latency, so it is not flooded before its first answer.
        let unknown = |other: Option<Load>| Load {
            decayed_ms: 0.0,
            last_ms: other.map_or(1.0, |l| l.last_ms),
        };
        let (la, lb) = (la.unwrap_or(unknown(lb)), lb.unwrap_or(unknown(la)));
        let cost_a = cost(la, ta.in_flight(), ta.weight());
        let cost_b = cost(lb, tb.in_flight(), tb.weight());
        let (index, tracker) = if cost_b < cost_a { (b, tb) } else { (a, ta) };
        InFlight::start(tracker.clone(), index)
    }
}

/// What sending one more request to a choice costs: the new request's expected latency (the
/// decayed estimate) plus every request already in flight at the latency last measured, over
/// the weight.
///
/// With a fresh estimate this is Finagle's `ewma * (in_flight + 1)`. The in-flight term uses
/// the undecayed estimate because the decayed one is only an invitation to probe: a slow
/// choice left idle for a minute decays to almost 0, and `almost 0 * (in_flight + 1)` would
/// stay almost 0 however many requests piled onto it before its first answer came back.
pub(super) fn cost(load: Load, in_flight: u32, weight: u32) -> f64 {
    let queued = load.last_ms.max(MIN_COST_MS) * f64::from(in_flight);
    // Weight-0 choices only ever compete among themselves, as equals.
    (load.decayed_ms + queued) / f64::from(weight.max(1))
}

/// Two distinct indexes below `n` (at least 2), each uniform, from two random numbers.
fn two_distinct(random: [u64; 2], n: usize) -> (usize, usize) {
    let a = below(random[0], n);
    let b = below(random[1], n - 1);
    (a, if b >= a { b + 1 } else { b })
}

/// A uniform index below `n` without a division (Lemire's multiply-shift).
fn below(random: u64, n: usize) -> usize {
    ((u128::from(random) * n as u128) >> 64) as usize
}

/// SplitMix64's finaliser: a fresh, well-spread number from a used one.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    const EVERY_DRAW: [[u64; 2]; 6] = [
        [0, 0],
        [0, u64::MAX],
        [u64::MAX, 0],
        [u64::MAX, u64::MAX],
        [1 << 63, 1 << 62],
        [12345, 67890],
    ];

    /// A balancer whose choices have these latencies (ms; `None`: never answered).
    fn balancer(weights: &[u32], latencies: &[Option<u64>]) -> AdaptiveBalancer {
        let b = AdaptiveBalancer::new(weights, AdaptiveConfig::default());
        for (i, l) in latencies.iter().enumerate() {
            if let (Some(l), Some(guard)) = (l, b.start(i)) {
                guard.on_success(Duration::from_millis(*l), 0);
            }
        }
        b
    }

    fn pick(b: &AdaptiveBalancer, eligible: &[usize], random: [u64; 2]) -> Option<usize> {
        b.pick(|i| eligible.contains(&i), random, 0)
            .map(|g| g.index())
    }

    #[test]
    fn picks_by_eligibility_weight_and_latency() {
        struct Case {
            name: &'static str,
            weights: &'static [u32],
            latencies: &'static [Option<u64>],
            eligible: &'static [usize],
            want: Option<usize>,
        }
        let cases = [
            Case {
                name: "no choices",
                weights: &[],
                latencies: &[],
                eligible: &[0],
                want: None,
            },
            Case {
                name: "none eligible",
                weights: &[1, 1],
                latencies: &[Some(10), Some(20)],
                eligible: &[],
                want: None,
            },
            Case {
                name: "the only eligible one, however slow",
                weights: &[1, 1, 1],
                latencies: &[Some(10), Some(9_000), Some(10)],
                eligible: &[1],
                want: Some(1),
            },
            Case {
                name: "out-of-range indexes are not choices",
                weights: &[1],
                latencies: &[Some(10)],
                eligible: &[0, 5],
                want: Some(0),
            },
            Case {
                name: "of two, the faster, whatever the draw",
                weights: &[1, 1],
                latencies: &[Some(300), Some(100)],
                eligible: &[0, 1],
                want: Some(1),
            },
            Case {
                name: "weight divides the cost",
                weights: &[3, 1],
                latencies: &[Some(250), Some(100)],
                eligible: &[0, 1],
                want: Some(0),
            },
            Case {
                name: "weight 0 only when nothing with a weight is eligible",
                weights: &[0, 1],
                latencies: &[Some(1), Some(5_000)],
                eligible: &[0, 1],
                want: Some(1),
            },
            Case {
                name: "weight 0 as the last resort",
                weights: &[0, 1],
                latencies: &[Some(1), Some(5_000)],
                eligible: &[0],
                want: Some(0),
            },
            Case {
                name: "among last resorts, the faster",
                weights: &[0, 0, 1],
                latencies: &[Some(50), Some(10), None],
                eligible: &[0, 1],
                want: Some(1),
            },
            Case {
                name: "a new choice is tried at once",
                weights: &[1, 1],
                latencies: &[None, Some(1)],
                eligible: &[0, 1],
                want: Some(0),
            },
        ];
        for case in cases {
            let b = balancer(case.weights, case.latencies);
            for random in EVERY_DRAW {
                assert_eq!(
                    pick(&b, case.eligible, random),
                    case.want,
                    "{}: {random:?}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn requests_in_flight_steer_away() {
        let b = balancer(&[1, 1], &[Some(100), Some(100)]);
        let _busy: Vec<InFlight> = (0..3).filter_map(|_| b.start(0)).collect();
        for random in EVERY_DRAW {
            assert_eq!(pick(&b, &[0, 1], random), Some(1));
        }
        // Equal latency and load split evenly: each new request balances the count.
        let mut held = Vec::new();
        for i in 0..6u64 {
            held.extend(b.pick(|_| true, [i, i.wrapping_mul(7)], 0));
        }
        let counts = [0, 1].map(|i| b.tracker(i).map_or(0, |t| t.in_flight()));
        assert_eq!(counts[0] + counts[1], 9);
        assert!(counts[0].abs_diff(counts[1]) <= 1, "{counts:?}");
    }

    #[test]
    fn draws_are_uniform_over_the_eligible() {
        // Equal costs: the first drawn wins, so the picks show the draw's distribution.
        let b = balancer(&[1; 8], &[None; 8]);
        let eligible = [1, 2, 4, 7];
        let mut counts = [0u32; 8];
        for x in 1..=8_000u64 {
            let random = [mix(x), mix(x ^ 0xdead_beef)];
            if let Some(g) = b.pick(|i| eligible.contains(&i), random, 0) {
                counts[g.index()] += 1;
            }
        }
        for (i, c) in counts.iter().enumerate() {
            if eligible.contains(&i) {
                assert!((1_800..=2_200).contains(c), "{counts:?}");
            } else {
                assert_eq!(*c, 0, "{counts:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn two_distinct_are_distinct_and_in_range(r0: u64, r1: u64, n in 2usize..1_000) {
            let (a, b) = two_distinct([r0, r1], n);
            prop_assert!(a < n && b < n && a != b);
        }

        /// Cost is finite and grows with every request in flight, whatever the estimate.
        #[test]
        fn cost_is_finite_and_grows_with_in_flight(
            decayed in 0.0f64..1e9,
            extra in 0.0f64..1e9,
            in_flight in 0u32..u32::MAX,
            weight: u32,
        ) {
            let load = Load { decayed_ms: decayed, last_ms: decayed + extra };
            let now = cost(load, in_flight, weight);
            let more = cost(load, in_flight + 1, weight);
            prop_assert!(now.is_finite() && more.is_finite() && now >= 0.0);
            prop_assert!(more > now);
            // A heavier weight never costs more.
            prop_assert!(cost(load, in_flight, weight.saturating_add(1)) <= now);
        }
    }
}
