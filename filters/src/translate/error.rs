//! Errors in the client's dialect: the gateway's own, and the provider's translated.

use super::{ClientDialect, UpstreamDialect};
use crate::canonical::{FailureKind, UpstreamFailure};
use crate::error_type::ErrorType;
use crate::providers::{anthropic, gemini, openai};

/// An error response ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Seconds for `retry-after`, when a retry makes sense and the provider said when.
    pub retry_after: Option<u64>,
    pub kind: FailureKind,
}

/// Decodes an upstream error body in its dialect.
pub fn decode_failure(upstream: UpstreamDialect, status: u16, body: &[u8]) -> UpstreamFailure<'_> {
    match upstream {
        UpstreamDialect::OpenAi | UpstreamDialect::Azure | UpstreamDialect::Responses => {
            openai::decode_error(status, body)
        }
        UpstreamDialect::Anthropic => anthropic::decode_error(status, body),
        UpstreamDialect::Gemini => gemini::decode_error(status, body),
    }
}

/// An upstream error response re-encoded for the client, status mapped (Anthropic's 529 is 503
/// for OpenAI clients, an overloaded provider is 529 for Anthropic clients).
pub fn translate_error(
    client: ClientDialect,
    upstream: UpstreamDialect,
    status: u16,
    body: &[u8],
    retry_after_header: Option<u64>,
) -> ErrorReply {
    let mut failure = decode_failure(upstream, status, body);
    let retry_after = failure.retry_after.or(retry_after_header);
    if let (Some(secs), None) = (failure.retry_after, retry_after_header) {
        // Said only in the body (Gemini's RetryInfo): by the time the body is read the
        // response head is sent, so the message carries it.
        failure.message = format!("{} (retry after {secs}s)", failure.message).into();
    }
    let (status, body) = match client {
        ClientDialect::OpenAi | ClientDialect::Responses => (
            failure.kind.openai_status(status),
            openai::encode_error(
                failure.kind.openai_type(),
                failure.kind.openai_code(),
                &failure.message,
                None,
            ),
        ),
        ClientDialect::Anthropic => (
            failure.kind.anthropic_status(status),
            anthropic::encode_error(failure.kind.anthropic_type(), &failure.message),
        ),
    };
    ErrorReply {
        status,
        body,
        retry_after,
        kind: failure.kind,
    }
}

/// A gateway error (bad key, unknown model, ...) in the client's dialect.
pub fn gateway_error_body(
    client: ClientDialect,
    error_type: ErrorType,
    message: &str,
    param: Option<&str>,
) -> Vec<u8> {
    match client {
        ClientDialect::OpenAi | ClientDialect::Responses => openai::encode_error(
            error_type.openai_type(),
            error_type.as_str(),
            message,
            param,
        ),
        ClientDialect::Anthropic => anthropic::encode_error(error_type.anthropic_type(), message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_overload_reaches_openai_clients_as_503() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let reply = translate_error(
            ClientDialect::OpenAi,
            UpstreamDialect::Anthropic,
            529,
            body,
            Some(3),
        );
        assert_eq!(reply.status, 503);
        assert_eq!(reply.retry_after, Some(3));
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v["error"]["message"], "Overloaded");
        assert_eq!(v["error"]["code"], "overloaded");
    }

    #[test]
    fn gemini_quota_reaches_anthropic_clients_with_retry_after() {
        let body = br#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#;
        let reply = translate_error(
            ClientDialect::Anthropic,
            UpstreamDialect::Gemini,
            429,
            body,
            None,
        );
        assert_eq!(reply.status, 429);
        assert_eq!(reply.retry_after, Some(7));
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
    }
}
