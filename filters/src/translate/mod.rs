//! What the shell calls: for a client dialect and an upstream dialect, prepare the upstream
//! request, translate the response (whole or streamed) and errors back. Same-dialect exchanges
//! pass bytes through (only the model name and the usage request are edited, usage is read);
//! every other pair goes through the canonical model, never pairwise.

mod error;
mod estimate;
mod fields;
mod json_tool;
mod path;
mod request;
mod response;
mod stream;

pub use error::{decode_failure, gateway_error_body, translate_error, ErrorReply};
pub use estimate::estimate_input_tokens;
pub use fields::{check_scanned_fields, check_translated_fields};
pub use path::{upstream_path, Api};
pub use request::{prepare_request, prepare_scanned_request, PreparedRequest, Target};
pub use response::{response_usage, translate_response, ResponseSpec};
pub use stream::{StreamOutcome, StreamSpec, StreamTranslator};

/// The API dialect a client speaks to sluice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDialect {
    OpenAi,
    Anthropic,
    /// OpenAI's Responses API: errors in OpenAI's shape, always translated (sluice keeps the
    /// conversation state, so no provider is ever asked to).
    Responses,
}

/// The API dialect of an upstream provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamDialect {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
    /// OpenAI's Responses API (`/v1/responses`), spoken by OpenAI and Azure providers: the wire
    /// of an attempt that sends a Responses request natively. Auth, paths and health checks
    /// still follow the provider's own dialect.
    Responses,
}

impl UpstreamDialect {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamDialect::OpenAi => "openai",
            UpstreamDialect::Azure => "azure",
            UpstreamDialect::Anthropic => "anthropic",
            UpstreamDialect::Gemini => "gemini",
            UpstreamDialect::Responses => "responses",
        }
    }
}

/// Whether bytes can go through untranslated.
pub fn is_passthrough(client: ClientDialect, upstream: UpstreamDialect) -> bool {
    matches!(
        (client, upstream),
        (
            ClientDialect::OpenAi,
            UpstreamDialect::OpenAi | UpstreamDialect::Azure
        ) | (ClientDialect::Anthropic, UpstreamDialect::Anthropic)
            | (ClientDialect::Responses, UpstreamDialect::Responses)
    )
}
