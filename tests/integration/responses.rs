//! OpenAI's Responses API (`POST /v1/responses`) to every provider kind, whole and streamed:
//! the answer in OpenAI's shape with the usage the provider reported, the stream's grammar
//! checked event by event as the official SDK's accumulator checks it, tools and their results
//! carried, and what only OpenAI runs refused.

use crate::common::*;
use serde_json::{json, Value};

const KINDS: [&str; 4] = ["openai", "anthropic", "gemini", "azure"];

fn setup() -> (Gateway, Vec<Mock>) {
    let mocks: Vec<Mock> = KINDS
        .iter()
        .map(|k| Mock::start(k, &["--kind", k, "--chunks", "4"]))
        .collect();
    let mut config = String::from("providers:\n");
    for (kind, mock) in KINDS.iter().zip(&mocks) {
        config.push_str(&format!(
            "  {kind}-up: {{kind: {kind}, endpoints: [{{url: \"{}\"}}], api_keys: [\"k\"]}}\n",
            mock.url()
        ));
    }
    config.push_str("models:\n");
    for kind in KINDS {
        config.push_str(&format!(
            "  - {{name: via-{kind}, targets: [{{provider: {kind}-up, model: m-{kind}}}]}}\n"
        ));
    }
    config.push_str(&format!("keys:\n  - {{name: r, key: \"{CLIENT_KEY}\"}}\n"));
    (Gateway::start(&config), mocks)
}

