//! Per-chunk cost of stream translation, each stream fed one SSE event per network read (what
//! an LLM stream looks like on the wire), against two baselines measured in the same run:
//! copying the bytes (the least a proxy does) and parsing each event into a
//! `serde_json::Value` and writing it back (what a naive translator does at the least).
//!
//!     cargo bench -p sluice-filters --bench stream_translate

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_filters::translate::{ClientDialect, StreamSpec, StreamTranslator, UpstreamDialect};

const DELTAS: usize = 200;

fn anthropic_stream() -> Vec<Vec<u8>> {
    let mut events = vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2}}}\n\n".to_owned(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_owned(),
    ];
    for i in 0..DELTAS {
        events.push(format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} of the answer \"}}}}\n\n"));
    }
    events.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            .to_owned(),
    );
    events.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":800}}\n\n".to_owned());
    events.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned());
    events.into_iter().map(String::into_bytes).collect()
}

fn openai_stream() -> Vec<Vec<u8>> {
    let head = r#""id":"chatcmpl-C1sGp2","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_07871e2ad8""#;
    let mut events = vec![format!("data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n")];
    for i in 0..DELTAS {
        events.push(format!("data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer \"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"));
    }
    events.push(format!("data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":null}}\n\n"));
    events.push(format!("data: {{{head},\"choices\":[],\"usage\":{{\"prompt_tokens\":81,\"completion_tokens\":800,\"total_tokens\":881}}}}\n\n"));
    events.push("data: [DONE]\n\n".to_owned());
    events.into_iter().map(String::into_bytes).collect()
}

fn gemini_stream() -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    for i in 0..DELTAS {
        events.push(format!("data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"token {i} of the answer \"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 120,\"candidatesTokenCount\": {i},\"totalTokenCount\": 200}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"mJ2aaL-pNsqz1dkP8p2V0Qs\"}}\r\n\r\n"));
    }
    events.push("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 120,\"candidatesTokenCount\": 800,\"totalTokenCount\": 920},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"mJ2aaL-pNsqz1dkP8p2V0Qs\"}\r\n\r\n".to_owned());
    events.into_iter().map(String::into_bytes).collect()
}

fn translate(chunks: &[Vec<u8>], client: ClientDialect, upstream: UpstreamDialect) -> usize {
    let mut t = StreamTranslator::new(StreamSpec {
        client,
        upstream,
        id: "sluice-bench",
        model: "bench-model",
        created: 1_760_000_000,
        client_wants_usage: true,
        json_tool: false,
        price: None,
        request: b"{}",
    });
    let mut out = Vec::with_capacity(1024);
    let mut total = 0;
    for chunk in chunks {
        out.clear();
        t.push(chunk, &mut out);
        total += out.len();
    }
    out.clear();
    t.finish(&mut out);
    total + out.len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_per_chunk");
    let cases: [(&str, Vec<Vec<u8>>, ClientDialect, UpstreamDialect); 5] = [
        (
            "openai_passthrough",
            openai_stream(),
            ClientDialect::OpenAi,
            UpstreamDialect::OpenAi,
        ),
        (
            "anthropic_to_openai",
            anthropic_stream(),
            ClientDialect::OpenAi,
            UpstreamDialect::Anthropic,
        ),
        (
            "gemini_to_openai",
            gemini_stream(),
            ClientDialect::OpenAi,
            UpstreamDialect::Gemini,
        ),
        (
            "openai_to_anthropic",
            openai_stream(),
            ClientDialect::Anthropic,
            UpstreamDialect::OpenAi,
        ),
        (
            "anthropic_passthrough",
            anthropic_stream(),
            ClientDialect::Anthropic,
            UpstreamDialect::Anthropic,
        ),
    ];
    let openai = openai_stream();
    group.throughput(Throughput::Elements(openai.len() as u64));
    group.bench_function("baseline_copy", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1024);
            let mut total = 0;
            for chunk in black_box(&openai) {
                out.clear();
                out.extend_from_slice(chunk);
                total += out.len();
            }
            total
        })
    });
    group.bench_function("baseline_value_roundtrip", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1024);
            let mut total = 0;
            for chunk in black_box(&openai) {
                out.clear();
                let text = std::str::from_utf8(chunk).unwrap();
                let data = text.trim_end().trim_start_matches("data: ");
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
                    out.extend_from_slice(b"data: ");
                    serde_json::to_writer(&mut out, &v).unwrap();
                    out.extend_from_slice(b"\n\n");
                }
                total += out.len();
            }
            total
        })
    });
    for (name, chunks, client, upstream) in &cases {
        group.throughput(Throughput::Elements(chunks.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), chunks, |b, chunks| {
            b.iter(|| translate(black_box(chunks), *client, *upstream))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
