//! Which failed attempts are retried, and where. The rule: retry whenever nothing reached the
//! client yet and the failure is the provider's (unreachable, slow, overloaded, throttled, broken),
//! never when the request itself is at fault (400, 413, 422, a too-long context): another
//! provider would refuse it the same way, and a retry would only double the bill.

use crate::ErrorType;
use std::time::Duration;

/// What went wrong with one attempt, before anything reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// TCP/TLS connect failed or timed out: nothing reached the provider.
    Connect,
    /// No response head within the first-byte timeout.
    FirstByteTimeout,
    /// The connection broke before the response head; `reused` when it came from the pool
    /// (a stale keep-alive connection the provider had already closed).
    ConnectionLost { reused: bool },
    /// The provider answered with an error status.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
}

impl AttemptFailure {
    /// The bounded label of the attempt's outcome (metrics and the access log's trail).
    pub fn outcome(self) -> &'static str {
        match self {
            AttemptFailure::Connect => "connect_error",
            AttemptFailure::FirstByteTimeout => "timeout",
            AttemptFailure::ConnectionLost { .. } => "connection_lost",
            AttemptFailure::Status { status: 429, .. } => "http_429",
            AttemptFailure::Status {
                status: 401 | 403, ..
            } => "http_auth",
            AttemptFailure::Status { status, .. } if status >= 500 => "http_5xx",
            AttemptFailure::Status { .. } => "http_4xx",
        }
    }

    /// What the failure is, as the client's error when no attempt follows.
    pub fn error_type(self) -> ErrorType {
        match self {
            AttemptFailure::Connect | AttemptFailure::ConnectionLost { .. } => {
                ErrorType::UpstreamUnreachable
            }
            AttemptFailure::FirstByteTimeout => ErrorType::UpstreamTimeout,
            AttemptFailure::Status { status: 429, .. } => ErrorType::UpstreamRateLimited,
            AttemptFailure::Status {
                status: 401 | 403, ..
            } => ErrorType::UpstreamAuthFailed,
            AttemptFailure::Status {
                status: 503 | 529, ..
            } => ErrorType::UpstreamOverloaded,
            AttemptFailure::Status { .. } => ErrorType::UpstreamError,
        }
    }
}

/// Where the next attempt should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Another endpoint of the provider, else the next target of the plan.
    Elsewhere,
    /// Another API key of the provider (this one is throttled or refused), else elsewhere.
    OtherKey,
    /// The same endpoint on a fresh connection, at once.
    SameEndpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDecision {
    pub retryable: bool,
    pub next: Next,
    /// Counts against the endpoint's circuit breaker.
    pub endpoint_failure: bool,
    /// Eject the API key (for at least `retry_after` when the provider gave one).
    pub key_failure: bool,
    /// The provider's `retry-after`, if any.
    pub retry_after: Option<Duration>,
}

impl RetryDecision {
    fn elsewhere(endpoint_failure: bool, retry_after: Option<Duration>) -> Self {
        RetryDecision {
            retryable: true,
            next: Next::Elsewhere,
            endpoint_failure,
            key_failure: false,
            retry_after,
        }
    }

    fn final_answer() -> Self {
        RetryDecision {
            retryable: false,
            next: Next::Elsewhere,
            endpoint_failure: false,
            key_failure: false,
            retry_after: None,
        }
    }
}

pub fn classify(failure: AttemptFailure) -> RetryDecision {
    match failure {
        AttemptFailure::Connect | AttemptFailure::FirstByteTimeout => {
            RetryDecision::elsewhere(true, None)
        }
        AttemptFailure::ConnectionLost { reused: true } => RetryDecision {
            next: Next::SameEndpoint,
            ..RetryDecision::elsewhere(false, None)
        },
        AttemptFailure::ConnectionLost { reused: false } => RetryDecision::elsewhere(true, None),
        AttemptFailure::Status {
            status,
            retry_after,
        } => match status {
            // Throttled or refused: the key, not the endpoint.
            401 | 403 | 429 => RetryDecision {
                next: Next::OtherKey,
                key_failure: true,
                ..RetryDecision::elsewhere(false, retry_after)
            },
            408 | 500 | 502 | 503 | 504 | 529 => RetryDecision::elsewhere(true, retry_after),
            _ => RetryDecision::final_answer(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> RetryDecision {
        classify(AttemptFailure::Status {
            status: s,
            retry_after: None,
        })
    }

    #[test]
    fn request_errors_are_final() {
        for s in [400, 404, 409, 413, 415, 422] {
            assert!(!status(s).retryable, "{s}");
        }
    }

    #[test]
    fn provider_failures_go_elsewhere() {
        for s in [500, 502, 503, 504, 529, 408] {
            let d = status(s);
            assert!(
                d.retryable && d.endpoint_failure && d.next == Next::Elsewhere,
                "{s}"
            );
        }
        let d = classify(AttemptFailure::Connect);
        assert!(d.retryable && d.endpoint_failure);
    }

    #[test]
    fn throttling_moves_to_another_key() {
        let d = classify(AttemptFailure::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(1)),
        });
        assert_eq!(d.next, Next::OtherKey);
        assert!(d.key_failure && !d.endpoint_failure);
        assert_eq!(d.retry_after, Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_stale_pooled_connection_is_retried_in_place() {
        let d = classify(AttemptFailure::ConnectionLost { reused: true });
        assert_eq!(d.next, Next::SameEndpoint);
        assert!(!d.endpoint_failure);
    }
}

/// How long after a key last got an answer a 401/403 on it is still blamed on the request.
pub const AUTH_FAILURE_GRACE_MS: u64 = 60_000;

/// Whether a 401/403 ejects the API key that got it. A key that other requests used
/// successfully within the last minute is working: the refusal came from something in this
/// request (a header, a model the account may not use), so ejecting the shared key would let
/// one client fail every tenant. A key with no recent success is ejected. `last_success_ms`:
/// when the key last got an answer, if ever.
pub fn auth_failure_ejects_key(last_success_ms: Option<u64>, now_ms: u64) -> bool {
    last_success_ms.is_none_or(|at| now_ms.saturating_sub(at) > AUTH_FAILURE_GRACE_MS)
}

#[cfg(test)]
mod auth_failure_tests {
    use super::*;

    #[test]
    fn a_key_in_recent_use_is_not_ejected_by_one_refusal() {
        let cases: &[(Option<u64>, u64, bool)] = &[
            (None, 0, true),
            (None, 1_000_000, true),
            (Some(1_000), 1_000, false),
            (Some(1_000), 61_000, false),
            (Some(1_000), 61_001, true),
            (Some(5_000), 1_000, false),
        ];
        for &(last, now, want) in cases {
            assert_eq!(auth_failure_ejects_key(last, now), want, "{last:?} {now}");
        }
    }
}
