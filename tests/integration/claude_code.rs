//! Claude Code's own request (captured from 2.1.197 with default settings: adaptive thinking,
//! effort, context management, a system prompt with cache control, 24 tools, every beta it
//! sends) replayed through sluice to every provider kind, whole and streamed, and a two-turn
//! tool loop built from it; its betas reach an Anthropic provider untouched, and what only
//! Anthropic performs is translated or dropped, never silently where it matters.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

const KINDS: [&str; 4] = ["anthropic", "openai", "azure", "gemini"];

struct Capture {
    headers: Vec<(String, String)>,
    body: Value,
}

fn capture() -> Capture {
    let text = include_str!("../fixtures/clients/claude-code-2.1.197-messages.json");
    let recorded: Value = serde_json::from_str(text).unwrap();
    let skip = [
        "host",
        "content-length",
        "connection",
        "accept-encoding",
        "x-api-key",
    ];
    let headers = recorded["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    Capture {
        headers,
        body: recorded["body"].clone(),
    }
}

struct Setup {
    gateway: Gateway,
    mocks: Vec<Mock>,
}

fn setup() -> Setup {
    let mocks: Vec<Mock> = KINDS
        .iter()
        .map(|k| Mock::start(k, &["--kind", k, "--chunks", "3"]))
        .collect();
    let config = kinds_config(
        &KINDS,
        &mocks,
        &format!("keys:\n  - {{name: cc, key: \"{CLIENT_KEY}\"}}\n"),
    );
    Setup {
        gateway: Gateway::start(&config),
        mocks,
    }
}

async fn send(gw: &Gateway, capture: &Capture, body: &Value) -> reqwest::Response {
    let mut req = client()
        .post(gw.url("/v1/messages?beta=true"))
        .header("x-api-key", CLIENT_KEY);
    for (name, value) in &capture.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    req.json(body).send().await.unwrap()
}

/// The content blocks of an Anthropic answer, whole or streamed (checking the stream's
/// grammar: message_start first, blocks opened and closed in order, message_delta with a
/// stop reason, message_stop last).
async fn content_of(resp: reqwest::Response, stream: bool) -> (Vec<Value>, String) {
    let status = resp.status();
    if !stream {
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["type"], "message", "{body}");
        return (
            body["content"].as_array().unwrap().clone(),
            body["stop_reason"].as_str().unwrap().to_owned(),
        );
    }
    let mut text = String::new();
    let mut bytes = resp.bytes_stream();
    while let Some(chunk) = bytes.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert_eq!(status, 200, "{text}");
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "message_start", "{text}");
    assert_eq!(events.last().unwrap()["type"], "message_stop", "{text}");
    let mut blocks: Vec<Value> = Vec::new();
    let mut open: Option<usize> = None;
    let mut json_args = String::new();
    let mut stop = String::new();
    for e in &events {
        match e["type"].as_str().unwrap() {
            "content_block_start" => {
                assert!(open.is_none(), "a block opened inside another: {text}");
                let i = e["index"].as_u64().unwrap() as usize;
                assert_eq!(i, blocks.len(), "{text}");
                blocks.push(e["content_block"].clone());
                open = Some(i);
                json_args.clear();
            }
            "content_block_delta" => {
                let i = open.expect("a delta outside a block");
                assert_eq!(e["index"].as_u64().unwrap() as usize, i);
                let delta = &e["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => {
                        let t = blocks[i]["text"].as_str().unwrap_or("").to_owned();
                        blocks[i]["text"] = json!(t + delta["text"].as_str().unwrap());
                    }
                    "input_json_delta" => {
                        json_args.push_str(delta["partial_json"].as_str().unwrap())
                    }
                    "thinking_delta" | "signature_delta" => {}
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = open.take().expect("a stop outside a block");
                if blocks[i]["type"] == "tool_use" && !json_args.is_empty() {
                    blocks[i]["input"] = serde_json::from_str(&json_args).unwrap();
                }
            }
            "message_delta" => stop = e["delta"]["stop_reason"].as_str().unwrap().to_owned(),
            "message_start" | "message_stop" | "ping" => {}
            other => panic!("unexpected event {other}: {text}"),
        }
    }
    assert!(open.is_none());
    (blocks, stop)
}

