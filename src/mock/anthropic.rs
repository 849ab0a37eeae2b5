//! The mock's Anthropic dialect: `/v1/messages` whole and streamed, checked as strictly as the
//! real API checks what translation must get right (max_tokens, first turn and alternation,
//! tool results leading the turn after the calls, non-empty text, temperature range), and what
//! the betas Claude Code and the SDKs send allow, only when their `anthropic-beta` is given:
//! system messages mid-conversation, `output_config.effort`, `context_management`, message
//! threads (`thread`, continued from the stored conversation).

use super::openai::random_id;
use super::scenario::{self, Conversation, MockUsage, Reply};
use super::{Answer, Faults, MockRequest};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// Conversations of message threads, by the id of the message that ends them.
#[derive(Default)]
pub struct Threads(Mutex<HashMap<String, Vec<Value>>>);

/// Conversations kept at most (oldest forgotten first is not needed for a test mock: cleared).
const KEPT_THREADS: usize = 10_000;

/// Whether the request's `anthropic-beta` header names a beta starting with `prefix`.
fn beta(req: &MockRequest, prefix: &str) -> bool {
    req.header("anthropic-beta")
        .is_some_and(|v| v.split(',').any(|b| b.trim().starts_with(prefix)))
}

/// Cached input tokens the mock reports, so clients see Anthropic's cache accounting.
const CACHE_READ: u64 = 3;

pub fn handle(req: &MockRequest, name: &str, faults: &Faults, threads: &Threads) -> Answer {
    let path = req.path.split('?').next().unwrap_or(&req.path);
    if !path.ends_with("/v1/messages") && !path.ends_with("/v1/messages/count_tokens") {
        return Answer::json(404, error(404, &format!("Not found: {path}")));
    }
    if req.header("anthropic-version").is_none() {
        return Answer::json(400, error(400, "anthropic-version: header is required"));
    }
    if req.header("x-api-key").is_none() {
        return Answer::json(401, error(401, "x-api-key header is required"));
    }
    let Some(body) = req.json.as_ref() else {
        return Answer::json(
            400,
            error(400, "There was an error parsing the body of your request"),
        );
    };
    if let Err(message) = check_betas(req, body) {
        return Answer::json(400, error(400, &message));
    }
    // A continued thread: the stored conversation, then this request's messages.
    let mut body = body.clone();
    let thread = body.get("thread").cloned();
    if let Some(thread) = &thread {
        if thread["type"] == "continue" {
            let previous = thread["previous_message_id"].as_str().unwrap_or_default();
            let stored = threads.0.lock().ok().and_then(|t| t.get(previous).cloned());
            let Some(mut history) = stored else {
                return Answer::json(
                    404,
                    error(404, &format!("thread message {previous} not found")),
                );
            };
            history.extend(body["messages"].as_array().cloned().unwrap_or_default());
            body["messages"] = Value::Array(history);
        }
    }
    let body = &body;
    let conv = match read_conversation(body, path.ends_with("count_tokens"), req) {
        Ok(c) => c,
        Err(message) => return Answer::json(400, error(400, &message)),
    };
    if path.ends_with("count_tokens") {
        let tokens = (conv.prompt_chars as u64).div_ceil(4) + 8;
        return Answer::json(
            200,
            json!({"input_tokens": tokens}).to_string().into_bytes(),
        );
    }
    let reply = scenario::decide(&conv, name, faults.reply.as_deref());
    let usage = scenario::usage(&conv, &reply);
    let headers = vec![(
        "x-mock-usage".to_owned(),
        format!("prompt={},output={}", usage.prompt, usage.output),
    )];
    let (content, stop) = blocks(&reply);
    let id = random_id("msg_01", 22);
    if thread.is_some() {
        let mut conversation = body["messages"].as_array().cloned().unwrap_or_default();
        conversation.push(json!({"role": "assistant", "content": content}));
        if let Ok(mut threads) = threads.0.lock() {
            if threads.len() >= KEPT_THREADS {
                threads.clear();
            }
            threads.insert(id.clone(), conversation);
        }
    }
    if body["stream"] == true {
        return Answer::Stream {
            events: stream(&id, &content, stop, &conv.model, usage, faults.chunks),
            headers,
        };
    }
    let message = json!({
        "id": id, "type": "message", "role": "assistant", "model": conv.model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": usage_json(usage, usage.output)
    });
    Answer::Json {
        status: 200,
        body: serde_json::to_vec(&message).unwrap_or_default(),
        headers,
    }
}

fn usage_json(u: MockUsage, output: u64) -> Value {
    // The mock's prompt total includes the cached part, as clients see it in OpenAI's dialect.
    json!({
        "input_tokens": u.prompt - CACHE_READ, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": CACHE_READ, "output_tokens": output
    })
}

fn blocks(reply: &Reply) -> (Value, &'static str) {
    match reply {
        Reply::Text(t) => (json!([{"type": "text", "text": t}]), "end_turn"),
        Reply::Tools(calls) => (
            Value::Array(
                calls
                    .iter()
                    .map(|c| json!({"type": "tool_use", "id": random_id("toolu_01", 22), "name": c.name, "input": c.args}))
                    .collect(),
            ),
            "tool_use",
        ),
    }
}

