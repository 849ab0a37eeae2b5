//! Whole Responses objects, and the pieces a stream's events carry: output items (reasoning,
//! message, function calls) from canonical blocks, usage in the Responses shape, and the
//! response object itself with what it repeats of the request (`Echo`).

use super::{Echo, Ids};
use crate::canonical::{Block, Response, StopReason, Usage};
use serde_json::{json, Value};

/// `status` and `incomplete_details` for a stop reason.
pub(super) fn status_of(stop: StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::MaxTokens => ("incomplete", json!({"reason": "max_output_tokens"})),
        StopReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

pub(super) fn usage_of(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_total(),
        "input_tokens_details": {"cached_tokens": usage.cache_read, "cache_write_tokens": usage.cache_write},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.total(),
    })
}

pub(super) fn message_item(ids: &Ids, text: &str, status: &str) -> Value {
    json!({
        "id": ids.message(), "type": "message", "role": "assistant", "status": status,
        "content": [output_text(text)],
    })
}

pub(super) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(super) fn reasoning_item(ids: &Ids, text: &str) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    json!({"id": ids.reasoning(), "type": "reasoning", "summary": summary})
}

pub(super) fn function_call_item(
    ids: &Ids,
    n: usize,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "id": ids.function_call(n), "type": "function_call", "call_id": call_id, "name": name,
        "arguments": arguments, "status": status,
    })
}

/// A response object: the repeated request fields, then what this response is.
#[allow(clippy::too_many_arguments)]
pub(super) fn response_object(
    echo: &Echo,
    ids: &Ids,
    created: u64,
    model: &str,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage: Option<&Usage>,
    error: Value,
) -> Value {
    let mut object = echo.fields().clone();
    for (k, v) in [
        ("id", json!(ids.response)),
        ("object", json!("response")),
        ("created_at", json!(created)),
        ("status", json!(status)),
        ("error", error),
        ("incomplete_details", incomplete),
        ("model", json!(model)),
        ("output", Value::Array(output)),
        ("usage", usage.map_or(Value::Null, usage_of)),
    ] {
        object.insert(k.to_owned(), v);
    }
    Value::Object(object)
}

/// A whole response in the Responses shape.
pub fn encode_response(
    resp: &Response<'_>,
    echo: &Echo,
    ids: &Ids,
    created: u64,
    fallback_model: &str,
) -> Vec<u8> {
    let mut output = Vec::new();
    let mut thinking = String::new();
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in &resp.content {
        match block {
            Block::Thinking { text: t, .. } => thinking.push_str(t),
            Block::Text(t) => text.push_str(t),
            Block::ToolUse {
                id, name, input, ..
            } => calls.push(function_call_item(
                ids,
                calls.len(),
                id,
                name,
                input.get(),
                "completed",
            )),
            _ => {}
        }
    }
    if !thinking.is_empty() {
        output.push(reasoning_item(ids, &thinking));
    }
    if !text.is_empty() || calls.is_empty() {
        output.push(message_item(ids, &text, "completed"));
    }
    output.extend(calls);
    let (status, incomplete) = status_of(resp.stop_reason);
    let model = if resp.model.is_empty() {
        fallback_model
    } else {
        &resp.model
    };
    let object = response_object(
        echo,
        ids,
        created,
        model,
        status,
        incomplete,
        output,
        Some(&resp.usage),
        Value::Null,
    );
    serde_json::to_vec(&object).unwrap_or_default()
}
