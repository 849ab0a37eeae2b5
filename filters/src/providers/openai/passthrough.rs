//! OpenAI-dialect streams passed to OpenAI clients unchanged, except for what the gateway
//! added or the client should not see: the usage chunk sluice asked for on the client's behalf
//! is metered and then dropped if the client did not ask for it, and Azure's content-filter
//! chunks with empty `choices` are dropped (clients that read `choices[0]` crash on them).

use super::wire::UsageWire;
use crate::canonical::Usage;
use crate::governance::{pass_with_cost, Price};
use crate::stream::{SseEvent, SseFramer};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct ChunkProbe<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceProbe<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    /// Groq reports stream usage here.
    #[serde(default)]
    x_groq: Option<XGroqProbe>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct XGroqProbe {
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct ChoiceProbe<'a> {
    #[serde(default, borrow)]
    finish_reason: Option<&'a str>,
    #[serde(default, borrow)]
    delta: Option<DeltaProbe<'a>>,
}

/// Generated text in a delta, measured on the raw JSON (close enough for an estimate).
#[derive(Deserialize)]
struct DeltaProbe<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolProbe<'a>>>,
}

#[derive(Deserialize)]
struct ToolProbe<'a> {
    #[serde(default, borrow)]
    function: Option<FunctionProbe<'a>>,
}

#[derive(Deserialize)]
struct FunctionProbe<'a> {
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
}

impl DeltaProbe<'_> {
    fn chars(&self) -> u64 {
        let len = |r: &Option<&RawValue>| r.map_or(0, |r| r.get().len().saturating_sub(2) as u64);
        len(&self.content)
            + len(&self.reasoning_content)
            + self
                .tool_calls
                .iter()
                .flatten()
                .map(|t| t.function.as_ref().map_or(0, |f| len(&f.arguments)))
                .sum::<u64>()
    }
}

/// How a passed-through stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassthroughEnd {
    #[default]
    Open,
    Done,
    Error,
}

#[derive(Debug, Default)]
pub struct Passthrough {
    sse: SseFramer,
    tally: Tally,
}

/// What the passthrough has learned from the events so far.
#[derive(Debug, Default)]
struct Tally {
    include_usage: bool,
    /// Prices the usage chunk reports as `usage.cost_usd`.
    price: Option<Price>,
    usage: Usage,
    end: PassthroughEnd,
    finished: bool,
    output_chars: u64,
}

impl Passthrough {
    pub fn new(include_usage: bool) -> Self {
        Passthrough {
            sse: SseFramer::new(),
            tally: Tally {
                include_usage,
                ..Tally::default()
            },
        }
    }

    /// Reports the cost of the usage in the usage chunk (`usage.cost_usd`).
    pub fn reporting_cost(mut self, price: Option<Price>) -> Self {
        self.tally.price = price;
        self
    }

    pub fn usage(&self) -> Usage {
        self.tally.usage
    }

    pub fn end(&self) -> PassthroughEnd {
        self.tally.end
    }

    /// Whether a finish reason went by (a stream cut after it lost only the usage and `[DONE]`).
    pub fn finished(&self) -> bool {
        self.tally.finished
    }

    /// Characters of generated text and arguments that went by.
    pub fn output_chars(&self) -> u64 {
        self.tally.output_chars
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let tally = &mut self.tally;
        if self
            .sse
            .feed(input, &mut |event| tally.pass(event, out))
            .is_err()
        {
            self.tally.end = PassthroughEnd::Error;
        }
    }

    /// Flushes a last event the upstream did not terminate with a blank line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let tally = &mut self.tally;
        self.sse.finish(&mut |event| tally.pass(event, out));
    }
}

impl Tally {
    fn pass(&mut self, event: SseEvent<'_>, out: &mut Vec<u8>) {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.end = PassthroughEnd::Done;
            out.extend_from_slice(event.raw);
            return;
        }
        if let Some(chars) = super::plain_delta::plain_text_chars(data) {
            // A plain text delta (most events): nothing to read but its length.
            self.output_chars += chars;
            out.extend_from_slice(event.raw);
            return;
        }
        self.pass_decoded(&event, data, out);
    }

    /// An event the fast check could not vouch for, decoded.
    fn pass_decoded(&mut self, event: &SseEvent<'_>, data: &str, out: &mut Vec<u8>) {
        let Ok(probe) = serde_json::from_str::<ChunkProbe<'_>>(data) else {
            out.extend_from_slice(event.raw);
            return;
        };
        if probe.error.is_some() {
            self.end = PassthroughEnd::Error;
        }
        if let Some(u) = probe.usage.or(probe.x_groq.and_then(|x| x.usage)) {
            self.usage = u.canonical();
        }
        for choice in &probe.choices {
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
            if let Some(delta) = &choice.delta {
                self.output_chars += delta.chars();
            }
        }
        if probe.choices.is_empty() && probe.error.is_none() {
            let usage_only = probe.usage.is_some();
            if !usage_only || !self.include_usage {
                return;
            }
            pass_with_cost(event, self.price.as_ref(), &self.usage, out);
            return;
        }
        out.extend_from_slice(event.raw);
    }
}

