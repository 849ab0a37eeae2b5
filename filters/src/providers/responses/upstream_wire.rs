//! The shapes an OpenAI Responses upstream answers in (openai-python's
//! `types/responses/response.py`, `response_output_item.py`, `response_usage.py`,
//! `response_error.py`), borrowed from the body, and what the whole-response and stream
//! decoders share: output items, usage, stop reasons and errors in canonical terms.

use super::signature;
use crate::canonical::{Block, FailureKind, StopReason, UpstreamFailure, Usage};
use crate::providers::json_util::{arguments_object, null_as_zero};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A response object's state: everything but its `output` (a stream's terminal event repeats
/// the whole output, which the stream decoder has already seen item by item).
#[derive(Deserialize, Default)]
pub(super) struct ResponseHeadWire<'a> {
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub error: Option<ErrorWire<'a>>,
    #[serde(default, borrow)]
    pub incomplete_details: Option<IncompleteWire<'a>>,
    #[serde(default)]
    pub usage: Option<UsageWire>,
}

/// A whole response object.
#[derive(Deserialize)]
pub(super) struct ResponseWire<'a> {
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub error: Option<ErrorWire<'a>>,
    #[serde(default, borrow)]
    pub incomplete_details: Option<IncompleteWire<'a>>,
    #[serde(default, borrow)]
    pub output: Option<Vec<ItemWire<'a>>>,
    #[serde(default)]
    pub usage: Option<UsageWire>,
}

#[derive(Deserialize)]
pub(super) struct IncompleteWire<'a> {
    #[serde(default, borrow)]
    pub reason: Option<Cow<'a, str>>,
}

/// `error` of a failed response, an `error` stream event's own fields, or an error envelope's
/// `error`: `code` and `message`, and `type` in the envelope.
#[derive(Deserialize, Default)]
pub(super) struct ErrorWire<'a> {
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Cow<'a, str>>,
}

/// One output item. Which fields are set depends on `type`; the polymorphic ones stay raw
/// until the type says what they are, so an item type added later cannot break the body.
#[derive(Deserialize)]
pub(super) struct ItemWire<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub summary: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub encrypted_content: Option<Cow<'a, str>>,
}

/// A content part of a message (`output_text`, `refusal`) or of a reasoning item
/// (`summary_text`, `reasoning_text`).
#[derive(Deserialize)]
pub(super) struct PartWire<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub refusal: Option<Cow<'a, str>>,
}

/// Parts in a raw list (`null` or anything but a list of parts: none).
pub(super) fn parts(raw: Option<&RawValue>) -> Vec<PartWire<'_>> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

/// What a message's part says: `output_text` and `refusal` are both text to the client
/// (OpenAI's Chat Completions decoder reads a refusal the same way).
pub(super) fn part_text(part: PartWire<'_>) -> Option<Cow<'_, str>> {
    match part.kind.as_ref() {
        "output_text" | "text" => part.text,
        "refusal" => part.refusal,
        _ => None,
    }
    .filter(|t| !t.is_empty())
}

/// Paragraphs of reasoning summary (or, from servers that send raw reasoning instead,
/// `reasoning_text` content), joined as the stream decoder joins them.
pub(super) const SUMMARY_SEPARATOR: &str = "\n\n";

/// A reasoning item's text: its summary parts, or its `reasoning_text` content when it has no
/// summary.
pub(super) fn reasoning_text<'a>(item: &ItemWire<'a>) -> Cow<'a, str> {
    let mut texts: Vec<Cow<'a, str>> = parts(item.summary)
        .into_iter()
        .filter_map(|p| p.text)
        .filter(|t| !t.is_empty())
        .collect();
    if texts.is_empty() {
        texts = parts(item.content)
            .into_iter()
            .filter(|p| p.kind == "reasoning_text")
            .filter_map(|p| p.text)
            .filter(|t| !t.is_empty())
            .collect();
    }
    match texts.len() {
        0 => Cow::Borrowed(""),
        1 => texts.pop().unwrap_or_default(),
        _ => Cow::Owned(texts.join(SUMMARY_SEPARATOR)),
    }
}

/// The canonical blocks of one output item, appended to `out`; items sluice never asks for
/// (built-in tool calls: it sends no built-in tools) carry nothing to translate.
pub(super) fn item_blocks<'a>(item: ItemWire<'a>, out: &mut Vec<Block<'a>>) -> Result<(), String> {
    match item.kind.as_ref() {
        "message" => {
            out.extend(
                parts(item.content)
                    .into_iter()
                    .filter_map(part_text)
                    .map(Block::Text),
            );
        }
        "function_call" => {
            let input = arguments_object(item.arguments.as_deref().unwrap_or(""))?;
            out.push(Block::ToolUse {
                id: item.call_id.or(item.id).unwrap_or_default(),
                name: item.name.unwrap_or_default(),
                input,
                signature: None,
            });
        }
        "reasoning" => {
            let text = reasoning_text(&item);
            let signature = item
                .encrypted_content
                .filter(|e| !e.is_empty())
                .map(|e| Cow::Owned(signature::from_encrypted_content(&e)));
            if !text.is_empty() || signature.is_some() {
                out.push(Block::Thinking { text, signature });
            }
        }
        _ => {}
    }
    Ok(())
}

