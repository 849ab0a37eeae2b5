//! Anthropic error bodies: `{"type":"error","error":{"type","message"}}`.

use crate::canonical::{FailureKind, UpstreamFailure};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: Detail<'a>,
}

#[derive(Deserialize)]
struct Detail<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Cow<'a, str>,
}

/// The failure kind an Anthropic `error.type` names.
pub fn failure_kind(error_type: &str, status: u16) -> FailureKind {
    match error_type {
        "invalid_request_error" => FailureKind::InvalidRequest,
        "authentication_error" => FailureKind::Authentication,
        "permission_error" => FailureKind::Permission,
        "not_found_error" => FailureKind::NotFound,
        "request_too_large" => FailureKind::RequestTooLarge,
        "rate_limit_error" => FailureKind::RateLimited,
        "billing_error" => FailureKind::Billing,
        "overloaded_error" => FailureKind::Overloaded,
        "timeout_error" => FailureKind::Timeout,
        "api_error" => FailureKind::Server,
        _ => FailureKind::from_status(status),
    }
}

/// The HTTP status an in-stream error type stands for.
fn status_of(kind: FailureKind) -> u16 {
    match kind {
        FailureKind::InvalidRequest => 400,
        FailureKind::Authentication => 401,
        FailureKind::Billing => 402,
        FailureKind::Permission => 403,
        FailureKind::NotFound => 404,
        FailureKind::RequestTooLarge => 413,
        FailureKind::RateLimited => 429,
        FailureKind::Overloaded => 529,
        FailureKind::Timeout => 504,
        FailureKind::Server => 500,
    }
}

/// Decodes an Anthropic error body; `status` 0 means it came inside a stream.
pub fn decode_error(status: u16, body: &[u8]) -> UpstreamFailure<'_> {
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(env) => {
            let kind = failure_kind(&env.error.kind, status);
            UpstreamFailure {
                kind,
                status: if status == 0 { status_of(kind) } else { status },
                message: env.error.message,
                retry_after: None,
            }
        }
        Err(_) => UpstreamFailure {
            kind: FailureKind::from_status(status),
            status: if status == 0 { 500 } else { status },
            message: String::from_utf8_lossy(body),
            retry_after: None,
        },
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: DetailOut<'a>,
}

#[derive(Serialize)]
struct DetailOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// An Anthropic error body.
pub fn encode_error(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&EnvelopeOut {
        kind: "error",
        error: DetailOut {
            kind: error_type,
            message,
        },
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_its_own_kind() {
        let f = decode_error(529, br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#);
        assert_eq!(f.kind, FailureKind::Overloaded);
        assert_eq!(f.message, "Overloaded");
        let f = decode_error(
            0,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(f.status, 529);
    }
}
