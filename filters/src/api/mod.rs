//! What clients send: routes, the OpenAI request views of the passthrough path, request errors.

pub mod openai;
mod request_error;
pub mod route;
pub mod shape;

pub use request_error::RequestError;
