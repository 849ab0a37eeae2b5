//! The worst inputs a client (or a provider's stream) can send each parser, at 10 KB to 10 MB,
//! measured in bytes per second so that the time per byte shows: it must stay flat as the
//! body grows. A parser whose time per byte grows with the body is one a client can stall the
//! gateway with, so a rising line here is a bug, whatever the absolute numbers.
//!
//!     cargo bench -p sluice-filters --bench worst_case -- --warm-up-time 1 --measurement-time 3

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_filters::api::openai::ChatRequest;
use sluice_filters::json::TopLevelObject;
use sluice_filters::providers::{anthropic, openai};
use sluice_filters::stream::SseFramer;
use sluice_filters::translate::{
    prepare_request, Api, ClientDialect, StreamSpec, StreamTranslator, Target, UpstreamDialect,
};

const SIZES: [(&str, usize); 4] = [
    ("10KB", 10_000),
    ("100KB", 100_000),
    ("1MB", 1_000_000),
    ("10MB", 10_000_000),
];

/// Top-level fields up to the cap (`MAX_TOP_LEVEL_FIELDS`), the values sharing the size.
fn many_keys(size: usize) -> Vec<u8> {
    let mut body = String::from(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]"#);
    let value = "v".repeat(size / 256);
    for i in 0..254 {
        body.push_str(&format!(r#","field_{i}":"{value}""#));
    }
    body.push('}');
    body.into_bytes()
}

/// Small top-level fields past the cap: refused at field 257, whatever follows.
fn too_many_keys(size: usize) -> Vec<u8> {
    let mut body = String::from(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]"#);
    let mut i = 0;
    while body.len() < size {
        body.push_str(&format!(r#","k{i}":0"#));
        i += 1;
    }
    body.push('}');
    body.into_bytes()
}

/// Tool schemas nested as deep as serde_json allows (128 levels in all), side by side until
/// the body has its size; `tool` wraps the schema in one dialect's tool shape.
fn deep_with(size: usize, tool: fn(&str) -> String) -> Vec<u8> {
    // top { tools [ tool { (function {) parameters { anyOf [ : six levels before the chain
    // for OpenAI's shape, five for Anthropic's; both stop at 127, one under the limit.
    let chain_depth = 127 - 6;
    let chain = format!(
        "{}{{\"type\":\"string\"}}{}",
        r#"{"type":"array","items":"#.repeat(chain_depth - 1),
        "}".repeat(chain_depth - 1)
    );
    let mut options = vec![chain.clone()];
    let mut len = chain.len();
    while len < size {
        options.push(chain.clone());
        len += chain.len() + 1;
    }
    let schema = format!(r#"{{"anyOf":[{}]}}"#, options.join(","));
    format!(
        r#"{{"model":"m","max_tokens":64,"messages":[{{"role":"user","content":"hi"}}],"tools":[{}]}}"#,
        tool(&schema)
    )
    .into_bytes()
}

fn deep_openai(size: usize) -> Vec<u8> {
    deep_with(size, |schema| {
        format!(r#"{{"type":"function","function":{{"name":"f","parameters":{schema}}}}}"#)
    })
}

fn deep_anthropic(size: usize) -> Vec<u8> {
    deep_with(size, |schema| {
        format!(r#"{{"name":"f","input_schema":{schema}}}"#)
    })
}

/// One content string of the whole size, dense with escapes (each must be decoded).
fn long_string(size: usize) -> Vec<u8> {
    let chunk = r#"ab\"cd\\ef\n\u00e9\ud83d\ude00 "#;
    let text = chunk.repeat(size / chunk.len() + 1);
    format!(r#"{{"model":"m","max_tokens":64,"messages":[{{"role":"user","content":"{text}"}}]}}"#)
        .into_bytes()
}

/// Many short turns, alternating roles.
fn many_messages(size: usize) -> Vec<u8> {
    let mut messages = Vec::new();
    let mut len = 0;
    let mut i = 0;
    while len < size {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let message = format!(r#"{{"role":"{role}","content":"turn {i} of the chat"}}"#);
        len += message.len() + 1;
        messages.push(message);
        i += 1;
    }
    format!(
        r#"{{"model":"m","max_tokens":64,"messages":[{}]}}"#,
        messages.join(",")
    )
    .into_bytes()
}

/// Assistant turns between blank user turns: the blank ones are dropped for Anthropic, so the
/// assistant turns around them merge into one.
fn blank_turns(size: usize) -> Vec<u8> {
    let mut messages = Vec::new();
    let mut len = 0;
    let mut i = 0;
    while len < size {
        let message = if i % 2 == 0 {
            r#"{"role":"user","content":" "}"#.to_owned()
        } else {
            format!(r#"{{"role":"assistant","content":"part {i}"}}"#)
        };
        len += message.len() + 1;
        messages.push(message);
        i += 1;
    }
    format!(r#"{{"model":"m","messages":[{}]}}"#, messages.join(",")).into_bytes()
}

/// Tools whose schema definitions each refer to the next six times (exponential if every
/// `$ref` were expanded; Gemini's schema subset has no `$ref`, so they are resolved).
fn schema_refs(size: usize) -> Vec<u8> {
    let mut defs = Vec::new();
    for level in 0..10 {
        let props: Vec<String> = (0..6)
            .map(|k| format!(r##""p{k}":{{"$ref":"#/$defs/L{}"}}"##, level + 1))
            .collect();
        defs.push(format!(
            r#""L{level}":{{"type":"object","properties":{{{}}}}}"#,
            props.join(",")
        ));
    }
    defs.push(r#""L10":{"type":"string"}"#.to_owned());
    let tool = format!(
        r##"{{"type":"function","function":{{"name":"f","parameters":{{"$defs":{{{}}},"$ref":"#/$defs/L0"}}}}}}"##,
        defs.join(",")
    );
    let tools = vec![tool.as_str(); size / tool.len() + 1];
    format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":[{}]}}"#,
        tools.join(",")
    )
    .into_bytes()
}

fn target(dialect: UpstreamDialect) -> Target<'static> {
    Target {
        dialect,
        model: "upstream-model",
        default_max_tokens: 4096,
        api: Api::Chat,
    }
}

/// What the proxy does with a body: the passthrough view, or decode and re-encode.
fn prepare(client: ClientDialect, upstream: UpstreamDialect, body: &[u8]) -> usize {
    match prepare_request(client, body, &target(upstream)) {
        Ok(p) => p.body.map_or(0, |b| b.len()),
        Err(e) => e.message.len(),
    }
}

type Op = (&'static str, fn(&[u8]) -> usize);

fn view(body: &[u8]) -> usize {
    match ChatRequest::parse(body) {
        Ok(v) => v.with_model("upstream-model").map_or(0, |b| b.len()),
        Err(e) => e.message.len(),
    }
}

fn top_level(body: &[u8]) -> usize {
    match TopLevelObject::parse(body) {
        Ok(o) => o.get("model").map_or(0, |f| f.value.len()) + o.fields().len(),
        Err(_) => 0,
    }
}

const OPENAI_OPS: &[Op] = &[
    ("view", view),
    ("openai_decode", |b| {
        openai::decode_request(b).map_or(0, |r| r.messages.len())
    }),
    ("openai_to_anthropic", |b| {
        prepare(ClientDialect::OpenAi, UpstreamDialect::Anthropic, b)
    }),
    ("openai_to_gemini", |b| {
        prepare(ClientDialect::OpenAi, UpstreamDialect::Gemini, b)
    }),
];

const ANTHROPIC_OPS: &[Op] = &[
    ("anthropic_decode", |b| {
        anthropic::decode_request(b).map_or(0, |r| r.messages.len())
    }),
    ("anthropic_to_openai", |b| {
        prepare(ClientDialect::Anthropic, UpstreamDialect::OpenAi, b)
    }),
    ("anthropic_to_gemini", |b| {
        prepare(ClientDialect::Anthropic, UpstreamDialect::Gemini, b)
    }),
];

fn bench_body(c: &mut Criterion, name: &str, make: fn(usize) -> Vec<u8>, ops: &[Op]) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for (label, size) in SIZES {
        let body = make(size);
        if size == SIZES[0].1 {
            // Say what each operation answers (a refusal is measured too, but should be known).
            for (op, run) in ops {
                let outcome = run(&body);
                eprintln!("{name}/{op}: {} bytes in, {outcome} out", body.len());
            }
        }
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (op, run) in ops {
            group.bench_with_input(BenchmarkId::new(*op, label), &body, |b, body| {
                b.iter(|| run(black_box(body)))
            });
        }
    }
    group.finish();
}

fn requests(c: &mut Criterion) {
    bench_body(
        c,
        "many_keys",
        many_keys,
        &[("top_level", top_level), ("view", view)],
    );
    bench_body(c, "too_many_keys", too_many_keys, &[("view", view)]);
    bench_body(c, "deep", deep_openai, OPENAI_OPS);
    bench_body(c, "deep_anthropic_tools", deep_anthropic, ANTHROPIC_OPS);
    for (name, make) in [
        ("long_string", long_string as fn(usize) -> Vec<u8>),
        ("many_messages", many_messages),
    ] {
        bench_body(c, name, make, OPENAI_OPS);
        bench_body(c, &format!("{name}_anthropic"), make, ANTHROPIC_OPS);
    }
    bench_body(
        c,
        "schema_refs",
        schema_refs,
        &[("openai_to_gemini", |b| {
            prepare(ClientDialect::OpenAi, UpstreamDialect::Gemini, b)
        })],
    );
    bench_body(
        c,
        "blank_turns",
        blank_turns,
        &[("openai_to_anthropic", |b| {
            prepare(ClientDialect::OpenAi, UpstreamDialect::Anthropic, b)
        })],
    );
}

/// Feeds `stream` to a framer in reads of `read` bytes; returns the events' data length.
fn frame(stream: &[u8], read: usize) -> usize {
    let mut framer = SseFramer::new();
    let mut total = 0;
    for chunk in stream.chunks(read) {
        let _ = framer.feed(chunk, &mut |e| total += e.data.len());
    }
    framer.finish(&mut |e| total += e.data.len());
    total
}

const SMALL_EVENT: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a token\"}}\n\n";

fn small_events(size: usize) -> Vec<u8> {
    SMALL_EVENT.repeat(size / SMALL_EVENT.len() + 1)
}

/// One Anthropic text delta of the whole size, as a provider could send it.
fn huge_event(size: usize) -> Vec<u8> {
    let mut event =
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"".to_vec();
    event.extend(std::iter::repeat_n(b'x', size));
    event.extend_from_slice(b"\"}}\n\n");
    event
}

/// An OpenAI stream that opens a new tool call in every chunk.
fn openai_many_tools(size: usize) -> Vec<u8> {
    let mut stream = Vec::with_capacity(size + 200);
    let mut i = 0;
    while stream.len() < size {
        stream.extend_from_slice(format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":{i},\"id\":\"call_{i}\",\"type\":\"function\",\"function\":{{\"name\":\"f\",\"arguments\":\"{{}}\"}}}}]}},\"finish_reason\":null}}]}}\n\n").as_bytes());
        i += 1;
    }
    stream.extend_from_slice(b"data: [DONE]\n\n");
    stream
}

/// An Anthropic stream with one tool_use block after another, each with its input.
fn anthropic_many_tools(size: usize) -> Vec<u8> {
    let mut stream = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".to_vec();
    let mut i = 0;
    while stream.len() < size {
        stream.extend_from_slice(format!("event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":{i},\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_{i}\",\"name\":\"f\",\"input\":{{}}}}}}\n\nevent: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{i},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{}}\"}}}}\n\nevent: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{i}}}\n\n").as_bytes());
        i += 1;
    }
    stream.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    stream
}

fn translate_stream(stream: &[u8], read: usize) -> usize {
    translate_between(
        stream,
        read,
        ClientDialect::OpenAi,
        UpstreamDialect::Anthropic,
    )
}

fn translate_between(
    stream: &[u8],
    read: usize,
    client: ClientDialect,
    upstream: UpstreamDialect,
) -> usize {
    let mut t = StreamTranslator::new(StreamSpec {
        client,
        upstream,
        id: "bench",
        model: "bench-model",
        created: 1_760_000_000,
        client_wants_usage: true,
        json_tool: false,
        price: None,
        request: b"{}",
    });
    let mut out = Vec::new();
    for chunk in stream.chunks(read) {
        t.push(chunk, &mut out);
    }
    t.finish(&mut out);
    out.len()
}

/// A name, the stream for a size, and the size of each read.
type StreamCase = (&'static str, fn(usize) -> Vec<u8>, usize);

fn streams(c: &mut Criterion) {
    let cases: [StreamCase; 3] = [
        // One event per read, as a provider streams tokens.
        ("small_events_one_per_read", small_events, SMALL_EVENT.len()),
        // A huge event in reads smaller than a TCP segment.
        ("huge_event_in_64_byte_reads", huge_event, 64),
        ("huge_event_in_1_byte_reads", huge_event, 1),
    ];
    let mut group = c.benchmark_group("sse_framer");
    group.sample_size(10);
    for (name, make, read) in cases {
        for (label, size) in SIZES {
            if read == 1 && size > 1_000_000 {
                continue;
            }
            let stream = make(size);
            group.throughput(Throughput::Bytes(stream.len() as u64));
            group.bench_with_input(BenchmarkId::new(name, label), &stream, |b, s| {
                b.iter(|| frame(black_box(s), read))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("stream_translate");
    group.sample_size(10);
    for (label, size) in SIZES {
        let stream = huge_event(size);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("anthropic_to_openai_huge_delta_1KiB_reads", label),
            &stream,
            |b, s| b.iter(|| translate_stream(black_box(s), 1024)),
        );
    }
    group.finish();

    // A provider that opens tool call after tool call: each is looked up by its index.
    let mut group = c.benchmark_group("many_tools");
    group.sample_size(10);
    for (label, size) in SIZES {
        let stream = openai_many_tools(size);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("openai_to_anthropic", label),
            &stream,
            |b, s| {
                b.iter(|| {
                    translate_between(
                        black_box(s),
                        4096,
                        ClientDialect::Anthropic,
                        UpstreamDialect::OpenAi,
                    )
                })
            },
        );
        let stream = anthropic_many_tools(size);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("anthropic_to_openai", label),
            &stream,
            |b, s| {
                b.iter(|| {
                    translate_between(
                        black_box(s),
                        4096,
                        ClientDialect::OpenAi,
                        UpstreamDialect::Anthropic,
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, requests, streams);
criterion_main!(benches);
