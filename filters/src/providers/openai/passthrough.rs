//! OpenAI-dialect streams passed to OpenAI clients unchanged, except for what the gateway
//! added or the client should not see: the usage chunk sluice asked for on the client's behalf
//! is metered and then dropped if the client did not ask for it, and Azure's content-filter
//! chunks with empty `choices` are dropped (clients that read `choices[0]` crash on them).

use super::wire::UsageWire;
use crate::canonical::Usage;
use crate::stream::{SseEvent, SseFramer};
use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Deserialize)]
struct ChunkProbe<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceProbe<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceProbe<'a> {
    #[serde(default, borrow)]
    finish_reason: Option<&'a str>,
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
    include_usage: bool,
    usage: Usage,
    end: PassthroughEnd,
    finished: bool,
}

impl Passthrough {
    pub fn new(include_usage: bool) -> Self {
        Passthrough {
            include_usage,
            ..Passthrough::default()
        }
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    pub fn end(&self) -> PassthroughEnd {
        self.end
    }

    /// Whether a finish reason went by (a stream cut after it lost only the usage and `[DONE]`).
    pub fn finished(&self) -> bool {
        self.finished
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let (include_usage, usage, end, finished) = (
            self.include_usage,
            &mut self.usage,
            &mut self.end,
            &mut self.finished,
        );
        let result = self.sse.feed(input, &mut |event| {
            pass(event, include_usage, usage, end, finished, out)
        });
        if result.is_err() {
            self.end = PassthroughEnd::Error;
        }
    }

    /// Flushes a last event the upstream did not terminate with a blank line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let (include_usage, usage, end, finished) = (
            self.include_usage,
            &mut self.usage,
            &mut self.end,
            &mut self.finished,
        );
        self.sse
            .finish(&mut |event| pass(event, include_usage, usage, end, finished, out));
    }
}

fn pass(
    event: SseEvent<'_>,
    include_usage: bool,
    usage: &mut Usage,
    end: &mut PassthroughEnd,
    finished: &mut bool,
    out: &mut Vec<u8>,
) {
    let data = event.data.trim();
    if data == "[DONE]" {
        *end = PassthroughEnd::Done;
        out.extend_from_slice(event.raw);
        return;
    }
    let Ok(probe) = serde_json::from_str::<ChunkProbe<'_>>(data) else {
        out.extend_from_slice(event.raw);
        return;
    };
    if probe.error.is_some() {
        *end = PassthroughEnd::Error;
    }
    if let Some(u) = probe.usage {
        *usage = u.canonical();
    }
    if probe.choices.iter().any(|c| c.finish_reason.is_some()) {
        *finished = true;
    }
    if probe.choices.is_empty() && probe.error.is_none() {
        let usage_only = probe.usage.is_some();
        if !usage_only || !include_usage {
            return;
        }
    }
    out.extend_from_slice(event.raw);
}

/// Usage from a whole OpenAI-dialect response body.
pub fn response_usage(body: &[u8]) -> Option<Usage> {
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
