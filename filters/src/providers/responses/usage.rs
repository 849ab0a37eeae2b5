//! The usage of a whole Responses API body, read without decoding the rest (answers passed
//! through natively are metered from it).

use super::upstream_wire::UsageWire;
use crate::canonical::Usage;

/// The usage of a whole response object.
pub fn response_usage_of(body: &[u8]) -> Option<Usage> {
    crate::providers::json_util::answer_usage::<UsageWire>(body).map(|u| u.canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_are_inside_input_and_reasoning_inside_output() {
        let body = br#"{"object":"response","usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":20},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":59}}"#;
        assert_eq!(
            response_usage_of(body),
            Some(Usage {
                input: 30,
                cache_read: 20,
                cache_write: 0,
                output: 9,
                reasoning: 4
            })
        );
    }

    #[test]
    fn inconsistent_details_cannot_underflow() {
        let body = br#"{"usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":20},"output_tokens":1,"output_tokens_details":{"reasoning_tokens":9}}}"#;
        let usage = response_usage_of(body).unwrap_or_default();
        assert_eq!((usage.input, usage.cache_read, usage.reasoning), (0, 5, 1));
    }

    #[test]
    fn no_usage_is_none() {
        assert_eq!(response_usage_of(br#"{"usage":null}"#), None);
        assert_eq!(response_usage_of(b"not json"), None);
    }
}