/// Fields only a beta allows, and the values the API accepts for them.
fn check_betas(req: &MockRequest, body: &Value) -> Result<(), String> {
    match body["thinking"]["type"].as_str() {
        None | Some("disabled") | Some("adaptive") => {}
        Some("enabled") => {
            let budget = body["thinking"]["budget_tokens"].as_u64().unwrap_or(0);
            if budget < 1024 {
                return Err(
                    "thinking.budget_tokens: Input should be greater than or equal to 1024".into(),
                );
            }
        }
        Some(other) => return Err(format!("thinking.type: unknown type {other:?}")),
    }
    if let Some(config) = body.get("output_config") {
        if !beta(req, "effort-") {
            return Err(
                "output_config: Extra inputs are not permitted (needs the effort beta)".into(),
            );
        }
        let effort = config["effort"].as_str().unwrap_or_default();
        if !["low", "medium", "high", "max"].contains(&effort) {
            return Err(format!("output_config.effort: unknown effort {effort:?}"));
        }
    }
    if let Some(management) = body.get("context_management") {
        if !beta(req, "context-management-") {
            return Err("context_management: Extra inputs are not permitted (needs the context-management beta)".into());
        }
        for edit in management["edits"].as_array().into_iter().flatten() {
            let kind = edit["type"].as_str().unwrap_or_default();
            if !kind.starts_with("clear_thinking_") && !kind.starts_with("clear_tool_uses_") {
                return Err(format!("context_management.edits: unknown edit {kind:?}"));
            }
        }
    }
    if let Some(thread) = body.get("thread") {
        if !beta(req, "message-threads-") {
            return Err(
                "thread: Extra inputs are not permitted (needs the message-threads beta)".into(),
            );
        }
        match thread["type"].as_str() {
            Some("create") => {}
            Some("continue") if thread["previous_message_id"].is_string() => {}
            _ => {
                return Err(
                    "thread: type must be create, or continue with previous_message_id".into(),
                )
            }
        }
    }
    Ok(())
}

fn read_conversation(
    body: &Value,
    counting: bool,
    req: &MockRequest,
) -> Result<Conversation, String> {
    let model = body["model"].as_str().ok_or("model: Field required")?;
    if !counting && !body["max_tokens"].is_u64() {
        return Err("max_tokens: Field required".into());
    }
    if let Some(t) = body["temperature"].as_f64() {
        if !(0.0..=1.0).contains(&t) {
            return Err("temperature: Input should be less than or equal to 1".into());
        }
    }
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("messages: at least one message is required")?;
    let mut conv = Conversation {
        model: model.to_owned(),
        tools_disabled: body["tool_choice"]["type"] == "none",
        prompt_chars: scenario::text_of(&body["system"]).len(),
        ..Conversation::default()
    };
    for tool in body["tools"].as_array().into_iter().flatten() {
        let name = tool["name"]
            .as_str()
            .ok_or("tools.0.name: Field required")?;
        if !tool["input_schema"].is_object() {
            return Err("tools.0.input_schema: Field required".into());
        }
        conv.tool_names.push(name.to_owned());
    }
    let mut expected_results: Vec<String> = Vec::new();
    let mut previous_role = "";
    let mid_conversation_system = beta(req, "mid-conversation-system-");
    let mut first_turn = true;
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role == "system" {
            // An instruction at its place: after a user turn, and last or followed by the
            // assistant's; no part in the alternation. Without the beta, refused in the words
            // Claude Code recognizes (it then folds the text into the user turn).
            if !mid_conversation_system {
                return Err(format!(
                    "messages.{i}.role: role 'system' is not supported on this model"
                ));
            }
            let next = messages[i + 1..].iter().find(|m| m["role"] != "system");
            if previous_role != "user" || next.is_some_and(|m| m["role"] != "assistant") {
                return Err(format!("messages.{i}: a system message must follow a user message and come last or before an assistant message"));
            }
            let text = scenario::text_of(&m["content"]);
            if text.trim().is_empty() {
                return Err(format!("messages.{i}.content: system messages need text"));
            }
            conv.prompt_chars += text.len();
            continue;
        }
        if std::mem::take(&mut first_turn) && role != "user" {
            return Err("messages: first message must use the \"user\" role".into());
        }
        if role == previous_role {
            return Err(format!(
                "messages: roles must alternate between \"user\" and \"assistant\" (messages.{i})"
            ));
        }
        previous_role = role;
        let content: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => {
                return Err(format!(
                    "messages.{i}.content: Input should be a valid list"
                ))
            }
        };
        match role {
            "user" => {
                conv.images.clear();
                conv.tool_results.clear();
                conv.last_user_text.clear();
                let mut leading = true;
                for (j, block) in content.iter().enumerate() {
                    let kind = block["type"].as_str().unwrap_or_default();
                    if kind == "tool_result" {
                        if !leading {
                            return Err(format!(
                                "messages.{i}.content.{j}: tool_result blocks must come first"
                            ));
                        }
                        let id = block["tool_use_id"].as_str().unwrap_or_default();
                        let Some(pos) = expected_results.iter().position(|e| e == id) else {
                            return Err(format!("messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}"));
                        };
                        expected_results.remove(pos);
                        let text = scenario::text_of(&block["content"]);
                        conv.prompt_chars += text.len();
                        conv.tool_results.push(text);
                        continue;
                    }
                    leading = false;
                    if !expected_results.is_empty() {
                        return Err(format!("messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}", expected_results.join(", ")));
                    }
                    check_block(block, i, j, &mut conv)?;
                }
                if !expected_results.is_empty() {
                    return Err(format!("messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}", expected_results.join(", ")));
                }
            }
            "assistant" => {
                if !expected_results.is_empty() {
                    return Err("messages: tool_use blocks must be followed by a user turn with their results".into());
                }
                for (j, block) in content.iter().enumerate() {
                    match block["type"].as_str().unwrap_or_default() {
                        "tool_use" => {
                            if !block["input"].is_object() {
                                return Err(format!("messages.{i}.content.{j}.tool_use.input: Input should be an object"));
                            }
                            let id = block["id"].as_str().unwrap_or_default();
                            if id.is_empty()
                                || !id
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                            {
                                return Err(format!("messages.{i}.content.{j}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"));
                            }
                            expected_results.push(id.to_owned());
                        }
                        "text" => {
                            let text = block["text"].as_str().unwrap_or_default();
                            if text.trim().is_empty() {
                                return Err(format!("messages.{i}.content.{j}: text content blocks must be non-empty"));
                            }
                            conv.prompt_chars += text.len();
                        }
                        "thinking" | "redacted_thinking" => {}
                        other => {
                            return Err(format!(
                            "messages.{i}.content.{j}: unexpected block type {other} for assistant"
                        ))
                        }
                    }
                }
            }
            other => {
                return Err(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant', got {other:?}"
                ))
            }
        }
    }
    Ok(conv)
}

