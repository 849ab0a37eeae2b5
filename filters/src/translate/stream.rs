//! One streamed response, upstream bytes in, client bytes out: passthrough for same-dialect
//! exchanges, decode-to-canonical-and-encode for every other pair. A plain state machine, since
//! Pingora's body filter is synchronous; it keeps only the unfinished SSE tail between calls.

use super::json_tool::StreamUnwrap;
use super::{is_passthrough, ClientDialect, UpstreamDialect};
use crate::canonical::{FailureKind, StreamEvent, Usage};
use crate::governance::Price;
use crate::guard::{Channel, StreamGuard};
use crate::providers::openai::PassthroughEnd;
use crate::providers::{anthropic, gemini, openai, responses};

/// What the translator needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec<'a> {
    pub client: ClientDialect,
    pub upstream: UpstreamDialect,
    /// Used for the client's ids and model until the upstream names its own.
    pub id: &'a str,
    pub model: &'a str,
    pub created: u64,
    pub client_wants_usage: bool,
    pub json_tool: bool,
    /// Prices the final usage the client receives (`usage.cost_usd`); `None` reports no cost.
    pub price: Option<Price>,
    /// The client's request (a Responses stream repeats some of its fields).
    pub request: &'a [u8],
}

/// How the stream ended, as far as the translator has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    Open,
    Completed,
    Failed(FailureKind),
}

pub struct StreamTranslator {
    inner: Inner,
    client: ClientDialect,
    usage: Usage,
    outcome: StreamOutcome,
    /// Characters of generated text, tool arguments and reasoning that went by, for an estimate
    /// of the output when a stream ends before its usage report.
    output_chars: u64,
}

enum Inner {
    OpenAiPassthrough(openai::Passthrough),
    AnthropicPassthrough(anthropic::Passthrough),
    ResponsesPassthrough(responses::Passthrough),
    Translate {
        decoder: Decoder,
        /// Boxed: the encoders are the largest part, and passthrough streams need none.
        encoder: Box<Encoder>,
        unwrap: Option<StreamUnwrap>,
        /// Response guardrails: text passes through their redactors between the decoder and
        /// the encoder.
        guard: Option<Box<StreamGuard>>,
    },
}

enum Decoder {
    OpenAi(openai::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
    Gemini(gemini::StreamDecoder),
    Responses(responses::UpstreamStreamDecoder),
}

enum Encoder {
    OpenAi(openai::StreamEncoder),
    Anthropic(anthropic::StreamEncoder),
    Responses(responses::StreamEncoder),
}

impl Encoder {
    fn encode(&mut self, event: &StreamEvent<'_>, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.encode(event, out),
            Encoder::Anthropic(e) => e.encode(event, out),
            Encoder::Responses(e) => e.encode(event, out),
        }
    }
}

impl StreamTranslator {
    pub fn new(spec: StreamSpec<'_>) -> Self {
        StreamTranslator::guarded(spec, None)
    }

