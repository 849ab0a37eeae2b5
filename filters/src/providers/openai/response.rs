//! Whole (non-streamed) chat completions, in both directions.

use super::request::{FunctionOut, ToolCallOut};
use super::wire::{ToolCallWire, UsageOut, UsageWire};
use crate::canonical::{Block, Response, StopReason};
use crate::json::write::push_json_str;
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

#[cfg(test)]
#[derive(Serialize)]
struct CompletionOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    usage: UsageOut,
}

#[cfg(test)]
#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[cfg(test)]
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

/// What an OpenAI answer's message says, gathered from the canonical blocks.
struct MessageParts<'a> {
    text: String,
    reasoning: String,
    tool_calls: Vec<ToolCallWithExtra<'a>>,
}

impl<'a> MessageParts<'a> {
    fn of(resp: &'a Response<'_>) -> Self {
        let mut parts = MessageParts {
            text: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
        };
        for block in &resp.content {
            match block {
                Block::Text(t) => parts.text.push_str(t),
                Block::Thinking { text: t, .. } => parts.reasoning.push_str(t),
                Block::ToolUse {
                    id,
                    name,
                    input,
                    signature,
                } => parts.tool_calls.push(ToolCallWithExtra {
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
        parts
    }

    /// `content` is `null` only beside tool calls.
    fn content(&self) -> Option<&str> {
        (!self.text.is_empty() || self.tool_calls.is_empty()).then_some(self.text.as_str())
    }
}

/// Encodes a completion for an OpenAI client. `created` is the gateway's clock; ids and model
/// are the provider's, as a client talking to that provider directly would see them.
///
/// Written by hand, byte for byte what the serde derive of `CompletionOut` writes (kept as the
/// tests' oracle): every translated answer is encoded here, and serde escapes each of its
/// constant keys byte by byte (6.8k instructions for a 600-byte answer). Tool calls, rare and
/// nested, still go through serde.
pub fn encode_response(resp: &Response<'_>, created: u64, fallback_model: &str) -> Vec<u8> {
    let parts = MessageParts::of(resp);
    let model = if resp.model.is_empty() {
        fallback_model
    } else {
        &resp.model
    };
    let mut out = crate::providers::json_util::body_buffer();
    out.extend_from_slice(b"{\"id\":");
    push_json_str(&mut out, &resp.id);
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
    out.extend_from_slice(b",\"model\":");
    push_json_str(&mut out, model);
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
    );
    match parts.content() {
        Some(text) => push_json_str(&mut out, text),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"refusal\":null");
    if !parts.tool_calls.is_empty() {
        out.extend_from_slice(b",\"tool_calls\":");
        if serde_json::to_writer(&mut out, &parts.tool_calls).is_err() {
            return Vec::new();
        }
    }
    if !parts.reasoning.is_empty() {
        out.extend_from_slice(b",\"reasoning_content\":");
        push_json_str(&mut out, &parts.reasoning);
    }
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":");
    push_json_str(&mut out, resp.stop_reason.openai());
    out.extend_from_slice(b"}],\"usage\":");
    UsageOut::from(&resp.usage).write_json(&mut out);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Usage;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    /// The encoder as it was: the serde derive of `CompletionOut`, the hand encoder's oracle.
    fn encode_by_serde(resp: &Response<'_>, created: u64, fallback_model: &str) -> Vec<u8> {
        let parts = MessageParts::of(resp);
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
                    content: parts.content().map(str::to_owned),
                    refusal: None,
                    tool_calls: parts.tool_calls,
                    reasoning_content: (!parts.reasoning.is_empty()).then_some(parts.reasoning),
                },
                logprobs: None,
                finish_reason: resp.stop_reason.openai(),
            }],
            usage: UsageOut::from(&resp.usage),
        };
        crate::providers::json_util::encode_body(&body)
    }

    /// Text full of what JSON escapes: quotes, backslashes, control characters, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        "[a-z \"\\\\\u{0}\u{1f}\n\té€😀]{0,16}"
    }

    fn block() -> impl Strategy<Value = Block<'static>> {
        prop_oneof![
            text().prop_map(|t| Block::Text(t.into())),
            text().prop_map(|t| Block::Thinking {
                text: t.into(),
                signature: None
            }),
            (
                text(),
                "[a-z_]{1,8}",
                any::<u32>(),
                prop::option::of(text())
            )
                .prop_map(|(id, name, n, signature)| Block::ToolUse {
                    id: id.into(),
                    name: name.into(),
                    input: RawValue::from_string(format!("{{\"n\":{n}}}"))
                        .unwrap_or_else(|_| crate::providers::json_util::empty_object()),
                    signature: signature.map(Into::into),
                }),
        ]
    }

    fn stop_reason() -> impl Strategy<Value = StopReason> {
        prop_oneof![
            Just(StopReason::EndTurn),
            Just(StopReason::StopSequence),
            Just(StopReason::MaxTokens),
            Just(StopReason::ToolUse),
            Just(StopReason::ContentFilter),
            Just(StopReason::PauseTurn),
        ]
    }

    proptest! {
        #[test]
        fn the_hand_encoder_writes_what_the_serde_derive_writes(
            id in text(),
            model in prop_oneof![Just(String::new()), text()],
            content in prop::collection::vec(block(), 0..4),
            stop_reason in stop_reason(),
            counts in prop::array::uniform5(0u64..u64::MAX / 4),
            created in any::<u64>(),
        ) {
            let [input, cache_read, cache_write, output, reasoning] = counts;
            let resp = Response {
                id: id.into(),
                model: model.into(),
                content,
                stop_reason,
                usage: Usage { input, cache_read, cache_write, output, reasoning },
            };
            let by_hand = encode_response(&resp, created, "fallback");
            let by_serde = encode_by_serde(&resp, created, "fallback");
            prop_assert_eq!(String::from_utf8_lossy(&by_hand), String::from_utf8_lossy(&by_serde));
        }
    }
}
