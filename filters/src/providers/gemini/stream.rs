//! Gemini `streamGenerateContent?alt=sse` decoded into canonical events. Gemini sends no
//! `[DONE]`: the stream is complete only if a finish reason was seen before EOF, and STOP after
//! a function call (possibly chunks earlier) means tool calls (edge case 6).

use super::error::decode_error;
use super::wire::{call_id, stop_reason, GenerateResponseWire};
use crate::canonical::{FailureKind, StreamEvent, UpstreamFailure};
use crate::providers::json_util::{empty_object, object_from_raw};
use crate::stream::{SseEvent, SseFramer};
use std::borrow::Cow;

#[derive(Debug, Default)]
pub struct StreamDecoder {
    sse: SseFramer,
    state: DecodeState,
}

#[derive(Debug, Default)]
struct DecodeState {
    id_seed: String,
    started: bool,
    finished: bool,
    ended: bool,
    next_tool: u32,
}

impl StreamDecoder {
    /// `id_seed` names tool calls when Gemini gives neither call ids nor a response id.
    pub fn new(id_seed: &str) -> Self {
        StreamDecoder {
            sse: SseFramer::new(),
            state: DecodeState {
                id_seed: id_seed.to_owned(),
                ..DecodeState::default()
            },
        }
    }

    pub fn feed(&mut self, input: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let state = &mut self.state;
        if self
            .sse
            .feed(input, &mut |e| state.on_event(e, emit))
            .is_err()
        {
            self.state
                .fail(emit, "the upstream stream is not valid server-sent events");
        }
    }

    pub fn finish(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let state = &mut self.state;
        self.sse.finish(&mut |e| state.on_event(e, emit));
        if self.state.ended {
            return;
        }
        if self.state.finished {
            self.state.ended = true;
            emit(StreamEvent::End);
        } else {
            self.state
                .fail(emit, "the upstream stream ended without a finish reason");
        }
    }
}

impl DecodeState {
    fn fail(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>), message: &'static str) {
        if self.ended {
            return;
        }
        self.ended = true;
        emit(StreamEvent::Error(UpstreamFailure {
            kind: FailureKind::Server,
            status: 502,
            message: Cow::Borrowed(message),
            retry_after: None,
        }));
    }

    fn on_event(&mut self, event: SseEvent<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        if self.ended {
            return;
        }
        let data = event.data.as_ref();
        let wire: GenerateResponseWire<'_> = match serde_json::from_str(data) {
            Ok(w) => w,
            Err(_) => return self.fail(emit, "the upstream sent a malformed stream chunk"),
        };
        if wire.error.is_some() {
            self.ended = true;
            emit(StreamEvent::Error(decode_error(0, data.as_bytes())));
            return;
        }
        if !self.started {
            self.started = true;
            if let Some(id) = wire.response_id.as_deref().filter(|id| !id.is_empty()) {
                self.id_seed = id.to_owned();
            }
            emit(StreamEvent::Start {
                id: Cow::Owned(self.id_seed.clone()),
                model: wire.model_version.clone().unwrap_or_default(),
            });
        }
        if let Some(usage) = wire.usage_metadata {
            emit(StreamEvent::Usage(usage.canonical()));
        }
        let mut finish = None;
        if let Some(candidate) = wire.candidates.into_iter().find(|c| c.index == 0) {
            finish = candidate.finish_reason;
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(call) = part.function_call {
                    let ordinal = self.next_tool;
                    self.next_tool += 1;
                    let id = match call.id.filter(|id| !id.is_empty()) {
                        Some(id) => id,
                        None => Cow::Owned(call_id(&self.id_seed, ordinal)),
                    };
                    emit(StreamEvent::ToolStart {
                        index: ordinal,
                        id,
                        name: call.name,
                        signature: part.thought_signature,
                    });
                    // Gemini sends a call's arguments whole.
                    let args = call.args.map_or_else(empty_object, object_from_raw);
                    emit(StreamEvent::ToolArgs {
                        index: ordinal,
                        fragment: Cow::Owned(args.get().to_owned()),
                    });
                } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    if part.thought == Some(true) {
                        emit(StreamEvent::Thinking(text));
                    } else {
                        emit(StreamEvent::Text(text));
                    }
                }
            }
        } else if wire
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some())
        {
            finish = Some(Cow::Borrowed("SAFETY"));
        }
        if let Some(reason) = finish.filter(|_| !self.finished) {
            self.finished = true;
            emit(StreamEvent::Finish(
                stop_reason(&reason).with_tool_calls(self.next_tool > 0),
            ));
        }
    }
}
