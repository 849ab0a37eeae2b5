//! A cached answer: an owned copy of a canonical `Response`, in a stored form of its own.
//!
//! The canonical types borrow from the bytes they were decoded from and carry no serde
//! derives on purpose (they are not a storage format), so the cache owns its own shape and
//! its own version: changing the canonical model cannot silently change what old entries
//! mean. Only what replay needs is kept; the provider's response id is not (every replay gets
//! a fresh id from the shell).

use crate::canonical::{Block, Response, StopReason, Usage};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The version of the stored form; entries of another version are misses.
const FORMAT_VERSION: u32 = 1;

/// One complete, successful answer, as the cache stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The model the provider said answered (may be empty when it said nothing).
    pub model: String,
    /// In the order the model produced them.
    pub blocks: Vec<CachedBlock>,
    pub stop_reason: CachedStop,
    /// What the answer cost when it was generated. A replay reports this usage to the client
    /// (what the answer costs to produce), while the shell bills nothing for a hit.
    pub usage: CachedUsage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CachedBlock {
    Text {
        text: String,
    },
    Thinking {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Anthropic's encrypted thinking: replayed in whole answers; a stream has no event for
    /// it, so streamed replays leave it out (the live stream encoders do the same).
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        /// The call's arguments: a JSON object, as text.
        input: String,
        /// Gemini's `thoughtSignature`, which the client must echo back with the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
}

/// `StopReason`, with names fixed for storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CachedStop {
    EndTurn,
    StopSequence,
    MaxTokens,
    ToolUse,
    ContentFilter,
    PauseTurn,
}

/// `Usage`, with names fixed for storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedUsage {
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub reasoning: u64,
}

/// The stored bytes: the answer under a version tag.
#[derive(Serialize, Deserialize)]
struct Stored<A> {
    version: u32,
    answer: A,
}

impl CachedAnswer {
    /// The stored form (JSON, versioned).
    pub fn to_bytes(&self) -> Vec<u8> {
        let stored = Stored {
            version: FORMAT_VERSION,
            answer: self,
        };
        // Serializing plain strings and numbers into a `Vec` cannot fail; an empty entry
        // would only read back as a miss.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Reads a stored answer; `None` (a miss) for another version or damaged bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<CachedAnswer> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let version: Version = serde_json::from_slice(bytes).ok()?;
        if version.version != FORMAT_VERSION {
            return None;
        }
        let stored: Stored<CachedAnswer> = serde_json::from_slice(bytes).ok()?;
        stored.answer.is_valid().then_some(stored.answer)
    }

    /// An owned copy of a canonical response. `None` when it has nothing to replay: an empty
    /// answer is more likely a glitch than the answer, and a cached glitch repeats forever.
    /// Request-only blocks (images, tool results) cannot appear in an answer and are dropped.
    pub fn from_response(response: &Response<'_>) -> Option<CachedAnswer> {
        let blocks: Vec<CachedBlock> = response
            .content
            .iter()
            .filter_map(|block| match block {
                Block::Text(text) => Some(CachedBlock::Text {
                    text: text.to_string(),
                }),
                Block::Thinking { text, signature } => Some(CachedBlock::Thinking {
                    text: text.to_string(),
                    signature: signature.as_ref().map(|s| s.to_string()),
                }),
                Block::RedactedThinking(data) => Some(CachedBlock::RedactedThinking {
                    data: data.to_string(),
                }),
                Block::ToolUse {
                    id,
                    name,
                    input,
                    signature,
                } => Some(CachedBlock::ToolUse {
                    id: id.to_string(),
                    name: name.to_string(),
                    input: input.get().to_owned(),
                    signature: signature.as_ref().map(|s| s.to_string()),
                }),
                Block::Image(_) | Block::ToolResult { .. } => None,
            })
            .collect();
        let answer = CachedAnswer {
            model: response.model.to_string(),
            blocks,
            stop_reason: CachedStop::from(response.stop_reason),
            usage: CachedUsage::from(response.usage),
        };
        answer.is_valid().then_some(answer)
    }

    /// The canonical response to encode for a client, with the shell's fresh `id`.
    pub(super) fn to_response<'a>(&'a self, id: &'a str) -> Response<'a> {
        let content = self
            .blocks
            .iter()
            .filter_map(|block| {
                Some(match block {
                    CachedBlock::Text { text } => Block::Text(Cow::Borrowed(text)),
                    CachedBlock::Thinking { text, signature } => Block::Thinking {
                        text: Cow::Borrowed(text),
                        signature: signature.as_deref().map(Cow::Borrowed),
                    },
                    CachedBlock::RedactedThinking { data } => {
                        Block::RedactedThinking(Cow::Borrowed(data))
                    }
                    CachedBlock::ToolUse {
                        id,
                        name,
                        input,
                        signature,
                    } => Block::ToolUse {
                        id: Cow::Borrowed(id),
                        name: Cow::Borrowed(name),
                        // Checked when stored and when read back (`is_valid`).
                        input: RawValue::from_string(input.clone()).ok()?,
                        signature: signature.as_deref().map(Cow::Borrowed),
                    },
                })
            })
            .collect();
        Response {
            id: Cow::Borrowed(id),
            model: Cow::Borrowed(&self.model),
            content,
            stop_reason: self.stop_reason.into(),
            usage: self.usage.into(),
        }
    }

    /// Something to replay, and every tool input a JSON object.
    pub(super) fn is_valid(&self) -> bool {
        !self.blocks.is_empty()
            && self.blocks.iter().all(|block| match block {
                CachedBlock::ToolUse { input, .. } => {
                    matches!(
                        serde_json::from_str::<serde_json::Value>(input),
                        Ok(serde_json::Value::Object(_))
                    )
                }
                _ => true,
            })
    }
}

impl From<StopReason> for CachedStop {
    fn from(stop: StopReason) -> Self {
        match stop {
            StopReason::EndTurn => CachedStop::EndTurn,
            StopReason::StopSequence => CachedStop::StopSequence,
            StopReason::MaxTokens => CachedStop::MaxTokens,
            StopReason::ToolUse => CachedStop::ToolUse,
            StopReason::ContentFilter => CachedStop::ContentFilter,
            StopReason::PauseTurn => CachedStop::PauseTurn,
        }
    }
}

impl From<CachedStop> for StopReason {
    fn from(stop: CachedStop) -> Self {
        match stop {
            CachedStop::EndTurn => StopReason::EndTurn,
            CachedStop::StopSequence => StopReason::StopSequence,
            CachedStop::MaxTokens => StopReason::MaxTokens,
            CachedStop::ToolUse => StopReason::ToolUse,
            CachedStop::ContentFilter => StopReason::ContentFilter,
            CachedStop::PauseTurn => StopReason::PauseTurn,
        }
    }
}

impl From<Usage> for CachedUsage {
    fn from(u: Usage) -> Self {
        CachedUsage {
            input: u.input,
            cache_read: u.cache_read,
            cache_write: u.cache_write,
            output: u.output,
            reasoning: u.reasoning,
        }
    }
}

impl From<CachedUsage> for Usage {
    fn from(u: CachedUsage) -> Self {
        Usage {
            input: u.input,
            cache_read: u.cache_read,
            cache_write: u.cache_write,
            output: u.output,
            reasoning: u.reasoning,
        }
    }
}
