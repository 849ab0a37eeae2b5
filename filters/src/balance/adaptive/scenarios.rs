//! Simulated traffic against a fake clock: the behaviours the balancer is for, proven end to
//! end (slow choices lose traffic, recovered ones win it back, failures shed it, weights split
//! it under load, nothing starves).

use super::{AdaptiveBalancer, AdaptiveConfig, InFlight};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// SplitMix64: the random numbers for picks and latency jitter, fixed by the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pair(&mut self) -> [u64; 2] {
        [self.next(), self.next()]
    }

    /// `ms` give or take `jitter` percent.
    fn around(&mut self, ms: u64, jitter: u64) -> u64 {
        let spread = ms * jitter / 100;
        ms - spread + self.next() % (2 * spread + 1)
    }
}

/// How a choice answers a request started at some time.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Answered after this many ms.
    Ok(u64),
    /// Failed after this many ms.
    Fail(u64),
}

fn finish(guard: InFlight, answer: Answer, start_ms: u64) -> u64 {
    match answer {
        Answer::Ok(ms) => {
            guard.on_success(Duration::from_millis(ms), start_ms + ms);
            start_ms + ms
        }
        Answer::Fail(ms) => {
            guard.on_failure(start_ms + ms);
            start_ms + ms
        }
    }
}

/// A pick: when it was made and what it chose.
#[derive(Debug, Clone, Copy)]
struct Picked {
    at_ms: u64,
    index: usize,
}

/// One request at a time, each picked when the previous one finished, until `until_ms`.
fn one_at_a_time(
    b: &AdaptiveBalancer,
    seed: u64,
    until_ms: u64,
    mut eligible: impl FnMut(usize, u64) -> bool,
    mut world: impl FnMut(usize, u64, &mut Rng) -> Answer,
) -> Vec<Picked> {
    let mut rng = Rng(seed);
    let mut now = 0;
    let mut log = Vec::new();
    while now < until_ms {
        let Some(guard) = b.pick(|i| eligible(i, now), rng.pair(), now) else {
            panic!("nothing eligible at {now}");
        };
        let index = guard.index();
        log.push(Picked { at_ms: now, index });
        let answer = world(index, now, &mut rng);
        now = finish(guard, answer, now);
    }
    log
}

/// `concurrency` requests always in flight (each finished one is replaced at once), `picks`
/// picks in all.
fn closed_loop(
    b: &AdaptiveBalancer,
    seed: u64,
    concurrency: usize,
    picks: usize,
    mut world: impl FnMut(usize, u64, &mut Rng) -> Answer,
) -> Vec<Picked> {
    let mut rng = Rng(seed);
    let mut log = Vec::new();
    // Requests in flight, and when each ends (earliest first).
    let mut running: Vec<Option<(InFlight, Answer, u64)>> = Vec::new();
    let mut by_end = BinaryHeap::new();
    let mut now = 0;
    while log.len() < picks {
        if running.iter().filter(|r| r.is_some()).count() == concurrency {
            let Some(Reverse((end, slot))) = by_end.pop() else {
                break;
            };
            now = end;
            if let Some((guard, answer, started)) = running.get_mut(slot).and_then(Option::take) {
                finish(guard, answer, started);
            }
        }
        let guard = b.pick(|_| true, rng.pair(), now).expect("eligible");
        let answer = world(guard.index(), now, &mut rng);
        let (Answer::Ok(ms) | Answer::Fail(ms)) = answer;
        log.push(Picked {
            at_ms: now,
            index: guard.index(),
        });
        by_end.push(Reverse((now + ms, running.len())));
        running.push(Some((guard, answer, now)));
    }
    log
}

/// The share of picks that went to each of `n` choices, among picks made in `[from, to)`.
fn shares(log: &[Picked], n: usize, from_ms: u64, to_ms: u64) -> Vec<f64> {
    let window: Vec<&Picked> = log
        .iter()
        .filter(|p| (from_ms..to_ms).contains(&p.at_ms))
        .collect();
    (0..n)
        .map(|i| window.iter().filter(|p| p.index == i).count() as f64 / window.len() as f64)
        .collect()
}

fn count(log: &[Picked], index: usize, from_ms: u64, to_ms: u64) -> usize {
    log.iter()
        .filter(|p| p.index == index && (from_ms..to_ms).contains(&p.at_ms))
        .count()
}

fn balancer(weights: &[u32]) -> AdaptiveBalancer {
    AdaptiveBalancer::new(weights, AdaptiveConfig::default())
}

