//! Golden tests: recorded-shape provider payloads in, expected client bytes out.
//!
//! Every stream case is also fed split at every byte boundary and one byte at a time; the
//! output must not change. Run with `SLUICE_BLESS=1` to (re)write the expected files after a
//! deliberate change, then review the diff.

use sluice_filters::canonical::Usage;
use sluice_filters::governance::Price;
use sluice_filters::translate::{
    prepare_request, translate_response, Api, ClientDialect, ResponseSpec, StreamOutcome,
    StreamSpec, StreamTranslator, Target, UpstreamDialect,
};
use std::path::{Path, PathBuf};

const CREATED: u64 = 1_760_000_000;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares with the expected file, or writes it in bless mode.
fn check(expected: &Path, actual: &[u8]) {
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(expected, actual).unwrap();
        return;
    }
    let want = read(expected);
    assert!(
        want == actual,
        "{} differs:\n--- expected\n{}\n--- actual\n{}",
        expected.display(),
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(actual)
    );
}

fn client_name(c: ClientDialect) -> &'static str {
    match c {
        ClientDialect::OpenAi => "openai",
        ClientDialect::Anthropic => "anthropic",
        ClientDialect::Responses => "responses",
    }
}

struct StreamCase {
    input: &'static str,
    upstream: UpstreamDialect,
    client: ClientDialect,
    usage: bool,
    outcome: StreamOutcome,
}

fn run_stream(case: &StreamCase, pieces: &[&[u8]]) -> (Vec<u8>, Usage, StreamOutcome) {
    let mut t = StreamTranslator::new(StreamSpec {
        client: case.client,
        upstream: case.upstream,
        id: "gw-req-1",
        model: "test-model",
        created: CREATED,
        client_wants_usage: case.usage,
        json_tool: false,
        price: None,
        request: b"{}",
    });
    let mut out = Vec::new();
    for piece in pieces {
        t.push(piece, &mut out);
    }
    t.finish(&mut out);
    (out, t.usage(), t.outcome())
}

fn stream_case(case: StreamCase) -> Usage {
    let input = read(&dir().join("streams").join(case.input));
    let (whole, usage, outcome) = run_stream(&case, &[&input]);
    assert_eq!(outcome, case.outcome, "{}", case.input);
    for i in 0..=input.len() {
        let (split, split_usage, _) = run_stream(&case, &[&input[..i], &input[i..]]);
        assert!(
            split == whole,
            "{}: split at byte {i} changed the output",
            case.input
        );
        assert_eq!(split_usage, usage);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert!(
        run_stream(&case, &bytes).0 == whole,
        "{}: byte-at-a-time differs",
        case.input
    );
    validate_sse(case.client, &whole);
    let stem = case.input.trim_end_matches(".sse");
    let expected = dir()
        .join("streams/expected")
        .join(format!("{stem}.{}.sse", client_name(case.client)));
    check(&expected, &whole);
    usage
}

/// Every event the client receives is well-formed for its dialect.
fn validate_sse(client: ClientDialect, out: &[u8]) {
    let text = std::str::from_utf8(out).expect("utf-8 output");
    let mut sequence = 0;
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let mut name = None;
        let mut data = None;
        for line in event.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n);
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(d);
            } else {
                panic!("unexpected line {line:?}");
            }
        }
        let data = data.expect("every event has data");
        if data == "[DONE]" {
            assert_eq!(client, ClientDialect::OpenAi);
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(data).expect("data is JSON");
        if client == ClientDialect::Responses {
            let kind = json["type"].as_str().unwrap();
            assert_eq!(Some(kind), name, "event name matches type");
            let number = json["sequence_number"].as_u64().expect("numbered");
            assert_eq!(number, sequence, "sequence numbers count up from 0");
            sequence += 1;
        }
        if client == ClientDialect::Anthropic {
            assert_eq!(
                Some(json["type"].as_str().unwrap()),
                name,
                "event name matches type"
            );
        }
    }
}

#[test]
fn anthropic_stream_to_openai_client() {
    let usage = stream_case(StreamCase {
        input: "anthropic_text_and_tools.sse",
        upstream: UpstreamDialect::Anthropic,
        client: ClientDialect::OpenAi,
        usage: true,
        outcome: StreamOutcome::Completed,
    });
    assert_eq!(usage.prompt_total(), 472 + 2048);
    assert_eq!(usage.cache_read, 2048);
    assert_eq!(usage.output, 89);
}

