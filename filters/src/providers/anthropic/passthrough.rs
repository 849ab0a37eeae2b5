//! Anthropic streams passed to Anthropic clients unchanged while usage and the ending are read.

use super::wire::UsageWire;
use crate::canonical::Usage;
use crate::stream::SseFramer;
use serde::Deserialize;

#[derive(Deserialize)]
struct EventProbe {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: Option<MessageProbe>,
    #[serde(default)]
    usage: Option<UsageWire>,
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
    usage: Usage,
    end: PassthroughEnd,
    finished: bool,
}

impl Passthrough {
    pub fn new() -> Self {
        Passthrough::default()
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    pub fn end(&self) -> PassthroughEnd {
        self.end
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let state = (&mut self.usage, &mut self.end, &mut self.finished);
        let (usage, end, finished) = state;
        if self
            .sse
            .feed(input, &mut |event| {
                out.extend_from_slice(event.raw);
                observe(&event.data, usage, end, finished);
            })
            .is_err()
        {
            self.end = PassthroughEnd::Error;
        }
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let (usage, end, finished) = (&mut self.usage, &mut self.end, &mut self.finished);
        self.sse.finish(&mut |event| {
            out.extend_from_slice(event.raw);
            observe(&event.data, usage, end, finished);
        });
    }
}

fn observe(data: &str, usage: &mut Usage, end: &mut PassthroughEnd, finished: &mut bool) {
    // Only the events that carry usage or end the stream are parsed.
    let interesting = [
        "message_start",
        "message_delta",
        "message_stop",
        "\"error\"",
    ]
    .iter()
    .any(|k| data.contains(k));
    if !interesting {
        return;
    }
    let Ok(probe) = serde_json::from_str::<EventProbe>(data) else {
        return;
    };
    match probe.kind.as_str() {
        "message_start" => {
            if let Some(u) = probe.message.and_then(|m| m.usage) {
                usage.merge(&u.canonical());
            }
        }
        "message_delta" => {
            *finished = true;
            if let Some(u) = probe.usage {
                usage.merge(&u.canonical());
            }
        }
        "message_stop" => *end = PassthroughEnd::Done,
        "error" => *end = PassthroughEnd::Error,
        _ => {}
    }
}

/// Usage from a whole Anthropic response body.
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
