//! Gemini `generateContent` responses decoded into the canonical model.

use super::wire::{call_id, stop_reason, GenerateResponseWire};
use crate::canonical::{Block, Response, StopReason};
use crate::providers::json_util::{empty_object, object_from_raw};
use std::borrow::Cow;

/// Decodes a response. `id_seed` names the calls when neither Gemini nor the response has an id.
pub fn decode_response<'a>(body: &'a [u8], id_seed: &str) -> Result<Response<'a>, String> {
    let wire: GenerateResponseWire<'a> =
        serde_json::from_slice(body).map_err(|e| format!("invalid response from Gemini: {e}"))?;
    let response_id = wire.response_id.unwrap_or(Cow::Borrowed(""));
    let seed = if response_id.is_empty() {
        id_seed
    } else {
        &response_id
    };
    let mut content = Vec::new();
    let mut finish = None;
    if let Some(candidate) = wire.candidates.into_iter().next() {
        finish = candidate.finish_reason;
        let mut ordinal = 0;
        // Every part counts: text and calls share a candidate in any order.
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                let id = call.id.filter(|id| !id.is_empty()).map_or_else(
                    || Cow::Owned(call_id(seed, ordinal)),
                    |id| Cow::Owned(id.into_owned()),
                );
                ordinal += 1;
                content.push(Block::ToolUse {
                    id,
                    name: call.name,
                    input: call.args.map_or_else(empty_object, object_from_raw),
                    signature: part.thought_signature,
                });
            } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                if part.thought == Some(true) {
                    content.push(Block::Thinking {
                        text,
                        signature: None,
                    });
                } else {
                    content.push(Block::Text(text));
                }
            }
        }
    }
    let blocked = wire.prompt_feedback.and_then(|f| f.block_reason).is_some();
    let has_tools = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    let stop_reason = if blocked && content.is_empty() {
        StopReason::ContentFilter
    } else {
        finish
            .as_deref()
            .map_or(StopReason::EndTurn, stop_reason)
            .with_tool_calls(has_tools)
    };
    Ok(Response {
        id: Cow::Owned(if response_id.is_empty() {
            id_seed.to_owned()
        } else {
            response_id.into_owned()
        }),
        model: wire.model_version.unwrap_or_default(),
        content,
        stop_reason,
        usage: wire
            .usage_metadata
            .map(|u| u.canonical())
            .unwrap_or_default(),
    })
}
