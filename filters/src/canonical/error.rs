//! A provider's error, decoded from its dialect and re-encoded in the client's.

use std::borrow::Cow;

/// What went wrong upstream, in terms every dialect can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RequestTooLarge,
    RateLimited,
    /// Provider-wide overload (Anthropic 529, Gemini 503 UNAVAILABLE): retry elsewhere.
    Overloaded,
    Timeout,
    Server,
    Billing,
}

impl FailureKind {
    /// The closest kind for an HTTP status.
    pub fn from_status(status: u16) -> FailureKind {
        match status {
            400 | 409 | 422 => FailureKind::InvalidRequest,
            401 => FailureKind::Authentication,
            402 => FailureKind::Billing,
            403 => FailureKind::Permission,
            404 => FailureKind::NotFound,
            413 => FailureKind::RequestTooLarge,
            408 | 504 => FailureKind::Timeout,
            429 => FailureKind::RateLimited,
            503 | 529 => FailureKind::Overloaded,
            _ => FailureKind::Server,
        }
    }

    /// The status an OpenAI client expects (no 529: OpenAI clients retry 503).
    pub fn openai_status(self, upstream: u16) -> u16 {
        match self {
            FailureKind::Overloaded => 503,
            _ if upstream == 529 => 503,
            _ => upstream,
        }
    }

    /// The status an Anthropic client expects (overload is 529, which its SDKs retry).
    pub fn anthropic_status(self, upstream: u16) -> u16 {
        match self {
            FailureKind::Overloaded => 529,
            _ => upstream,
        }
    }

    pub fn openai_type(self) -> &'static str {
        match self {
            FailureKind::InvalidRequest | FailureKind::RequestTooLarge => "invalid_request_error",
            FailureKind::Authentication => "authentication_error",
            FailureKind::Permission => "permission_error",
            FailureKind::NotFound => "not_found_error",
            FailureKind::RateLimited => "rate_limit_error",
            FailureKind::Billing => "insufficient_quota",
            FailureKind::Overloaded | FailureKind::Timeout | FailureKind::Server => "api_error",
        }
    }

    pub fn anthropic_type(self) -> &'static str {
        match self {
            FailureKind::InvalidRequest => "invalid_request_error",
            FailureKind::Authentication => "authentication_error",
            FailureKind::Permission => "permission_error",
            FailureKind::NotFound => "not_found_error",
            FailureKind::RequestTooLarge => "request_too_large",
            FailureKind::RateLimited => "rate_limit_error",
            FailureKind::Billing => "billing_error",
            FailureKind::Overloaded => "overloaded_error",
            FailureKind::Timeout => "timeout_error",
            FailureKind::Server => "api_error",
        }
    }
}

/// An upstream failure: HTTP error responses and errors that arrive inside a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFailure<'a> {
    pub kind: FailureKind,
    /// The provider's HTTP status (for in-stream errors, the status its type stands for).
    pub status: u16,
    pub message: Cow<'a, str>,
    /// Seconds to wait, when the provider said (header or body, e.g. Gemini's `RetryInfo`).
    pub retry_after: Option<u64>,
}

impl UpstreamFailure<'_> {
    pub fn into_owned(self) -> UpstreamFailure<'static> {
        UpstreamFailure {
            kind: self.kind,
            status: self.status,
            message: Cow::Owned(self.message.into_owned()),
            retry_after: self.retry_after,
        }
    }
}
