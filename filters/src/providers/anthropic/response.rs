//! Whole (non-streamed) Messages responses, in both directions.

use super::wire::{BlockOut, BlockWire, UsageOut, UsageWire};
use crate::canonical::{Block, Response, StopReason};
use crate::providers::json_util::{empty_object, object_from_raw};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Deserialize)]
struct MessageWire<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Vec<BlockWire<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: UsageWire,
}

pub fn decode_response(body: &[u8]) -> Result<Response<'_>, String> {
    let wire: MessageWire<'_> =
        serde_json::from_slice(body).map_err(|e| format!("invalid message from upstream: {e}"))?;
    let mut content = Vec::with_capacity(wire.content.len());
    for block in wire.content {
        match block.kind.as_ref() {
            "text" => {
                if let Some(t) = block.text.filter(|t| !t.is_empty()) {
                    content.push(Block::Text(t));
                }
            }
            "tool_use" => content.push(Block::ToolUse {
                id: block.id.unwrap_or_default(),
                name: block.name.unwrap_or_default(),
                input: block.input.map_or_else(empty_object, object_from_raw),
                signature: None,
            }),
            "thinking" => content.push(Block::Thinking {
                text: block.thinking.unwrap_or_default(),
                signature: block.signature,
            }),
            "redacted_thinking" => {
                content.push(Block::RedactedThinking(block.data.unwrap_or_default()))
            }
            _ => {}
        }
    }
    let has_tools = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    Ok(Response {
        id: wire.id,
        model: wire.model,
        content,
        stop_reason: wire
            .stop_reason
            .as_deref()
            .map_or(StopReason::EndTurn, StopReason::from_anthropic)
            .with_tool_calls(has_tools),
        usage: wire.usage.canonical(),
    })
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<BlockOut<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    usage: UsageOut,
}

/// Encodes a response for an Anthropic client.
pub fn encode_response(resp: &Response<'_>, fallback_model: &str) -> Vec<u8> {
    let content = resp
        .content
        .iter()
        .filter_map(|block| {
            Some(match block {
                Block::Text(text) => BlockOut::Text { text },
                Block::ToolUse {
                    id, name, input, ..
                } => BlockOut::ToolUse {
                    id: Cow::Borrowed(id),
                    name,
                    input,
                },
                Block::Thinking { text, signature } => BlockOut::Thinking {
                    thinking: text,
                    signature: signature.as_deref().unwrap_or(""),
                },
                Block::RedactedThinking(data) => BlockOut::RedactedThinking { data },
                _ => return None,
            })
        })
        .collect();
    let body = MessageOut {
        id: &resp.id,
        kind: "message",
        role: "assistant",
        model: if resp.model.is_empty() {
            fallback_model
        } else {
            &resp.model
        },
        content,
        stop_reason: resp.stop_reason.anthropic(),
        stop_sequence: None,
        usage: UsageOut::from(&resp.usage),
    };
    crate::providers::json_util::encode_body(&body)
}
