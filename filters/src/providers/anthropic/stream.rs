//! Anthropic Messages event streams: decoded from Anthropic into canonical events, and encoded
//! for Anthropic clients out of them (with the block bookkeeping Anthropic's protocol needs).

use super::error::decode_error;
use super::wire::{BlockWire, UsageOut, UsageWire};
use crate::canonical::{StopReason, StreamEvent, Usage};
use crate::governance::{cost_usd, Price, WithCost};
use crate::stream::decoder::fail;
use crate::stream::{EventDecoder, SseDecoder, SseEvent};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;

#[derive(Deserialize)]
struct EventWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<MessageStartWire<'a>>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default, borrow)]
    content_block: Option<BlockWire<'a>>,
    #[serde(default, borrow)]
    delta: Option<DeltaWire<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct MessageStartWire<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct DeltaWire<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

/// Turns an Anthropic SSE stream into canonical events.
pub type StreamDecoder = SseDecoder<AnthropicEvents>;

impl StreamDecoder {
    pub fn new() -> Self {
        SseDecoder::with_state(AnthropicEvents::default())
    }
}

/// What an Anthropic event stream has shown so far.
#[derive(Debug, Default)]
pub struct AnthropicEvents {
    started: bool,
    ended: bool,
    finished: bool,
    /// Content-block index -> tool ordinal, for tool_use blocks. Anthropic numbers all blocks;
    /// OpenAI numbers tool calls only, so the two must not be confused (edge case 1). A map:
    /// each delta looks its block up, and a stream may open thousands.
    tool_of_block: HashMap<u32, u32>,
    next_tool: u32,
    /// Input counts arrive in `message_start`, output counts in `message_delta`.
    usage: Usage,
}

impl EventDecoder for AnthropicEvents {
    fn ended(&self) -> bool {
        self.ended
    }

    fn set_ended(&mut self) {
        self.ended = true;
    }

    /// Anthropic always ends with `message_stop`; without it the stream was cut.
    fn complete_at_eof(&self) -> bool {
        false
    }

    fn on_event(&mut self, event: SseEvent<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let data = event.data.as_ref();
        let wire: EventWire<'_> = match serde_json::from_str(data) {
            Ok(w) => w,
            Err(_) => return fail(self, emit, "the upstream sent a malformed stream event"),
        };
        match wire.kind.as_ref() {
            "message_start" => {
                self.started = true;
                let message = wire.message;
                let usage = message.as_ref().and_then(|m| m.usage);
                let (id, model) = match message {
                    Some(m) => (m.id, m.model),
                    None => (Cow::Borrowed(""), Cow::Borrowed("")),
                };
                emit(StreamEvent::Start { id, model });
                if let Some(usage) = usage {
                    self.usage.merge(&usage.canonical());
                    emit(StreamEvent::Usage(self.usage));
                }
            }
            "content_block_start" => {
                let (Some(index), Some(block)) = (wire.index, wire.content_block) else {
                    return;
                };
                match block.kind.as_ref() {
                    "tool_use" | "server_tool_use" => {
                        let ordinal = self.next_tool;
                        self.next_tool += 1;
                        self.tool_of_block.entry(index).or_insert(ordinal);
                        emit(StreamEvent::ToolStart {
                            index: ordinal,
                            id: block.id.unwrap_or_default(),
                            name: block.name.unwrap_or_default(),
                            signature: None,
                        });
                    }
                    "text" => {
                        if let Some(t) = block.text.filter(|t| !t.is_empty()) {
                            emit(StreamEvent::Text(t));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let (Some(index), Some(delta)) = (wire.index, wire.delta) else {
                    return;
                };
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        if let Some(t) = delta.text.filter(|t| !t.is_empty()) {
                            emit(StreamEvent::Text(t));
                        }
                    }
                    Some("input_json_delta") => {
                        let ordinal = self.tool_of_block.get(&index).copied();
                        if let (Some(ordinal), Some(fragment)) =
                            (ordinal, delta.partial_json.filter(|p| !p.is_empty()))
                        {
                            emit(StreamEvent::ToolArgs {
                                index: ordinal,
                                fragment,
                            });
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = delta.thinking.filter(|t| !t.is_empty()) {
                            emit(StreamEvent::Thinking(t));
                        }
                    }
                    Some("signature_delta") => {
                        if let Some(s) = delta.signature {
                            emit(StreamEvent::ThinkingSignature(s));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(usage) = wire.usage {
                    self.usage.merge(&usage.canonical());
                    emit(StreamEvent::Usage(self.usage));
                }
                if let Some(reason) = wire.delta.and_then(|d| d.stop_reason) {
                    self.finished = true;
                    emit(StreamEvent::Finish(
                        StopReason::from_anthropic(&reason).with_tool_calls(self.next_tool > 0),
                    ));
                }
            }
            "message_stop" => {
                self.ended = true;
                emit(StreamEvent::End);
            }
            "error" => {
                self.ended = true;
                emit(StreamEvent::Error(decode_error(0, data.as_bytes())));
            }
            // ping, content_block_stop and event types added later carry nothing to translate.
            _ => {}
        }
    }
}

/// Writes canonical events as Anthropic `event:`/`data:` SSE pairs.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    started: bool,
    done: bool,
    next_block: u32,
    open: Option<Open>,
    /// Tool ordinal -> content-block index, looked up for each argument fragment.
    tool_blocks: HashMap<u32, u32>,
    stop: Option<StopReason>,
    usage: Usage,
    /// Prices the final `message_delta`'s usage (`usage.cost_usd`).
    price: Option<Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
    Tool(u32),
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Open::Text(i) | Open::Thinking(i) | Open::Tool(i) => i,
        }
    }
}

#[derive(Serialize)]
struct MessageStartOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessageOut<'a>,
}

