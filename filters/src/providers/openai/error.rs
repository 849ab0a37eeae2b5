//! OpenAI error bodies: `{"error":{"message","type","param","code"}}`.

use crate::canonical::{FailureKind, UpstreamFailure};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: Option<Detail<'a>>,
    // vLLM's older flat shape: {"object":"error","message":...}
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Detail<'a> {
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

/// Decodes an OpenAI-dialect error response (or an `{"error":...}` stream event).
pub fn decode_error(status: u16, body: &[u8]) -> UpstreamFailure<'_> {
    let mut kind = FailureKind::from_status(status);
    let message = match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(Envelope {
            error: Some(detail),
            ..
        }) => {
            let code = detail.code.as_ref().and_then(|c| c.as_str()).unwrap_or("");
            if code == "insufficient_quota" || detail.kind.as_deref() == Some("insufficient_quota")
            {
                kind = FailureKind::Billing;
            }
            if code == "context_length_exceeded" || code == "content_filter" {
                kind = FailureKind::InvalidRequest;
            }
            detail.message.unwrap_or(Cow::Borrowed("upstream error"))
        }
        Ok(Envelope {
            message: Some(m), ..
        }) => m,
        _ => String::from_utf8_lossy(body),
    };
    UpstreamFailure {
        kind,
        status,
        message,
        retry_after: None,
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    error: DetailOut<'a>,
}

#[derive(Serialize)]
struct DetailOut<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
}

/// An OpenAI error body.
pub fn encode_error(kind: &str, code: &str, message: &str, param: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&EnvelopeOut {
        error: DetailOut {
            message,
            kind,
            param,
            code,
        },
    })
    .unwrap_or_default()
}

impl FailureKind {
    /// The `code` an OpenAI client sees for an upstream failure of this kind.
    pub fn openai_code(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate_limit_exceeded",
            FailureKind::Billing => "insufficient_quota",
            FailureKind::Overloaded => "overloaded",
            FailureKind::Timeout => "upstream_timeout",
            FailureKind::Authentication | FailureKind::Permission => "upstream_auth_failed",
            FailureKind::NotFound => "model_not_found",
            FailureKind::RequestTooLarge => "request_too_large",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::Server => "upstream_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_openai_and_vllm_shapes() {
        let f = decode_error(
            429,
            br#"{"error":{"message":"Slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(
            (f.kind, f.message.as_ref()),
            (FailureKind::RateLimited, "Slow down")
        );
        let f = decode_error(429, br#"{"error":{"message":"pay","type":"insufficient_quota","code":"insufficient_quota"}}"#);
        assert_eq!(f.kind, FailureKind::Billing);
        let f = decode_error(
            400,
            br#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
        );
        assert_eq!(f.message, "bad");
        let f = decode_error(502, b"<html>bad gateway</html>");
        assert_eq!(f.message, "<html>bad gateway</html>");
    }
}