#[test]
fn a_choice_150ms_slower_gets_under_a_tenth() {
    // (fast ms, jitter %): the slow one is 150 ms slower with the same jitter.
    for (fast, jitter) in [(20, 0), (100, 0), (100, 20), (300, 0), (300, 10)] {
        let b = balancer(&[1, 1]);
        let mut log = Vec::new();
        // 500 picks, whatever the simulated time they take.
        let mut rng = Rng(7);
        let mut now = 0;
        for _ in 0..500 {
            let guard = b.pick(|_| true, rng.pair(), now).expect("eligible");
            let ms = rng.around(if guard.index() == 0 { fast } else { fast + 150 }, jitter);
            log.push(guard.index());
            now = finish(guard, Answer::Ok(ms), now);
        }
        let to_fast = log.iter().filter(|i| **i == 0).count();
        assert!(to_fast >= 450, "{fast} ms ± {jitter}%: {to_fast} of 500");
    }
}

#[test]
fn a_slow_choice_that_speeds_up_shares_again_within_30s() {
    let b = balancer(&[1, 1]);
    let log = one_at_a_time(
        &b,
        11,
        150_000,
        |_, _| true,
        |i, now, rng| match (i, now < 60_000) {
            (1, true) => Answer::Ok(rng.around(250, 10)),
            _ => Answer::Ok(rng.around(100, 10)),
        },
    );
    assert!(shares(&log, 2, 30_000, 60_000)[0] >= 0.9);
    let back = log
        .iter()
        .find(|p| p.index == 1 && p.at_ms >= 60_000)
        .expect("probed again");
    assert!(
        back.at_ms < 90_000,
        "first probe after the speed-up at {back:?}"
    );
    let after = shares(&log, 2, 90_000, 150_000);
    assert!((0.4..=0.6).contains(&after[1]), "{after:?}");
}

#[test]
fn a_failing_choice_loses_its_traffic_after_a_failure_or_two() {
    // Fast failures (a refused connection) are the worst case: they come back quickest.
    let world = |i: usize, now: u64, rng: &mut Rng| match (i, now >= 30_000) {
        (1, true) => Answer::Fail(20),
        _ => Answer::Ok(rng.around(100, 10)),
    };
    let b = balancer(&[1, 1]);
    let log = one_at_a_time(&b, 3, 60_000, |_, _| true, world);
    assert!((0.4..=0.6).contains(&shares(&log, 2, 10_000, 30_000)[1]));
    assert!(
        count(&log, 1, 30_000, 60_000) <= 2,
        "{}",
        count(&log, 1, 30_000, 60_000)
    );

    // Under load, the requests picked before the first failure came back fail too, and
    // then no more.
    let b = balancer(&[1, 1]);
    let log = closed_loop(&b, 3, 16, 10_000, world);
    let failed = count(&log, 1, 30_000, 60_000);
    assert!((1..=6).contains(&failed), "{failed}");
    assert!(shares(&log, 2, 30_000, 60_000)[0] > 0.99);
}

#[test]
fn weights_split_the_traffic_under_load() {
    let cases: &[(&[u32], &[f64])] = &[
        (&[1, 1], &[0.5, 0.5]),
        (&[3, 1], &[0.75, 0.25]),
        (&[2, 1, 1], &[0.5, 0.25, 0.25]),
        (&[1, 1, 1, 1], &[0.25, 0.25, 0.25, 0.25]),
    ];
    for (weights, want) in cases {
        let b = balancer(weights);
        let log = closed_loop(&b, 5, 32, 1_000, |_, _, rng| {
            Answer::Ok(rng.around(100, 10))
        });
        let got = shares(&log, weights.len(), 0, u64::MAX);
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((g - w).abs() <= 0.05, "{weights:?}: {got:?}");
        }
    }
}

#[test]
fn one_request_at_a_time_a_weight_is_a_latency_handicap() {
    // Nothing is in flight to share by, so 3:1 between equals is not 75/25: the heavier one
    // wins until the other's estimate has decayed to a third of its own. The lighter one is
    // still probed, every `decay * ln 3` = 11 s.
    let b = balancer(&[3, 1]);
    let log = one_at_a_time(&b, 9, 100_000, |_, _| true, |_, _, _| Answer::Ok(100));
    let got = shares(&log, 2, 0, u64::MAX);
    assert!(got[0] > 0.95, "{got:?}");
    let probes: Vec<u64> = log
        .iter()
        .filter(|p| p.index == 1)
        .map(|p| p.at_ms)
        .collect();
    let regular = probes
        .windows(2)
        .all(|w| (10_000..=12_000).contains(&(w[1] - w[0])));
    assert!(probes.len() >= 8 && regular, "{probes:?}");
}