    /// A translator whose text also passes the response guardrails of `guard`. A guarded
    /// stream is decoded and re-encoded even between same-dialect ends, since the guard reads
    /// and rewrites the text of the events.
    pub fn guarded(spec: StreamSpec<'_>, guard: Option<StreamGuard>) -> Self {
        let guard = guard.filter(StreamGuard::active).map(Box::new);
        let inner = if guard.is_none() && is_passthrough(spec.client, spec.upstream) {
            match spec.client {
                ClientDialect::OpenAi => Inner::OpenAiPassthrough(
                    openai::Passthrough::new(spec.client_wants_usage).reporting_cost(spec.price),
                ),
                ClientDialect::Anthropic => Inner::AnthropicPassthrough(
                    anthropic::Passthrough::new().reporting_cost(spec.price),
                ),
                ClientDialect::Responses => {
                    Inner::ResponsesPassthrough(responses::Passthrough::new())
                }
            }
        } else {
            let decoder = match spec.upstream {
                UpstreamDialect::OpenAi | UpstreamDialect::Azure => {
                    Decoder::OpenAi(openai::StreamDecoder::new())
                }
                UpstreamDialect::Anthropic => Decoder::Anthropic(anthropic::StreamDecoder::new()),
                UpstreamDialect::Gemini => Decoder::Gemini(gemini::StreamDecoder::new(spec.id)),
                UpstreamDialect::Responses => {
                    Decoder::Responses(responses::UpstreamStreamDecoder::new())
                }
            };
            let encoder = match spec.client {
                ClientDialect::OpenAi => Encoder::OpenAi(
                    openai::StreamEncoder::new(
                        spec.id,
                        spec.model,
                        spec.created,
                        spec.client_wants_usage,
                    )
                    .reporting_cost(spec.price),
                ),
                ClientDialect::Anthropic => Encoder::Anthropic(
                    anthropic::StreamEncoder::new(spec.id, spec.model).reporting_cost(spec.price),
                ),
                ClientDialect::Responses => Encoder::Responses(responses::StreamEncoder::new(
                    responses::Echo::from_request(spec.request),
                    responses::Ids::new(spec.id),
                    spec.created,
                    spec.model,
                )),
            };
            Inner::Translate {
                decoder,
                encoder: Box::new(encoder),
                unwrap: spec.json_tool.then(StreamUnwrap::default),
                guard,
            }
        };
        StreamTranslator {
            inner,
            client: spec.client,
            usage: Usage::default(),
            outcome: StreamOutcome::Open,
            output_chars: 0,
        }
    }

