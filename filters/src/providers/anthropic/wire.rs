//! Anthropic's JSON shapes, borrowed from the input where they can be.

use crate::canonical::Usage;
use crate::providers::json_util::{null_as_zero, TextOrParts};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
pub struct MessagesRequestWire<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    pub max_tokens: Option<u64>,
    #[serde(default, borrow)]
    pub system: Option<TextOrParts<'a, BlockWire<'a>>>,
    #[serde(borrow)]
    pub messages: Vec<MessageWire<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<ToolWire<'a>>>,
    #[serde(default, borrow)]
    pub tool_choice: Option<ToolChoiceWire<'a>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    #[serde(default, borrow)]
    pub stop_sequences: Option<Vec<Cow<'a, str>>>,
    pub stream: Option<bool>,
    #[serde(default, borrow)]
    pub metadata: Option<MetadataWire<'a>>,
    #[serde(default)]
    pub thinking: Option<ThinkingConfigWire>,
    /// `{effort}` (beta `effort-2025-11-24`).
    #[serde(default, borrow)]
    pub output_config: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub struct MetadataWire<'a> {
    #[serde(default, borrow)]
    pub user_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct ThinkingConfigWire {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub budget_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub struct MessageWire<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow)]
    pub content: TextOrParts<'a, BlockWire<'a>>,
}

/// Any content block, request or response side; which fields are set depends on `type`.
#[derive(Deserialize)]
pub struct BlockWire<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub source: Option<SourceWire<'a>>,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub content: Option<TextOrParts<'a, BlockWire<'a>>>,
    #[serde(default)]
    pub is_error: Option<bool>,
    #[serde(default, borrow)]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct SourceWire<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub media_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct ToolWire<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub input_schema: Option<&'a RawValue>,
    /// Server tools (`web_search_...`) carry a type; they have no portable equivalent.
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct ToolChoiceWire<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default)]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub struct UsageWire {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub input_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub output_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cache_creation_input_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cache_read_input_tokens: u64,
}

impl UsageWire {
    pub fn canonical(&self) -> Usage {
        Usage {
            input: self.input_tokens,
            cache_read: self.cache_read_input_tokens,
            cache_write: self.cache_creation_input_tokens,
            output: self.output_tokens,
            reasoning: 0,
        }
    }
}

#[derive(Serialize)]
pub struct UsageOut {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl From<&Usage> for UsageOut {
    fn from(u: &Usage) -> Self {
        UsageOut {
            input_tokens: u.input,
            cache_creation_input_tokens: u.cache_write,
            cache_read_input_tokens: u.cache_read,
            output_tokens: u.output,
        }
    }
}

/// Content blocks as Anthropic writes them.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockOut<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: SourceOut<'a>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<BlockOut<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceOut<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}
