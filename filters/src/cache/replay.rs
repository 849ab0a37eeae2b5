//! Serving a hit: a cached answer encoded for the client, whole or as a complete SSE stream,
//! by the same encoders a live answer goes through, so a hit looks like a live answer.

use super::answer::{CachedAnswer, CachedBlock};
use crate::canonical::{StreamEvent, Usage};
use crate::providers::{anthropic, openai, responses};
use crate::translate::ClientDialect;
use std::borrow::Cow;

/// What a replay needs besides the answer, as a live translation gets it from the shell.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySpec<'a> {
    /// This request's id: the response id (and a Responses answer's item ids) come from it,
    /// never from the cached answer, so two hits never share an id.
    pub id: &'a str,
    /// The model name to show when the cached answer has none of its own.
    pub model: &'a str,
    /// The gateway's clock, for OpenAI's `created` and Responses' `created_at`.
    pub created: u64,
    /// OpenAI streams: whether the client asked for the usage chunk (`stream_options`).
    pub client_wants_usage: bool,
    /// This client's request body (a Responses answer repeats some of its fields).
    pub request: &'a [u8],
}

impl CachedAnswer {
    /// The answer as the whole body of `client`'s dialect. Its usage is the original one:
    /// the client sees what the answer cost to produce, while the shell bills a hit nothing.
    pub fn replay_whole(&self, client: ClientDialect, spec: &ReplaySpec<'_>) -> Vec<u8> {
        let response = self.to_response(spec.id);
        match client {
            ClientDialect::OpenAi => openai::encode_response(&response, spec.created, spec.model),
            ClientDialect::Anthropic => anthropic::encode_response(&response, spec.model),
            ClientDialect::Responses => responses::encode_response(
                &response,
                &responses::Echo::from_request(spec.request),
                &responses::Ids::new(spec.id),
                spec.created,
                spec.model,
            ),
        }
    }

    /// The answer as a complete SSE stream of `client`'s dialect, ending the dialect's clean
    /// way. Usage is the original one, as in `replay_whole`. Anthropic's redacted thinking has
    /// no stream event in the canonical model and is left out of streamed replays.
    pub fn replay_stream(&self, client: ClientDialect, spec: &ReplaySpec<'_>) -> Vec<u8> {
        let events = self.events(spec.id);
        let mut out = Vec::new();
        match client {
            ClientDialect::OpenAi => {
                let mut e = openai::StreamEncoder::new(
                    spec.id,
                    spec.model,
                    spec.created,
                    spec.client_wants_usage,
                );
                events.iter().for_each(|event| e.encode(event, &mut out));
            }
            ClientDialect::Anthropic => {
                let mut e = anthropic::StreamEncoder::new(spec.id, spec.model);
                events.iter().for_each(|event| e.encode(event, &mut out));
            }
            ClientDialect::Responses => {
                let mut e = responses::StreamEncoder::new(
                    responses::Echo::from_request(spec.request),
                    responses::Ids::new(spec.id),
                    spec.created,
                    spec.model,
                );
                events.iter().for_each(|event| e.encode(event, &mut out));
            }
        }
        out
    }

    /// The canonical event sequence of this answer: Start, Usage (Anthropic reports the input
    /// in `message_start`), the blocks in order, Finish, Usage, End.
    fn events<'a>(&'a self, id: &'a str) -> Vec<StreamEvent<'a>> {
        let usage = Usage::from(self.usage);
        let mut events = vec![
            StreamEvent::Start {
                id: Cow::Borrowed(id),
                model: Cow::Borrowed(&self.model),
            },
            StreamEvent::Usage(usage),
        ];
        let mut tools = 0u32;
        for block in &self.blocks {
            match block {
                CachedBlock::Text { text } => events.push(StreamEvent::Text(Cow::Borrowed(text))),
                CachedBlock::Thinking { text, signature } => {
                    // Even when empty: it opens the block a signature belongs to (Anthropic's
                    // encoder signs only an open thinking block).
                    events.push(StreamEvent::Thinking(Cow::Borrowed(text)));
                    if let Some(signature) = signature {
                        events.push(StreamEvent::ThinkingSignature(Cow::Borrowed(signature)));
                    }
                }
                CachedBlock::RedactedThinking { .. } => {}
                CachedBlock::ToolUse {
                    id,
                    name,
                    input,
                    signature,
                } => {
                    let index = tools;
                    tools += 1;
                    events.push(StreamEvent::ToolStart {
                        index,
                        id: Cow::Borrowed(id),
                        name: Cow::Borrowed(name),
                        signature: signature.as_deref().map(Cow::Borrowed),
                    });
                    events.push(StreamEvent::ToolArgs {
                        index,
                        fragment: Cow::Borrowed(input),
                    });
                }
            }
        }
        events.push(StreamEvent::Finish(self.stop_reason.into()));
        events.push(StreamEvent::Usage(usage));
        events.push(StreamEvent::End);
        events
    }
}
