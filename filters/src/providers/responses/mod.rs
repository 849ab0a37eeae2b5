//! OpenAI's Responses API (`POST /v1/responses`), both ways.
//!
//! As a client dialect: requests decoded into the canonical model, answers encoded whole and
//! streamed exactly as OpenAI emits them (the official SDK's stream accumulator and the Agents
//! SDK follow the event sequence to the letter). Upstream, a Responses request goes to any
//! provider in its own dialect, or, to providers that speak the Responses API natively,
//! through as it came (`native_request`).
//!
//! As an upstream dialect (`upstream_*`): for clients of other dialects calling models that
//! speak only the Responses API, canonical requests encoded as Responses requests, and
//! Responses objects and event streams decoded back.
//!
//! Thinking signatures cross both ways in `reasoning.encrypted_content`; `signature` decides
//! whose each one is.

mod echo;
mod passthrough;
mod request;
mod response;
pub mod signature;
mod stream;
mod upstream_body;
mod upstream_request;
mod upstream_response;
mod upstream_stream;
mod upstream_wire;
mod usage;

pub use echo::Echo;
pub use passthrough::{response_usage, Passthrough};
pub use request::decode_request;
pub use response::encode_response;
pub use stream::StreamEncoder;
pub use upstream_body::{native_request, NativeRequest};
pub use upstream_request::encode_upstream_request;
pub use upstream_response::{decode_upstream_response, UpstreamResponseError};
pub use upstream_stream::{ResponsesEvents, UpstreamStreamDecoder};

/// The ids of one response and its items, derived from one random part so they are stable
/// between the streamed events and the final object.
#[derive(Debug, Clone)]
pub struct Ids {
    pub response: String,
    seed: String,
}

impl Ids {
    /// From a request id (any alphanumeric tail of it is used).
    pub fn new(request_id: &str) -> Ids {
        let seed: String = request_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        Ids {
            response: format!("resp_{seed}"),
            seed,
        }
    }

    pub fn message(&self) -> String {
        format!("msg_{}", self.seed)
    }

    /// The `n`th message item's id (the first is `message()`).
    pub fn message_at(&self, n: usize) -> String {
        match n {
            0 => self.message(),
            n => format!("msg_{}_{n}", self.seed),
        }
    }

    pub fn reasoning(&self) -> String {
        format!("rs_{}", self.seed)
    }

    /// The `n`th reasoning item's id (the first is `reasoning()`): each signed thinking
    /// block is an item of its own.
    pub fn reasoning_at(&self, n: usize) -> String {
        match n {
            0 => self.reasoning(),
            n => format!("rs_{}_{n}", self.seed),
        }
    }

    pub fn function_call(&self, n: usize) -> String {
        format!("fc_{}_{n}", self.seed)
    }
}
