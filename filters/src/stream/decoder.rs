//! What every SSE-based stream decoder shares: framing, one error per stream, and what the end
//! of the bytes means (a clean end, or a cut stream reported in-band). Each dialect supplies
//! only what its events mean.

use super::{SseEvent, SseFramer};
use crate::canonical::{FailureKind, StreamEvent, UpstreamFailure};
use std::borrow::Cow;

/// A dialect's event handling.
pub trait EventDecoder {
    /// Handles one complete SSE event.
    fn on_event(&mut self, event: SseEvent<'_>, emit: &mut dyn FnMut(StreamEvent<'_>));
    /// Whether the stream has ended (its end marker, or an error, went by).
    fn ended(&self) -> bool;
    fn set_ended(&mut self);
    /// Whether the answer is whole when the bytes stop without an end marker (a finish reason
    /// was seen, for dialects that have no end marker or servers that omit it).
    fn complete_at_eof(&self) -> bool;
}

/// An SSE stream decoder for one dialect.
#[derive(Debug, Default)]
pub struct SseDecoder<D> {
    sse: SseFramer,
    state: D,
}

impl<D: EventDecoder> SseDecoder<D> {
    pub fn with_state(state: D) -> Self {
        SseDecoder {
            sse: SseFramer::new(),
            state,
        }
    }

    pub fn feed(&mut self, input: &[u8], emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let state = &mut self.state;
        let result = self.sse.feed(input, &mut |event| {
            if !state.ended() {
                state.on_event(event, emit)
            }
        });
        if result.is_err() {
            fail(
                &mut self.state,
                emit,
                "the upstream stream is not valid server-sent events",
            );
        }
    }

    /// The upstream body ended: a stream that did not finish is reported as cut.
    pub fn finish(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let state = &mut self.state;
        self.sse.finish(&mut |event| {
            if !state.ended() {
                state.on_event(event, emit)
            }
        });
        if self.state.ended() {
            return;
        }
        if self.state.complete_at_eof() {
            self.state.set_ended();
            emit(StreamEvent::End);
        } else {
            fail(
                &mut self.state,
                emit,
                "the upstream stream ended before the response was complete",
            );
        }
    }
}

/// Ends the stream with an error the client sees in-band (once).
pub fn fail(
    state: &mut dyn EventDecoder,
    emit: &mut dyn FnMut(StreamEvent<'_>),
    message: &'static str,
) {
    if state.ended() {
        return;
    }
    state.set_ended();
    emit(StreamEvent::Error(UpstreamFailure {
        kind: FailureKind::Server,
        status: 502,
        message: Cow::Borrowed(message),
        retry_after: None,
    }));
}
