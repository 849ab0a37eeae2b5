//! A whole response object from an OpenAI Responses upstream, decoded into the canonical
//! model: output items in order (message text and refusals, function calls with their
//! arguments parsed, reasoning with its summary and `encrypted_content` as the signature),
//! the stop reason from `status` and `incomplete_details`, and usage. A failed response
//! (`status: failed`, `error` set) is a failure, not an answer.

use super::upstream_wire::{item_blocks, stop_reason, ErrorWire, ResponseWire};
use crate::canonical::{Block, Response, UpstreamFailure};
use std::borrow::Cow;
use std::fmt;

/// Why a Responses body did not become a canonical answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamResponseError<'a> {
    /// The body is not a Responses object sluice can read (the message says where).
    Malformed(String),
    /// The provider reported a failure in the body (`status: failed` with its `error`, or
    /// an error envelope): its kind is read from the error's `code`.
    Failed(UpstreamFailure<'a>),
}

impl fmt::Display for UpstreamResponseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamResponseError::Malformed(m) => f.write_str(m),
            UpstreamResponseError::Failed(failure) => f.write_str(&failure.message),
        }
    }
}

/// The other decoders' error type, for callers that only report the message.
impl From<UpstreamResponseError<'_>> for String {
    fn from(e: UpstreamResponseError<'_>) -> String {
        e.to_string()
    }
}

/// Decodes a Responses API `response` object.
pub fn decode_upstream_response(body: &[u8]) -> Result<Response<'_>, UpstreamResponseError<'_>> {
    let wire: ResponseWire<'_> = serde_json::from_slice(body).map_err(|e| {
        UpstreamResponseError::Malformed(format!("invalid response from upstream: {e}"))
    })?;
    let status = wire.status.as_deref();
    if let Some(error) = wire.error.filter(|_| status.is_none_or(|s| s == "failed")) {
        return Err(UpstreamResponseError::Failed(error.failure()));
    }
    match status {
        Some("failed") => {
            return Err(UpstreamResponseError::Failed(
                ErrorWire::default().failure(),
            ));
        }
        Some("cancelled") => {
            return Err(UpstreamResponseError::Failed(
                ErrorWire {
                    message: Some(Cow::Borrowed("the upstream response was cancelled")),
                    ..ErrorWire::default()
                }
                .failure(),
            ));
        }
        Some("in_progress" | "queued") => {
            return Err(UpstreamResponseError::Malformed(
                "the upstream response is not finished (status in_progress)".into(),
            ));
        }
        _ => {}
    }
    let items = wire.output.unwrap_or_default();
    let mut content = Vec::with_capacity(items.len());
    for item in items {
        item_blocks(item, &mut content).map_err(UpstreamResponseError::Malformed)?;
    }
    let has_tools = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    Ok(Response {
        id: wire.id,
        model: wire.model,
        stop_reason: stop_reason(status, wire.incomplete_details.as_ref(), has_tools),
        content,
        usage: wire.usage.map(|u| u.canonical()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{FailureKind, StopReason};

    #[test]
    fn refusals_are_text_and_unknown_items_carry_nothing() {
        let body = br#"{"id":"resp_1","object":"response","status":"completed","model":"gpt-4o",
            "output":[{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"x"}},
                {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"refusal","refusal":"I can't help with that."}]}],
            "usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":2},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":12}}"#;
        let r = decode_upstream_response(body).unwrap();
        assert!(matches!(r.content.as_slice(), [Block::Text(t)] if t == "I can't help with that."));
        assert_eq!(r.stop_reason, StopReason::EndTurn);
        assert_eq!((r.usage.input, r.usage.cache_write), (3, 2));
    }

    #[test]
    fn incomplete_reasons_map_to_stop_reasons() {
        for (reason, stop) in [
            ("max_output_tokens", StopReason::MaxTokens),
            ("content_filter", StopReason::ContentFilter),
        ] {
            let body = format!(
                r#"{{"status":"incomplete","incomplete_details":{{"reason":"{reason}"}},"output":[{{"type":"function_call","call_id":"c","name":"f","arguments":"{{}}"}}]}}"#
            );
            assert_eq!(
                decode_upstream_response(body.as_bytes())
                    .unwrap()
                    .stop_reason,
                stop
            );
        }
    }

    #[test]
    fn failures_and_malformed_bodies() {
        let e = decode_upstream_response(
            br#"{"status":"failed","error":{"code":"rate_limit_exceeded","message":"slow"}}"#,
        )
        .unwrap_err();
        assert!(matches!(&e, UpstreamResponseError::Failed(f)
            if f.kind == FailureKind::RateLimited && f.status == 429 && f.message == "slow"));
        assert_eq!(String::from(e), "slow");
        // An error envelope in a 200 body.
        let e = decode_upstream_response(
            br#"{"error":{"message":"bad","type":"invalid_request_error","param":"input","code":null}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, UpstreamResponseError::Failed(f) if f.kind == FailureKind::InvalidRequest)
        );
        assert!(matches!(
            decode_upstream_response(br#"{"status":"cancelled","output":[]}"#),
            Err(UpstreamResponseError::Failed(_))
        ));
        for body in [
            &b"not json"[..],
            br#"{"status":"in_progress","output":[]}"#,
            br#"{"status":"completed","output":[{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]}"#,
        ] {
            assert!(matches!(
                decode_upstream_response(body),
                Err(UpstreamResponseError::Malformed(_))
            ));
        }
    }
}
