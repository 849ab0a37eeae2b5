//! The basic shape of every request body sluice forwards, checked once in `request_filter`,
//! before the request is admitted or a provider is contacted.
//!
//! Why: same-dialect requests pass through as the client's bytes with only the model renamed,
//! so nothing else would look at their types; a `max_tokens` of `-5`, `"10"` or `1.5` would
//! reach the provider, and governance would price the request from whatever it found. Here
//! every field sluice reads or prices is type-checked (output caps are positive integers), and
//! the structure a provider needs (messages with a role and text or typed parts, tools as
//! objects) is checked as far as every dialect agrees on it. Fields sluice does not know pass
//! unchecked: the provider judges those.
//!
//! A refusal names the field as OpenAI's `param` does (`messages[2].content`), found by a
//! second, path-tracking parse that only runs on the error path.

mod anthropic;
mod openai;
mod primitives;

use crate::api::RequestError;
use serde::Deserialize;

/// Which request body is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `POST /v1/chat/completions`.
    OpenAiChat,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/messages`.
    AnthropicMessages,
    /// `POST /v1/messages/count_tokens`.
    AnthropicCountTokens,
    /// `POST /v1/responses`.
    Responses,
}

/// What the check learned that admission needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The most output tokens the client allows (`max_completion_tokens`, else `max_tokens`).
    pub max_output_tokens: Option<u64>,
    /// The field that set it, for an error about it.
    pub output_param: &'static str,
}

/// Checks `body` against the shape of `kind`.
pub fn check(kind: BodyKind, body: &[u8]) -> Result<Checked, RequestError> {
    match kind {
        BodyKind::OpenAiChat => openai::check_chat(body),
        BodyKind::Embeddings => openai::check_embeddings(body),
        BodyKind::AnthropicMessages => anthropic::check_messages(body, true),
        BodyKind::AnthropicCountTokens => anthropic::check_messages(body, false),
        BodyKind::Responses => openai::check_responses(body),
    }
}

/// Parses `body` as `T`; on failure, parses again tracking the path, so the error names the
/// field (`max_tokens`, `messages[0].content`).
fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, RequestError> {
    serde_json::from_slice(body).map_err(|first| {
        let mut de = serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) => {
                let path = e.path().to_string();
                let mut error = RequestError::schema(e.inner());
                if path != "." && !path.is_empty() {
                    error.message = format!("invalid request body: {path}: {}", e.inner());
                    error.param = Some(path);
                }
                error
            }
            Ok(_) => RequestError::schema(&first),
        }
    })
}

#[cfg(test)]
mod tests;
