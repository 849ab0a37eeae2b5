//! Gemini (Google RPC) error bodies: `{"error":{"code","message","status","details"}}`, with the
//! retry delay in a `RetryInfo` detail.

use crate::canonical::{FailureKind, UpstreamFailure};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: Detail<'a>,
}

#[derive(Deserialize)]
struct Detail<'a> {
    #[serde(default, borrow)]
    message: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    details: Vec<ErrorDetail<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDetail<'a> {
    #[serde(rename = "@type", default, borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    retry_delay: Option<Cow<'a, str>>,
}

pub fn decode_error(status: u16, body: &[u8]) -> UpstreamFailure<'_> {
    // The JSON-array stream variant wraps errors in `[...]`.
    let trimmed = trim_array(body);
    match serde_json::from_slice::<Envelope<'_>>(trimmed) {
        Ok(env) => {
            let kind = match env.error.status.as_ref() {
                "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
                    FailureKind::InvalidRequest
                }
                "UNAUTHENTICATED" => FailureKind::Authentication,
                "PERMISSION_DENIED" => FailureKind::Permission,
                "NOT_FOUND" => FailureKind::NotFound,
                "RESOURCE_EXHAUSTED" => FailureKind::RateLimited,
                "UNAVAILABLE" => FailureKind::Overloaded,
                "DEADLINE_EXCEEDED" => FailureKind::Timeout,
                "INTERNAL" | "UNKNOWN" => FailureKind::Server,
                _ => FailureKind::from_status(status),
            };
            let retry_after = env
                .error
                .details
                .iter()
                .filter(|d| d.kind.ends_with("google.rpc.RetryInfo"))
                .find_map(|d| d.retry_delay.as_deref().and_then(parse_delay));
            UpstreamFailure {
                kind,
                status: if status == 0 { 500 } else { status },
                message: env.error.message,
                retry_after,
            }
        }
        Err(_) => UpstreamFailure {
            kind: FailureKind::from_status(status),
            status,
            message: String::from_utf8_lossy(body),
            retry_after: None,
        },
    }
}

fn trim_array(body: &[u8]) -> &[u8] {
    let s = body.trim_ascii();
    match (s.first(), s.last()) {
        (Some(b'['), Some(b']')) => s[1..s.len() - 1].trim_ascii(),
        _ => s,
    }
}

/// `"30s"`, `"1.5s"` -> whole seconds, rounded up.
fn parse_delay(delay: &str) -> Option<u64> {
    let secs: f64 = delay.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_becomes_retry_after() {
        let body = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"29.2s"}]}}"#;
        let f = decode_error(429, body);
        assert_eq!(f.kind, FailureKind::RateLimited);
        assert_eq!(f.retry_after, Some(30));
        assert_eq!(f.message, "Quota exceeded");
        let f = decode_error(503, br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#);
        assert_eq!(f.kind, FailureKind::Overloaded);
    }
}
