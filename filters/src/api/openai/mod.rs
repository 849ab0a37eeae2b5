//! The OpenAI API as clients send it: request views, error bodies, the model list.

mod error;
mod models;
mod request;

pub use error::error_body;
pub use models::{model_list_body, model_object_body};
pub use request::{ChatRequest, EmbeddingsRequest, ResponsesRequest};
