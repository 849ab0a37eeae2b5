//! What a semantic cache lookup costs: the exact cosine scan of one context holding 10k and
//! 100k entries of dimension 256 (random unit vectors, fixed seed), at a threshold no entry
//! reaches (so the whole context is scanned and nothing is touched), and what an insert costs
//! into a full index (one LRU eviction each). Quote orders of magnitude: the machine is shared.
//!
//!     cargo bench -p sluice-filters --bench semantic

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_filters::cache::semantic::{split_request, ContextKey, SemanticIndex};
use sluice_filters::translate::ClientDialect;

const DIM: usize = 256;
const NOW: u64 = 0;
const NEVER: u64 = u64::MAX;

/// xorshift64*: a fixed, dependency-free source of test vectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A vector of coordinates uniform in [-1, 1); the index normalizes it.
    fn vector(&mut self) -> Vec<f32> {
        (0..DIM)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

fn context(name: &str) -> ContextKey {
    let body = format!(
        r#"{{"messages":[{{"role":"system","content":"{name}"}},{{"role":"user","content":"q"}}]}}"#
    );
    split_request(ClientDialect::OpenAi, "m", "t", body.as_bytes())
        .ok()
        .and_then(|s| s.query())
        .map(|q| q.context)
        .unwrap()
}

fn filled(n: usize, rng: &mut Rng, ctx: &ContextKey) -> SemanticIndex {
    let mut index = SemanticIndex::new(n, usize::MAX);
    let value = Bytes::from(vec![b'x'; 512]);
    for _ in 0..n {
        index
            .insert(ctx, rng.vector(), value.clone(), NEVER, NOW)
            .unwrap();
    }
    index
}

fn bench(c: &mut Criterion) {
    let ctx = context("bench");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut group = c.benchmark_group("semantic");
    for n in [10_000usize, 100_000] {
        let mut index = filled(n, &mut rng, &ctx);
        let queries: Vec<Vec<f32>> = (0..16).map(|_| rng.vector()).collect();
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::new("lookup_scan_dim256", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(index.lookup(&ctx, &queries[i], 0.999, NOW))
            })
        });

        // Full: every insert evicts the least recently used entry.
        let vectors: Vec<Vec<f32>> = (0..1024).map(|_| rng.vector()).collect();
        let value = Bytes::from(vec![b'y'; 512]);
        group.bench_with_input(BenchmarkId::new("insert_full_dim256", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % vectors.len();
                black_box(index.insert(&ctx, vectors[i].clone(), value.clone(), NEVER, NOW))
            })
        });
    }
    group.finish();

    let body = br#"{"model":"gpt-4o","temperature":0,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"Paris."},{"role":"user","content":"And of Italy?"}]}"#;
    c.bench_function("semantic/split_request_chat", |b| {
        b.iter(|| split_request(ClientDialect::OpenAi, "gpt-4o", "team", black_box(body)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