#[tokio::test]
async fn claude_codes_request_is_served_by_every_provider_kind() {
    let s = setup();
    let capture = capture();
    for (kind, mock) in KINDS.iter().zip(&s.mocks) {
        for stream in [true, false] {
            let mut body = capture.body.clone();
            body["model"] = json!(format!("via-{kind}"));
            body["stream"] = json!(stream);
            let resp = send(&s.gateway, &capture, &body).await;
            let (blocks, stop) = content_of(resp, stream).await;
            assert_eq!(stop, "end_turn", "{kind} stream={stream}");
            assert!(
                blocks.iter().any(|b| b["type"] == "text"),
                "{kind} stream={stream}: {blocks:?}"
            );
        }
        // What the provider received.
        let sent = mock.last_request().await["body"].clone();
        match *kind {
            "anthropic" => {
                // Untouched: the betas' fields are all there.
                for field in [
                    "thinking",
                    "output_config",
                    "context_management",
                    "metadata",
                ] {
                    assert_eq!(sent[field], capture.body[field], "{field}");
                }
                let beta = mock.last_request().await["headers"]["anthropic-beta"].clone();
                assert_eq!(
                    beta,
                    json!(
                        capture
                            .headers
                            .iter()
                            .find(|(k, _)| k == "anthropic-beta")
                            .unwrap()
                            .1
                    )
                );
            }
            "openai" | "azure" => {
                assert_eq!(sent["reasoning_effort"], "high", "{kind}: {sent}");
                assert!(sent.get("context_management").is_none());
                assert_eq!(sent["tools"].as_array().unwrap().len(), 24);
            }
            "gemini" => {
                assert_eq!(
                    sent["generationConfig"]["thinkingConfig"]["thinkingBudget"], 24576,
                    "{sent}"
                );
                assert_eq!(
                    sent["tools"][0]["functionDeclarations"]
                        .as_array()
                        .unwrap()
                        .len(),
                    24
                );
            }
            _ => unreachable!(),
        }
    }
    // The access log says what was left out of the translations, and why it could be (its
    // line is written just after the response).
    eventually("the access log names the dropped field", || async {
        s.gateway
            .proc
            .log()
            .lines()
            .any(|l| l.contains("model=via-gemini") && l.contains("dropped=context_management"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_tool_loop_built_from_claude_codes_request_completes_on_every_provider_kind() {
    let s = setup();
    let capture = capture();
    let weather = json!({"name": "get_weather", "description": "Get the weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    for kind in KINDS {
        for stream in [true, false] {
            let mut body = capture.body.clone();
            body["model"] = json!(format!("via-{kind}"));
            body["stream"] = json!(stream);
            body["tools"]
                .as_array_mut()
                .unwrap()
                .insert(0, weather.clone());
            body["messages"] = json!([{"role": "user", "content": "What is the weather in Oslo?"}]);
            let (blocks, stop) = content_of(send(&s.gateway, &capture, &body).await, stream).await;
            assert_eq!(stop, "tool_use", "{kind} stream={stream}: {blocks:?}");
            let call = blocks
                .iter()
                .find(|b| b["type"] == "tool_use")
                .unwrap()
                .clone();
            assert_eq!(call["name"], "get_weather");
            assert_eq!(call["input"]["city"], "Oslo");
            // Turn two: the call and its result.
            let assistant: Vec<Value> = blocks
                .iter()
                .filter(|b| b["type"] != "thinking" || b.get("signature").is_some())
                .cloned()
                .collect();
            body["messages"]
                .as_array_mut()
                .unwrap()
                .push(json!({"role": "assistant", "content": assistant}));
            body["messages"].as_array_mut().unwrap().push(json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny, 21 degrees"}
            ]}));
            let (blocks, stop) = content_of(send(&s.gateway, &capture, &body).await, stream).await;
            assert_eq!(stop, "end_turn", "{kind} stream={stream}: {blocks:?}");
            let text: String = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
            assert!(
                text.contains("sunny"),
                "{kind}: the result was used: {text}"
            );
        }
    }
}

#[tokio::test]
async fn system_messages_mid_conversation_keep_their_place_or_join_the_instructions() {
    let s = setup();
    let capture = capture();
    for (kind, mock) in KINDS.iter().zip(&s.mocks) {
        let body = json!({"model": format!("via-{kind}"), "max_tokens": 100, "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "system", "content": "From now on, answer in French."},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "How are you?"}
        ]});
        let resp = send(&s.gateway, &capture, &body).await;
        assert_eq!(resp.status(), 200, "{kind}: {}", resp.text().await.unwrap());
        let sent = mock.last_request().await["body"].clone();
        let note = "From now on, answer in French.";
        match *kind {
            "anthropic" => assert_eq!(sent["messages"][1]["role"], "system"),
            "openai" | "azure" => {
                // At its place: after the user's turn it follows, before the assistant's.
                let roles: Vec<&str> = sent["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["role"].as_str().unwrap())
                    .collect();
                assert_eq!(roles, ["user", "system", "assistant", "user"], "{sent}");
                assert_eq!(sent["messages"][1]["content"], note);
            }
            "gemini" => {
                let instruction = sent["systemInstruction"]["parts"][0]["text"]
                    .as_str()
                    .unwrap();
                assert!(instruction.contains(note), "{sent}");
                assert_eq!(sent["contents"].as_array().unwrap().len(), 3, "{sent}");
            }
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn what_only_anthropic_can_do_is_refused_in_translation() {
    let s = setup();
    let capture = capture();
    let mut body = capture.body.clone();
    body["model"] = json!("via-openai");
    body["stream"] = json!(false);
    body["context_management"] = json!({"edits": [{"type": "clear_tool_uses_20250919"}]});
    let resp = send(&s.gateway, &capture, &body).await;
    assert_eq!(resp.status(), 400);
    let error: Value = resp.json().await.unwrap();
    assert_eq!(error["type"], "error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("context_management"), "{message}");
    // The same request to an Anthropic model is fine.
    body["model"] = json!("via-anthropic");
    assert_eq!(send(&s.gateway, &capture, &body).await.status(), 200);
}

#[tokio::test]
async fn the_reachability_probe_answers() {
    let s = setup();
    let resp = client().head(s.gateway.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client().get(s.gateway.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

/// A translated Anthropic stream reports the input tokens in `message_start` when the provider
/// gives them up front (Gemini), and in the final `message_delta` when it reports them only at
/// the end (OpenAI-dialect providers).
#[tokio::test]
async fn input_tokens_are_reported_as_early_as_the_provider_gives_them() {
    let s = setup();
    let capture = capture();
    for (kind, early) in [("gemini", true), ("openai", false)] {
        let body = json!({"model": format!("via-{kind}"), "max_tokens": 100, "stream": true,
            "messages": [{"role": "user", "content": "Hello"}]});
        let text = send(&s.gateway, &capture, &body)
            .await
            .text()
            .await
            .unwrap();
        let events: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let start = events
            .iter()
            .find(|e| e["type"] == "message_start")
            .unwrap();
        let delta = events
            .iter()
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        let at_start = start["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap_or(0);
        let at_end = delta["usage"]["input_tokens"].as_u64().unwrap_or(0);
        if early {
            assert!(at_start > 0, "{kind}: {start}");
        } else {
            assert!(at_end > 0, "{kind}: {delta}");
        }
    }
}
