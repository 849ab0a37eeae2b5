//! Which failed attempts are retried, and where. The rule: retry whenever nothing reached the
//! client yet and the failure is the provider's (unreachable, slow, overloaded, throttled, broken),
//! never when the request itself is at fault (400, 413, 422, a too-long context): another
//! provider would refuse it the same way, and a retry would only double the bill.

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
