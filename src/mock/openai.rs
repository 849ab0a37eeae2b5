//! The mock's OpenAI dialect (and Azure's variant of it): chat completions whole and streamed
//! with tool calls and usage, embeddings (float and base64), the model list, errors; the
//! Responses API is `openai_responses`.

use super::scenario::{self, Conversation, MockUsage, Reply};
use super::{Answer, Faults, MockRequest};
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// Whether the request is Azure's (deployment URL, `api-key`) rather than OpenAI's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Azure,
}

pub fn handle(req: &MockRequest, name: &str, faults: &Faults, flavor: Flavor) -> Answer {
    let path = req.path.split('?').next().unwrap_or(&req.path);
    if flavor == Flavor::Azure
        && path.contains("/openai/deployments/")
        && !req.path.contains("api-version=")
    {
        return Answer::json(404, error(404, "Resource not found (missing api-version)"));
    }
    if path.ends_with("/models") {
        return Answer::json(200, model_list(&["mock-gpt", "mock-embed"]));
    }
    let Some(body) = req.json.as_ref() else {
        return Answer::json(
            400,
            error(400, "We could not parse the JSON body of your request."),
        );
    };
    if path.ends_with("/chat/completions") {
        chat(body, name, faults, flavor)
    } else if path.ends_with("/responses") {
        super::openai_responses::handle(body, name, faults)
    } else if path.ends_with("/embeddings") {
        match embeddings(body) {
            Ok(json) => Answer::json(200, json),
            Err(message) => Answer::json(400, error(400, &message)),
        }
    } else {
        Answer::json(404, error(404, &format!("Invalid URL (POST {path})")))
    }
}

fn read_conversation(body: &Value) -> Result<Conversation, String> {
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("'messages' must be a non-empty array")?;
    let mut conv = Conversation {
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        tools_disabled: body["tool_choice"] == "none",
        ..Conversation::default()
    };
    for tool in body["tools"].as_array().into_iter().flatten() {
        let name = tool["function"]["name"]
            .as_str()
            .ok_or("tools[].function.name is required")?;
        conv.tool_names.push(name.to_owned());
    }
    let mut open_calls: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let content_text = scenario::text_of(&m["content"]);
        conv.prompt_chars += content_text.len();
        match m["role"].as_str() {
            Some("system" | "developer") => {}
            Some("user") => {
                if !open_calls.is_empty() {
                    return Err(format!("messages[{i}]: tool_calls must be followed by tool messages answering each tool_call_id"));
                }
                conv.last_user_text = content_text;
                conv.images.clear();
                conv.tool_results.clear();
                for part in m["content"].as_array().into_iter().flatten() {
                    if part["type"] == "image_url" {
                        let url = part["image_url"]["url"]
                            .as_str()
                            .ok_or("image_url.url is required")?;
                        conv.images.push(media_type_of(url));
                    }
                }
            }
            Some("assistant") => {
                conv.tool_results.clear();
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = call["function"]["arguments"]
                        .as_str()
                        .ok_or("tool_calls[].function.arguments must be a string")?;
                    serde_json::from_str::<Value>(args)
                        .map_err(|e| format!("messages[{i}]: arguments are not JSON: {e}"))?;
                    open_calls.push(call["id"].as_str().unwrap_or_default().to_owned());
                }
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or_default();
                let Some(pos) = open_calls.iter().position(|c| c == id) else {
                    return Err(format!("messages[{i}]: 'tool' message must answer a preceding tool_calls id ({id} is unknown)"));
                };
                open_calls.remove(pos);
                conv.tool_results.push(content_text);
            }
            other => return Err(format!("messages[{i}]: invalid role {other:?}")),
        }
    }
    Ok(conv)
}

fn media_type_of(url: &str) -> String {
    url.strip_prefix("data:")
        .and_then(|r| r.split(';').next())
        .map_or_else(|| url.to_owned(), str::to_owned)
}

