//! Stream events in canonical form: what a decoder of one dialect's stream emits and an
//! encoder of another consumes, one at a time, borrowing from the decoder's buffer.

use super::{StopReason, UpstreamFailure, Usage};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent<'a> {
    /// The message begins; `id` and `model` as the provider reported them (may be empty).
    Start {
        id: Cow<'a, str>,
        model: Cow<'a, str>,
    },
    Text(Cow<'a, str>),
    Thinking(Cow<'a, str>),
    /// A signature for the thinking so far (Anthropic), to be replayed with it.
    ThinkingSignature(Cow<'a, str>),
    /// A tool call opens. `index` counts tool calls only (0, 1, ...), never content blocks.
    ToolStart {
        index: u32,
        id: Cow<'a, str>,
        name: Cow<'a, str>,
        /// Gemini's `thoughtSignature` for this call.
        signature: Option<Cow<'a, str>>,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolArgs {
        index: u32,
        fragment: Cow<'a, str>,
    },
    Finish(StopReason),
    /// Usage so far, complete: each report replaces the previous one (decoders combine a
    /// dialect's partial reports, like Anthropic's input-then-output, before emitting).
    Usage(Usage),
    /// The provider failed mid-stream, or the stream was cut before it finished.
    Error(UpstreamFailure<'a>),
    /// The provider ended the stream cleanly.
    End,
}
