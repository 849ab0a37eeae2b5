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
    let config = kinds_config(
        &KINDS,
        &mocks,
        &format!("keys:\n  - {{name: r, key: \"{CLIENT_KEY}\"}}\n"),
    );
    (Gateway::start(&config), mocks)
}

pub fn mock_usage(resp: &reqwest::Response) -> (u64, u64) {
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

/// A Responses answer: the final response of a stream (checked), or the whole body.
pub fn read_response(cell: &str, text: &str, stream: bool) -> Value {
    if stream {
        check_stream(cell, text)
    } else {
        serde_json::from_str(text).unwrap()
    }
}

/// The events of a Responses stream, checked as the SDK's accumulator checks them; returns
/// the final response.
pub fn check_stream(cell: &str, text: &str) -> Value {
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
            let response = read_response(&cell, &text, stream);
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
            let response = read_response(&cell, &text, stream);
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
        json!({"model": "via-openai", "input": "x", "include": ["message.output_text.logprobs"]}),
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

fn state_config(mocks: &[Mock], state: &str) -> String {
    kinds_config(
        &KINDS,
        mocks,
        &format!("keys:\n  - {{name: one, key: \"{CLIENT_KEY}\"}}\n  - {{name: two, key: \"{OTHER_KEY}\"}}\nstate: {state}\n"),
    )
}

async fn create(gw: &Gateway, key: &str, body: Value) -> Value {
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn get(gw: &Gateway, key: &str, path: &str) -> (u16, Value) {
    let resp = client()
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn conversations_move_between_providers(gw: &Gateway, mocks: &[Mock]) {
    // Three turns, each on another provider; each provider sees the whole conversation.
    let first = create(
        gw,
        CLIENT_KEY,
        json!({"model": "via-anthropic", "input": "Remember the word heron."}),
    )
    .await;
    let second = create(gw, CLIENT_KEY, json!({"model": "via-gemini", "input": "And the word kestrel.", "previous_response_id": first["id"]})).await;
    let third = create(gw, CLIENT_KEY, json!({"model": "via-openai", "input": "Which words?", "instructions": "Be brief.", "previous_response_id": second["id"], "stream": false})).await;
    let gemini = mocks[2].last_request().await["body"].to_string();
    assert!(
        gemini.contains("heron") && gemini.contains("kestrel") && !gemini.contains("Which words"),
        "{gemini}"
    );
    let openai = mocks[0].last_request().await["body"].to_string();
    for word in ["heron", "kestrel", "Which words", "Hello from"] {
        assert!(openai.contains(word), "{word}: {openai}");
    }
    assert!(
        !openai.contains("previous_response_id"),
        "never forwarded: {openai}"
    );
    // Stored: readable, its input listed, another key sees nothing.
    let id = third["id"].as_str().unwrap();
    let (status, stored) = get(gw, CLIENT_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored["output"], third["output"]);
    let (status, items) = get(gw, CLIENT_KEY, &format!("/v1/responses/{id}/input_items")).await;
    assert_eq!(status, 200);
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["content"][0]["text"], "Which words?");
    assert!(items["data"][0]["id"].is_string());
    let (status, error) = get(gw, OTHER_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 404, "{error}");
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(OTHER_KEY)
        .json(&json!({"model": "via-openai", "input": "x", "previous_response_id": id}))
        .send()
        .await
        .unwrap();
    let error = expect_openai_error(resp, 404, "response_not_found").await;
    assert_eq!(error["error"]["param"], "previous_response_id");

    // A tool loop continued with only the call's output.
    let question = create(
        gw,
        CLIENT_KEY,
        json!({"model": "via-gemini", "input": "What is the weather in Oslo?", "tools": tools()}),
    )
    .await;
    let call = question["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "function_call")
        .unwrap()
        .clone();
    let answer = create(gw, CLIENT_KEY, json!({"model": "via-anthropic", "tools": tools(), "previous_response_id": question["id"],
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "4°C and clear"}]})).await;
    assert!(
        answer["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("4°C and clear"),
        "{answer}"
    );

    // store: false keeps nothing; a deleted response is gone.
    let unstored = create(
        gw,
        CLIENT_KEY,
        json!({"model": "via-openai", "input": "hi", "store": false}),
    )
    .await;
    let (status, _) = get(
        gw,
        CLIENT_KEY,
        &format!("/v1/responses/{}", unstored["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 404);
    let resp = client()
        .delete(gw.url(&format!("/v1/responses/{id}")))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deleted: Value = resp.json().await.unwrap();
    assert_eq!(deleted["deleted"], true);
    let (status, _) = get(gw, CLIENT_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn stored_conversations_move_between_providers_on_both_backends() {
    let mocks: Vec<Mock> = KINDS
        .iter()
        .map(|k| Mock::start(k, &["--kind", k]))
        .collect();
    let dir = temp_dir();
    let embedded = Gateway::start(&state_config(
        &mocks,
        &format!("{{path: \"{}\"}}", dir.path().display()),
    ));
    conversations_move_between_providers(&embedded, &mocks).await;
    let redis = Redis::start();
    let shared = Gateway::start(&state_config(
        &mocks,
        &format!(
            "{{backend: redis, url: \"{}\", prefix: responses}}",
            redis.url()
        ),
    ));
    conversations_move_between_providers(&shared, &mocks).await;
}

#[tokio::test]
async fn a_streamed_response_is_stored_at_once_and_survives_a_restart() {
    let mocks: Vec<Mock> = KINDS
        .iter()
        .map(|k| Mock::start(k, &["--kind", k]))
        .collect();
    let dir = temp_dir();
    let state = format!("{{path: \"{}\"}}", dir.path().display());
    let mut gw = Gateway::start(&state_config(&mocks, &state));
    let text = gw
        .post(
            "/v1/responses",
            &json!({"model": "via-anthropic", "input": "Remember the word heron.", "stream": true}),
        )
        .await
        .text()
        .await
        .unwrap();
    let first = check_stream("anthropic stream", &text);
    // Continued at once, on another provider.
    let next = create(
        &gw,
        CLIENT_KEY,
        json!({"model": "via-openai", "input": "Which word?", "previous_response_id": first["id"]}),
    )
    .await;
    gw.proc.signal_and_wait("TERM");
    let gw = Gateway::start(&state_config(&mocks, &state));
    create(
        &gw,
        CLIENT_KEY,
        json!({"model": "via-gemini", "input": "Spell it.", "previous_response_id": next["id"]}),
    )
    .await;
    let gemini = mocks[2].last_request().await["body"].to_string();
    assert!(
        gemini.contains("heron") && gemini.contains("Which word?"),
        "{gemini}"
    );
}
