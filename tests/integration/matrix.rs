//! The translation matrix: client dialect {OpenAI, Anthropic} x upstream kind {openai,
//! anthropic, gemini, azure} x {whole, streamed} x {plain text, one tool call, parallel tool
//! calls, image input, tool result round trip}. Each cell checks content, tool calls, finish
//! reason and usage against what the strict mock provider of that kind reported, and checks the
//! stream's event grammar as the client dialect's SDK expects it.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    OpenAi,
    Anthropic,
}

#[derive(Clone, Copy, Debug)]
enum Scenario {
    Plain,
    OneTool,
    ParallelTools,
    Image,
    ToolResult,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::Plain,
    Scenario::OneTool,
    Scenario::ParallelTools,
    Scenario::Image,
    Scenario::ToolResult,
];

/// What a client saw, whatever its dialect.
#[derive(Debug, Default)]
struct Observed {
    text: String,
    tool_calls: Vec<(String, String, Value)>,
    finish: String,
    prompt_tokens: u64,
    output_tokens: u64,
}

fn weather_tool(client: Client) -> Value {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"], "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"});
    match client {
        Client::OpenAi => {
            json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": schema}}])
        }
        Client::Anthropic => {
            json!([{"name": "get_weather", "description": "Current weather", "input_schema": schema}])
        }
    }
}