fn check_block(block: &Value, i: usize, j: usize, conv: &mut Conversation) -> Result<(), String> {
    match block["type"].as_str().unwrap_or_default() {
        "text" => {
            let text = block["text"].as_str().unwrap_or_default();
            if text.trim().is_empty() {
                return Err(format!(
                    "messages.{i}.content.{j}: text content blocks must be non-empty"
                ));
            }
            conv.prompt_chars += text.len();
            if !conv.last_user_text.is_empty() {
                conv.last_user_text.push(' ');
            }
            conv.last_user_text.push_str(text);
        }
        "image" => {
            let source = &block["source"];
            match source["type"].as_str() {
                Some("base64") => {
                    let media = source["media_type"].as_str().ok_or(format!(
                        "messages.{i}.content.{j}.image.source.media_type: Field required"
                    ))?;
                    if source["data"].as_str().is_none_or(str::is_empty) {
                        return Err(format!(
                            "messages.{i}.content.{j}.image.source.data: Field required"
                        ));
                    }
                    conv.images.push(media.to_owned());
                }
                Some("url") => conv
                    .images
                    .push(source["url"].as_str().unwrap_or_default().to_owned()),
                _ => {
                    return Err(format!(
                        "messages.{i}.content.{j}.image.source: invalid source"
                    ))
                }
            }
        }
        other => {
            return Err(format!(
                "messages.{i}.content.{j}: unexpected block type {other} for user"
            ))
        }
    }
    Ok(())
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The events of an answer whose blocks are `content` (the same blocks, ids included, as the
/// whole answer would carry).
fn stream(
    id: &str,
    content: &Value,
    stop: &str,
    model: &str,
    usage: MockUsage,
    chunks: usize,
) -> super::Events {
    let mut events: super::Events = vec![
        (
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage_json(usage, 1)}}),
            ),
            false,
        ),
        (event("ping", json!({"type": "ping"})), false),
    ]
    .into();
    for (i, block) in content.as_array().into_iter().flatten().enumerate() {
        if block["type"] == "tool_use" {
            events.push((event("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})), true));
            let (a, b) = scenario::split_json(&block["input"]);
            for part in ["".to_owned(), a, b] {
                events.push((event("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": part}})), true));
            }
        } else {
            events.push((event("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})), false));
            let text = block["text"].as_str().unwrap_or_default();
            for (piece, times) in scenario::piece_runs(text, chunks) {
                events.push_times((event("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}})), true), times);
            }
        }
        events.push((
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ),
            false,
        ));
    }
    events.push((event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": usage.output}})), false));
    events.push((
        event("message_stop", json!({"type": "message_stop"})),
        false,
    ));
    events
}

pub fn error(status: u16, message: &str) -> Vec<u8> {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    serde_json::to_vec(&json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": random_id("req_01", 22)}))
        .unwrap_or_default()
}
