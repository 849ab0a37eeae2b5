//! What the request path pays to read and rewrite a chat body, against the baseline of
//! parsing it into a `serde_json::Value` tree and serializing it back (what a gateway that
//! "just uses JSON" does). Quote the ratio, not the absolute time: the machine is shared.
//!
//!     cargo bench -p sluice-filters --bench request_view

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use sluice_filters::api::openai::ChatRequest;

fn chat_body(turns: usize, content_len: usize) -> Vec<u8> {
    let messages: Vec<Value> = (0..turns)
        .map(|i| {
            json!({
                "role": if i % 2 == 0 { "user" } else { "assistant" },
                "content": "lorem ipsum dolor sit amet ".repeat(content_len / 27 + 1),
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "model": "fast",
        "messages": messages,
        "temperature": 0.7,
        "stream": true,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("chat_request_rewrite");
    for (label, turns, len) in [("1KiB", 2, 400), ("64KiB", 40, 1600), ("1MiB", 100, 10_000)] {
        let body = chat_body(turns, len);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("sluice_view", label), &body, |b, body| {
            b.iter(|| {
                let req = ChatRequest::parse(black_box(body)).unwrap();
                black_box(req.with_model("gpt-4o-mini"))
            })
        });
        group.bench_with_input(
            BenchmarkId::new("value_tree_baseline", label),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut v: Value = serde_json::from_slice(black_box(body)).unwrap();
                    v["model"] = Value::String("gpt-4o-mini".into());
                    black_box(serde_json::to_vec(&v).unwrap())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
