//! OpenAI's Responses API as a client dialect (`POST /v1/responses`): requests decoded into the
//! canonical model, answers encoded whole and streamed exactly as OpenAI emits them (the
//! official SDK's stream accumulator and the Agents SDK follow the event sequence to the
//! letter). Upstream, a Responses request goes to any provider in its own dialect, or, to
//! providers that speak the Responses API natively, through as it came (`native_request`).

mod echo;
mod passthrough;
mod request;
mod response;
mod stream;
mod upstream_body;
mod usage;

pub use echo::Echo;
pub use passthrough::{response_usage, Passthrough};
pub use request::decode_request;
pub use response::encode_response;
pub use stream::StreamEncoder;
pub use upstream_body::native_request;
pub use usage::UsageWire;

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

    pub fn reasoning(&self) -> String {
        format!("rs_{}", self.seed)
    }

    pub fn function_call(&self, n: usize) -> String {
        format!("fc_{}_{n}", self.seed)
    }
}
