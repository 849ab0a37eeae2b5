//! OpenAI Chat Completions, as clients send it and as OpenAI and every compatible server
//! (vLLM, Ollama, Groq, Mistral, DeepSeek, OpenRouter, Together, Azure) answer it.

mod error;
mod passthrough;
mod plain_delta;
mod request;
mod response;
mod stream;
mod wire;

pub use error::{decode_error, encode_error};
pub use passthrough::{response_usage, Passthrough, PassthroughEnd};
pub use request::{decode_request, encode_request, EncodeOptions};
pub use response::{decode_response, encode_response};
pub use stream::{StreamDecoder, StreamEncoder};
pub use wire::UsageWire;
