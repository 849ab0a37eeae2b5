//! Whole responses: read the usage of passed-through bodies, translate the others.

use super::json_tool::unwrap_response;
use super::{ClientDialect, UpstreamDialect};
use crate::canonical::{Response, Usage};
use crate::providers::{anthropic, gemini, openai, responses};

/// Usage in a same-dialect response body, which is passed through as is.
pub fn response_usage(upstream: UpstreamDialect, body: &[u8]) -> Option<Usage> {
    match upstream {
        UpstreamDialect::OpenAi | UpstreamDialect::Azure => openai::response_usage(body),
        UpstreamDialect::Anthropic => anthropic::response_usage(body),
        UpstreamDialect::Gemini => gemini::decode_response(body, "").ok().map(|r| r.usage),
        UpstreamDialect::Responses => responses::response_usage(body),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ResponseSpec<'a> {
    pub client: ClientDialect,
    pub upstream: UpstreamDialect,
    /// Names tool calls and the response when the upstream gave no id.
    pub id: &'a str,
    pub model: &'a str,
    pub created: u64,
    pub json_tool: bool,
    /// The client's request (a Responses answer repeats some of its fields).
    pub request: &'a [u8],
}

/// Translates a successful upstream body into the client's dialect.
pub fn translate_response(
    spec: &ResponseSpec<'_>,
    body: &[u8],
) -> Result<(Vec<u8>, Usage), String> {
    let mut response: Response<'_> = match spec.upstream {
        UpstreamDialect::OpenAi | UpstreamDialect::Azure => openai::decode_response(body)?,
        UpstreamDialect::Anthropic => anthropic::decode_response(body)?,
        UpstreamDialect::Gemini => gemini::decode_response(body, spec.id)?,
        UpstreamDialect::Responses => responses::decode_upstream_response(body)?,
    };
    if spec.json_tool {
        unwrap_response(&mut response);
    }
    if response.id.is_empty() {
        response.id = spec.id.into();
    }
    let out = match spec.client {
        ClientDialect::OpenAi => openai::encode_response(&response, spec.created, spec.model),
        ClientDialect::Anthropic => anthropic::encode_response(&response, spec.model),
        ClientDialect::Responses => responses::encode_response(
            &response,
            &responses::Echo::from_request(spec.request),
            &responses::Ids::new(spec.id),
            spec.created,
            spec.model,
        ),
    };
    Ok((out, response.usage))
}