#[test]
fn anthropic_stream_error_after_200_is_in_band() {
    stream_case(StreamCase {
        input: "anthropic_overloaded_mid_stream.sse",
        upstream: UpstreamDialect::Anthropic,
        client: ClientDialect::OpenAi,
        usage: false,
        outcome: StreamOutcome::Failed(sluice_filters::canonical::FailureKind::Overloaded),
    });
}

#[test]
fn gemini_stream_to_openai_and_anthropic_clients() {
    for client in [ClientDialect::OpenAi, ClientDialect::Anthropic] {
        let usage = stream_case(StreamCase {
            input: "gemini_parallel_tools.sse",
            upstream: UpstreamDialect::Gemini,
            client,
            usage: true,
            outcome: StreamOutcome::Completed,
        });
        // Thoughts are output; cached tokens are inside Gemini's prompt count.
        assert_eq!(usage.output, 18 + 95);
        assert_eq!(usage.reasoning, 95);
        assert_eq!(usage.cache_read, 64);
        assert_eq!(usage.prompt_total(), 120);
    }
}

#[test]
fn gemini_stream_without_finish_reason_is_a_cut_stream() {
    stream_case(StreamCase {
        input: "gemini_cut.sse",
        upstream: UpstreamDialect::Gemini,
        client: ClientDialect::OpenAi,
        usage: false,
        outcome: StreamOutcome::Failed(sluice_filters::canonical::FailureKind::Server),
    });
}

#[test]
fn openai_stream_to_anthropic_client() {
    let usage = stream_case(StreamCase {
        input: "openai_parallel_tools.sse",
        upstream: UpstreamDialect::OpenAi,
        client: ClientDialect::Anthropic,
        usage: true,
        outcome: StreamOutcome::Completed,
    });
    assert_eq!(usage.input, 81 - 64);
    assert_eq!(usage.cache_read, 64);
    stream_case(StreamCase {
        input: "openai_text_no_done.sse",
        upstream: UpstreamDialect::OpenAi,
        client: ClientDialect::Anthropic,
        usage: true,
        outcome: StreamOutcome::Completed,
    });
}

#[test]
fn same_dialect_streams_pass_through() {
    let usage = stream_case(StreamCase {
        input: "azure_filtered.sse",
        upstream: UpstreamDialect::Azure,
        client: ClientDialect::OpenAi,
        usage: false,
        outcome: StreamOutcome::Completed,
    });
    assert_eq!(usage.total(), 13);
    stream_case(StreamCase {
        input: "anthropic_text_and_tools.sse",
        upstream: UpstreamDialect::Anthropic,
        client: ClientDialect::Anthropic,
        usage: true,
        outcome: StreamOutcome::Completed,
    });
    // A server that omits `[DONE]` after its finish reason: the client still gets one.
    stream_case(StreamCase {
        input: "openai_text_no_done.sse",
        upstream: UpstreamDialect::OpenAi,
        client: ClientDialect::OpenAi,
        usage: true,
        outcome: StreamOutcome::Completed,
    });
    // A passed-through stream cut mid-way ends with an in-band error, never `[DONE]`.
    for client in [ClientDialect::OpenAi, ClientDialect::Anthropic] {
        stream_case(StreamCase {
            input: "openai_cut.sse",
            upstream: UpstreamDialect::OpenAi,
            client,
            usage: false,
            outcome: StreamOutcome::Failed(sluice_filters::canonical::FailureKind::Server),
        });
    }
}

