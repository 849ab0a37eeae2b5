//! What guardrails cost per KiB with every built-in detector redacting: clean prose (the
//! common case: one `RegexSet` pass), prose dense with personal data and secrets (every
//! sentence has one), JSON chat bodies of 1 KiB, 64 KiB and 1 MiB, the stream redactor fed
//! 16-byte pieces, and a body when no rule applies. Quote throughput, not absolute time: the
//! machine is shared.
//!
//!     cargo bench -p sluice-filters --bench guard -- --warm-up-time 1 --measurement-time 2

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_filters::guard::{
    redact_json, redact_text, Action, Builtin, DetectorSpec, Direction, Placeholders, Policy,
    RuleSpec, StreamRedactor,
};
use std::sync::Arc;

const WORDS: &[&str] = &[
    "the",
    "gateway",
    "routes",
    "each",
    "request",
    "to",
    "a",
    "provider",
    "and",
    "streams",
    "tokens",
    "back",
    "while",
    "budgets",
    "limits",
    "retries",
    "keep",
    "traffic",
    "healthy",
    "under",
    "load",
    "with",
    "model",
    "fallbacks",
    "caching",
    "Zürich",
    "prompt",
    "answer",
];

const PII: &[&str] = &[
    "jane.doe@example.com",
    "+1 415 555 2671",
    "4111 1111 1111 1111",
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "192.168.1.10",
    "2001:db8::1",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5u",
    "AKIAIOSFODNN7EXAMPLE",
    "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",
];

/// xorshift64*: deterministic text without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// Sentences of about 80 bytes up to `len` bytes; with `pii`, each sentence carries one item.
fn prose(len: usize, pii: bool, rng: &mut Rng) -> String {
    let mut text = String::with_capacity(len + 128);
    while text.len() < len {
        let words = 8 + rng.below(8);
        for i in 0..words {
            if pii && i == words / 2 {
                text.push_str(PII[rng.below(PII.len())]);
            } else {
                text.push_str(WORDS[rng.below(WORDS.len())]);
            }
            text.push(if i + 1 == words { '.' } else { ' ' });
        }
        text.push(' ');
    }
    let mut end = len.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// An OpenAI chat body of about `len` bytes: a system prompt, then user and assistant turns
/// of prose with newlines (escaped in JSON), one turn in ten carrying personal data.
fn chat_body(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut messages =
        vec![serde_json::json!({"role": "system", "content": "You are a helpful assistant."})];
    let mut size = 0;
    let mut turn = 0;
    while size < len {
        let role = if turn % 2 == 0 { "user" } else { "assistant" };
        let content = format!(
            "{}\n\n{}",
            prose(200, turn % 10 == 3, rng),
            prose(200, false, rng)
        );
        size += content.len() + 40;
        messages.push(serde_json::json!({"role": role, "content": content}));
        turn += 1;
    }
    serde_json::to_vec(
        &serde_json::json!({"model": "gpt-4o", "messages": messages, "stream": true}),
    )
    .unwrap_or_default()
}

/// Random base64 characters.
fn base64_blob(len: usize, rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len())]))
        .collect()
}

/// `text` in pieces of `size` bytes (a little more where a character would be cut).
fn pieces_of(text: &str, size: usize) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(text.len() / size + 1);
    let mut from = 0;
    while from < text.len() {
        let mut to = (from + size).min(text.len());
        while !text.is_char_boundary(to) {
            to += 1;
        }
        pieces.push(&text[from..to]);
        from = to;
    }
    pieces
}

fn everything() -> Policy {
    let rule = RuleSpec {
        name: "pii".to_owned(),
        detect: Builtin::ALL
            .iter()
            .map(|b| DetectorSpec::Builtin(b.name().to_owned()))
            .collect(),
        action: Action::Redact,
        on: vec![Direction::Request, Direction::Response],
    };
    Policy::compile(&[rule]).expect("built-ins compile")
}

fn bench(c: &mut Criterion) {
    let policy = Arc::new(everything());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let mut group = c.benchmark_group("guard_text");
    for name in ["clean_prose", "pii_dense", "base64_blob"] {
        // A blob without separators: the worst case for the hold-back (every piece extends
        // a run that email, JWT and key patterns could still be matching).
        let text = match name {
            "base64_blob" => base64_blob(64 << 10, &mut rng),
            _ => prose(64 << 10, name == "pii_dense", &mut rng),
        };
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("redact_text_64KiB", name), |b| {
            b.iter(|| {
                redact_text(
                    &policy,
                    Direction::Request,
                    black_box(&text),
                    &mut Placeholders::new(),
                )
            })
        });
        let pieces = pieces_of(&text, 16);
        group.bench_function(BenchmarkId::new("stream_16B_pieces_64KiB", name), |b| {
            b.iter(|| {
                let mut table = Placeholders::new();
                let mut stream = StreamRedactor::new(Arc::clone(&policy), Direction::Response);
                let mut sent = 0;
                for piece in &pieces {
                    sent += stream.push(piece, &mut table).map_or(0, |s| s.len());
                }
                sent + stream.finish(&mut table).map_or(0, |s| s.len())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("guard_json_chat_body");
    for (label, len) in [
        ("1KiB", 1usize << 10),
        ("64KiB", 64 << 10),
        ("1MiB", 1 << 20),
    ] {
        let body = chat_body(len, &mut rng);
        if len >= 1 << 20 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("redact_json", label), |b| {
            b.iter(|| {
                redact_json(
                    &policy,
                    Direction::Request,
                    black_box(&body),
                    &mut Placeholders::new(),
                )
            })
        });
        if len == 64 << 10 {
            let none = Policy::empty();
            group.bench_function(BenchmarkId::new("no_rule_applies", label), |b| {
                b.iter(|| {
                    redact_json(
                        &none,
                        Direction::Request,
                        black_box(&body),
                        &mut Placeholders::new(),
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
