//! Conversations sluice continues itself: reading a request's link to an earlier turn (an
//! Anthropic message thread, a Responses `previous_response_id`), writing the full history into the request for a provider that
//! does not hold it, and assembling the answer a client received into the turn to store. The
//! shell keeps the turns (`src/state/conversations.rs`); this module only rewrites bodies.

mod assemble;
mod responses;
mod thread;

pub use assemble::{assemble_anthropic_message, assemble_anthropic_stream, Answer};
pub use responses::{
    expand_input, final_response, input_items, listed_items, read_responses_state, ResponsesState,
};
pub use thread::{expand_thread, read_thread, thread_settings, Thread, THREAD_SETTINGS};