fn usage_json(u: MockUsage) -> Value {
    json!({
        "prompt_tokens": u.prompt, "completion_tokens": u.output, "total_tokens": u.prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

fn chat(body: &Value, name: &str, faults: &Faults, flavor: Flavor) -> Answer {
    let conv = match read_conversation(body) {
        Ok(c) => c,
        Err(message) => return Answer::json(400, error(400, &message)),
    };
    let reply = scenario::decide(&conv, name, faults.reply.as_deref());
    let usage = scenario::usage(&conv, &reply);
    let model = match flavor {
        Flavor::OpenAi => conv.model.clone(),
        Flavor::Azure => "gpt-4o-2024-11-20".to_owned(),
    };
    let headers = vec![(
        "x-mock-usage".to_owned(),
        format!("prompt={},output={}", usage.prompt, usage.output),
    )];
    if body["stream"] == true {
        let include_usage = body["stream_options"]["include_usage"] == true;
        let events = stream(&reply, &model, usage, include_usage, faults.chunks, flavor);
        return Answer::Stream { events, headers };
    }
    let (content, tool_calls, finish) = match &reply {
        Reply::Text(t) => (json!(t), Value::Null, "stop"),
        Reply::Tools(calls) => (
            Value::Null,
            Value::Array(
                calls
                    .iter()
                    .map(|c| {
                        json!({"id": random_id("call_", 24), "type": "function",
                        "function": {"name": c.name, "arguments": c.args.to_string()}})
                    })
                    .collect(),
            ),
            "tool_calls",
        ),
    };
    let mut message =
        json!({"role": "assistant", "content": content, "refusal": null, "annotations": []});
    if !tool_calls.is_null() {
        message["tool_calls"] = tool_calls;
    }
    let mut choice =
        json!({"index": 0, "message": message, "logprobs": null, "finish_reason": finish});
    let mut completion = json!({
        "id": random_id("chatcmpl-", 29), "object": "chat.completion", "created": now(),
        "model": model, "choices": [], "usage": usage_json(usage),
        "system_fingerprint": "fp_sluice_mock"
    });
    if flavor == Flavor::Azure {
        choice["content_filter_results"] = json!({"hate": {"filtered": false, "severity": "safe"}});
        completion["prompt_filter_results"] =
            json!([{"prompt_index": 0, "content_filter_results": {}}]);
    } else {
        completion["service_tier"] = json!("default");
    }
    completion["choices"] = json!([choice]);
    Answer::Json {
        status: 200,
        body: serde_json::to_vec(&completion).unwrap_or_default(),
        headers,
    }
}

/// The SSE events of a streamed answer: (azure: a filter-only chunk first), role, content or
/// tool-call chunks, finish, usage when asked, `[DONE]`. The bool marks content chunks, which
/// `cut_after` counts.
fn stream(
    reply: &Reply,
    model: &str,
    usage: MockUsage,
    include_usage: bool,
    chunks: usize,
    flavor: Flavor,
) -> super::Events {
    let id = random_id("chatcmpl-", 29);
    let created = now();
    let frame = |choices: Value, usage: Value| {
        let mut chunk = json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": model, "system_fingerprint": "fp_sluice_mock", "choices": choices});
        if include_usage {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n")
    };
    let mut events = super::Events::default();
    if flavor == Flavor::Azure {
        events.push((
            format!(
                "data: {}\n\n",
                json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
            ),
            false,
        ));
    }
    events.push((frame(json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}]), Value::Null), false));
    let finish = match reply {
        Reply::Text(text) => {
            for (piece, times) in scenario::piece_runs(text, chunks) {
                events.push_times((frame(json!([{"index": 0, "delta": {"content": piece}, "logprobs": null, "finish_reason": null}]), Value::Null), true), times);
            }
            "stop"
        }
        Reply::Tools(calls) => {
            for (i, call) in calls.iter().enumerate() {
                events.push((frame(json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": random_id("call_", 24), "type": "function", "function": {"name": call.name, "arguments": ""}}]}, "logprobs": null, "finish_reason": null}]), Value::Null), true));
                let (a, b) = scenario::split_json(&call.args);
                for part in [a, b] {
                    events.push((frame(json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": part}}]}, "logprobs": null, "finish_reason": null}]), Value::Null), true));
                }
            }
            "tool_calls"
        }
    };
    events.push((
        frame(
            json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish}]),
            Value::Null,
        ),
        false,
    ));
    if include_usage {
        events.push((frame(json!([]), usage_json(usage)), false));
    }
    events.push(("data: [DONE]\n\n".to_owned(), false));
    events
}

fn embeddings(request: &Value) -> Result<Vec<u8>, String> {
    let inputs: Vec<String> = match &request["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        _ => return Err("'input' must be a string or an array".into()),
    };
    let dims = request["dimensions"].as_u64().unwrap_or(16).clamp(1, 4096) as usize;
    let base64 = request["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = inputs
        .iter()
        .map(|t| (t.len() as u64).div_ceil(4).max(1))
        .sum();
    let body = json!({"object": "list", "data": data, "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

/// A unit vector derived from the text's words (each word, lowercased, adds to a dimension
/// chosen by its hash; a few filler words are left out): equal inputs embed equally, texts
/// that share most words are close, texts that share none are far apart. Enough for a
/// semantic cache to tell a paraphrase from another question.
fn embed(text: &str, dims: usize) -> Vec<f32> {
    const FILLER: &[&str] = &[
        "a", "an", "the", "is", "of", "to", "me", "please", "what", "whats", "s",
    ];
    let mut v = vec![0f32; dims];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !FILLER.contains(&w.as_str()))
    {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        v[(hash % dims as u64) as usize] += 1.0;
    }
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn model_list(names: &[&str]) -> Vec<u8> {
    let data: Vec<Value> = names
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"}))
        .collect();
    serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default()
}

pub fn error(status: u16, message: &str) -> Vec<u8> {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    serde_json::to_vec(
        &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
    .unwrap_or_default()
}
