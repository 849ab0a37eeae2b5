//! The mock's Responses API (`POST /v1/responses`, Azure's `/openai/v1/responses`), as strict as
//! OpenAI's where a gateway can go wrong: the mock keeps nothing, so it refuses `store: true`,
//! a `previous_response_id`, and input items that refer to stored ones by `id` (OpenAI's
//! "Items are not persisted when `store` is set to false"); function tools must be in the flat
//! Responses shape; content parts must be the Responses kinds. Answers whole or streamed with
//! the documented event sequence, reasoning items (with `encrypted_content` when included),
//! web search calls for the `web_search` tool, and usage.

use super::openai::{error, now, random_id};
use super::scenario::{self, Conversation, MockUsage, Reply};
use super::{Answer, Faults};
use serde_json::{json, Value};

/// Reasoning tokens the mock reports when reasoning was asked for.
const REASONING_TOKENS: u64 = 8;

pub fn handle(body: &Value, name: &str, faults: &Faults) -> Answer {
    let request = match read_request(body) {
        Ok(r) => r,
        Err((status, message)) => return Answer::json(status, error(status, &message)),
    };
    let reply = if request.search
        && request
            .conv
            .last_user_text
            .to_lowercase()
            .contains("search")
    {
        Reply::Text(format!(
            "Searched the web for: {}",
            request.conv.last_user_text
        ))
    } else {
        scenario::decide(&request.conv, name, faults.reply.as_deref())
    };
    let mut usage = scenario::usage(&request.conv, &reply);
    let reasoning = request.reasoning.then_some(REASONING_TOKENS);
    usage.output += reasoning.unwrap_or(0);
    let output = output_items(&request, &reply);
    let response = response_object(body, "completed", &output, Some(usage), reasoning);
    let headers = vec![(
        "x-mock-usage".to_owned(),
        format!("prompt={},output={}", usage.prompt, usage.output),
    )];
    if body["stream"] == true {
        // Every event has its own sequence number: built one by one, never repeated.
        let events = stream(&output, &response, faults.chunks).into();
        return Answer::Stream { events, headers };
    }
    Answer::Json {
        status: 200,
        body: serde_json::to_vec(&response).unwrap_or_default(),
        headers,
    }
}

struct ResponsesRequest {
    conv: Conversation,
    /// The `web_search` tool is offered.
    search: bool,
    /// `reasoning` was asked for.
    reasoning: bool,
    /// `include` has `reasoning.encrypted_content`.
    encrypted: bool,
    summary: bool,
}

type Refusal = (u16, String);

fn bad(message: impl Into<String>) -> Refusal {
    (400, message.into())
}

fn read_request(body: &Value) -> Result<ResponsesRequest, Refusal> {
    let model = body["model"]
        .as_str()
        .ok_or_else(|| bad("Missing required parameter: 'model'."))?;
    if body["store"] != false {
        return Err(bad(
            "mock: this provider keeps nothing, the gateway must send 'store': false",
        ));
    }
    if let Some(id) = body["previous_response_id"].as_str() {
        return Err((404, format!("Previous response with id '{id}' not found.")));
    }
    let include: Vec<&str> = match &body["include"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => return Err(bad("Invalid type for 'include': expected an array.")),
    };
    let mut request = ResponsesRequest {
        conv: Conversation {
            model: model.to_owned(),
            tools_disabled: body["tool_choice"] == "none",
            ..Conversation::default()
        },
        search: false,
        reasoning: body["reasoning"].is_object(),
        encrypted: include.contains(&"reasoning.encrypted_content"),
        summary: body["reasoning"]["summary"].is_string(),
    };
    if let Some(instructions) = body["instructions"].as_str() {
        request.conv.prompt_chars += instructions.len();
    }
    read_tools(body, &mut request)?;
    match &body["input"] {
        Value::String(text) => {
            request.conv.prompt_chars += text.len();
            request.conv.last_user_text = text.clone();
        }
        Value::Array(items) if !items.is_empty() => read_items(items, &mut request.conv)?,
        _ => {
            return Err(bad(
                "Invalid 'input': expected a string or a non-empty array of items.",
            ))
        }
    }
    Ok(request)
}

fn read_tools(body: &Value, request: &mut ResponsesRequest) -> Result<(), Refusal> {
    for (i, tool) in body["tools"].as_array().into_iter().flatten().enumerate() {
        match tool["type"].as_str() {
            Some("function") => {
                let name = tool["name"].as_str().ok_or_else(|| {
                    bad(format!("Missing required parameter: 'tools[{i}].name'."))
                })?;
                request.conv.tool_names.push(name.to_owned());
            }
            Some("web_search" | "web_search_preview") => request.search = true,
            Some(
                "file_search"
                | "code_interpreter"
                | "computer_use_preview"
                | "image_generation"
                | "mcp",
            ) => {}
            other => {
                return Err(bad(format!(
                    "Invalid value for 'tools[{i}].type': {other:?}."
                )))
            }
        }
    }
    Ok(())
}

