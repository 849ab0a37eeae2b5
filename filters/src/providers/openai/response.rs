//! Whole (non-streamed) chat completions, in both directions.

use super::request::{FunctionOut, ToolCallOut};
use super::wire::{ToolCallWire, UsageOut, UsageWire};
use crate::canonical::{Block, Response, StopReason};
use crate::providers::json_util::arguments_object;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Deserialize)]
struct CompletionWire<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    choices: Vec<ChoiceWire<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct ChoiceWire<'a> {
    #[serde(borrow)]
    message: AssistantWire<'a>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AssistantWire<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCallWire<'a>>>,
}

/// Decodes an OpenAI-dialect completion (the first choice).
pub fn decode_response(body: &[u8]) -> Result<Response<'_>, String> {
    let wire: CompletionWire<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("invalid completion from upstream: {e}"))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or("the upstream completion has no choices")?;
    let mut content = Vec::new();
    if let Some(r) = choice.message.reasoning_content.filter(|r| !r.is_empty()) {
        content.push(Block::Thinking {
            text: r,
            signature: None,
        });
    }
    if let Some(text) = choice.message.content.filter(|t| !t.is_empty()) {
        content.push(Block::Text(text));
    }
    if let Some(refusal) = choice.message.refusal.filter(|t| !t.is_empty()) {
        content.push(Block::Text(refusal));
    }
    for (j, call) in choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let arguments = call.function.arguments.unwrap_or_default();
        let input = arguments_object(&arguments)?;
        content.push(Block::ToolUse {
            id: call.id.unwrap_or_else(|| Cow::Owned(format!("call_{j}"))),
            name: call.function.name,
            input,
            signature: call.extra_content.map(|e| e.google.thought_signature),
        });
    }
    let has_tools = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    let stop_reason = choice
        .finish_reason
        .as_deref()
        .map_or(StopReason::EndTurn, StopReason::from_openai)
        .with_tool_calls(has_tools);
    Ok(Response {
        id: wire.id,
        model: wire.model,
        content,
        stop_reason,
        usage: wire.usage.map(|u| u.canonical()).unwrap_or_default(),
    })
}

#[derive(Serialize)]
struct CompletionOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    usage: UsageOut,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallWithExtra<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
}

#[derive(Serialize)]
pub(super) struct ToolCallWithExtra<'a> {
    #[serde(flatten)]
    pub call: ToolCallOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<serde_json::Value>,
}

/// Encodes a completion for an OpenAI client. `created` is the gateway's clock; ids and model
/// are the provider's, as a client talking to that provider directly would see them.
pub fn encode_response(resp: &Response<'_>, created: u64, fallback_model: &str) -> Vec<u8> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in &resp.content {
        match block {
            Block::Text(t) => text.push_str(t),
            Block::Thinking { text: t, .. } => reasoning.push_str(t),
            Block::ToolUse {
                id,
                name,
                input,
                signature,
            } => tool_calls.push(ToolCallWithExtra {
                call: ToolCallOut {
                    id,
                    kind: "function",
                    function: FunctionOut {
                        name,
                        arguments: input.get(),
                    },
                },
                extra_content: signature
                    .as_ref()
                    .map(|s| serde_json::json!({"google": {"thought_signature": s}})),
            }),
            _ => {}
        }
    }
    let body = CompletionOut {
        id: &resp.id,
        object: "chat.completion",
        created,
        model: if resp.model.is_empty() {
            fallback_model
        } else {
            &resp.model
        },
        choices: [ChoiceOut {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                refusal: None,
                tool_calls,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            logprobs: None,
            finish_reason: resp.stop_reason.openai(),
        }],
        usage: UsageOut::from(&resp.usage),
    };
    crate::providers::json_util::encode_body(&body)
}
