//! Anthropic's JSON shapes, borrowed from the input where they can be.

use crate::canonical::Usage;
use crate::json::counts::{read_counts, CountField, Seen};
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
    /// `usage` (`null` is `None`) read by `json::counts` with its length, as its serde derive
    /// reads it; `None` to leave it to serde (another shape, a field given twice). Anthropic's
    /// answers carry a `service_tier` string and objects of counts beside the four counts.
    pub fn read_counts(text: &[u8]) -> Option<(Option<UsageWire>, usize)> {
        if text.starts_with(b"null") {
            return Some((None, 4));
        }
        let mut usage = UsageWire::default();
        let mut seen = Seen::default();
        let end = read_counts(text, |field| {
            let (slot, bit) = match field.key() {
                b"input_tokens" => (&mut usage.input_tokens, 0),
                b"output_tokens" => (&mut usage.output_tokens, 1),
                b"cache_creation_input_tokens" => (&mut usage.cache_creation_input_tokens, 2),
                b"cache_read_input_tokens" => (&mut usage.cache_read_input_tokens, 3),
                _ => return Some(()),
            };
            // A count, given once; anything else under these keys the derive refuses.
            let CountField::Count(_, n) = field else {
                return None;
            };
            seen.first(bit)?;
            *slot = n.unwrap_or(0);
            Some(())
        })?;
        Some((Some(usage), end))
    }

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

#[cfg(test)]
mod tests {
    use super::UsageWire;
    use crate::canonical::Usage;
    use crate::json::arbitrary::json_value;
    use crate::json::counts::oracle::{count_text, object};
    use proptest::prelude::*;

    fn by_serde(text: &str) -> Result<Option<Usage>, ()> {
        crate::json::counts::oracle::by_serde(text, UsageWire::canonical)
    }

    fn by_counts(text: &str) -> Option<(Option<Usage>, usize)> {
        crate::json::counts::oracle::by_counts(text, UsageWire::read_counts, UsageWire::canonical)
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => count_text(),
            1 => Just(r#"{"web_search_requests":1}"#.to_string()),
            1 => json_value("[a-z]{1,3}").prop_map(|v| v.to_string()),
        ]
    }

    fn field() -> impl Strategy<Value = (String, String)> {
        let key = prop_oneof![
            Just("input_tokens".to_string()),
            Just("output_tokens".to_string()),
            Just("cache_creation_input_tokens".to_string()),
            Just("cache_read_input_tokens".to_string()),
            Just("service_tier".to_string()),
            Just("server_tool_use".to_string()),
            "[a-z_]{1,8}",
        ];
        (key, value())
    }

    #[test]
    fn a_real_answer_usage_is_read_without_serde() {
        let text = r#"{"input_tokens":6,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":0},"output_tokens":13,"service_tier":"standard","server_tool_use":{"web_search_requests":0}}"#;
        let (usage, end) = by_counts(text).unwrap_or_default();
        assert_eq!(end, text.len());
        assert_eq!(Ok(usage), by_serde(text));
        let usage = usage.unwrap_or_default();
        assert_eq!(
            (
                usage.input,
                usage.cache_write,
                usage.cache_read,
                usage.output
            ),
            (6, 2, 3, 13)
        );
    }

    proptest! {
        /// Where the counts reader answers, serde's derive reads the same.
        #[test]
        fn the_counts_reader_agrees_with_the_serde_derive(
            fields in prop::collection::vec(field(), 0..7),
        ) {
            let text = object(&fields);
            if let Some((usage, end)) = by_counts(&text) {
                prop_assert_eq!(end, text.len());
                prop_assert_eq!(Ok(usage), by_serde(&text), "{}", text);
            }
        }
    }
}