fn mock_usage(resp: &reqwest::Response) -> (u64, u64) {
    let header = resp.headers()["x-mock-usage"].to_str().unwrap().to_owned();
    let field = |name: &str| {
        header
            .split(',')
            .find_map(|p| p.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("prompt="), field("output="))
}

fn tools() -> Value {
    json!([{"type": "function", "name": "get_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

/// The events of a Responses stream, checked as the SDK's accumulator checks them; returns
/// the final response.
fn check_stream(cell: &str, text: &str) -> Value {
    let mut events: Vec<Value> = Vec::new();
    for frame in text.split("\n\n").filter(|f| !f.trim().is_empty()) {
        let kind = frame
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap();
        let data = frame
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        let event: Value = serde_json::from_str(data).unwrap();
        assert_eq!(event["type"], kind, "{cell}: event line and type agree");
        events.push(event);
    }
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64, "{cell}: {e}");
    }
    assert_eq!(events[0]["type"], "response.created", "{cell}");
    assert_eq!(events[1]["type"], "response.in_progress", "{cell}");
    let id = events[0]["response"]["id"].clone();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed", "{cell}");
    assert_eq!(last["response"]["id"], id, "{cell}: one id throughout");
    // Every item added is done, at its index, with the deltas it announced.
    let mut items: Vec<Value> = Vec::new();
    let mut deltas: Vec<String> = Vec::new();
    for e in &events[2..events.len() - 1] {
        let index = e["output_index"].as_u64().unwrap() as usize;
        match e["type"].as_str().unwrap() {
            "response.output_item.added" => {
                assert_eq!(index, items.len(), "{cell}: items in order");
                items.push(e["item"].clone());
                deltas.push(String::new());
            }
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta" => {
                assert_eq!(index, items.len() - 1, "{cell}: deltas of the open item");
                deltas[index].push_str(e["delta"].as_str().unwrap());
            }
            "response.output_text.done" => assert_eq!(e["text"], deltas[index].as_str()),
            "response.function_call_arguments.done" => {
                assert_eq!(e["arguments"], deltas[index].as_str())
            }
            "response.output_item.done" => {
                assert_eq!(e["item"]["id"], items[index]["id"], "{cell}");
                items[index] = e["item"].clone();
            }
            _ => {}
        }
    }
    assert_eq!(last["response"]["output"], Value::Array(items), "{cell}");
    last["response"].clone()
}

#[tokio::test]
async fn responses_reach_every_provider_kind_whole_and_streamed() {
    let (gw, _mocks) = setup();
    for kind in KINDS {
        for stream in [false, true] {
            let cell = format!("{kind} stream={stream}");
            let resp = gw
                .post("/v1/responses", &json!({"model": format!("via-{kind}"), "input": "Say hello", "stream": stream}))
                .await;
            assert_eq!(resp.status(), 200, "{cell}");
            let (prompt, output) = mock_usage(&resp);
            let text = resp.text().await.unwrap();
            let response: Value = if stream {
                check_stream(&cell, &text)
            } else {
                serde_json::from_str(&text).unwrap()
            };
            assert_eq!(response["object"], "response", "{cell}");
            assert_eq!(response["status"], "completed", "{cell}");
            for required in [
                "id",
                "created_at",
                "model",
                "output",
                "parallel_tool_calls",
                "tool_choice",
                "tools",
            ] {
                assert!(!response[required].is_null(), "{cell}: {required}");
            }
            let message = &response["output"][0];
            assert_eq!(message["type"], "message", "{cell}");
            assert!(
                message["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("Say hello"),
                "{cell}"
            );
            let usage = &response["usage"];
            assert_eq!(
                usage["input_tokens"], prompt,
                "{cell}: the provider's count"
            );
            assert_eq!(usage["output_tokens"], output, "{cell}");
            assert_eq!(usage["total_tokens"], prompt + output, "{cell}");
        }
    }
}

#[tokio::test]
async fn tool_calls_and_their_outputs_make_a_loop_on_every_provider_kind() {
    let (gw, mocks) = setup();
    for (kind, mock) in KINDS.iter().zip(&mocks) {
        for stream in [false, true] {
            let cell = format!("{kind} stream={stream}");
            let question = "What is the weather in Oslo and in Bergen?";
            let resp = gw
                .post("/v1/responses", &json!({"model": format!("via-{kind}"), "input": question, "tools": tools(), "stream": stream}))
                .await;
            let text = resp.text().await.unwrap();
            let response: Value = if stream {
                check_stream(&cell, &text)
            } else {
                serde_json::from_str(&text).unwrap()
            };
            let calls: Vec<Value> = response["output"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["type"] == "function_call")
                .cloned()
                .collect();
            let cities: Vec<String> = calls
                .iter()
                .map(|c| {
                    serde_json::from_str::<Value>(c["arguments"].as_str().unwrap()).unwrap()["city"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            assert_eq!(cities, ["Oslo", "Bergen"], "{cell}");
            let mut input = vec![json!({"role": "user", "content": question})];
            input.extend(response["output"].as_array().unwrap().iter().cloned());
            for call in &calls {
                input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "4°C and clear"}));
            }
            let resp = gw
                .post(
                    "/v1/responses",
                    &json!({"model": format!("via-{kind}"), "input": input, "tools": tools()}),
                )
                .await;
            let answer: Value = resp.json().await.unwrap();
            assert!(
                answer["output"][0]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("4°C and clear"),
                "{cell}: {answer}"
            );
            // The provider saw both calls and both results, in its own dialect.
            let sent = mock.last_request().await["body"].to_string();
            assert_eq!(sent.matches("4°C and clear").count(), 2, "{cell}: {sent}");
        }
    }
}

#[tokio::test]
async fn what_only_openai_runs_is_refused() {
    let (gw, mocks) = setup();
    for body in [
        json!({"model": "via-anthropic", "input": "x", "tools": [{"type": "web_search"}]}),
        json!({"model": "via-gemini", "input": [{"type": "item_reference", "id": "msg_1"}]}),
        json!({"model": "via-openai", "input": "x", "include": ["reasoning.encrypted_content"]}),
    ] {
        let resp = gw.post("/v1/responses", &body).await;
        let error = expect_openai_error(resp, 400, "unsupported_by_provider").await;
        assert!(error["error"]["param"].is_string(), "{error}");
    }
    let resp = gw
        .post("/v1/responses", &json!({"model": "via-openai"}))
        .await;
    let error = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(error["error"]["param"], "input");
    for mock in &mocks {
        assert_eq!(mock.count().await, 0);
    }
}
