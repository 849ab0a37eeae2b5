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
            pass_with_cost(&event, self.price.as_ref(), &self.usage, out);
            return;
        }
        out.extend_from_slice(event.raw);
    }
}

/// Usage from a whole OpenAI-dialect response body.
pub fn response_usage(body: &[u8]) -> Option<Usage> {
    // Only the usage is decoded: the rest of the answer passes through untouched.
    let raw = crate::json::top_level_value(body, "usage")?;
    serde_json::from_slice::<Option<UsageWire>>(raw)
        .ok()?
        .map(|u| u.canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"data: {\"id\":\"\",\"choices\":[],\"prompt_filter_results\":[]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}],\"usage\":null}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\ndata: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n";

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
