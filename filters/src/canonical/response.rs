//! A complete (non-streamed) chat response in canonical form.

use super::{Block, Usage};
use std::borrow::Cow;

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    StopSequence,
    MaxTokens,
    ToolUse,
    ContentFilter,
    /// Anthropic's server-tool loop paused; OpenAI has no equivalent and sees `stop`.
    PauseTurn,
}

impl StopReason {
    pub fn openai(self) -> &'static str {
        match self {
            StopReason::EndTurn | StopReason::StopSequence | StopReason::PauseTurn => "stop",
            StopReason::MaxTokens => "length",
            StopReason::ToolUse => "tool_calls",
            StopReason::ContentFilter => "content_filter",
        }
    }

    pub fn from_openai(s: &str) -> StopReason {
        match s {
            "length" | "model_length" => StopReason::MaxTokens,
            "tool_calls" | "function_call" => StopReason::ToolUse,
            "content_filter" => StopReason::ContentFilter,
            _ => StopReason::EndTurn,
        }
    }

    pub fn anthropic(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::StopSequence => "stop_sequence",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ToolUse => "tool_use",
            StopReason::ContentFilter => "refusal",
            StopReason::PauseTurn => "pause_turn",
        }
    }

    pub fn from_anthropic(s: &str) -> StopReason {
        match s {
            "stop_sequence" => StopReason::StopSequence,
            "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
            "tool_use" => StopReason::ToolUse,
            "refusal" => StopReason::ContentFilter,
            "pause_turn" => StopReason::PauseTurn,
            _ => StopReason::EndTurn,
        }
    }

    /// A stop reason that ignores the tool calls the message carries is corrected: clients loop
    /// on `tool_calls`/`tool_use`, and some providers say `stop` (Gemini always does).
    pub fn with_tool_calls(self, has_tool_calls: bool) -> StopReason {
        match self {
            StopReason::EndTurn | StopReason::StopSequence if has_tool_calls => StopReason::ToolUse,
            other => other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response<'a> {
    pub id: Cow<'a, str>,
    pub model: Cow<'a, str>,
    /// Thinking, text and tool-use blocks, in the order the model produced them.
    pub content: Vec<Block<'a>>,
    pub stop_reason: StopReason,
    pub usage: Usage,
}

impl Response<'_> {
    pub fn has_tool_calls(&self) -> bool {
        self.content
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. }))
    }
}
