//! Anthropic message threads on every provider kind, on both state backends: a client sends
//! only its new messages and the id it continues (as the SDKs' tool runners do, leaving out the
//! thread's system prompt and tools), and every provider sees the whole conversation, or, for
//! the Anthropic provider that holds the thread, the client's request as it is. Another key
//! cannot continue it; an unknown id gets the error the SDKs recover from.

use crate::common::*;
use serde_json::{json, Value};

const KINDS: [&str; 3] = ["anthropic", "openai", "gemini"];

fn config(mocks: &[Mock], state: &str) -> String {
    kinds_config(
        &KINDS,
        mocks,
        &format!("keys:\n  - {{name: one, key: \"{CLIENT_KEY}\"}}\n  - {{name: two, key: \"{OTHER_KEY}\"}}\nstate: {state}\n"),
    )
}

async fn messages(gw: &Gateway, key: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2026-10-21")
        .header("anthropic-beta", "message-threads-2026-08-12")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    // Streams come back as SSE: the answer is put together as the SDKs do.
    let answer = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => assemble(&text),
    };
    (status, answer)
}

fn assemble(sse: &str) -> Value {
    let mut message = json!({"content": []});
    let mut args = String::new();
    for data in sse
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
    {
        let e: Value = serde_json::from_str(data).unwrap();
        match e["type"].as_str().unwrap() {
            "message_start" => message["id"] = e["message"]["id"].clone(),
            "content_block_start" => {
                args.clear();
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(e["content_block"].clone());
            }
            "content_block_delta" => {
                let block = message["content"]
                    .as_array_mut()
                    .unwrap()
                    .last_mut()
                    .unwrap();
                if let Some(t) = e["delta"]["text"].as_str() {
                    block["text"] = json!(format!("{}{t}", block["text"].as_str().unwrap_or("")));
                }
                if let Some(p) = e["delta"]["partial_json"].as_str() {
                    args.push_str(p);
                }
            }
            "content_block_stop" if !args.is_empty() => {
                let block = message["content"]
                    .as_array_mut()
                    .unwrap()
                    .last_mut()
                    .unwrap();
                block["input"] = serde_json::from_str(&args).unwrap();
            }
            "message_delta" => message["stop_reason"] = e["delta"]["stop_reason"].clone(),
            _ => {}
        }
    }
    message
}

async fn a_tool_loop_continues_on_every_provider_kind(gw: &Gateway, mocks: &[Mock]) {
    let tools = json!([{"name": "get_weather", "description": "Weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    for (kind, mock) in KINDS.iter().zip(mocks) {
        for stream in [false, true] {
            let (status, first) = messages(
                gw,
                CLIENT_KEY,
                &json!({
                    "model": format!("via-{kind}"), "max_tokens": 200, "stream": stream,
                    "system": "You are terse.", "tools": tools,
                    "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
                    "thread": {"type": "create"}
                }),
            )
            .await;
            assert_eq!(status, 200, "{kind} stream={stream}: {first}");
            assert_eq!(first["stop_reason"], "tool_use", "{kind}: {first}");
            let call = first["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "tool_use")
                .unwrap()
                .clone();
            let id = first["id"].as_str().unwrap().to_owned();

            // Turn two: the tool's result only, as the tool runner sends it (no system, no
            // tools: the thread has them).
            let (status, second) = messages(gw, CLIENT_KEY, &json!({
                "model": format!("via-{kind}"), "max_tokens": 200, "stream": stream,
                "messages": [{"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny, 21 degrees"}]}],
                "thread": {"type": "continue", "previous_message_id": id}
            })).await;
            assert_eq!(status, 200, "{kind} stream={stream}: {second}");
            assert_eq!(second["stop_reason"], "end_turn", "{kind}: {second}");
            let text: String = second["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect();
            assert!(text.contains("sunny"), "{kind}: {text}");

            let sent = mock.last_request().await["body"].clone();
            match *kind {
                // The Anthropic provider holds its own thread: the request as the client sent it.
                "anthropic" => {
                    assert_eq!(sent["thread"]["previous_message_id"], id.as_str());
                    assert_eq!(sent["messages"].as_array().unwrap().len(), 1);
                }
                // Others get the whole conversation, with the thread's tools and system.
                "openai" => {
                    let roles: Vec<&str> = sent["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["role"].as_str().unwrap())
                        .collect();
                    assert_eq!(roles, ["system", "user", "assistant", "tool"], "{sent}");
                    assert_eq!(sent["tools"].as_array().unwrap().len(), 1, "{sent}");
                    assert!(sent.get("thread").is_none());
                }
                "gemini" => {
                    assert_eq!(sent["contents"].as_array().unwrap().len(), 3, "{sent}");
                    assert_eq!(
                        sent["tools"][0]["functionDeclarations"][0]["name"],
                        "get_weather"
                    );
                    assert!(sent["systemInstruction"]["parts"][0]["text"]
                        .as_str()
                        .unwrap()
                        .contains("terse"));
                }
                _ => unreachable!(),
            }

            // Another key cannot continue it: the error the SDKs recover from.
            let (status, error) = messages(
                gw,
                OTHER_KEY,
                &json!({
                    "model": format!("via-{kind}"), "max_tokens": 200,
                    "messages": [{"role": "user", "content": "and tomorrow?"}],
                    "thread": {"type": "continue", "previous_message_id": id}
                }),
            )
            .await;
            assert_eq!(status, 404, "{kind}: {error}");
            assert_eq!(
                error["error"]["details"]["error_code"], "thread_not_found",
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn threads_continue_on_every_provider_kind_on_both_backends() {
    let mocks: Vec<Mock> = KINDS
        .iter()
        .map(|k| Mock::start(k, &["--kind", k]))
        .collect();
    let dir = temp_dir();
    let embedded = Gateway::start(&config(
        &mocks,
        &format!("{{path: \"{}\"}}", dir.path().display()),
    ));
    a_tool_loop_continues_on_every_provider_kind(&embedded, &mocks).await;
    let redis = Redis::start();
    let shared = Gateway::start(&config(
        &mocks,
        &format!(
            "{{backend: redis, url: \"{}\", prefix: threads}}",
            redis.url()
        ),
    ));
    a_tool_loop_continues_on_every_provider_kind(&shared, &mocks).await;
}

#[tokio::test]
async fn a_thread_survives_a_restart_and_moves_between_providers() {
    let mocks: Vec<Mock> = KINDS
        .iter()
        .map(|k| Mock::start(k, &["--kind", k]))
        .collect();
    let dir = temp_dir();
    let state = format!("{{path: \"{}\"}}", dir.path().display());
    let mut gw = Gateway::start(&config(&mocks, &state));
    let (status, first) = messages(
        &gw,
        CLIENT_KEY,
        &json!({
            "model": "via-gemini", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Remember the word 'heron'."}],
            "thread": {"type": "create"}
        }),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    gw.proc.signal_and_wait("TERM");
    let first_log = gw.proc.log();
    let gw = Gateway::start(&config(&mocks, &state));
    // Turn two on another provider, after the restart.
    let (status, second) = messages(
        &gw,
        CLIENT_KEY,
        &json!({
            "model": "via-openai", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Which word?"}],
            "thread": {"type": "continue", "previous_message_id": first["id"]}
        }),
    )
    .await;
    assert_eq!(status, 200, "{second}\n{first_log}");
    let sent = mocks[1].last_request().await["body"].clone();
    let text = sent["messages"].to_string();
    assert!(
        text.contains("heron") && text.contains("Which word?"),
        "{sent}"
    );
}
