//! OpenAI's JSON shapes, borrowed from the input where they can be.

use crate::canonical::Usage;
use crate::providers::json_util::{null_as_zero, TextOrParts};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
pub struct ChatRequestWire<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub messages: Vec<MessageWire<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<ToolWire<'a>>>,
    #[serde(default, borrow)]
    pub tool_choice: Option<&'a RawValue>,
    pub parallel_tool_calls: Option<bool>,
    pub max_completion_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    #[serde(default, borrow)]
    pub stop: Option<&'a RawValue>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub n: Option<u32>,
    #[serde(default, borrow)]
    pub user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub response_format: Option<ResponseFormatWire<'a>>,
    #[serde(default, borrow)]
    pub reasoning_effort: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub verbosity: Option<Cow<'a, str>>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptionsWire>,
}

#[derive(Deserialize)]
pub struct StreamOptionsWire {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Deserialize)]
pub struct MessageWire<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub content: Option<TextOrParts<'a, PartWire<'a>>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCallWire<'a>>>,
    #[serde(default, borrow)]
    pub tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct PartWire<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub image_url: Option<ImageUrlWire<'a>>,
}

#[derive(Deserialize)]
pub struct ImageUrlWire<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
}

#[derive(Deserialize)]
pub struct ToolCallWire<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub function: FunctionCallWire<'a>,
    #[serde(default, borrow)]
    pub extra_content: Option<ExtraContentWire<'a>>,
}

#[derive(Deserialize)]
pub struct FunctionCallWire<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

/// Google's OpenAI-compatible extension carrying a Gemini thought signature on a tool call.
#[derive(Deserialize, Serialize)]
pub struct ExtraContentWire<'a> {
    #[serde(borrow)]
    pub google: GoogleExtraWire<'a>,
}

#[derive(Deserialize, Serialize)]
pub struct GoogleExtraWire<'a> {
    #[serde(borrow)]
    pub thought_signature: Cow<'a, str>,
}

#[derive(Deserialize)]
pub struct ToolWire<'a> {
    #[serde(borrow)]
    pub function: FunctionDefWire<'a>,
}

#[derive(Deserialize)]
pub struct FunctionDefWire<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub parameters: Option<&'a RawValue>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Deserialize)]
pub struct ResponseFormatWire<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub json_schema: Option<JsonSchemaWire<'a>>,
}

#[derive(Deserialize)]
pub struct JsonSchemaWire<'a> {
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub schema: Option<&'a RawValue>,
    pub strict: Option<bool>,
}

/// `usage` in responses and stream chunks. Unknown extras (DeepSeek's cache hit counts) are
/// read where they mean something.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub struct UsageWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub prompt_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetailsWire>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetailsWire>,
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub struct PromptDetailsWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cached_tokens: u64,
}

#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub struct CompletionDetailsWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub reasoning_tokens: u64,
}

impl UsageWire {
    pub fn canonical(&self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .map(|d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or(0)
            .min(self.prompt_tokens);
        Usage {
            input: self.prompt_tokens - cached,
            cache_read: cached,
            cache_write: 0,
            output: self.completion_tokens,
            reasoning: self
                .completion_tokens_details
                .map(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// OpenAI's usage object, written from canonical usage.
#[derive(Serialize)]
pub struct UsageOut {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetailsOut,
    pub completion_tokens_details: CompletionDetailsOut,
}

#[derive(Serialize)]
pub struct PromptDetailsOut {
    pub cached_tokens: u64,
}

#[derive(Serialize)]
pub struct CompletionDetailsOut {
    pub reasoning_tokens: u64,
}

impl UsageOut {
    /// Writes what its serde derive writes, without serde's per-key escaping (the keys are
    /// ours): the usage of every translated chat answer.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut number = |key: &[u8], n: u64| {
            out.extend_from_slice(key);
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        };
        number(b"{\"prompt_tokens\":", self.prompt_tokens);
        number(b",\"completion_tokens\":", self.completion_tokens);
        number(b",\"total_tokens\":", self.total_tokens);
        number(
            b",\"prompt_tokens_details\":{\"cached_tokens\":",
            self.prompt_tokens_details.cached_tokens,
        );
        number(
            b"},\"completion_tokens_details\":{\"reasoning_tokens\":",
            self.completion_tokens_details.reasoning_tokens,
        );
        out.extend_from_slice(b"}}");
    }
}

impl From<&Usage> for UsageOut {
    fn from(u: &Usage) -> Self {
        UsageOut {
            prompt_tokens: u.prompt_total(),
            completion_tokens: u.output,
            total_tokens: u.total(),
            prompt_tokens_details: PromptDetailsOut {
                cached_tokens: u.cache_read,
            },
            completion_tokens_details: CompletionDetailsOut {
                reasoning_tokens: u.reasoning,
            },
        }
    }
}
