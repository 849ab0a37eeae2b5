//! OpenAI's Responses API as an upstream dialect: recorded-shape response objects and event
//! streams in, canonical answers and events out (written as JSON next to the inputs, under
//! `golden/*/expected/*.canonical.json`); canonical requests out as Responses bodies
//! (`golden/requests/expected/*.responses.json`).
//!
//! Every stream is also fed split at every byte boundary and one byte at a time, and must
//! decode to the same events; where a stream has a whole-response twin, the two must mean the
//! same answer. Run with `SLUICE_BLESS=1` to (re)write the expected files after a deliberate
//! change, then review the diff.

use proptest::prelude::*;
use serde_json::{json, Value};
use sluice_filters::canonical::{Block, Response, StreamEvent, Usage};
use sluice_filters::providers::responses::{
    decode_upstream_response, encode_upstream_request, UpstreamResponseError, UpstreamStreamDecoder,
};
use sluice_filters::providers::{anthropic, openai};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares with the expected file, or writes it in bless mode.
fn check(expected: &Path, actual: &Value) {
    let mut actual = serde_json::to_vec_pretty(actual).unwrap();
    actual.push(b'\n');
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(expected, &actual).unwrap();
        return;
    }
    let want = read(expected);
    assert!(
        want == actual,
        "{} differs:\n--- expected\n{}\n--- actual\n{}",
        expected.display(),
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(&actual)
    );
}

fn usage(u: &Usage) -> Value {
    json!({"input": u.input, "cache_read": u.cache_read, "cache_write": u.cache_write,
        "output": u.output, "reasoning": u.reasoning})
}

fn event(e: &StreamEvent<'_>) -> Value {
    match e {
        StreamEvent::Start { id, model } => json!({"start": {"id": id, "model": model}}),
        StreamEvent::Text(t) => json!({"text": t}),
        StreamEvent::Thinking(t) => json!({"thinking": t}),
        StreamEvent::ThinkingSignature(s) => json!({"thinking_signature": s}),
        StreamEvent::ToolStart {
            index,
            id,
            name,
            signature,
        } => {
            json!({"tool_start": {"index": index, "id": id, "name": name, "signature": signature}})
        }
        StreamEvent::ToolArgs { index, fragment } => {
            json!({"tool_args": {"index": index, "fragment": fragment}})
        }
        StreamEvent::Finish(stop) => json!({"finish": format!("{stop:?}")}),
        StreamEvent::Usage(u) => json!({"usage": usage(u)}),
        StreamEvent::Error(f) => json!({"error": {"kind": format!("{:?}", f.kind),
            "status": f.status, "message": f.message}}),
        StreamEvent::End => json!("end"),
    }
}

fn block(b: &Block<'_>) -> Value {
    match b {
        Block::Text(t) => json!({"text": t}),
        Block::Thinking { text, signature } => {
            json!({"thinking": text, "signature": signature})
        }
        Block::ToolUse {
            id, name, input, ..
        } => json!({"tool_use": {"id": id, "name": name,
            "input": serde_json::from_str::<Value>(input.get()).unwrap()}}),
        other => json!({"other": format!("{other:?}")}),
    }
}

fn response(r: &Response<'_>) -> Value {
    json!({"id": r.id, "model": r.model, "content": r.content.iter().map(block).collect::<Vec<_>>(),
        "stop_reason": format!("{:?}", r.stop_reason), "usage": usage(&r.usage)})
}

fn decode_stream(pieces: &[&[u8]]) -> Vec<Value> {
    let mut decoder = UpstreamStreamDecoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut |e| events.push(event(&e)));
    }
    decoder.finish(&mut |e| events.push(event(&e)));
    events
}