fn read_items(items: &[Value], conv: &mut Conversation) -> Result<(), Refusal> {
    let mut open_calls: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(id) = item["id"].as_str() {
            return Err((
                404,
                format!("Item with id '{id}' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input."),
            ));
        }
        match item["type"].as_str().unwrap_or("message") {
            "message" => {
                let role = item["role"].as_str().unwrap_or_default();
                let allowed: &[&str] = match role {
                    "user" | "system" | "developer" => &["input_text", "input_image", "input_file"],
                    "assistant" => &["output_text", "refusal"],
                    _ => {
                        return Err(bad(format!(
                            "Invalid value for 'input[{i}].role': {role:?}."
                        )))
                    }
                };
                let text = scenario::text_of(&item["content"]);
                conv.prompt_chars += text.len();
                for (j, part) in item["content"].as_array().into_iter().flatten().enumerate() {
                    let kind = part["type"].as_str().unwrap_or_default();
                    if !allowed.contains(&kind) {
                        return Err(bad(format!("Invalid value: '{kind}'. Supported values are: {} (input[{i}].content[{j}].type).", allowed.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", "))));
                    }
                }
                if role == "user" {
                    if !open_calls.is_empty() {
                        return Err(bad(format!(
                            "No tool output found for function call {}.",
                            open_calls[0]
                        )));
                    }
                    conv.last_user_text = text;
                    conv.tool_results.clear();
                    conv.images = item["content"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["type"] == "input_image")
                        .map(|p| media_type_of(p["image_url"].as_str().unwrap_or("file")))
                        .collect();
                }
            }
            "function_call" => {
                let call_id = item["call_id"].as_str().ok_or_else(|| {
                    bad(format!("Missing required parameter: 'input[{i}].call_id'."))
                })?;
                let args = item["arguments"].as_str().ok_or_else(|| {
                    bad(format!(
                        "Invalid type for 'input[{i}].arguments': expected a string."
                    ))
                })?;
                serde_json::from_str::<Value>(args)
                    .map_err(|e| bad(format!("input[{i}].arguments is not JSON: {e}")))?;
                conv.tool_results.clear();
                open_calls.push(call_id.to_owned());
            }
            "function_call_output" => {
                let call_id = item["call_id"].as_str().unwrap_or_default();
                let Some(at) = open_calls.iter().position(|c| c == call_id) else {
                    return Err(bad(format!(
                        "No tool call found for function call output with call_id {call_id}."
                    )));
                };
                open_calls.remove(at);
                let output = match &item["output"] {
                    Value::String(s) => s.clone(),
                    other => scenario::text_of(other),
                };
                conv.prompt_chars += output.len();
                conv.tool_results.push(output);
            }
            "reasoning" => {
                if item["encrypted_content"].as_str().is_none() {
                    return Err(bad(format!("input[{i}]: a reasoning item needs its encrypted_content when `store` is false.")));
                }
            }
            other => {
                return Err(bad(format!(
                    "Invalid value for 'input[{i}].type': {other:?}."
                )))
            }
        }
    }
    Ok(())
}

fn media_type_of(url: &str) -> String {
    url.strip_prefix("data:")
        .and_then(|r| r.split(';').next())
        .map_or_else(|| url.to_owned(), str::to_owned)
}

