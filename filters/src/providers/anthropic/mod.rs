//! Anthropic Messages, as clients send it (`/v1/messages`) and as Anthropic answers it.

mod error;
mod passthrough;
mod request;
mod response;
mod stream;
mod wire;

pub use error::{decode_error, encode_error, failure_kind};
pub use passthrough::{response_usage, Passthrough};
pub use request::{decode_request, encode_request, EncodeOptions, Encoded, JSON_TOOL};
pub use response::{decode_response, encode_response};
pub use stream::{StreamDecoder, StreamEncoder};
pub use wire::UsageWire;
