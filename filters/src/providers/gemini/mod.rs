//! Google Gemini (`generateContent`, `streamGenerateContent?alt=sse`): an upstream dialect only.

mod error;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

pub use error::decode_error;
pub use request::{encode_request, EncodeOptions};
pub use response::decode_response;
pub use schema::{clean_schema, RefBudget};
pub use stream::StreamDecoder;