    /// Translates one upstream chunk, appending what the client should receive to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.run(Some(input), out);
    }

    /// The upstream body ended (or broke): flushes the rest and, if the stream did not finish,
    /// ends the client's stream with an in-band error instead of a clean end.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(None, out);
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    pub fn outcome(&self) -> StreamOutcome {
        self.outcome
    }

    /// The response guard, with the findings of the request and this stream, and the rule
    /// that cut the stream, if one did.
    pub fn guard(&self) -> Option<&StreamGuard> {
        match &self.inner {
            Inner::Translate {
                guard: Some(guard), ..
            } => Some(guard),
            _ => None,
        }
    }

    /// The usage to bill: the provider's report for a finished stream; for one that ended
    /// early (cut, failed, or abandoned by the client), the report so far raised to what was
    /// seen: output from the characters streamed (about four a token) and, if the provider had
    /// not said, `input_estimate` for the input. The flag says whether anything was estimated.
    pub fn billable_usage(&self, input_estimate: u64) -> (Usage, bool) {
        if self.outcome == StreamOutcome::Completed {
            return (self.usage, false);
        }
        // What a provider reported before its stream ended is not its final count (Anthropic's
        // `message_start` carries a provisional `output_tokens: 1`, Gemini's chunks count so
        // far): the output is at least that and at least what was seen streamed, and it is
        // an estimate in every dialect alike.
        let mut usage = self.usage;
        usage.output = usage.output.max(self.output_chars.div_ceil(4));
        if usage.prompt_total() == 0 {
            usage.input = input_estimate;
        }
        (usage, true)
    }

    fn run(&mut self, input: Option<&[u8]>, out: &mut Vec<u8>) {
        match &mut self.inner {
            Inner::OpenAiPassthrough(p) => {
                match input {
                    Some(bytes) => p.feed(bytes, out),
                    None => p.finish(out),
                }
                self.usage = p.usage();
                self.output_chars = p.output_chars();
                self.outcome = passthrough_outcome(p.end());
                if input.is_none() && self.outcome == StreamOutcome::Open && p.finished() {
                    // Servers that end without `[DONE]` after the finish reason (several
                    // compatible ones do): the answer is whole, so end it the standard way.
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    self.outcome = StreamOutcome::Completed;
                }
            }
            Inner::AnthropicPassthrough(p) => {
                match input {
                    Some(bytes) => p.feed(bytes, out),
                    None => p.finish(out),
                }
                self.usage = p.usage();
                self.output_chars = p.output_chars();
                self.outcome = passthrough_outcome(p.end());
                if input.is_none() && self.outcome == StreamOutcome::Open && p.finished() {
                    out.extend_from_slice(
                        b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                    );
                    self.outcome = StreamOutcome::Completed;
                }
            }
            Inner::ResponsesPassthrough(p) => {
                match input {
                    Some(bytes) => p.feed(bytes, out),
                    None => p.finish(out),
                }
                if input.is_none() && p.end() == PassthroughEnd::Open {
                    p.cut(CUT_MESSAGE, out);
                }
                self.usage = p.usage();
                self.output_chars = p.output_chars();
                self.outcome = passthrough_outcome(p.end());
            }
            Inner::Translate {
                decoder,
                encoder,
                unwrap,
                guard,
            } => {
                let usage = &mut self.usage;
                let outcome = &mut self.outcome;
                let output_chars = &mut self.output_chars;
                let mut encode = |event: StreamEvent<'_>| {
                    let event = match unwrap.as_mut() {
                        Some(u) => match u.map(event) {
                            Some(e) => e,
                            None => return,
                        },
                        None => event,
                    };
                    encoder.encode(&event, out);
                };
                let mut emit = |event: StreamEvent<'_>| {
                    match &event {
                        StreamEvent::Text(t) | StreamEvent::Thinking(t) => {
                            *output_chars += t.len() as u64
                        }
                        StreamEvent::ToolArgs { fragment, .. } => {
                            *output_chars += fragment.len() as u64
                        }
                        StreamEvent::Usage(u) => *usage = *u,
                        StreamEvent::End => *outcome = StreamOutcome::Completed,
                        StreamEvent::Error(f) => *outcome = StreamOutcome::Failed(f.kind),
                        _ => {}
                    }
                    match guard.as_deref_mut() {
                        Some(g) => guard_event(g, event, &mut encode),
                        None => encode(event),
                    }
                };
                match (decoder, input) {
                    (Decoder::OpenAi(d), Some(b)) => d.feed(b, &mut emit),
                    (Decoder::OpenAi(d), None) => d.finish(&mut emit),
                    (Decoder::Anthropic(d), Some(b)) => d.feed(b, &mut emit),
                    (Decoder::Anthropic(d), None) => d.finish(&mut emit),
                    (Decoder::Gemini(d), Some(b)) => d.feed(b, &mut emit),
                    (Decoder::Gemini(d), None) => d.finish(&mut emit),
                    (Decoder::Responses(d), Some(b)) => d.feed(b, &mut emit),
                    (Decoder::Responses(d), None) => d.finish(&mut emit),
                }
                if guard.as_ref().is_some_and(|g| g.blocked().is_some()) {
                    self.outcome = StreamOutcome::Failed(FailureKind::InvalidRequest);
                }
            }
        }
        if input.is_none() && self.outcome == StreamOutcome::Open {
            // A passed-through stream that stopped without its end marker was cut.
            self.outcome = StreamOutcome::Failed(FailureKind::Server);
            cut_stream_error(self.client, out);
        }
    }
}