/// Usage from a whole OpenAI-dialect response body.
pub fn response_usage(body: &[u8]) -> Option<Usage> {
    crate::providers::json_util::answer_usage_with(body, UsageWire::read_counts)
        .map(|u| u.canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"data: {\"id\":\"\",\"choices\":[],\"prompt_filter_results\":[]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}],\"usage\":null}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\ndata: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n";

    mod plain_delta_agrees {
        use super::super::{SseEvent, Tally};
        use proptest::prelude::*;
        use serde_json::{json, Value};
        use std::borrow::Cow;

        fn maybe<T: Strategy<Value = Value>>(s: T) -> impl Strategy<Value = Option<Value>> {
            prop::option::of(s)
        }

        fn chunk() -> impl Strategy<Value = Value> {
            let text = "[a-z \\\"{}:,]{0,12}";
            let delta = (
                maybe(prop_oneof![text.prop_map(Value::String), Just(Value::Null)]),
                maybe(text.prop_map(Value::String)),
                maybe(Just(
                    json!([{"index": 0, "function": {"arguments": "{\"a\":1}"}}]),
                )),
                maybe(Just(json!("assistant"))),
            )
                .prop_map(|(content, reasoning, tools, role)| {
                    let mut d = serde_json::Map::new();
                    for (k, v) in [
                        ("content", content),
                        ("reasoning_content", reasoning),
                        ("tool_calls", tools),
                        ("role", role),
                    ] {
                        if let Some(v) = v {
                            d.insert(k.into(), v);
                        }
                    }
                    Value::Object(d)
                });
            let choice = (
                delta,
                prop_oneof![4 => Just(Value::Null), 1 => Just(json!("stop")), 1 => Just(json!("length"))],
                prop_oneof![
                    4 => Just(Value::Null),
                    1 => Just(json!({"content": [{"token": "a", "logprob": -0.1}]}))
                ],
            )
                .prop_map(|(delta, finish, logprobs)| {
                    json!({"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs})
                });
            (
                prop::collection::vec(choice, 0..3),
                prop_oneof![
                    Just(None),
                    Just(Some(Value::Null)),
                    Just(Some(
                        json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
                    ))
                ],
                prop::bool::weighted(0.15),
                prop::bool::weighted(0.15),
            )
                .prop_map(|(choices, usage, error, groq)| {
                    let mut c = serde_json::Map::new();
                    c.insert("id".into(), json!("chatcmpl-1"));
                    c.insert("object".into(), json!("chat.completion.chunk"));
                    c.insert("choices".into(), Value::Array(choices));
                    if let Some(u) = usage {
                        c.insert("usage".into(), u);
                    }
                    if error {
                        c.insert("error".into(), json!({"message": "boom"}));
                    }
                    if groq {
                        c.insert(
                            "x_groq".into(),
                            json!({"usage": {"prompt_tokens": 1, "completion_tokens": 2}}),
                        );
                    }
                    Value::Object(c)
                })
        }

        proptest! {
            /// Whatever the chunk, the fast check and the decode leave the same tally and pass the
            /// same bytes.
            #[test]
            fn with_the_decode(chunk in chunk(), pretty in any::<bool>(), include_usage in any::<bool>()) {
                let data = if pretty {
                    serde_json::to_string_pretty(&chunk).unwrap()
                } else {
                    chunk.to_string()
                };
                let raw = format!("data: {data}\n\n");
                let event = || SseEvent { event: None, data: Cow::Borrowed(data.as_str()), raw: raw.as_bytes() };
                let (mut fast, mut decoded) = (Tally::default(), Tally::default());
                fast.include_usage = include_usage;
                decoded.include_usage = include_usage;
                let (mut fast_out, mut decoded_out) = (Vec::new(), Vec::new());
                fast.pass(event(), &mut fast_out);
                decoded.pass_decoded(&event(), data.trim(), &mut decoded_out);
                prop_assert_eq!(fast_out, decoded_out);
                prop_assert_eq!(fast.output_chars, decoded.output_chars);
                prop_assert_eq!(fast.finished, decoded.finished);
                prop_assert_eq!(fast.end, decoded.end);
                prop_assert_eq!(format!("{:?}", fast.usage), format!("{:?}", decoded.usage));
            }
        }
    }

    fn run(include_usage: bool) -> (String, Passthrough) {
        let mut p = Passthrough::new(include_usage);
        let mut out = Vec::new();
        for byte in STREAM.chunks(1) {
            p.feed(byte, &mut out);
        }
        p.finish(&mut out);
        (String::from_utf8(out).unwrap(), p)
    }

    #[test]
    fn groq_usage_is_read_from_x_groq() {
        let stream = b"data: {\"id\":\"g\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req\",\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":10}}}\n\ndata: [DONE]\n\n";
        let mut p = Passthrough::new(false);
        let mut out = Vec::new();
        p.feed(stream, &mut out);
        assert_eq!(p.usage().total(), 10);
        assert_eq!(out, stream.to_vec(), "the chunk carries content: it passes");
    }

    #[test]
    fn usage_chunk_is_metered_and_dropped_unless_asked() {
        let (out, p) = run(false);
        assert!(!out.contains("prompt_tokens"));
        assert!(
            !out.contains("prompt_filter_results"),
            "filter chunk dropped"
        );
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert_eq!(p.usage().prompt_total(), 5);
        assert_eq!(p.usage().output, 2);
        assert_eq!(p.end(), PassthroughEnd::Done);
        assert!(p.finished());

        let (out, _) = run(true);
        assert!(out.contains("\"prompt_tokens\":5"));
    }
}
