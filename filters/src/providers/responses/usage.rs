//! Usage as the Responses API reports it: `input_tokens` counts cached tokens too (as OpenAI's
//! `prompt_tokens` does) and `output_tokens` counts reasoning.

use crate::canonical::Usage;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct UsageWire {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct InputDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct OutputDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl UsageWire {
    pub fn canonical(&self) -> Usage {
        let cached = self
            .input_tokens_details
            .map_or(0, |d| d.cached_tokens)
            .min(self.input_tokens);
        Usage {
            input: self.input_tokens - cached,
            cache_read: cached,
            cache_write: 0,
            output: self.output_tokens,
            reasoning: self
                .output_tokens_details
                .map_or(0, |d| d.reasoning_tokens)
                .min(self.output_tokens),
        }
    }
}

/// The usage of a whole response object.
pub fn response_usage_of(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        usage: Option<UsageWire>,
    }
    serde_json::from_slice::<Probe>(body)
        .ok()?
        .usage
        .map(|u| u.canonical())
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