/// The answer's output items, complete.
fn output_items(request: &ResponsesRequest, reply: &Reply) -> Vec<Value> {
    let mut output = Vec::new();
    if request.reasoning {
        let summary = if request.summary {
            json!([{"type": "summary_text", "text": "**Thinking** The mock considered the question."}])
        } else {
            json!([])
        };
        let mut item = json!({"type": "reasoning", "id": random_id("rs_", 24), "summary": summary});
        if request.encrypted {
            item["encrypted_content"] = json!(random_id("gAAAAAmock", 32));
        }
        output.push(item);
    }
    if request.search && matches!(reply, Reply::Text(t) if t.starts_with("Searched the web")) {
        output.push(
            json!({"type": "web_search_call", "id": random_id("ws_", 24), "status": "completed",
            "action": {"type": "search", "query": request.conv.last_user_text}}),
        );
    }
    match reply {
        Reply::Text(text) => output.push(json!({
            "type": "message", "id": random_id("msg_", 24), "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        })),
        Reply::Tools(calls) => {
            for call in calls {
                output.push(json!({"type": "function_call", "id": random_id("fc_", 24),
                    "call_id": random_id("call_", 24), "name": call.name,
                    "arguments": call.args.to_string(), "status": "completed"}));
            }
        }
    }
    output
}

fn response_object(
    request: &Value,
    status: &str,
    output: &[Value],
    usage: Option<MockUsage>,
    reasoning_tokens: Option<u64>,
) -> Value {
    let id = random_id("resp_", 32);
    json!({
        "id": id, "object": "response", "created_at": now(), "status": status,
        "background": false, "error": null, "incomplete_details": null,
        "instructions": request.get("instructions").cloned().unwrap_or(Value::Null),
        "max_output_tokens": request.get("max_output_tokens").cloned().unwrap_or(Value::Null),
        "model": request["model"], "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls").cloned().unwrap_or(json!(true)),
        "previous_response_id": null,
        "reasoning": {"effort": request["reasoning"]["effort"], "summary": request["reasoning"]["summary"]},
        "service_tier": "default", "store": false,
        "temperature": request.get("temperature").cloned().unwrap_or(json!(1.0)),
        "text": request.get("text").cloned().unwrap_or(json!({"format": {"type": "text"}})),
        "tool_choice": request.get("tool_choice").cloned().unwrap_or(json!("auto")),
        "tools": request.get("tools").cloned().unwrap_or(json!([])),
        "top_p": request.get("top_p").cloned().unwrap_or(json!(1.0)),
        "truncation": "disabled",
        "usage": usage.map(|u| json!({
            "input_tokens": u.prompt, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": u.output,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens.unwrap_or(0)},
            "total_tokens": u.prompt + u.output,
        })),
        "user": null, "metadata": request.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// The documented event sequence for `response` (whose output is `output`).
fn stream(output: &[Value], response: &Value, chunks: usize) -> Vec<(String, bool)> {
    let mut events = Vec::new();
    let mut sequence = 0u64;
    let mut push = |kind: &str, mut data: Value, content: bool| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(sequence);
        sequence += 1;
        events.push((format!("event: {kind}\ndata: {data}\n\n"), content));
    };
    let mut opening = response.clone();
    opening["status"] = json!("in_progress");
    opening["output"] = json!([]);
    opening["usage"] = Value::Null;
    push("response.created", json!({"response": opening}), false);
    push("response.in_progress", json!({"response": opening}), false);
    for (index, item) in output.iter().enumerate() {
        let id = item["id"].clone();
        let mut added = item.clone();
        match item["type"].as_str() {
            Some("message") => {
                added["status"] = json!("in_progress");
                added["content"] = json!([]);
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": added}),
                    false,
                );
                let text = item["content"][0]["text"].as_str().unwrap_or_default();
                let part =
                    json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
                push(
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                    false,
                );
                for piece in scenario::split_pieces(text, chunks) {
                    push(
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "delta": piece, "logprobs": []}),
                        true,
                    );
                }
                push(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                    false,
                );
                push(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": item["content"][0]}),
                    false,
                );
            }
            Some("function_call") => {
                added["status"] = json!("in_progress");
                added["arguments"] = json!("");
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": added}),
                    false,
                );
                let args = item["arguments"].as_str().unwrap_or_default();
                let mid = (0..=args.len() / 2)
                    .rev()
                    .find(|i| args.is_char_boundary(*i))
                    .unwrap_or(0);
                for piece in [&args[..mid], &args[mid..]] {
                    push(
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": index, "delta": piece}),
                        true,
                    );
                }
                push(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": item["name"], "arguments": args}),
                    false,
                );
            }
            Some("reasoning") => {
                added["summary"] = json!([]);
                if let Some(object) = added.as_object_mut() {
                    object.remove("encrypted_content");
                }
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": added}),
                    false,
                );
                for (s, part) in item["summary"].as_array().into_iter().flatten().enumerate() {
                    push(
                        "response.reasoning_summary_part.added",
                        json!({"item_id": id, "output_index": index, "summary_index": s, "part": {"type": "summary_text", "text": ""}}),
                        false,
                    );
                    push(
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": id, "output_index": index, "summary_index": s, "delta": part["text"]}),
                        true,
                    );
                    push(
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": index, "summary_index": s, "text": part["text"]}),
                        false,
                    );
                    push(
                        "response.reasoning_summary_part.done",
                        json!({"item_id": id, "output_index": index, "summary_index": s, "part": part}),
                        false,
                    );
                }
            }
            _ => {
                added["status"] = json!("in_progress");
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": added}),
                    false,
                );
                for phase in ["in_progress", "searching", "completed"] {
                    push(
                        &format!("response.web_search_call.{phase}"),
                        json!({"item_id": id, "output_index": index}),
                        false,
                    );
                }
            }
        }
        push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            false,
        );
    }
    push("response.completed", json!({"response": response}), false);
    events
}