/// Runs one decoded event through the response guard: text, thinking and tool arguments are
/// redacted (held back only as long as a match could still grow), any other event first
/// flushes what the guard holds. After a blocking match nothing more reaches the client but
/// the in-band error that names the rule.
fn guard_event(
    guard: &mut StreamGuard,
    event: StreamEvent<'_>,
    encode: &mut dyn FnMut(StreamEvent<'_>),
) {
    if guard.blocked().is_some() {
        return;
    }
    let result = {
        let mut emit = |channel: Channel, text: String| {
            encode(match channel {
                Channel::Text => StreamEvent::Text(text.into()),
                Channel::Thinking => StreamEvent::Thinking(text.into()),
                Channel::Tool(index) => StreamEvent::ToolArgs {
                    index,
                    fragment: text.into(),
                },
            })
        };
        match &event {
            StreamEvent::Text(t) => guard.push(Channel::Text, t, &mut emit),
            StreamEvent::Thinking(t) => guard.push(Channel::Thinking, t, &mut emit),
            StreamEvent::ToolArgs { index, fragment } => {
                guard.push(Channel::Tool(*index), fragment, &mut emit)
            }
            // Reports that do not end a block: text held back stays held.
            StreamEvent::Start { .. } | StreamEvent::Usage(_) => Ok(()),
            _ => guard.flush(&mut emit),
        }
    };
    match result {
        Ok(()) => {
            if !matches!(
                event,
                StreamEvent::Text(_) | StreamEvent::Thinking(_) | StreamEvent::ToolArgs { .. }
            ) {
                encode(event);
            }
        }
        Err(blocked) => encode(StreamEvent::Error(crate::canonical::UpstreamFailure {
            kind: FailureKind::InvalidRequest,
            status: 400,
            message: format!(
                "the response was blocked by guardrail rule '{}'",
                blocked.rule
            )
            .into(),
            retry_after: None,
        })),
    }
}

fn passthrough_outcome(end: PassthroughEnd) -> StreamOutcome {
    match end {
        PassthroughEnd::Done => StreamOutcome::Completed,
        PassthroughEnd::Error => StreamOutcome::Failed(FailureKind::Server),
        PassthroughEnd::Open => StreamOutcome::Open,
    }
}

/// The in-band error that ends a client's stream when the upstream stopped mid-way.
const CUT_MESSAGE: &str = "the upstream stream ended before the response was complete";

fn cut_stream_error(client: ClientDialect, out: &mut Vec<u8>) {
    const MESSAGE: &str = CUT_MESSAGE;
    match client {
        ClientDialect::OpenAi => {
            let body = openai::encode_error("api_error", "upstream_stream_cut", MESSAGE, None);
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\n\n");
        }
        ClientDialect::Anthropic => {
            let body = anthropic::encode_error("api_error", MESSAGE);
            out.extend_from_slice(b"event: error\ndata: ");
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\n\n");
        }
        ClientDialect::Responses => {
            let body = serde_json::json!({"type": "error", "code": "server_error", "message": MESSAGE, "param": null, "sequence_number": 0});
            out.extend_from_slice(b"event: error\ndata: ");
            out.extend_from_slice(body.to_string().as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(client: ClientDialect, upstream: UpstreamDialect) -> StreamSpec<'static> {
        StreamSpec {
            client,
            upstream,
            id: "req",
            model: "m",
            created: 0,
            client_wants_usage: true,
            json_tool: false,
            price: None,
            request: b"{}",
        }
    }

    fn translator(client: ClientDialect, upstream: UpstreamDialect) -> StreamTranslator {
        StreamTranslator::new(spec(client, upstream))
    }

    /// The first events of a stream of each dialect, cut after a little text ("Hi!").
    fn cut_stream(upstream: UpstreamDialect) -> &'static [u8] {
        match upstream {
            UpstreamDialect::Anthropic => b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi!\"}}\n\n",
            UpstreamDialect::Gemini => b"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi!\"}]}}],\"usageMetadata\":{\"promptTokenCount\":25,\"candidatesTokenCount\":1}}\n\n",
            UpstreamDialect::OpenAi | UpstreamDialect::Azure => b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi!\"},\"finish_reason\":null}]}\n\n",
            UpstreamDialect::Responses => b"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi!\"}\n\n",
        }
    }

    #[test]
    fn a_stream_that_ends_early_is_billed_as_an_estimate_in_every_dialect() {
        for client in [ClientDialect::OpenAi, ClientDialect::Anthropic] {
            for upstream in [
                UpstreamDialect::OpenAi,
                UpstreamDialect::Anthropic,
                UpstreamDialect::Gemini,
            ] {
                let mut t = translator(client, upstream);
                let mut out = Vec::new();
                t.push(cut_stream(upstream), &mut out);
                assert!(!out.is_empty(), "{client:?} <- {upstream:?}: text went out");
                let (usage, estimated) = t.billable_usage(40);
                assert!(estimated, "{client:?} <- {upstream:?}: a provisional count");
                assert_eq!(usage.output, 1, "{client:?} <- {upstream:?}");
                assert!(usage.prompt_total() > 0, "{client:?} <- {upstream:?}");
            }
        }
        // A native Responses stream cut by the provider: an estimate too, and the client's
        // stream ends with `response.failed`.
        let mut t = translator(ClientDialect::Responses, UpstreamDialect::Responses);
        let mut out = Vec::new();
        t.push(cut_stream(UpstreamDialect::Responses), &mut out);
        t.finish(&mut out);
        assert!(String::from_utf8_lossy(&out).contains("event: response.failed"));
        assert_eq!(t.outcome(), StreamOutcome::Failed(FailureKind::Server));
        let (usage, estimated) = t.billable_usage(40);
        assert!(estimated);
        assert_eq!((usage.output, usage.input), (1, 40));
    }

    fn guard(detect: &str, action: crate::guard::Action) -> StreamGuard {
        use crate::guard::{DetectorSpec, Direction, GuardChain, Policy, RuleSpec};
        let rule = RuleSpec {
            name: "pii".into(),
            detect: vec![DetectorSpec::Builtin(detect.into())],
            action,
            on: vec![Direction::Response],
        };
        let policy = std::sync::Arc::new(Policy::compile(&[rule]).unwrap_or_default());
        GuardChain::new([policy])
            .map(GuardChain::into_stream)
            .unwrap_or_else(|| unreachable!())
    }

    fn openai_chunk(content: &str) -> String {
        format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{content:?}}},\"finish_reason\":null}}]}}\n\n")
    }

    #[test]
    fn a_guarded_same_dialect_stream_never_shows_a_secret_split_across_chunks() {
        for client in [ClientDialect::OpenAi, ClientDialect::Responses] {
            let spec = spec(client, UpstreamDialect::OpenAi);
            let mut t =
                StreamTranslator::guarded(spec, Some(guard("email", crate::guard::Action::Redact)));
            let mut out = Vec::new();
            for piece in ["Write to jane.d", "oe@exam", "ple.com today"] {
                t.push(openai_chunk(piece).as_bytes(), &mut out);
            }
            t.push(b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", &mut out);
            t.finish(&mut out);
            let text = String::from_utf8(out).unwrap_or_default();
            assert!(!text.contains("exam"), "{client:?}: {text}");
            assert!(text.contains("[EMAIL_1]"), "{client:?}: {text}");
            assert_eq!(t.outcome(), StreamOutcome::Completed);
            let guard = t.guard();
            assert_eq!(guard.map(|g| g.findings().len()), Some(1));
            assert!(guard.is_some_and(|g| g.blocked().is_none()));
        }
    }

    #[test]
    fn a_blocking_match_ends_the_stream_with_an_error_naming_the_rule() {
        let spec = spec(ClientDialect::Anthropic, UpstreamDialect::OpenAi);
        let mut t =
            StreamTranslator::guarded(spec, Some(guard("email", crate::guard::Action::Block)));
        let mut out = Vec::new();
        for piece in ["Sure: x@", "y.example and more"] {
            t.push(openai_chunk(piece).as_bytes(), &mut out);
        }
        t.finish(&mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.contains("guardrail rule 'pii'"), "{text}");
        assert!(!text.contains("y.example"), "{text}");
        assert!(!text.contains("message_stop"), "{text}");
        assert_eq!(
            t.outcome(),
            StreamOutcome::Failed(FailureKind::InvalidRequest)
        );
    }
}