#[derive(Serialize)]
struct StartMessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: UsageOut,
}

#[derive(Serialize)]
struct BlockStartOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    content_block: BlockStartKind<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockStartKind<'a> {
    Text {
        text: &'static str,
    },
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Empty,
    },
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct BlockDeltaOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: DeltaOut<'a>,
}

/// The `delta` of a `content_block_delta`; variants serialize as `text_delta` and so on.
#[derive(Serialize)]
#[serde(tag = "type")]
enum DeltaOut<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct BlockStopOut {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
}

#[derive(Serialize)]
struct MessageDeltaOut {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopOut,
    usage: WithCost<UsageOut>,
}

#[derive(Serialize)]
struct StopOut {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetailOut<'a>,
}

#[derive(Serialize)]
struct ErrorDetailOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

fn write_event<T: Serialize>(out: &mut Vec<u8>, name: &str, value: &T) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

impl StreamEncoder {
    pub fn new(id: &str, model: &str) -> Self {
        StreamEncoder {
            id: id.to_owned(),
            model: model.to_owned(),
            started: false,
            done: false,
            next_block: 0,
            open: None,
            tool_blocks: HashMap::new(),
            stop: None,
            usage: Usage::default(),
            price: None,
        }
    }

    /// Reports the cost of the usage in the final `message_delta` (`usage.cost_usd`).
    pub fn reporting_cost(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let start = MessageStartOut {
            kind: "message_start",
            message: StartMessageOut {
                id: &self.id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: UsageOut::from(&self.usage),
            },
        };
        write_event(out, "message_start", &start);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            write_event(
                out,
                "content_block_stop",
                &BlockStopOut {
                    kind: "content_block_stop",
                    index: open.index(),
                },
            );
        }
    }

    fn open(&mut self, out: &mut Vec<u8>, kind: BlockStartKind<'_>) -> u32 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        write_event(
            out,
            "content_block_start",
            &BlockStartOut {
                kind: "content_block_start",
                index,
                content_block: kind,
            },
        );
        index
    }

    fn delta(out: &mut Vec<u8>, index: u32, delta: DeltaOut<'_>) {
        write_event(
            out,
            "content_block_delta",
            &BlockDeltaOut {
                kind: "content_block_delta",
                index,
                delta,
            },
        );
    }

    pub fn encode(&mut self, event: &StreamEvent<'_>, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                if !id.is_empty() {
                    self.id.clone_from(&id.to_string());
                }
                if !model.is_empty() {
                    self.model.clone_from(&model.to_string());
                }
            }
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Text(text) => {
                self.ensure_started(out);
                let index = match self.open {
                    Some(Open::Text(i)) => i,
                    _ => {
                        let i = self.open(out, BlockStartKind::Text { text: "" });
                        self.open = Some(Open::Text(i));
                        i
                    }
                };
                Self::delta(out, index, DeltaOut::Text { text });
            }
            StreamEvent::Thinking(text) => {
                self.ensure_started(out);
                let index = match self.open {
                    Some(Open::Thinking(i)) => i,
                    _ => {
                        let i = self.open(
                            out,
                            BlockStartKind::Thinking {
                                thinking: "",
                                signature: "",
                            },
                        );
                        self.open = Some(Open::Thinking(i));
                        i
                    }
                };
                Self::delta(out, index, DeltaOut::Thinking { thinking: text });
            }
            StreamEvent::ThinkingSignature(signature) => {
                if let Some(Open::Thinking(i)) = self.open {
                    Self::delta(out, i, DeltaOut::Signature { signature });
                }
            }
            StreamEvent::ToolStart {
                index, id, name, ..
            } => {
                self.ensure_started(out);
                let block = self.open(
                    out,
                    BlockStartKind::ToolUse {
                        id,
                        name,
                        input: Empty {},
                    },
                );
                self.open = Some(Open::Tool(block));
                self.tool_blocks.entry(*index).or_insert(block);
            }
            StreamEvent::ToolArgs { index, fragment } => {
                // Fragments of an earlier call (servers that interleave parallel calls) go to
                // that call's block by index; Anthropic's SDKs accumulate by index.
                if let Some(block) = self.tool_blocks.get(index) {
                    Self::delta(
                        out,
                        *block,
                        DeltaOut::InputJson {
                            partial_json: fragment,
                        },
                    );
                }
            }
            StreamEvent::Finish(reason) => {
                self.stop = Some(*reason);
            }
            StreamEvent::Error(failure) => {
                self.done = true;
                self.ensure_started(out);
                self.close(out);
                write_event(
                    out,
                    "error",
                    &ErrorOut {
                        kind: "error",
                        error: ErrorDetailOut {
                            kind: failure.kind.anthropic_type(),
                            message: &failure.message,
                        },
                    },
                );
            }
            StreamEvent::End => {
                self.done = true;
                self.ensure_started(out);
                self.close(out);
                let stop = self
                    .stop
                    .unwrap_or(StopReason::EndTurn)
                    .with_tool_calls(!self.tool_blocks.is_empty());
                write_event(
                    out,
                    "message_delta",
                    &MessageDeltaOut {
                        kind: "message_delta",
                        delta: StopOut {
                            stop_reason: stop.anthropic(),
                            stop_sequence: None,
                        },
                        usage: WithCost {
                            usage: UsageOut::from(&self.usage),
                            cost_usd: cost_usd(self.price.as_ref(), &self.usage),
                        },
                    },
                );
                write_event(
                    out,
                    "message_stop",
                    &TypeOnly {
                        kind: "message_stop",
                    },
                );
            }
        }
    }
}
