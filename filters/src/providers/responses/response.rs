//! Whole Responses objects, and the pieces a stream's events carry: output items (reasoning,
//! message, function calls) from canonical blocks, usage in the Responses shape, and the
//! response object itself with what it repeats of the request (`Echo`).

use super::{signature, Echo, Ids};
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

pub(super) fn message_item(ids: &Ids, n: usize, text: &str, status: &str) -> Value {
    json!({
        "id": ids.message_at(n), "type": "message", "role": "assistant", "status": status,
        "content": [output_text(text)],
    })
}

pub(super) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A reasoning item. A thinking signature travels in `encrypted_content`, which OpenAI
/// returns by default (openai-python 2.46+: "populated by default for reasoning items
/// returned by `POST /v1/responses`"; before, only with `include:
/// ["reasoning.encrypted_content"]`). It is always given, requested or not: the client
/// replays it in the next turn's input (as does sluice's own stored conversation), and an
/// Anthropic thinking block without its signature cannot be replayed at all.
pub(super) fn reasoning_item(ids: &Ids, n: usize, text: &str, signature: Option<&str>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    let mut item = json!({"id": ids.reasoning_at(n), "type": "reasoning", "summary": summary});
    if let Some(signature) = signature {
        item["encrypted_content"] = json!(signature::to_client(signature));
    }
    item
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
    let output = output_items(&resp.content, ids);
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
    crate::providers::json_util::encode_body(&object)
}

/// The item being built from consecutive blocks.
enum Building<'b> {
    Reasoning {
        text: String,
        signature: Option<&'b str>,
    },
    Message(String),
}

/// Output items in the order the model produced the blocks, as the stream encoder emits
/// them: consecutive text is one message, thinking is one reasoning item per signature
/// (thinking after a signed block starts another), each call is its own item. With neither
/// text nor calls, the output still holds an (empty) message.
fn output_items(content: &[Block<'_>], ids: &Ids) -> Vec<Value> {
    let mut output = Vec::new();
    let (mut messages, mut reasonings, mut calls) = (0, 0, 0);
    let mut open: Option<Building<'_>> = None;
    let mut close = |open: &mut Option<Building<'_>>, output: &mut Vec<Value>| match open.take() {
        Some(Building::Reasoning { text, signature }) => {
            output.push(reasoning_item(ids, reasonings, &text, signature));
            reasonings += 1;
        }
        Some(Building::Message(text)) => {
            output.push(message_item(ids, messages, &text, "completed"));
            messages += 1;
        }
        None => {}
    };
    for block in content {
        match block {
            Block::Thinking { text, signature } => {
                match &mut open {
                    Some(Building::Reasoning {
                        text: all,
                        signature: None,
                    }) => all.push_str(text),
                    _ => {
                        close(&mut open, &mut output);
                        open = Some(Building::Reasoning {
                            text: text.to_string(),
                            signature: None,
                        });
                    }
                }
                if let (Some(Building::Reasoning { signature: s, .. }), Some(new)) =
                    (&mut open, signature.as_deref())
                {
                    *s = Some(new);
                }
            }
            Block::Text(text) if text.is_empty() => {}
            Block::Text(text) => match &mut open {
                Some(Building::Message(all)) => all.push_str(text),
                _ => {
                    close(&mut open, &mut output);
                    open = Some(Building::Message(text.to_string()));
                }
            },
            Block::ToolUse {
                id, name, input, ..
            } => {
                close(&mut open, &mut output);
                output.push(function_call_item(
                    ids,
                    calls,
                    id,
                    name,
                    input.get(),
                    "completed",
                ));
                calls += 1;
            }
            _ => {}
        }
    }
    close(&mut open, &mut output);
    if messages == 0 && calls == 0 {
        output.push(message_item(ids, 0, "", "completed"));
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    fn encode(content: Vec<Block<'static>>) -> Value {
        let resp = Response {
            id: Cow::Borrowed("msg_1"),
            model: Cow::Borrowed("claude"),
            content,
            stop_reason: StopReason::ToolUse,
            usage: Usage::default(),
        };
        let echo = Echo::from_request(br#"{"model":"m","input":"x"}"#);
        let body = encode_response(&resp, &echo, &Ids::new("req1"), 1, "m");
        serde_json::from_slice(&body).unwrap()
    }

    fn thinking(text: &'static str, signature: Option<&'static str>) -> Block<'static> {
        Block::Thinking {
            text: Cow::Borrowed(text),
            signature: signature.map(Cow::Borrowed),
        }
    }

    #[test]
    fn signed_thinking_is_a_reasoning_item_with_encrypted_content() {
        let output = encode(vec![
            thinking("First", Some("EqQBsig1")),
            thinking("Second", Some("EqQBsig2")),
            Block::Text(Cow::Borrowed("Checking.")),
            Block::ToolUse {
                id: Cow::Borrowed("toolu_1"),
                name: Cow::Borrowed("f"),
                input: RawValue::from_string("{}".into()).unwrap(),
                signature: None,
            },
            Block::Text(Cow::Borrowed("Called.")),
        ])["output"]
            .clone();
        let kinds: Vec<&str> = output
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "reasoning",
                "reasoning",
                "message",
                "function_call",
                "message"
            ],
            "in the model's order, one item per signature"
        );
        assert_eq!(output[0]["id"], "rs_req1");
        assert_eq!(output[0]["encrypted_content"], "anthropic:EqQBsig1");
        assert_eq!(output[0]["summary"][0]["text"], "First");
        assert_eq!(output[1]["id"], "rs_req1_1");
        assert_eq!(output[1]["encrypted_content"], "anthropic:EqQBsig2");
        assert_eq!(output[2]["id"], "msg_req1");
        assert_eq!(output[4]["id"], "msg_req1_1");
    }

    #[test]
    fn unsigned_thinking_has_no_encrypted_content_and_merges() {
        let output = encode(vec![thinking("a", None), thinking("b", None)])["output"].clone();
        assert_eq!(output[0]["summary"][0]["text"], "ab");
        assert!(output[0].get("encrypted_content").is_none());
        assert_eq!(
            output[1]["type"], "message",
            "an answer always has a message"
        );
        // OpenAI's own blob is given back as OpenAI gives it.
        let output = encode(vec![thinking("", Some("openai:gAAAA_x"))])["output"].clone();
        assert_eq!(output[0]["encrypted_content"], "gAAAA_x");
        assert_eq!(output[0]["summary"], json!([]));
    }
}
