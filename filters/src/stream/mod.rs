//! Stream framing, kept apart from translation: the SSE codec every dialect's stream uses, and
//! the decoder shell the dialects plug their event handling into.

pub mod decoder;
mod sse;

pub use decoder::{EventDecoder, SseDecoder};
pub use sse::{SseEvent, SseFramer, SseOverflow};
