//! Anthropic streams passed to Anthropic clients unchanged while usage and the ending are read.

use super::wire::UsageWire;
use crate::canonical::Usage;
use crate::governance::{pass_with_cost, Price};
use crate::stream::{SseEvent, SseFramer};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct EventProbe<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: &'a str,
    #[serde(default)]
    message: Option<MessageProbe>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default, borrow)]
    delta: Option<DeltaProbe<'a>>,
}

#[derive(Deserialize)]
struct DeltaProbe<'a> {
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    partial_json: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MessageProbe {
    #[serde(default)]
    usage: Option<UsageWire>,
}

pub use crate::providers::openai::PassthroughEnd;

#[derive(Debug, Default)]
pub struct Passthrough {
    sse: SseFramer,
    tally: Tally,
    /// Prices the final `message_delta`'s usage (`usage.cost_usd`).
    price: Option<Price>,
}

/// What the passthrough has learned from the events so far.
#[derive(Debug, Default)]
struct Tally {
    usage: Usage,
    end: PassthroughEnd,
    finished: bool,
    output_chars: u64,
}

impl Passthrough {
    pub fn new() -> Self {
        Passthrough::default()
    }

    /// Reports the cost of the usage in the final `message_delta` (`usage.cost_usd`).
    pub fn reporting_cost(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    pub fn usage(&self) -> Usage {
        self.tally.usage
    }

    pub fn end(&self) -> PassthroughEnd {
        self.tally.end
    }

    /// Whether `message_delta` (the stop reason) went by.
    pub fn finished(&self) -> bool {
        self.tally.finished
    }

    pub fn output_chars(&self) -> u64 {
        self.tally.output_chars
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let (tally, price) = (&mut self.tally, self.price.as_ref());
        let result = self
            .sse
            .feed(input, &mut |event| tally.pass(&event, price, out));
        if result.is_err() {
            self.tally.end = PassthroughEnd::Error;
        }
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let (tally, price) = (&mut self.tally, self.price.as_ref());
        self.sse.finish(&mut |event| tally.pass(&event, price, out));
    }
}

impl Tally {
    /// Reads the event, then writes it as it came, or with the cost in its usage when it is
    /// the final `message_delta` and a price is known.
    fn pass(&mut self, event: &SseEvent<'_>, price: Option<&Price>, out: &mut Vec<u8>) {
        if self.observe(&event.data) {
            pass_with_cost(event, price, &self.usage, out);
        } else {
            out.extend_from_slice(event.raw);
        }
    }

    /// Learns from one event; true for `message_delta`.
    fn observe(&mut self, data: &str) -> bool {
        let Ok(probe) = serde_json::from_str::<EventProbe<'_>>(data) else {
            return false;
        };
        match probe.kind {
            "message_start" => {
                if let Some(u) = probe.message.and_then(|m| m.usage) {
                    self.usage.merge(&u.canonical());
                }
            }
            "content_block_delta" => {
                if let Some(d) = probe.delta {
                    let len = |r: Option<&RawValue>| {
                        r.map_or(0, |r| r.get().len().saturating_sub(2) as u64)
                    };
                    self.output_chars += len(d.text) + len(d.partial_json) + len(d.thinking);
                }
            }
            "message_delta" => {
                self.finished = true;
                if let Some(u) = probe.usage {
                    self.usage.merge(&u.canonical());
                }
                return true;
            }
            "message_stop" => self.end = PassthroughEnd::Done,
            "error" => self.end = PassthroughEnd::Error,
            _ => {}
        }
        false
    }
}

/// Usage from a whole Anthropic response body.
pub fn response_usage(body: &[u8]) -> Option<Usage> {
    crate::providers::json_util::answer_usage_with(body, UsageWire::read_counts)
        .map(|u| u.canonical())
}
