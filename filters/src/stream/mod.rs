//! Stream framing, kept apart from translation: the SSE codec every dialect's stream uses.

mod sse;

pub use sse::{SseEvent, SseFramer, SseOverflow};
