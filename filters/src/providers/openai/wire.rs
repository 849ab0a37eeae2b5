//! OpenAI's JSON shapes, borrowed from the input where they can be.

use crate::canonical::Usage;
use crate::json::counts::{read_counts, CountField, Seen};
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

/// The keys of `UsageWire`.
const USAGE_KEYS: [&[u8]; 5] = [
    b"prompt_tokens",
    b"completion_tokens",
    b"prompt_cache_hit_tokens",
    b"prompt_tokens_details",
    b"completion_tokens_details",
];

impl UsageWire {
    /// `usage` (`null` is `None`) read by `json::counts` with its length, as its serde derive
    /// reads it; `None` to leave it to serde (another shape, a field given twice).
    pub fn read_counts(text: &[u8]) -> Option<(Option<UsageWire>, usize)> {
        if text.starts_with(b"null") {
            return Some((None, 4));
        }
        let mut usage = UsageWire::default();
        let mut seen = Seen::default();
        let mut once = |field: u32| seen.first(field);
        let end = read_counts(text, |field| {
            match field {
                CountField::Count(b"prompt_tokens", n) => {
                    once(0)?;
                    usage.prompt_tokens = n.unwrap_or(0);
                }
                CountField::Count(b"completion_tokens", n) => {
                    once(1)?;
                    usage.completion_tokens = n.unwrap_or(0);
                }
                CountField::Count(b"prompt_cache_hit_tokens", n) => {
                    once(2)?;
                    usage.prompt_cache_hit_tokens = n;
                }
                CountField::Count(b"prompt_tokens_details", None) => once(3)?,
                CountField::Object(b"prompt_tokens_details") => {
                    once(3)?;
                    usage.prompt_tokens_details = Some(PromptDetailsWire::default());
                }
                CountField::Nested(b"prompt_tokens_details", b"cached_tokens", n) => {
                    once(4)?;
                    usage.prompt_tokens_details = Some(PromptDetailsWire {
                        cached_tokens: n.unwrap_or(0),
                    });
                }
                CountField::Count(b"completion_tokens_details", None) => once(5)?,
                CountField::Object(b"completion_tokens_details") => {
                    once(5)?;
                    usage.completion_tokens_details = Some(CompletionDetailsWire::default());
                }
                CountField::Nested(b"completion_tokens_details", b"reasoning_tokens", n) => {
                    once(6)?;
                    usage.completion_tokens_details = Some(CompletionDetailsWire {
                        reasoning_tokens: n.unwrap_or(0),
                    });
                }
                CountField::Nested(..) => {}
                // Another kind of value under a key the derive reads: it refuses that.
                _ if USAGE_KEYS.contains(&field.key()) => return None,
                _ => {}
            }
            Some(())
        })?;
        Some((Some(usage), end))
    }

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

    fn details() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("cached_tokens".to_string()),
            Just("reasoning_tokens".to_string()),
            Just("audio_tokens".to_string()),
        ];
        let field = prop_oneof![
            4 => (key, count_text()),
            1 => ("[a-z]{1,3}", json_value("[a-z]{1,3}").prop_map(|v| v.to_string())),
        ];
        prop_oneof![
            4 => prop::collection::vec(field, 0..4).prop_map(|f| object(&f)),
            1 => Just("null".to_string()),
            1 => Just("7".to_string()),
        ]
    }

    fn field() -> impl Strategy<Value = (String, String)> {
        let count_key = prop_oneof![
            Just("prompt_tokens"),
            Just("completion_tokens"),
            Just("prompt_cache_hit_tokens"),
            Just("total_tokens"),
        ];
        let details_key = prop_oneof![
            Just("prompt_tokens_details"),
            Just("completion_tokens_details")
        ];
        prop_oneof![
            4 => (count_key.clone(), count_text()).prop_map(|(k, v)| (k.to_string(), v)),
            1 => (count_key, details()).prop_map(|(k, v)| (k.to_string(), v)),
            2 => (details_key, details()).prop_map(|(k, v)| (k.to_string(), v)),
            1 => ("[a-z_]{1,8}", json_value("[a-z]{1,3}"))
                .prop_map(|(k, v)| (k, v.to_string())),
        ]
    }

    #[test]
    fn a_real_answer_usage_is_read_without_serde() {
        let text = r#"{"completion_tokens":11,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":4,"rejected_prediction_tokens":0},"prompt_tokens":9,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":2},"total_tokens":20}"#;
        let (usage, end) = by_counts(text).unwrap_or_default();
        assert_eq!(end, text.len());
        assert_eq!(Ok(usage), by_serde(text));
        let usage = usage.unwrap_or_default();
        assert_eq!(
            (usage.input, usage.cache_read, usage.output, usage.reasoning),
            (7, 2, 11, 4)
        );
        assert_eq!(by_counts("null"), Some((None, 4)));
    }

    proptest! {
        /// Where the counts reader answers, serde's derive reads the same; where serde refuses,
        /// the counts reader leaves it to serde.
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

        /// Counts, nulls and details objects of counts only: the shape providers write, which
        /// the counts reader must read unless a field is repeated.
        #[test]
        fn the_shape_providers_write_is_read_without_serde(
            fields in prop::collection::vec(
                (
                    prop_oneof![
                        Just("prompt_tokens"),
                        Just("completion_tokens"),
                        Just("total_tokens"),
                        Just("prompt_tokens_details"),
                        Just("completion_tokens_details"),
                    ],
                    0u64..1000,
                    any::<bool>(),
                ),
                0..5,
            ),
        ) {
            let mut seen = std::collections::HashSet::new();
            let fields: Vec<(String, String)> = fields
                .into_iter()
                .filter(|(k, _, _)| seen.insert(*k))
                .map(|(k, n, null)| {
                    let value = match (k.ends_with("_details"), null) {
                        (_, true) => "null".to_string(),
                        (true, false) => format!(r#"{{"cached_tokens":{n},"reasoning_tokens":{n},"audio_tokens":0}}"#),
                        (false, false) => n.to_string(),
                    };
                    (k.to_string(), value)
                })
                .collect();
            let text = object(&fields);
            let read = by_counts(&text);
            prop_assert!(read.is_some(), "{}", text);
            prop_assert_eq!(read.map(|(u, _)| Ok(u)), Some(by_serde(&text)));
        }
    }
}