/// With a price, the final usage the client receives carries `usage.cost_usd` (exactly once,
/// equal to the price of the usage), on passthrough and translated streams alike; the rest of
/// the stream is what the golden files say.
#[test]
fn streams_report_their_cost_in_the_final_usage() {
    let price = Price {
        input: 2.0,
        output: 10.0,
        cached_input: 1.0,
        cache_write: 2.5,
    };
    let cases = [
        (
            "openai_parallel_tools.sse",
            UpstreamDialect::OpenAi,
            ClientDialect::OpenAi,
        ),
        (
            "openai_parallel_tools.sse",
            UpstreamDialect::OpenAi,
            ClientDialect::Anthropic,
        ),
        (
            "anthropic_text_and_tools.sse",
            UpstreamDialect::Anthropic,
            ClientDialect::Anthropic,
        ),
        (
            "anthropic_text_and_tools.sse",
            UpstreamDialect::Anthropic,
            ClientDialect::OpenAi,
        ),
        (
            "gemini_parallel_tools.sse",
            UpstreamDialect::Gemini,
            ClientDialect::OpenAi,
        ),
    ];
    for (input, upstream, client) in cases {
        let bytes = read(&dir().join("streams").join(input));
        let spec = |price| StreamSpec {
            client,
            upstream,
            id: "gw-req-1",
            model: "test-model",
            created: CREATED,
            client_wants_usage: true,
            json_tool: false,
            price,
            request: b"{}",
        };
        let mut priced = StreamTranslator::new(spec(Some(price)));
        let mut out = Vec::new();
        priced.push(&bytes, &mut out);
        priced.finish(&mut out);
        let mut plain = StreamTranslator::new(spec(None));
        let mut plain_out = Vec::new();
        plain.push(&bytes, &mut plain_out);
        plain.finish(&mut plain_out);

        validate_sse(client, &out);
        let text = String::from_utf8(out).unwrap();
        let expected = price.cost_micros(&priced.usage()) as f64 / 1e6;
        assert!(expected > 0.0, "{input}");
        let needle = format!("\"cost_usd\":{expected}");
        assert_eq!(
            text.matches("cost_usd").count(),
            1,
            "{input} -> {client:?}: {text}"
        );
        assert!(
            text.contains(&needle),
            "{input} -> {client:?}: {needle} in {text}"
        );
        assert_eq!(
            text.replace(&format!(",{needle}"), ""),
            String::from_utf8(plain_out).unwrap(),
            "{input} -> {client:?}: only the cost differs"
        );
    }
}

struct RequestCase {
    input: &'static str,
    client: ClientDialect,
    upstream: UpstreamDialect,
    model: &'static str,
}

fn request_case(case: RequestCase) {
    let input = read(&dir().join("requests").join(case.input));
    let prepared = prepare_request(
        case.client,
        &input,
        &Target {
            dialect: case.upstream,
            model: case.model,
            default_max_tokens: 4096,
            api: Api::Chat,
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.input));
    let body = prepared.body.expect("translated requests have a body");
    let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    let stem = case.input.trim_end_matches(".json");
    let expected = dir()
        .join("requests/expected")
        .join(format!("{stem}.{}.json", case.upstream.as_str()));
    check(&expected, &pretty);
}

#[test]
fn openai_requests_encode_for_every_upstream() {
    for upstream in [UpstreamDialect::Anthropic, UpstreamDialect::Gemini] {
        for input in [
            "openai_tool_round_trip.json",
            "openai_image_and_options.json",
        ] {
            request_case(RequestCase {
                input,
                client: ClientDialect::OpenAi,
                upstream,
                model: "upstream-model",
            });
        }
    }
}

#[test]
fn anthropic_requests_encode_for_every_upstream() {
    for upstream in [UpstreamDialect::OpenAi, UpstreamDialect::Gemini] {
        request_case(RequestCase {
            input: "anthropic_tool_round_trip.json",
            client: ClientDialect::Anthropic,
            upstream,
            model: "upstream-model",
        });
    }
}

struct ResponseCase {
    input: &'static str,
    upstream: UpstreamDialect,
    client: ClientDialect,
}

fn response_case(case: ResponseCase) -> Usage {
    let input = read(&dir().join("responses").join(case.input));
    let (body, usage) = translate_response(
        &ResponseSpec {
            client: case.client,
            upstream: case.upstream,
            id: "gw-req-1",
            model: "test-model",
            created: CREATED,
            request: b"{}",
            json_tool: false,
        },
        &input,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.input));
    let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    let stem = case.input.trim_end_matches(".json");
    let expected = dir()
        .join("responses/expected")
        .join(format!("{stem}.{}.json", client_name(case.client)));
    check(&expected, &pretty);
    usage
}

