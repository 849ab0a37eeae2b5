//! Gemini `streamGenerateContent?alt=sse` decoded into canonical events. Gemini sends no
//! `[DONE]`: the stream is complete only if a finish reason was seen before EOF, and STOP after
//! a function call (possibly chunks earlier) means tool calls (edge case 6).

use super::error::decode_error;
use super::wire::{call_id, stop_reason, GenerateResponseWire};
use crate::canonical::StreamEvent;
use crate::providers::json_util::{empty_object, object_from_raw};
use crate::stream::decoder::fail;
use crate::stream::{EventDecoder, SseDecoder, SseEvent};
use std::borrow::Cow;

pub type StreamDecoder = SseDecoder<GeminiEvents>;

impl StreamDecoder {
    /// `id_seed` names tool calls when Gemini gives neither call ids nor a response id.
    pub fn new(id_seed: &str) -> Self {
        SseDecoder::with_state(GeminiEvents {
            id_seed: id_seed.to_owned(),
            ..GeminiEvents::default()
        })
    }
}

/// What a Gemini chunk stream has shown so far.
#[derive(Debug, Default)]
pub struct GeminiEvents {
    id_seed: String,
    started: bool,
    finished: bool,
    ended: bool,
    next_tool: u32,
}

impl EventDecoder for GeminiEvents {
    fn ended(&self) -> bool {
        self.ended
    }

    fn set_ended(&mut self) {
        self.ended = true;
    }

    /// Gemini has no end marker: the answer is whole if a finish reason was seen.
    fn complete_at_eof(&self) -> bool {
        self.finished
    }

    fn on_event(&mut self, event: SseEvent<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let data = event.data.as_ref();
        let wire: GenerateResponseWire<'_> = match serde_json::from_str(data) {
            Ok(w) => w,
            Err(_) => return fail(self, emit, "the upstream sent a malformed stream chunk"),
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
