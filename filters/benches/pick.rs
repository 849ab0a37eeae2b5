//! What one adaptive pick costs (power of two choices over peak-EWMA trackers, the guard
//! started and finished) against the baseline of today's pick, the smooth weighted round robin
//! schedule indexed by an atomic counter. Quote the ratio, not the absolute time: the machine
//! is shared. Single-threaded: contention on the trackers' atomics is not measured here.
//!
//!     cargo bench -p sluice-filters --bench pick

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_filters::balance::{AdaptiveBalancer, AdaptiveConfig, WeightedSchedule};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// xorshift64*: the shell would use `rand`; this keeps the generator's cost small and fixed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for n in [2usize, 8, 64] {
        let weights: Vec<u32> = (0..n).map(|i| i as u32 % 3 + 1).collect();

        let schedule = WeightedSchedule::new(&weights).unwrap();
        let next = AtomicUsize::new(0);
        group.bench_with_input(
            BenchmarkId::new("weighted_schedule_baseline", n),
            &n,
            |b, _| b.iter(|| schedule.pick(next.fetch_add(1, Ordering::Relaxed))),
        );

        let balancer = AdaptiveBalancer::new(&weights, AdaptiveConfig::default());
        for i in 0..n {
            if let Some(g) = balancer.start(i) {
                g.on_success(Duration::from_millis(100 + i as u64), 0);
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut now = 1_000u64;
        // Picked and dropped: the in-flight count goes up and down, no sample.
        group.bench_with_input(BenchmarkId::new("p2c_peak_ewma", n), &n, |b, _| {
            b.iter(|| {
                now += 1;
                let g = balancer.pick(|_| true, [rng.next(), rng.next()], black_box(now));
                g.map(|g| g.index())
            })
        });
        // The whole life of an attempt on the balancer: pick, then report a latency.
        group.bench_with_input(BenchmarkId::new("p2c_peak_ewma_reported", n), &n, |b, _| {
            b.iter(|| {
                now += 1;
                let g = balancer.pick(|_| true, [rng.next(), rng.next()], black_box(now));
                if let Some(g) = g {
                    let ms = 100 + g.index() as u64 % 7;
                    g.on_success(Duration::from_millis(ms), now);
                }
            })
        });
        // A retry: the choice already tried is not eligible (with 2 choices, every pick scans).
        group.bench_with_input(BenchmarkId::new("p2c_peak_ewma_retry", n), &n, |b, _| {
            b.iter(|| {
                now += 1;
                let g = balancer.pick(|i| i != 1, [rng.next(), rng.next()], black_box(now));
                g.map(|g| g.index())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