fn request(client: Client, model: &str, scenario: Scenario, stream: bool) -> Value {
    let user = |text: &str| json!({"role": "user", "content": text});
    let messages = match (client, scenario) {
        (_, Scenario::Plain) => json!([user("Say hello")]),
        (_, Scenario::OneTool) => json!([user("What is the weather in Oslo?")]),
        (_, Scenario::ParallelTools) => json!([user("What is the weather in Oslo and in Bergen?")]),
        (Client::OpenAi, Scenario::Image) => json!([{"role": "user", "content": [
            {"type": "text", "text": "Describe this image"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]}]),
        (Client::Anthropic, Scenario::Image) => json!([{"role": "user", "content": [
            {"type": "text", "text": "Describe this image"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]),
        (Client::OpenAi, Scenario::ToolResult) => json!([
            user("What is the weather in Oslo?"),
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc123", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": "4°C and clear"}]),
        (Client::Anthropic, Scenario::ToolResult) => json!([
            user("What is the weather in Oslo?"),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_abc123", "name": "get_weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_abc123", "content": "4°C and clear"}]}]),
    };
    let mut body = json!({"model": model, "messages": messages, "stream": stream});
    if matches!(
        scenario,
        Scenario::OneTool | Scenario::ParallelTools | Scenario::ToolResult
    ) {
        body["tools"] = weather_tool(client);
    }
    match client {
        Client::OpenAi if stream => body["stream_options"] = json!({"include_usage": true}),
        Client::Anthropic => body["max_tokens"] = json!(256),
        _ => {}
    }
    body
}

fn expect(cell: &str, scenario: Scenario, client: Client, seen: &Observed) {
    let (stop, tool_stop) = match client {
        Client::OpenAi => ("stop", "tool_calls"),
        Client::Anthropic => ("end_turn", "tool_use"),
    };
    let cities = |calls: &[(String, String, Value)]| -> Vec<String> {
        calls
            .iter()
            .map(|(_, name, args)| {
                assert_eq!(name, "get_weather", "{cell}");
                args["city"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    match scenario {
        Scenario::Plain => {
            assert!(
                seen.text.contains("You said: Say hello"),
                "{cell}: {seen:?}"
            );
            assert!(seen.tool_calls.is_empty(), "{cell}: {seen:?}");
            assert_eq!(seen.finish, stop, "{cell}");
        }
        Scenario::OneTool => {
            assert_eq!(cities(&seen.tool_calls), ["Oslo"], "{cell}: {seen:?}");
            assert_eq!(seen.finish, tool_stop, "{cell}");
        }
        Scenario::ParallelTools => {
            assert_eq!(
                cities(&seen.tool_calls),
                ["Oslo", "Bergen"],
                "{cell}: {seen:?}"
            );
            let ids: std::collections::HashSet<_> =
                seen.tool_calls.iter().map(|(id, _, _)| id).collect();
            assert_eq!(ids.len(), 2, "{cell}: distinct call ids");
            assert_eq!(seen.finish, tool_stop, "{cell}");
        }
        Scenario::Image => {
            assert!(
                seen.text.contains("I see 1 image(s) (image/png)"),
                "{cell}: {seen:?}"
            );
            assert_eq!(seen.finish, stop, "{cell}");
        }
        Scenario::ToolResult => {
            assert!(seen.text.contains("4°C and clear"), "{cell}: {seen:?}");
            assert_eq!(seen.finish, stop, "{cell}");
        }
    }
    for (id, _, _) in &seen.tool_calls {
        assert!(!id.is_empty(), "{cell}: tool call without id");
    }
}

/// The usage the mock reported (`x-mock-usage: prompt=P,output=O`).
fn mock_usage(resp: &reqwest::Response) -> (u64, u64) {
    let header = resp.headers()["x-mock-usage"].to_str().unwrap().to_owned();
    let mut prompt = 0;
    let mut output = 0;
    for part in header.split(',') {
        let (k, v) = part.split_once('=').unwrap();
        match k {
            "prompt" => prompt = v.parse().unwrap(),
            "output" => output = v.parse().unwrap(),
            _ => {}
        }
    }
    (prompt, output)
}

fn openai_whole(v: &Value) -> Observed {
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
    let message = &v["choices"][0]["message"];
    assert_eq!(message["role"], "assistant");
    let usage = &v["usage"];
    let (p, c) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), p + c);
    Observed {
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        tool_calls: message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap(),
                )
            })
            .collect(),
        finish: v["choices"][0]["finish_reason"]
            .as_str()
            .unwrap()
            .to_owned(),
        prompt_tokens: p,
        output_tokens: c,
    }
}

fn anthropic_whole(v: &Value) -> Observed {
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    let mut seen = Observed::default();
    for block in v["content"].as_array().unwrap() {
        match block["type"].as_str().unwrap() {
            "text" => seen.text.push_str(block["text"].as_str().unwrap()),
            "tool_use" => {
                assert!(block["input"].is_object());
                seen.tool_calls.push((
                    block["id"].as_str().unwrap().to_owned(),
                    block["name"].as_str().unwrap().to_owned(),
                    block["input"].clone(),
                ));
            }
            other => panic!("unexpected block {other}"),
        }
    }
    let u = &v["usage"];
    seen.prompt_tokens = u["input_tokens"].as_u64().unwrap()
        + u["cache_read_input_tokens"].as_u64().unwrap()
        + u["cache_creation_input_tokens"].as_u64().unwrap();
    seen.output_tokens = u["output_tokens"].as_u64().unwrap();
    seen.finish = v["stop_reason"].as_str().unwrap().to_owned();
    seen
}

/// Parses an OpenAI chunk stream as the SDK would, checking its grammar on the way.
fn openai_stream(text: &str) -> Observed {
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(*events.last().unwrap(), "data: [DONE]", "ends with [DONE]");
    let mut seen = Observed::default();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut first = true;
    for event in &events[..events.len() - 1] {
        let data = event.strip_prefix("data: ").expect("data line");
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert!(chunk.get("error").is_none(), "in-band error: {chunk}");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        let choices = chunk["choices"].as_array().unwrap();
        if choices.is_empty() {
            let u = &chunk["usage"];
            assert!(
                u.is_object(),
                "only the usage chunk has no choices: {chunk}"
            );
            seen.prompt_tokens = u["prompt_tokens"].as_u64().unwrap();
            seen.output_tokens = u["completion_tokens"].as_u64().unwrap();
            assert_eq!(
                u["total_tokens"].as_u64().unwrap(),
                seen.prompt_tokens + seen.output_tokens
            );
            continue;
        }
        let delta = &choices[0]["delta"];
        if first {
            assert_eq!(delta["role"], "assistant", "first delta has the role");
            first = false;
        }
        if let Some(t) = delta["content"].as_str() {
            seen.text.push_str(t);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap() as usize;
            if let Some(id) = call["id"].as_str() {
                assert_eq!(
                    index,
                    calls.len(),
                    "tool call indexes count from 0: {chunk}"
                );
                calls.push((
                    id.to_owned(),
                    call["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            if let Some(args) = call["function"]["arguments"].as_str() {
                calls[index].2.push_str(args);
            }
        }
        if let Some(f) = choices[0]["finish_reason"].as_str() {
            assert!(seen.finish.is_empty(), "one finish reason");
            seen.finish = f.to_owned();
        }
    }
    seen.tool_calls = calls
        .into_iter()
        .map(|(id, name, args)| (id, name, serde_json::from_str(&args).unwrap()))
        .collect();
    seen
}

/// Parses an Anthropic event stream as the SDK would, checking its grammar on the way.
fn anthropic_stream(text: &str) -> Observed {
    let mut seen = Observed::default();
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0;
    let mut tool_json: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut usage = json!({});
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    for (i, event) in events.iter().enumerate() {
        let mut lines = event.lines();
        let name = lines
            .next()
            .unwrap()
            .strip_prefix("event: ")
            .expect("event line");
        let data: Value =
            serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["type"], name);
        match name {
            "message_start" => {
                assert_eq!(i, 0, "message_start comes first");
                usage = data["message"]["usage"].clone();
            }
            "content_block_start" => {
                assert!(open.is_none(), "blocks do not overlap");
                let index = data["index"].as_u64().unwrap();
                assert_eq!(index, next_index, "block indexes count up");
                next_index += 1;
                let kind = data["content_block"]["type"].as_str().unwrap().to_owned();
                if kind == "tool_use" {
                    seen.tool_calls.push((
                        data["content_block"]["id"].as_str().unwrap().to_owned(),
                        data["content_block"]["name"].as_str().unwrap().to_owned(),
                        Value::Null,
                    ));
                    names.push(String::new());
                    tool_json.push(String::new());
                }
                open = Some((index, kind));
            }
            "content_block_delta" => {
                let (index, kind) = open.clone().expect("delta inside a block");
                assert_eq!(data["index"].as_u64().unwrap(), index);
                match data["delta"]["type"].as_str().unwrap() {
                    "text_delta" => {
                        assert_eq!(kind, "text");
                        seen.text.push_str(data["delta"]["text"].as_str().unwrap());
                    }
                    "input_json_delta" => {
                        assert_eq!(kind, "tool_use");
                        tool_json
                            .last_mut()
                            .unwrap()
                            .push_str(data["delta"]["partial_json"].as_str().unwrap());
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("stop closes an open block");
                assert_eq!(data["index"].as_u64().unwrap(), index);
            }
            "message_delta" => {
                assert!(open.is_none());
                seen.finish = data["delta"]["stop_reason"].as_str().unwrap().to_owned();
                for (k, v) in data["usage"].as_object().unwrap() {
                    usage[k] = v.clone();
                }
            }
            "message_stop" => assert_eq!(i, events.len() - 1, "message_stop comes last"),
            "ping" => {}
            "error" => panic!("in-band error: {data}"),
            other => panic!("unknown event {other}"),
        }
    }
    for (call, json_text) in seen.tool_calls.iter_mut().zip(tool_json) {
        call.2 = if json_text.is_empty() {
            json!({})
        } else {
            serde_json::from_str(&json_text).unwrap()
        };
    }
    seen.prompt_tokens = usage["input_tokens"].as_u64().unwrap()
        + usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
        + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
    seen.output_tokens = usage["output_tokens"].as_u64().unwrap();
    seen
}

struct Upstreams {
    mocks: Vec<Mock>,
    gateway: Gateway,
}

/// Every provider kind, and `responses`: an OpenAI provider whose models speak only the
/// Responses API (`dialect: responses`).
const UPSTREAMS: [&str; 5] = ["openai", "anthropic", "gemini", "azure", "responses"];

fn start_upstreams() -> Upstreams {
    let mocks: Vec<Mock> = UPSTREAMS
        .iter()
        .map(|k| {
            let kind = if *k == "responses" { "openai" } else { k };
            Mock::start(
                &format!("mock-{k}"),
                &["--kind", kind, "--chunks", "4", "--chunk-delay-ms", "0"],
            )
        })
        .collect();
    let mut config = String::from("providers:\n");
    for (name, mock) in UPSTREAMS.iter().zip(&mocks) {
        let (kind, extra) = match *name {
            "responses" => ("openai", ", dialect: responses"),
            kind => (kind, ""),
        };
        config.push_str(&format!(
            "  {name}-up: {{kind: {kind}, endpoints: [{{url: \"{}\"}}], api_keys: [\"key-for-{name}\"]{extra}}}\n",
            mock.url()
        ));
    }
    config.push_str("models:\n");
    for kind in UPSTREAMS {
        config.push_str(&format!(
            "  - {{name: via-{kind}, targets: [{{provider: {kind}-up, model: {kind}-model-x}}]}}\n"
        ));
    }
    config.push_str(&format!(
        "keys:\n  - {{name: full, key: \"{CLIENT_KEY}\"}}\n"
    ));
    Upstreams {
        gateway: Gateway::start(&config),
        mocks,
    }
}

async fn run_matrix(dialect: Client) {
    let client = dialect;
    let up = start_upstreams();
    let http = crate::common::client();
    let path = match client {
        Client::OpenAi => "/v1/chat/completions",
        Client::Anthropic => "/v1/messages",
    };
    let mut cells = 0;
    for kind in UPSTREAMS {
        for stream in [false, true] {
            for scenario in SCENARIOS {
                let cell = format!("{client:?} -> {kind}, stream={stream}, {scenario:?}");
                let body = request(client, &format!("via-{kind}"), scenario, stream);
                let mut req = http.post(up.gateway.url(path)).json(&body);
                req = match client {
                    Client::OpenAi => req.bearer_auth(CLIENT_KEY),
                    Client::Anthropic => req
                        .header("x-api-key", CLIENT_KEY)
                        .header("anthropic-version", "2023-06-01"),
                };
                let resp = req.send().await.unwrap();
                let status = resp.status();
                let (prompt, output) = if status == 200 {
                    mock_usage(&resp)
                } else {
                    (0, 0)
                };
                let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
                let mut raw = Vec::new();
                let mut chunks = resp.bytes_stream();
                while let Some(c) = chunks.next().await {
                    raw.extend_from_slice(&c.unwrap());
                }
                let text = String::from_utf8(raw).unwrap();
                assert_eq!(status, 200, "{cell}: {text}");
                let seen = if stream {
                    assert!(
                        content_type.starts_with("text/event-stream"),
                        "{cell}: {content_type}"
                    );
                    match client {
                        Client::OpenAi => openai_stream(&text),
                        Client::Anthropic => anthropic_stream(&text),
                    }
                } else {
                    assert!(
                        content_type.starts_with("application/json"),
                        "{cell}: {content_type}"
                    );
                    let v: Value = serde_json::from_str(&text).unwrap();
                    match client {
                        Client::OpenAi => openai_whole(&v),
                        Client::Anthropic => anthropic_whole(&v),
                    }
                };
                expect(&cell, scenario, client, &seen);
                assert_eq!(
                    (seen.prompt_tokens, seen.output_tokens),
                    (prompt, output),
                    "{cell}: usage"
                );
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 50);
    // The Responses-only provider was called through its Responses API, every time.
    let received = up.mocks[4].received().await;
    let requests = received["requests"].as_array().unwrap();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(r["path"], "/v1/responses", "{r}");
        assert_eq!(r["body"]["store"], false, "{r}");
    }
}

#[tokio::test]
async fn openai_clients_reach_every_provider_kind() {
    run_matrix(Client::OpenAi).await;
}

#[tokio::test]
async fn anthropic_clients_reach_every_provider_kind() {
    run_matrix(Client::Anthropic).await;
}
