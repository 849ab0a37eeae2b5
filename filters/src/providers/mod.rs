//! One module per wire dialect. Each decodes its requests, responses, streams and errors into
//! the canonical model and encodes them back out of it; the gateway never translates pairwise.

pub mod anthropic;
mod forward_headers;
pub mod gemini;
mod json_util;
pub mod openai;
pub mod responses;

pub use forward_headers::{ForwardHeaders, GATEWAY_OWNED};
