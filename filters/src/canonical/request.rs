//! A chat request in canonical form.

use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    User,
    Assistant,
    /// An instruction at its place in the conversation (Anthropic's mid-conversation system
    /// messages). Instructions at the start are `Request::system`.
    System,
}

/// One piece of a message. Tool results are blocks of a user message (Anthropic's shape);
/// dialects with a `tool` role split them out when encoding.
#[derive(Debug, Clone)]
pub enum Block<'a> {
    Text(Cow<'a, str>),
    Image(Image<'a>),
    ToolUse {
        id: Cow<'a, str>,
        name: Cow<'a, str>,
        /// The call's arguments: a JSON object, as text.
        input: Box<RawValue>,
        /// Gemini's `thoughtSignature`, which must be echoed back with the call.
        signature: Option<Cow<'a, str>>,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        /// Text and image blocks.
        content: Vec<Block<'a>>,
        is_error: bool,
    },
    Thinking {
        text: Cow<'a, str>,
        signature: Option<Cow<'a, str>>,
    },
    RedactedThinking(Cow<'a, str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url(Cow<'a, str>),
}

impl<'a> Image<'a> {
    /// Parses an OpenAI `image_url.url`: a `data:<type>;base64,<data>` URI or a web URL.
    pub fn from_url(url: Cow<'a, str>) -> Image<'a> {
        let parsed = match &url {
            Cow::Borrowed(s) => {
                split_data_uri(s).map(|(t, d)| (Cow::Borrowed(t), Cow::Borrowed(d)))
            }
            Cow::Owned(s) => {
                split_data_uri(s).map(|(t, d)| (Cow::Owned(t.to_owned()), Cow::Owned(d.to_owned())))
            }
        };
        match parsed {
            Some((media_type, data)) => Image::Base64 { media_type, data },
            None => Image::Url(url),
        }
    }

    /// The OpenAI `image_url.url` form.
    pub fn to_url(&self) -> Cow<'_, str> {
        match self {
            Image::Base64 { media_type, data } => {
                Cow::Owned(format!("data:{media_type};base64,{data}"))
            }
            Image::Url(url) => Cow::Borrowed(url),
        }
    }
}

fn split_data_uri(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub role: Role,
    pub content: Vec<Block<'a>>,
}

#[derive(Debug, Clone)]
pub struct Tool<'a> {
    pub name: Cow<'a, str>,
    pub description: Option<Cow<'a, str>>,
    /// JSON Schema of the arguments.
    pub parameters: Option<Cow<'a, RawValue>>,
    /// OpenAI's strict schema adherence, when the client said (carried to OpenAI's dialects;
    /// Anthropic and Gemini follow the schema without the switch).
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice<'a> {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    Tool(Cow<'a, str>),
}

#[derive(Debug, Clone)]
pub enum ResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema {
        name: Cow<'a, str>,
        schema: Option<Cow<'a, RawValue>>,
        strict: Option<bool>,
    },
}

/// How much the model may think before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// OpenAI's `reasoning_effort`.
    Effort(Effort),
    /// Anthropic's `thinking.budget_tokens`.
    Budget(u64),
    /// Anthropic's `thinking: {type: adaptive}`: the model decides how much to think, within
    /// `output_config.effort` when given.
    Adaptive(Option<Effort>),
}

/// OpenAI's answer-length setting. `Medium` is every model's default, so a provider without
/// the setting answers a `Medium` request as asked; `Low` and `High` it cannot honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Low,
    Medium,
    High,
}

impl Verbosity {
    /// Parses a client's value; an unknown one is a 400 naming `param`.
    pub fn parse(s: &str, param: &str) -> Result<Verbosity, crate::api::RequestError> {
        match s {
            "low" => Ok(Verbosity::Low),
            "medium" => Ok(Verbosity::Medium),
            "high" => Ok(Verbosity::High),
            other => Err(crate::api::RequestError::invalid(
                format!("unknown verbosity '{other}' (low, medium or high)"),
                param,
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Low => "low",
            Verbosity::Medium => "medium",
            Verbosity::High => "high",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

impl Effort {
    pub fn parse(s: &str) -> Option<Effort> {
        match s {
            "minimal" | "none" => Some(Effort::Minimal),
            "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" | "xhigh" => Some(Effort::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// A thinking budget for providers that take tokens rather than a level.
    pub fn budget_tokens(self) -> u64 {
        match self {
            Effort::Minimal => 1024,
            Effort::Low => 2048,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }

    pub fn from_budget(tokens: u64) -> Effort {
        match tokens {
            0..=1024 => Effort::Minimal,
            1025..=4096 => Effort::Low,
            4097..=16384 => Effort::Medium,
            _ => Effort::High,
        }
    }
}

impl Reasoning {
    /// A thinking budget for providers that take tokens (adaptive without an effort: the
    /// medium budget).
    pub fn budget_tokens(self) -> u64 {
        match self {
            Reasoning::Effort(e) | Reasoning::Adaptive(Some(e)) => e.budget_tokens(),
            Reasoning::Budget(b) => b,
            Reasoning::Adaptive(None) => Effort::Medium.budget_tokens(),
        }
    }

    /// An effort level for providers that take one (adaptive without an effort: medium, the
    /// level OpenAI uses when none is given).
    pub fn effort(self) -> Effort {
        match self {
            Reasoning::Effort(e) | Reasoning::Adaptive(Some(e)) => e,
            Reasoning::Budget(b) => Effort::from_budget(b),
            Reasoning::Adaptive(None) => Effort::Medium,
        }
    }
}

/// A chat request, whatever dialect it arrived in.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub model: Cow<'a, str>,
    /// System instructions, in order (OpenAI system/developer messages are hoisted here).
    pub system: Vec<Cow<'a, str>>,
    pub messages: Vec<Message<'a>>,
    pub tools: Vec<Tool<'a>>,
    pub tool_choice: Option<ToolChoice<'a>>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<Cow<'a, str>>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub user: Option<Cow<'a, str>>,
    pub response_format: Option<ResponseFormat<'a>>,
    pub reasoning: Option<Reasoning>,
    /// How long the answer should be (OpenAI's `verbosity`, the Responses API's
    /// `text.verbosity`).
    pub verbosity: Option<Verbosity>,
    pub stream: bool,
    /// The client asked for usage in the stream (OpenAI's `stream_options.include_usage`).
    pub include_usage: bool,
}

impl Request<'_> {
    /// Every system instruction as one text, for dialects that take them in one place
    /// (Anthropic's `system`, Gemini's `systemInstruction`): the leading ones, then those
    /// given mid-conversation, in order. `None` when there are none.
    pub fn system_text(&self) -> Option<String> {
        let mid = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .flat_map(|m| &m.content)
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_ref()),
                _ => None,
            });
        let all: Vec<&str> = self.system.iter().map(Cow::as_ref).chain(mid).collect();
        (!all.is_empty()).then(|| all.join("\n\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_split_without_copying() {
        let url = "data:image/png;base64,iVBORw0KGgo=";
        match Image::from_url(Cow::Borrowed(url)) {
            Image::Base64 { media_type, data } => {
                assert_eq!(media_type, "image/png");
                assert_eq!(data, "iVBORw0KGgo=");
                assert!(matches!(data, Cow::Borrowed(_)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Image::from_url(Cow::Borrowed("https://x.test/cat.jpg")),
            Image::Url(Cow::Borrowed("https://x.test/cat.jpg"))
        );
        assert_eq!(Image::from_url(Cow::Borrowed(url)).to_url(), url);
    }
}
