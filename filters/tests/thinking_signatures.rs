//! Thinking signatures survive a client's round trip and reach the provider that made them,
//! and only it: Anthropic's through a Responses client's `reasoning.encrypted_content`
//! (whole and streamed), OpenAI's through an Anthropic client's `thinking.signature` and a
//! Responses client's `encrypted_content`. A conversation that moves to the other provider
//! leaves the thinking it cannot verify behind instead of failing.

use serde_json::{json, Value};
use sluice_filters::canonical::Response;
use sluice_filters::providers::{anthropic, responses};

const THOUGHT: &str = "The user wants Oslo's weather; call the tool.";
const SIGNATURE: &str = "EqQBCkgIARABGAIiQL0f+zK3pWqA8Qn1Yb0x/CdEvFgHi==";
const BLOB: &str = "gAAAAABooRCh3mXyQk1vB2wz7Pq9LrT0sUe4YiNc8Hd6Fa5Gb3Jk2Ml1Zo0Xp_Wn-Vq7Rt8Su9==";

fn anthropic_options() -> anthropic::EncodeOptions<'static> {
    anthropic::EncodeOptions {
        model: "claude-sonnet",
        default_max_tokens: 1024,
    }
}

/// A Responses client's next turn: its question, the previous output as given, the tool's
/// answer.
fn next_turn(output: &Value) -> Vec<u8> {
    let mut input = vec![json!({"role": "user", "content": "Weather in Oslo?"})];
    input.extend(output.as_array().unwrap().iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": "toolu_01", "output": "4°C"}));
    serde_json::to_vec(&json!({"model": "m", "input": input, "reasoning": {"effort": "medium"}}))
        .unwrap()
}

/// The assistant turn an Anthropic upstream is sent for a Responses client's next turn.
fn sent_to_anthropic(request_body: &[u8]) -> Value {
    let request = responses::decode_request(request_body).unwrap();
    let body = anthropic::encode_request(&request, anthropic_options())
        .unwrap()
        .body;
    let sent: Value = serde_json::from_slice(&body).unwrap();
    sent["messages"][1]["content"].clone()
}

fn anthropic_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 30}
    }))
    .unwrap()
}

fn expected_anthropic_turn() -> Value {
    json!([
        {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}
    ])
}

#[test]
fn anthropic_thinking_survives_a_whole_responses_round_trip() {
    let answer = anthropic_answer();
    let response: Response<'_> = anthropic::decode_response(&answer).unwrap();
    // The client did not ask for `include`: the signature is given all the same.
    let echo = responses::Echo::from_request(br#"{"model":"m","input":"Weather in Oslo?"}"#);
    let body = responses::encode_response(&response, &echo, &responses::Ids::new("r1"), 1, "m");
    let object: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        object["output"][0]["encrypted_content"],
        format!("anthropic:{SIGNATURE}")
    );
    assert_eq!(
        sent_to_anthropic(&next_turn(&object["output"])),
        expected_anthropic_turn()
    );
}

#[test]
fn anthropic_thinking_survives_a_streamed_responses_round_trip() {
    let stream = [
        json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": &THOUGHT[..20]}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": &THOUGHT[20..]}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Oslo\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
        json!({"type": "message_stop"}),
    ];
    let sse: String = stream
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    let mut decoder = anthropic::StreamDecoder::new();
    let mut encoder = responses::StreamEncoder::new(
        responses::Echo::from_request(br#"{"model":"m","input":"x"}"#),
        responses::Ids::new("r1"),
        1,
        "m",
    );
    let mut out = Vec::new();
    decoder.feed(sse.as_bytes(), &mut |e| encoder.encode(&e, &mut out));
    decoder.finish(&mut |e| encoder.encode(&e, &mut out));
    let events: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let done = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(
        done["item"]["encrypted_content"],
        format!("anthropic:{SIGNATURE}")
    );
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(
        sent_to_anthropic(&next_turn(&completed["response"]["output"])),
        expected_anthropic_turn()
    );
}

fn openai_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "resp_01", "object": "response", "status": "completed", "model": "gpt-5",
        "output": [
            {"id": "rs_01", "type": "reasoning", "summary": [{"type": "summary_text", "text": THOUGHT}], "encrypted_content": BLOB},
            {"id": "fc_01", "type": "function_call", "status": "completed", "call_id": "toolu_01", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}
        ],
        "usage": {"input_tokens": 20, "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 24}}
    }))
    .unwrap()
}

/// The reasoning items an OpenAI Responses upstream is sent.
fn reasoning_sent_to_openai(request: &sluice_filters::canonical::Request<'_>) -> Vec<Value> {
    let body = responses::encode_upstream_request(request, "gpt-5").unwrap();
    let sent: Value = serde_json::from_slice(&body).unwrap();
    sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "reasoning")
        .cloned()
        .collect()
}

#[test]
fn openai_reasoning_survives_an_anthropic_client_and_stays_away_from_anthropic() {
    let answer = openai_answer();
    let response = responses::decode_upstream_response(&answer).unwrap();
    let message: Value =
        serde_json::from_slice(&anthropic::encode_response(&response, "m")).unwrap();
    assert_eq!(message["content"][0]["signature"], format!("openai:{BLOB}"));
    let next = serde_json::to_vec(&json!({
        "model": "m", "max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": message["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "4°C"}]}
        ]
    }))
    .unwrap();
    let request = anthropic::decode_request(&next).unwrap();
    assert_eq!(
        reasoning_sent_to_openai(&request),
        [
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": THOUGHT}], "encrypted_content": BLOB})
        ]
    );
    // The same history sent on to Anthropic: the thinking it cannot verify stays out.
    let body = anthropic::encode_request(&request, anthropic_options())
        .unwrap()
        .body;
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
}

#[test]
fn openai_reasoning_survives_a_responses_client() {
    let answer = openai_answer();
    let response = responses::decode_upstream_response(&answer).unwrap();
    let echo = responses::Echo::from_request(br#"{"model":"m","input":"x"}"#);
    let body = responses::encode_response(&response, &echo, &responses::Ids::new("r1"), 1, "m");
    let object: Value = serde_json::from_slice(&body).unwrap();
    // The client sees OpenAI's blob as OpenAI would give it.
    assert_eq!(object["output"][0]["encrypted_content"], BLOB);
    let next = next_turn(&object["output"]);
    let request = responses::decode_request(&next).unwrap();
    assert_eq!(
        reasoning_sent_to_openai(&request),
        [
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": THOUGHT}], "encrypted_content": BLOB})
        ]
    );
    assert_eq!(sent_to_anthropic(&next)[0]["type"], "tool_use");
}
