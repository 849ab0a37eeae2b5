//! JSON mode on Anthropic is a forced call of a tool named `json_response`; the client asked for
//! JSON text, so the call's arguments are turned back into the answer's text and the stop reason
//! into a normal end of turn.

use crate::canonical::{Block, Response, StopReason, StreamEvent};
use crate::providers::anthropic::JSON_TOOL;
use std::borrow::Cow;

/// Rewrites a whole response.
pub fn unwrap_response(resp: &mut Response<'_>) {
    let mut unwrapped = false;
    for block in resp.content.iter_mut() {
        if let Block::ToolUse { name, input, .. } = block {
            if name == JSON_TOOL {
                *block = Block::Text(Cow::Owned(input.get().to_owned()));
                unwrapped = true;
            }
        }
    }
    if unwrapped && !resp.has_tool_calls() && resp.stop_reason == StopReason::ToolUse {
        resp.stop_reason = StopReason::EndTurn;
    }
}

/// Rewrites stream events one at a time.
#[derive(Debug, Default)]
pub struct StreamUnwrap {
    json_call: Option<u32>,
    other_calls: bool,
}

impl StreamUnwrap {
    /// The event to pass on, if any.
    pub fn map<'a>(&mut self, event: StreamEvent<'a>) -> Option<StreamEvent<'a>> {
        match event {
            StreamEvent::ToolStart { index, name, .. } if name == JSON_TOOL => {
                self.json_call = Some(index);
                None
            }
            StreamEvent::ToolStart { .. } => {
                self.other_calls = true;
                Some(event)
            }
            StreamEvent::ToolArgs { index, fragment } if Some(index) == self.json_call => {
                Some(StreamEvent::Text(fragment))
            }
            StreamEvent::Finish(StopReason::ToolUse)
                if self.json_call.is_some() && !self.other_calls =>
            {
                Some(StreamEvent::Finish(StopReason::EndTurn))
            }
            other => Some(other),
        }
    }
}