/// `usage` of a response object. OpenAI's `input_tokens` counts cached tokens (and cache
/// writes) too; canonical input does not.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub(super) struct UsageWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub input_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetailsWire>,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub output_tokens: u64,
    #[serde(default)]
    pub output_tokens_details: Option<OutputDetailsWire>,
}

#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub(super) struct InputDetailsWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cached_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cache_write_tokens: u64,
}

#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub(super) struct OutputDetailsWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub reasoning_tokens: u64,
}

impl UsageWire {
    pub fn canonical(&self) -> Usage {
        let details = self.input_tokens_details.unwrap_or_default();
        let cache_read = details.cached_tokens.min(self.input_tokens);
        let cache_write = details
            .cache_write_tokens
            .min(self.input_tokens - cache_read);
        Usage {
            input: self.input_tokens - cache_read - cache_write,
            cache_read,
            cache_write,
            output: self.output_tokens,
            reasoning: self
                .output_tokens_details
                .map_or(0, |d| d.reasoning_tokens)
                .min(self.output_tokens),
        }
    }
}

/// The stop reason of a finished response: `incomplete` says why in
/// `incomplete_details.reason`; a tool call otherwise means tool use (clients loop on it).
pub(super) fn stop_reason(
    status: Option<&str>,
    incomplete: Option<&IncompleteWire<'_>>,
    has_tool_calls: bool,
) -> StopReason {
    match status {
        Some("incomplete") => match incomplete.and_then(|i| i.reason.as_deref()) {
            Some("content_filter") => StopReason::ContentFilter,
            // `max_output_tokens`, and any reason added later: the answer was cut short.
            _ => StopReason::MaxTokens,
        },
        _ => StopReason::EndTurn.with_tool_calls(has_tool_calls),
    }
}

/// The failure an error `code` (or envelope `type`) names. The codes are those of
/// `ResponseError.code` and of OpenAI's error envelopes.
pub(super) fn failure_kind(code: &str) -> FailureKind {
    match code {
        "rate_limit_exceeded" | "rate_limit_error" | "requests" | "tokens" => {
            FailureKind::RateLimited
        }
        "insufficient_quota" | "billing_hard_limit_reached" => FailureKind::Billing,
        "server_is_overloaded" | "overloaded" | "slow_down" => FailureKind::Overloaded,
        "vector_store_timeout" | "timeout" => FailureKind::Timeout,
        "invalid_api_key" | "authentication_error" => FailureKind::Authentication,
        "permission_error" | "unsupported_country_region_territory" => FailureKind::Permission,
        "model_not_found" | "not_found_error" => FailureKind::NotFound,
        "invalid_request_error"
        | "invalid_prompt"
        | "context_length_exceeded"
        | "invalid_image"
        | "invalid_image_format"
        | "invalid_base64_image"
        | "invalid_image_url"
        | "image_too_large"
        | "image_too_small"
        | "image_parse_error"
        | "image_content_policy_violation"
        | "invalid_image_mode"
        | "image_file_too_large"
        | "unsupported_image_media_type"
        | "empty_image_file"
        | "failed_to_download_image"
        | "image_file_not_found" => FailureKind::InvalidRequest,
        _ => FailureKind::Server,
    }
}

/// The HTTP status a failure inside a 200 response (a failed response object, a stream's
/// `response.failed` or `error` event) stands for.
fn status_of(kind: FailureKind) -> u16 {
    match kind {
        FailureKind::InvalidRequest => 400,
        FailureKind::Authentication => 401,
        FailureKind::Billing => 402,
        FailureKind::Permission => 403,
        FailureKind::NotFound => 404,
        FailureKind::RequestTooLarge => 413,
        FailureKind::RateLimited => 429,
        FailureKind::Overloaded => 503,
        FailureKind::Timeout => 504,
        FailureKind::Server => 500,
    }
}

impl<'a> ErrorWire<'a> {
    pub fn failure(self) -> UpstreamFailure<'a> {
        let code = self.code.as_ref().and_then(|c| c.as_str()).unwrap_or("");
        let kind = match (code, self.kind.as_deref()) {
            ("", Some(kind)) => failure_kind(kind),
            (code, _) => failure_kind(code),
        };
        UpstreamFailure {
            kind,
            status: status_of(kind),
            message: self
                .message
                .filter(|m| !m.is_empty())
                .unwrap_or(Cow::Borrowed("the upstream response failed")),
            retry_after: None,
        }
    }
}
