//! Responses API streams passed to Responses clients unchanged (OpenAI and Azure answer the
//! Responses API natively) while the usage and the ending are read from the events. A stream
//! the upstream cut is ended the way OpenAI ends a failed one: `response.failed`, carrying the
//! response object the stream began with, and the next sequence number.

use super::upstream_wire::UsageWire;
use super::usage::response_usage_of;
use crate::canonical::Usage;
use crate::providers::openai::PassthroughEnd;
use crate::stream::{SseEvent, SseFramer};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

#[derive(Deserialize)]
struct EventProbe<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: &'a str,
    #[serde(default)]
    sequence_number: Option<u64>,
    #[serde(default, borrow)]
    delta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TerminalProbe {
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Debug, Default)]
pub struct Passthrough {
    sse: SseFramer,
    tally: Tally,
}

/// What the passthrough has learned from the events so far.
#[derive(Debug, Default)]
struct Tally {
    usage: Usage,
    end: PassthroughEnd,
    output_chars: u64,
    /// The last `sequence_number` seen, to number an event sluice adds.
    last_sequence: Option<u64>,
    /// The response object of `response.created`, for a `response.failed` if the stream is cut.
    created: Option<Value>,
}

impl Passthrough {
    pub fn new() -> Self {
        Passthrough::default()
    }

    pub fn usage(&self) -> Usage {
        self.tally.usage
    }

    pub fn end(&self) -> PassthroughEnd {
        self.tally.end
    }

    pub fn output_chars(&self) -> u64 {
        self.tally.output_chars
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let tally = &mut self.tally;
        if self
            .sse
            .feed(input, &mut |event| tally.pass(&event, out))
            .is_err()
        {
            self.tally.end = PassthroughEnd::Error;
        }
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let tally = &mut self.tally;
        self.sse.finish(&mut |event| tally.pass(&event, out));
    }

    /// Writes the `response.failed` event that ends a stream the upstream cut.
    pub fn cut(&mut self, message: &str, out: &mut Vec<u8>) {
        self.tally.cut(message, out);
    }
}

impl Tally {
    fn pass(&mut self, event: &SseEvent<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(event.raw);
        self.observe(&event.data);
    }

    fn cut(&mut self, message: &str, out: &mut Vec<u8>) {
        let mut response = self.created.take().unwrap_or_else(
            || serde_json::json!({"object": "response", "output": [], "usage": null}),
        );
        response["status"] = "failed".into();
        response["error"] = serde_json::json!({"code": "server_error", "message": message});
        let event = serde_json::json!({
            "type": "response.failed",
            "sequence_number": self.last_sequence.map_or(0, |n| n.saturating_add(1)),
            "response": response,
        });
        out.extend_from_slice(b"event: response.failed\ndata: ");
        out.extend_from_slice(event.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
        self.end = PassthroughEnd::Error;
    }

    fn observe(&mut self, data: &str) {
        let Ok(probe) = serde_json::from_str::<EventProbe<'_>>(data) else {
            return;
        };
        if probe.sequence_number.is_some() {
            self.last_sequence = probe.sequence_number;
        }
        match probe.kind {
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta"
            | "response.reasoning_text.delta" => {
                let len = probe.delta.map_or(0, |d| d.get().len().saturating_sub(2));
                self.output_chars = self.output_chars.saturating_add(len as u64);
            }
            "response.created" => {
                self.created = probe
                    .response
                    .and_then(|r| serde_json::from_str(r.get()).ok());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let usage = probe
                    .response
                    .and_then(|r| serde_json::from_str::<TerminalProbe>(r.get()).ok())
                    .and_then(|r| r.usage);
                if let Some(usage) = usage {
                    self.usage = usage.canonical();
                }
                self.end = if probe.kind == "response.failed" {
                    PassthroughEnd::Error
                } else {
                    PassthroughEnd::Done
                };
            }
            "error" => self.end = PassthroughEnd::Error,
            _ => {}
        }
    }
}

/// Usage in a whole Responses API body.
pub fn response_usage(body: &[u8]) -> Option<Usage> {
    response_usage_of(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello there\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":7,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"usage\":{\"input_tokens\":120,\"input_tokens_details\":{\"cached_tokens\":100},\"output_tokens\":30,\"output_tokens_details\":{\"reasoning_tokens\":12},\"total_tokens\":150}}}\n\n",
    );

    #[test]
    fn bytes_pass_unchanged_and_usage_comes_from_the_terminal_event() {
        for split in 1..STREAM.len() {
            let mut p = Passthrough::new();
            let mut out = Vec::new();
            p.feed(&STREAM.as_bytes()[..split], &mut out);
            p.feed(&STREAM.as_bytes()[split..], &mut out);
            p.finish(&mut out);
            assert_eq!(out, STREAM.as_bytes(), "split at {split}");
            assert_eq!(p.end(), PassthroughEnd::Done);
            assert_eq!(
                p.usage(),
                Usage {
                    input: 20,
                    cache_read: 100,
                    cache_write: 0,
                    output: 30,
                    reasoning: 12
                }
            );
            assert_eq!(p.output_chars(), 11);
        }
    }

    #[test]
    fn a_cut_stream_ends_with_response_failed_numbered_after_the_last_event() {
        let cut_at = STREAM.find("event: response.completed").unwrap_or(0);
        let mut p = Passthrough::new();
        let mut out = Vec::new();
        p.feed(&STREAM.as_bytes()[..cut_at], &mut out);
        p.finish(&mut out);
        assert_eq!(p.end(), PassthroughEnd::Open);
        p.cut("the upstream stream ended", &mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        let last = text.trim_end().rsplit("data: ").next().unwrap_or_default();
        let event: Value = serde_json::from_str(last).unwrap_or_default();
        assert_eq!(event["type"], "response.failed");
        assert_eq!(event["sequence_number"], 5);
        assert_eq!(event["response"]["id"], "resp_1");
        assert_eq!(event["response"]["status"], "failed");
        assert_eq!(event["response"]["error"]["code"], "server_error");
        assert_eq!(p.end(), PassthroughEnd::Error);
    }

    #[test]
    fn a_failed_event_is_an_error_end() {
        let mut p = Passthrough::new();
        let mut out = Vec::new();
        p.feed(b"data: {\"type\":\"response.failed\",\"sequence_number\":2,\"response\":{\"status\":\"failed\",\"usage\":null}}\n\n", &mut out);
        assert_eq!(p.end(), PassthroughEnd::Error);
    }
}