#[test]
fn responses_translate_for_both_clients() {
    let usage = response_case(ResponseCase {
        input: "anthropic_tool_use.json",
        upstream: UpstreamDialect::Anthropic,
        client: ClientDialect::OpenAi,
    });
    assert_eq!(usage.prompt_total(), 12 + 2048);
    let usage = response_case(ResponseCase {
        input: "gemini_tool_call.json",
        upstream: UpstreamDialect::Gemini,
        client: ClientDialect::OpenAi,
    });
    assert_eq!(usage.output, 18 + 95);
    response_case(ResponseCase {
        input: "gemini_tool_call.json",
        upstream: UpstreamDialect::Gemini,
        client: ClientDialect::Anthropic,
    });
    response_case(ResponseCase {
        input: "openai_tool_calls.json",
        upstream: UpstreamDialect::OpenAi,
        client: ClientDialect::Anthropic,
    });
    response_case(ResponseCase {
        input: "gemini_prompt_blocked.json",
        upstream: UpstreamDialect::Gemini,
        client: ClientDialect::OpenAi,
    });
}

/// The Responses API as the client's dialect: every upstream's stream encoded as OpenAI emits
/// Responses events, failures included; and a native Responses stream passed through as is
/// (a cut one ended with `response.failed`).
#[test]
fn every_upstream_streams_to_responses_clients() {
    use sluice_filters::canonical::FailureKind;
    for (input, upstream, outcome) in [
        (
            "anthropic_text_and_tools.sse",
            UpstreamDialect::Anthropic,
            StreamOutcome::Completed,
        ),
        (
            "gemini_parallel_tools.sse",
            UpstreamDialect::Gemini,
            StreamOutcome::Completed,
        ),
        (
            "openai_parallel_tools.sse",
            UpstreamDialect::OpenAi,
            StreamOutcome::Completed,
        ),
        (
            "anthropic_overloaded_mid_stream.sse",
            UpstreamDialect::Anthropic,
            StreamOutcome::Failed(FailureKind::Overloaded),
        ),
        (
            "openai_cut.sse",
            UpstreamDialect::OpenAi,
            StreamOutcome::Failed(FailureKind::Server),
        ),
        (
            "responses_parallel_calls.sse",
            UpstreamDialect::Responses,
            StreamOutcome::Completed,
        ),
        (
            "responses_cut.sse",
            UpstreamDialect::Responses,
            StreamOutcome::Failed(FailureKind::Server),
        ),
    ] {
        stream_case(StreamCase {
            input,
            upstream,
            client: ClientDialect::Responses,
            usage: true,
            outcome,
        });
    }
    let native = read(&dir().join("streams/responses_parallel_calls.sse"));
    let passed = read(&dir().join("streams/expected/responses_parallel_calls.responses.sse"));
    assert!(native == passed, "a native stream passes byte for byte");
}

/// Models behind the Responses API only (`dialect: responses`), streamed to Chat and Messages
/// clients.
#[test]
fn responses_upstream_streams_to_chat_and_messages_clients() {
    use sluice_filters::canonical::FailureKind;
    for client in [ClientDialect::OpenAi, ClientDialect::Anthropic] {
        for (input, outcome) in [
            ("responses_text.sse", StreamOutcome::Completed),
            ("responses_parallel_calls.sse", StreamOutcome::Completed),
            (
                "responses_reasoning_encrypted.sse",
                StreamOutcome::Completed,
            ),
            (
                "responses_incomplete_max_tokens.sse",
                StreamOutcome::Completed,
            ),
            (
                "responses_rate_limited.sse",
                StreamOutcome::Failed(FailureKind::RateLimited),
            ),
        ] {
            stream_case(StreamCase {
                input,
                upstream: UpstreamDialect::Responses,
                client,
                usage: true,
                outcome,
            });
        }
    }
}

#[test]
fn whole_answers_translate_to_and_from_the_responses_api() {
    for (input, upstream) in [
        ("anthropic_tool_use.json", UpstreamDialect::Anthropic),
        ("gemini_tool_call.json", UpstreamDialect::Gemini),
        ("openai_tool_calls.json", UpstreamDialect::OpenAi),
    ] {
        response_case(ResponseCase {
            input,
            upstream,
            client: ClientDialect::Responses,
        });
    }
    for client in [ClientDialect::OpenAi, ClientDialect::Anthropic] {
        for input in [
            "responses_text.json",
            "responses_parallel_calls.json",
            "responses_reasoning_encrypted.json",
            "responses_incomplete_max_tokens.json",
        ] {
            response_case(ResponseCase {
                input,
                upstream: UpstreamDialect::Responses,
                client,
            });
        }
    }
}