/// Decodes a golden stream whole, split at every byte, and byte by byte; checks the events
/// against the expected file and returns them.
fn stream_case(stem: &str) -> Vec<Value> {
    let input = read(&dir().join("streams").join(format!("{stem}.sse")));
    let whole = decode_stream(&[&input]);
    for i in 0..=input.len() {
        let split = decode_stream(&[&input[..i], &input[i..]]);
        assert!(
            split == whole,
            "{stem}: split at byte {i} changed the events"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert!(
        decode_stream(&bytes) == whole,
        "{stem}: byte-at-a-time differs"
    );
    check(
        &dir()
            .join("streams/expected")
            .join(format!("{stem}.canonical.json")),
        &Value::Array(whole.clone()),
    );
    whole
}

fn response_case(stem: &str) -> Value {
    let input = read(&dir().join("responses").join(format!("{stem}.json")));
    let decoded = response(&decode_upstream_response(&input).unwrap());
    check(
        &dir()
            .join("responses/expected")
            .join(format!("{stem}.canonical.json")),
        &decoded,
    );
    decoded
}

/// The answer a stream's events add up to, in the whole-response rendering.
fn accumulate(events: &[Value]) -> Value {
    let mut content: Vec<Value> = Vec::new();
    let mut calls: Vec<(usize, String)> = Vec::new();
    let (mut stop, mut total) = (Value::Null, Value::Null);
    for e in events {
        if let Some(t) = e.get("text").and_then(Value::as_str) {
            match content.last_mut() {
                Some(Value::Object(last)) if last.contains_key("text") => {
                    let joined = format!("{}{t}", last["text"].as_str().unwrap());
                    last.insert("text".into(), json!(joined));
                }
                _ => content.push(json!({"text": t})),
            }
        } else if let Some(t) = e.get("thinking").and_then(Value::as_str) {
            match content.last_mut() {
                Some(Value::Object(last))
                    if last.contains_key("thinking") && last["signature"].is_null() =>
                {
                    let joined = format!("{}{t}", last["thinking"].as_str().unwrap());
                    last.insert("thinking".into(), json!(joined));
                }
                _ => content.push(json!({"thinking": t, "signature": null})),
            }
        } else if let Some(s) = e.get("thinking_signature") {
            content.last_mut().unwrap()["signature"] = s.clone();
        } else if let Some(start) = e.get("tool_start") {
            calls.push((content.len(), String::new()));
            content.push(json!({"tool_use": {"id": start["id"], "name": start["name"]}}));
        } else if let Some(args) = e.get("tool_args") {
            let index = args["index"].as_u64().unwrap() as usize;
            calls[index].1.push_str(args["fragment"].as_str().unwrap());
        } else if let Some(s) = e.get("finish") {
            stop = s.clone();
        } else if let Some(u) = e.get("usage") {
            total = u.clone();
        }
    }
    for (at, args) in calls {
        let input: Value =
            serde_json::from_str(if args.is_empty() { "{}" } else { &args }).unwrap();
        content[at]["tool_use"]["input"] = input;
    }
    json!({"content": content, "stop_reason": stop, "usage": total})
}

/// A stream and the whole response of the same answer mean the same thing; returns both.
fn same_answer(stem: &str) -> (Vec<Value>, Value) {
    let events = stream_case(stem);
    let whole = response_case(stem);
    let streamed = accumulate(&events);
    for key in ["content", "stop_reason", "usage"] {
        assert_eq!(streamed[key], whole[key], "{stem}: {key}");
    }
    assert_eq!(events.last(), Some(&json!("end")), "{stem}");
    assert_eq!(events[0]["start"]["id"], whole["id"], "{stem}");
    assert_eq!(events[0]["start"]["model"], whole["model"], "{stem}");
    (events, whole)
}

#[test]
fn text_with_annotations() {
    let (_, whole) = same_answer("responses_text");
    // input_tokens counts the cached ones.
    assert_eq!(whole["usage"]["input"], 1290 - 1152);
    assert_eq!(whole["usage"]["cache_read"], 1152);
    assert_eq!(whole["stop_reason"], "EndTurn");
}

#[test]
fn parallel_function_calls() {
    let (events, whole) = same_answer("responses_parallel_calls");
    let ordinals: Vec<&Value> = events
        .iter()
        .filter_map(|e| e.get("tool_start"))
        .map(|s| &s["index"])
        .collect();
    assert_eq!(ordinals, [0, 1, 2]);
    assert_eq!(whole["stop_reason"], "ToolUse");
}

#[test]
fn reasoning_with_encrypted_content() {
    let (events, whole) = same_answer("responses_reasoning_encrypted");
    let signature = whole["content"][0]["signature"].as_str().unwrap();
    assert!(signature.starts_with("openai:gAAAAAB"), "{signature}");
    assert_eq!(whole["usage"]["reasoning"], 384);
    // The signature comes from `output_item.done`, not the partial one in `.added`.
    let signatures: Vec<&Value> = events
        .iter()
        .filter_map(|e| e.get("thinking_signature"))
        .collect();
    assert_eq!(signatures, [signature]);
}

#[test]
fn incomplete_on_max_output_tokens() {
    let (_, whole) = same_answer("responses_incomplete_max_tokens");
    assert_eq!(whole["stop_reason"], "MaxTokens");
    // A reasoning item without a summary still carries its signature, on an empty thinking.
    assert_eq!(whole["content"][0]["thinking"], "");
    assert!(whole["content"][0]["signature"].is_string());
}

#[test]
fn failed_responses_are_failures() {
    let input = read(&dir().join("responses/responses_failed.json"));
    match decode_upstream_response(&input).unwrap_err() {
        UpstreamResponseError::Failed(f) => {
            assert_eq!(f.status, 500);
            assert!(f.message.starts_with("The model produced invalid content"));
        }
        other => panic!("{other:?}"),
    }
    let events = stream_case("responses_failed");
    let last = events.last().unwrap();
    assert_eq!(last["error"]["kind"], "Server", "{last}");
    // What was reported is billed.
    assert!(events.iter().any(|e| e["usage"]["output"] == 5));
}

#[test]
fn cut_and_errored_streams_end_in_an_error() {
    let events = stream_case("responses_cut");
    assert_eq!(
        events.last().unwrap()["error"]["message"],
        "the upstream stream ended before the response was complete"
    );
    let events = stream_case("responses_rate_limited");
    let last = events.last().unwrap();
    assert_eq!(last["error"]["kind"], "RateLimited");
    assert_eq!(last["error"]["status"], 429);
}

#[test]
fn a_reasoning_stream_reaches_an_anthropic_client_with_its_signatures() {
    // The canonical events drive the Anthropic client encoder as the translator will: each
    // reasoning item is a thinking block carrying OpenAI's blob as its signature.
    let input = read(&dir().join("streams/responses_incomplete_max_tokens.sse"));
    let mut decoder = UpstreamStreamDecoder::new();
    let mut encoder = anthropic::StreamEncoder::new("msg_gw", "gpt-5-mini");
    let mut out = Vec::new();
    decoder.feed(&input, &mut |e| encoder.encode(&e, &mut out));
    decoder.finish(&mut |e| encoder.encode(&e, &mut out));
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#""type":"signature_delta","signature":"openai:gAAAAABooRC0"#));
    assert!(text.contains(r#""stop_reason":"max_tokens""#));
}

fn request_case(stem: &str, decode: fn(&[u8]) -> sluice_filters::canonical::Request<'_>) {
    let input = read(&dir().join("requests").join(format!("{stem}.json")));
    let request = decode(&input);
    let body = encode_upstream_request(&request, "gpt-5").unwrap();
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["store"], false);
    check(
        &dir()
            .join("requests/expected")
            .join(format!("{stem}.responses.json")),
        &value,
    );
}

#[test]
fn requests_encode_for_a_responses_upstream() {
    request_case("anthropic_thinking_and_tools", |b| {
        anthropic::decode_request(b).unwrap()
    });
    request_case("openai_tools_and_format", |b| {
        openai::decode_request(b).unwrap()
    });
    // Stop sequences have no Responses equivalent: refused, naming the field.
    for (stem, client) in [
        ("anthropic_tool_round_trip", "anthropic"),
        ("openai_tool_round_trip", "openai"),
    ] {
        let input = read(&dir().join("requests").join(format!("{stem}.json")));
        let request = match client {
            "anthropic" => anthropic::decode_request(&input).unwrap(),
            _ => openai::decode_request(&input).unwrap(),
        };
        let e = encode_upstream_request(&request, "gpt-5").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("stop"), "{stem}");
    }
}

/// One generated stream event.
#[derive(Debug, Clone)]
enum Gen {
    Created,
    Added(u32, &'static str),
    Text(u32, String),
    Summary(u32, u32, String),
    Args(u32, String),
    ArgsDone(u32, String),
    Done(u32, &'static str, Option<String>),
    Completed(u64, u64),
    Incomplete,
    Failed,
    Error,
    Unknown,
    Garbage,
}

fn gen_event() -> impl Strategy<Value = Gen> {
    let index = 0u32..4;
    let kind = prop_oneof![
        Just("message"),
        Just("function_call"),
        Just("reasoning"),
        Just("web_search_call")
    ];
    let text = "[a-zé€😀\"\\\\ {}]{0,8}";
    prop_oneof![
        Just(Gen::Created),
        (index.clone(), kind.clone()).prop_map(|(i, k)| Gen::Added(i, k)),
        (index.clone(), text).prop_map(|(i, t)| Gen::Text(i, t)),
        (index.clone(), 0u32..3, text).prop_map(|(i, s, t)| Gen::Summary(i, s, t)),
        (index.clone(), text).prop_map(|(i, t)| Gen::Args(i, t)),
        (index.clone(), text).prop_map(|(i, t)| Gen::ArgsDone(i, t)),
        (index, kind, proptest::option::of("[A-Za-z0-9_=-]{1,12}"))
            .prop_map(|(i, k, e)| Gen::Done(i, k, e)),
        (0u64..5000, 0u64..5000).prop_map(|(a, b)| Gen::Completed(a, b)),
        Just(Gen::Incomplete),
        Just(Gen::Failed),
        Just(Gen::Error),
        Just(Gen::Unknown),
        Just(Gen::Garbage),
    ]
}

fn render(events: &[Gen]) -> Vec<u8> {
    let mut out = String::new();
    for (seq, e) in events.iter().enumerate() {
        let data = match e {
            Gen::Created => {
                json!({"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5", "status": "in_progress"}})
            }
            Gen::Added(i, k) => json!({"type": "response.output_item.added", "output_index": i,
                "item": {"id": format!("it_{i}"), "type": k, "call_id": format!("call_{i}"), "name": "f", "arguments": ""}}),
            Gen::Text(i, t) => {
                json!({"type": "response.output_text.delta", "output_index": i, "item_id": format!("it_{i}"), "content_index": 0, "delta": t})
            }
            Gen::Summary(i, s, t) => {
                json!({"type": "response.reasoning_summary_text.delta", "output_index": i, "item_id": format!("it_{i}"), "summary_index": s, "delta": t})
            }
            Gen::Args(i, t) => {
                json!({"type": "response.function_call_arguments.delta", "output_index": i, "item_id": format!("it_{i}"), "delta": t})
            }
            Gen::ArgsDone(i, t) => {
                json!({"type": "response.function_call_arguments.done", "output_index": i, "item_id": format!("it_{i}"), "arguments": t})
            }
            Gen::Done(i, k, enc) => json!({"type": "response.output_item.done", "output_index": i,
                "item": {"id": format!("it_{i}"), "type": k, "call_id": format!("call_{i}"), "name": "f", "arguments": "{}",
                    "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": enc,
                    "content": [{"type": "output_text", "text": "t", "annotations": []}]}}),
            Gen::Completed(a, b) => {
                json!({"type": "response.completed", "response": {"status": "completed",
                "usage": {"input_tokens": a, "input_tokens_details": {"cached_tokens": a / 2}, "output_tokens": b}}})
            }
            Gen::Incomplete => {
                json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}})
            }
            Gen::Failed => {
                json!({"type": "response.failed", "response": {"status": "failed", "error": {"code": "server_error", "message": "boom"}}})
            }
            Gen::Error => {
                json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": null})
            }
            Gen::Unknown => {
                json!({"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"})
            }
            Gen::Garbage => {
                out.push_str("data: {not json\n\n");
                continue;
            }
        };
        let mut data = data;
        data["sequence_number"] = json!(seq);
        out.push_str(&format!(
            "event: {}\ndata: {data}\n\n",
            data["type"].as_str().unwrap()
        ));
    }
    out.into_bytes()
}

proptest! {
    /// Any sequence of events, split anywhere, decodes without panicking to the events it
    /// decodes to whole; it ends exactly once (a clean end or an error), and tool arguments
    /// only ever go to calls that were opened.
    #[test]
    fn the_stream_decoder_is_total_and_split_invariant(
        events in proptest::collection::vec(gen_event(), 0..24),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let bytes = render(&events);
        let whole = decode_stream(&[&bytes]);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut from = 0;
        for to in at {
            pieces.push(&bytes[from..to]);
            from = to;
        }
        pieces.push(&bytes[from..]);
        prop_assert_eq!(&decode_stream(&pieces), &whole);
        let ends = whole.iter().filter(|e| *e == "end" || e.get("error").is_some()).count();
        prop_assert_eq!(ends, 1);
        let last = whole.last().unwrap();
        prop_assert!(*last == "end" || last.get("error").is_some());
        let opened = whole.iter().filter(|e| e.get("tool_start").is_some()).count() as u64;
        for e in &whole {
            if let Some(args) = e.get("tool_args") {
                prop_assert!(args["index"].as_u64().unwrap() < opened);
            }
        }
    }
}
