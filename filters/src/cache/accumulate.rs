//! Collects a stream's canonical events into one answer, the way a client SDK accumulates
//! chunks: text and thinking deltas join the block they continue, a signature closes the
//! thinking it signs, and tool argument fragments join their call by index (servers may
//! interleave parallel calls).

use super::answer::{CachedAnswer, CachedBlock, CachedStop, CachedUsage};
use crate::canonical::{StopReason, StreamEvent};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(super) struct Accumulator {
    model: String,
    blocks: Vec<CachedBlock>,
    /// The block each tool call index is in.
    tools: HashMap<u32, usize>,
    /// The last thinking block was signed: more thinking starts a new block.
    thinking_signed: bool,
    stop: Option<StopReason>,
    usage: CachedUsage,
    ended: bool,
    failed: bool,
    /// The bytes are all in: an end the decoder infers from here on (a finish reason seen,
    /// no end marker) does not count, since what followed the finish (OpenAI's usage chunk)
    /// may be what was cut.
    at_eof: bool,
}

impl Accumulator {
    pub(super) fn push(&mut self, event: &StreamEvent<'_>) {
        if self.ended || self.failed {
            return;
        }
        match event {
            StreamEvent::Start { model, .. } => {
                if !model.is_empty() {
                    self.model = model.to_string();
                }
            }
            StreamEvent::Text(text) => match self.blocks.last_mut() {
                Some(CachedBlock::Text { text: all }) => all.push_str(text),
                _ => self.blocks.push(CachedBlock::Text {
                    text: text.to_string(),
                }),
            },
            StreamEvent::Thinking(text) => match self.blocks.last_mut() {
                Some(CachedBlock::Thinking {
                    text: all,
                    signature: None,
                }) if !self.thinking_signed => all.push_str(text),
                _ => {
                    self.thinking_signed = false;
                    self.blocks.push(CachedBlock::Thinking {
                        text: text.to_string(),
                        signature: None,
                    });
                }
            },
            StreamEvent::ThinkingSignature(new) => {
                match self.blocks.last_mut() {
                    Some(CachedBlock::Thinking { signature, .. }) if !self.thinking_signed => {
                        *signature = Some(new.to_string())
                    }
                    // A signature with no thinking before it (encrypted reasoning without a
                    // summary): a block of its own, as the encoders replay it.
                    _ => self.blocks.push(CachedBlock::Thinking {
                        text: String::new(),
                        signature: Some(new.to_string()),
                    }),
                }
                self.thinking_signed = true;
            }
            StreamEvent::ToolStart {
                index,
                id,
                name,
                signature,
            } => {
                self.tools.insert(*index, self.blocks.len());
                self.blocks.push(CachedBlock::ToolUse {
                    id: id.to_string(),
                    name: name.to_string(),
                    input: String::new(),
                    signature: signature.as_ref().map(|s| s.to_string()),
                });
            }
            StreamEvent::ToolArgs { index, fragment } => {
                if let Some(CachedBlock::ToolUse { input, .. }) = self
                    .tools
                    .get(index)
                    .and_then(|&at| self.blocks.get_mut(at))
                {
                    input.push_str(fragment);
                }
            }
            StreamEvent::Finish(stop) => self.stop = Some(*stop),
            StreamEvent::Usage(usage) => self.usage = CachedUsage::from(*usage),
            StreamEvent::Error(_) => self.failed = true,
            StreamEvent::End => self.ended = !self.at_eof,
        }
    }

    /// Called before the decoder's `finish`: only an end marker in the bytes ends the answer.
    pub(super) fn at_eof(&mut self) {
        self.at_eof = true;
    }

    /// The answer, if the stream ended cleanly with a stop reason.
    pub(super) fn into_answer(mut self) -> Option<CachedAnswer> {
        if self.failed || !self.ended {
            return None;
        }
        let stop = self.stop?;
        for block in &mut self.blocks {
            // A call streamed with no argument fragments took no arguments.
            if let CachedBlock::ToolUse { input, .. } = block {
                if input.trim().is_empty() {
                    *input = "{}".to_owned();
                }
            }
        }
        let answer = CachedAnswer {
            model: self.model,
            blocks: self.blocks,
            stop_reason: CachedStop::from(stop),
            usage: self.usage,
        };
        // The same checks as a stored entry: something to replay, tool inputs are objects.
        answer.is_valid().then_some(answer)
    }
}
