//! Gemini's JSON shapes (proto3 JSON, camelCase).

use crate::canonical::{StopReason, Usage};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponseWire<'a> {
    #[serde(default, borrow)]
    pub candidates: Vec<CandidateWire<'a>>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadataWire>,
    #[serde(default, borrow)]
    pub model_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub response_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub prompt_feedback: Option<PromptFeedbackWire<'a>>,
    #[serde(default)]
    pub error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedbackWire<'a> {
    #[serde(default, borrow)]
    pub block_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateWire<'a> {
    #[serde(default, borrow)]
    pub content: Option<ContentWire<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub index: u32,
}

#[derive(Deserialize)]
pub struct ContentWire<'a> {
    #[serde(default, borrow)]
    pub parts: Vec<PartWire<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartWire<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default, borrow)]
    pub function_call: Option<FunctionCallWire<'a>>,
    #[serde(default, borrow)]
    pub thought_signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct FunctionCallWire<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub args: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, Clone, Copy, Debug)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadataWire {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
}

impl UsageMetadataWire {
    /// Gemini counts cached tokens inside the prompt and thoughts outside the candidates.
    pub fn canonical(&self) -> Usage {
        let prompt = self.prompt_token_count + self.tool_use_prompt_token_count;
        let cached = self.cached_content_token_count.min(prompt);
        Usage {
            input: prompt - cached,
            cache_read: cached,
            cache_write: 0,
            output: self.candidates_token_count + self.thoughts_token_count,
            reasoning: self.thoughts_token_count,
        }
    }
}

/// Gemini has no tool-call finish reason: STOP with calls is the caller's to correct.
pub fn stop_reason(finish: &str) -> StopReason {
    match finish {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// A stable id for a call Gemini did not name: unique per response, so a client that sends it
/// back as `tool_call_id` can be matched to the call's name.
pub fn call_id(response_id: &str, ordinal: u32) -> String {
    let base: String = response_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect();
    format!("call_{base}_{ordinal}")
}