#[test]
fn requests_in_flight_steer_load_away() {
    let b = balancer(&[1, 1]);
    // Warm both up, then hold 20 long requests on the first (long generations).
    let mut rng = Rng(1);
    for i in 0..2 {
        if let Some(g) = b.start(i) {
            g.on_success(Duration::from_millis(100), 0);
        }
    }
    let held: Vec<InFlight> = (0..20).filter_map(|_| b.start(0)).collect();
    let mut now = 0;
    let mut to_first = 0;
    for _ in 0..200 {
        let g = b.pick(|_| true, rng.pair(), now).expect("eligible");
        to_first += usize::from(g.index() == 0);
        now = finish(g, Answer::Ok(100), now);
    }
    assert!(to_first <= 10, "{to_first}");
    // Once they finish, the two share again.
    for g in held {
        g.on_success(Duration::from_millis(100), now);
    }
    let mut to_first = 0;
    for _ in 0..200 {
        let g = b.pick(|_| true, rng.pair(), now).expect("eligible");
        to_first += usize::from(g.index() == 0);
        now = finish(g, Answer::Ok(100), now);
    }
    assert!((80..=120).contains(&to_first), "{to_first}");
}

#[test]
fn a_failed_choice_is_probed_again_and_wins_back_its_share() {
    let b = balancer(&[1, 1]);
    let log = one_at_a_time(
        &b,
        21,
        500_000,
        |_, _| true,
        |i, now, _| match (i, now < 200_000) {
            (1, true) => Answer::Fail(20),
            _ => Answer::Ok(100),
        },
    );
    // While it fails it is probed less and less often, but at least every
    // `decay * ln(max_estimate / 100 ms)` = 80 s.
    let probes: Vec<u64> = log
        .iter()
        .filter(|p| p.index == 1 && p.at_ms < 200_000)
        .map(|p| p.at_ms)
        .collect();
    let gaps: Vec<u64> = probes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(probes.len() >= 3, "{probes:?}");
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
    assert!(gaps.iter().all(|g| *g <= 81_000), "{gaps:?}");
    // Recovered: found within that bound, and shares again.
    let back = log
        .iter()
        .find(|p| p.index == 1 && p.at_ms >= 200_000)
        .expect("probed after recovering");
    assert!(back.at_ms <= 281_000, "{back:?}");
    let after = shares(&log, 2, 300_000, 500_000);
    assert!((0.4..=0.6).contains(&after[1]), "{after:?}");
}

#[test]
fn a_new_choice_is_tried_at_once() {
    // The second choice appears (is added, or passes its first health check) at 10 s.
    let b = balancer(&[1, 1]);
    let log = one_at_a_time(
        &b,
        5,
        40_000,
        |i, now| i == 0 || now >= 10_000,
        |_, _, _| Answer::Ok(100),
    );
    let first = log
        .iter()
        .find(|p| p.index == 1)
        .expect("the new choice is picked");
    assert!(first.at_ms < 11_000, "{first:?}");
    let after = shares(&log, 2, 11_000, 40_000);
    assert!((0.4..=0.6).contains(&after[1]), "{after:?}");
}

#[test]
fn at_startup_requests_spread_by_in_flight() {
    let b = balancer(&[1, 1, 1, 1]);
    let mut rng = Rng(17);
    let held: Vec<InFlight> = (0..40)
        .filter_map(|_| b.pick(|_| true, rng.pair(), 0))
        .collect();
    assert_eq!(held.len(), 40);
    for i in 0..4 {
        let n = b.tracker(i).map_or(0, |t| t.in_flight());
        assert!((8..=12).contains(&n), "choice {i}: {n}");
    }
}

#[test]
fn an_idle_slow_choice_is_probed_not_flooded() {
    // The second choice answered in 5 s, then sat idle for a minute: its decayed estimate is
    // about 12 ms. The first has 10 requests of 1 s in flight. A burst of 20 arrives before
    // the probe can answer: the probe goes to the idle one, the rest mostly not.
    let b = balancer(&[1, 1]);
    for (i, ms) in [(0, 1_000), (1, 5_000)] {
        if let Some(g) = b.start(i) {
            g.on_success(Duration::from_millis(ms), 0);
        }
    }
    let now = 60_000;
    let mut held: Vec<InFlight> = (0..10).filter_map(|_| b.start(0)).collect();
    if let Some(g) = b.start(0) {
        g.on_success(Duration::from_millis(1_000), now);
    }
    let mut rng = Rng(2);
    held.extend((0..20).filter_map(|_| b.pick(|_| true, rng.pair(), now)));
    // Each request on the idle one counts its last 5 s, so it takes about as many as make its
    // queue as long as the other's (5 of 20), where `estimate * (in_flight + 1)` would give it
    // all 20.
    let to_idle = held.iter().filter(|g| g.index() == 1).count();
    assert!((1..=5).contains(&to_idle), "{to_idle}");
}
