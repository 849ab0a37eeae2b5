//! One module per wire dialect. Each decodes its requests, responses, streams and errors into
//! the canonical model and encodes them back out of it; the gateway never translates pairwise.

pub mod anthropic;
pub mod gemini;
mod json_util;
pub mod openai;
