//! Turning what a client received into a `CachedAnswer`: its whole body, or its SSE stream,
//! decoded back with the decoder of the client's own dialect.
//!
//! The cache stores what the client was actually sent (after translation and response
//! guardrails), never the provider's raw answer: a hit must show the next client exactly what
//! the first one saw. Anything short of a complete, successful answer is refused, since a
//! cached failure or a cut answer would be served again and again.

use super::accumulate::Accumulator;
use super::answer::{CachedAnswer, CachedBlock};
use crate::providers::{anthropic, openai, responses};
use crate::translate::ClientDialect;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

/// The fields that tell a successful body from an error one, in any dialect.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a str>,
    #[serde(default, borrow)]
    status: Option<&'a str>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    /// Anthropic's: `null` only in a message that is not finished.
    #[serde(default, borrow)]
    stop_reason: Option<&'a str>,
}

impl CachedAnswer {
    /// From the whole JSON body the client received. `None` unless it is a complete,
    /// successful answer of `client`'s dialect. Refused: an error body, an Anthropic message
    /// without a stop reason, a Responses object that is not `completed` or `incomplete` (a
    /// stop at the token limit is an answer), and a body with nothing to replay.
    pub fn from_whole(client: ClientDialect, body: &[u8]) -> Option<CachedAnswer> {
        let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
        if envelope.error.is_some() {
            return None;
        }
        let response = match client {
            ClientDialect::OpenAi => openai::decode_response(body).ok()?,
            ClientDialect::Anthropic => {
                if envelope.kind != Some("message") || envelope.stop_reason.is_none() {
                    return None;
                }
                anthropic::decode_response(body).ok()?
            }
            ClientDialect::Responses => {
                if !matches!(envelope.status, Some("completed" | "incomplete")) {
                    return None;
                }
                responses::decode_upstream_response(body).ok()?
            }
        };
        let mut answer = CachedAnswer::from_response(&response)?;
        if client == ClientDialect::Responses {
            answer.signatures_from_responses_client();
        }
        Some(answer)
    }

    /// From the whole SSE stream the client received. Accepted only when the stream finished
    /// cleanly: a stop reason, then the dialect's end (`[DONE]`, `message_stop`,
    /// `response.completed` / `response.incomplete`), and no error anywhere. Refused: an
    /// in-band error or failed response, a stream cut before its end, bytes that are not
    /// SSE, and an answer with nothing in it.
    pub fn from_stream(client: ClientDialect, sse: &[u8]) -> Option<CachedAnswer> {
        let mut acc = Accumulator::default();
        match client {
            ClientDialect::OpenAi => {
                let mut d = openai::StreamDecoder::new();
                d.feed(sse, &mut |event| acc.push(&event));
                acc.at_eof();
                d.finish(&mut |event| acc.push(&event));
            }
            ClientDialect::Anthropic => {
                let mut d = anthropic::StreamDecoder::new();
                d.feed(sse, &mut |event| acc.push(&event));
                acc.at_eof();
                d.finish(&mut |event| acc.push(&event));
            }
            ClientDialect::Responses => {
                let mut d = responses::UpstreamStreamDecoder::new();
                d.feed(sse, &mut |event| acc.push(&event));
                acc.at_eof();
                d.finish(&mut |event| acc.push(&event));
            }
        }
        let mut answer = acc.into_answer()?;
        if client == ClientDialect::Responses {
            answer.signatures_from_responses_client();
        }
        Some(answer)
    }
}

impl CachedAnswer {
    /// The Responses decoder reads `encrypted_content` as a provider would send it (every
    /// blob OpenAI's); what a Responses client was given marks Anthropic's signatures
    /// (`anthropic:`), so they are read back the way a client's next request is.
    fn signatures_from_responses_client(&mut self) {
        for block in &mut self.blocks {
            if let CachedBlock::Thinking {
                signature: Some(signature),
                ..
            } = block
            {
                if let Some(blob) = responses::signature::encrypted_content(signature) {
                    *signature =
                        responses::signature::from_client(Cow::Borrowed(blob)).into_owned();
                }
            }
        }
    }
}
