//! OpenAI chat-completion chunk streams: decoded from OpenAI-dialect upstreams into canonical
//! events, and encoded for OpenAI clients out of them.

use super::error::{decode_error, encode_error};
use super::wire::{ExtraContentWire, UsageOut, UsageWire};
use crate::canonical::{StopReason, StreamEvent, Usage};
use crate::governance::{cost_usd, Price, WithCost};
use crate::json::write::push_json_str;
use crate::stream::decoder::fail;
use crate::stream::{EventDecoder, SseDecoder, SseEvent};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashSet;

#[derive(Deserialize)]
struct ChunkWire<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Vec<ChunkChoiceWire<'a>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    x_groq: Option<XGroqWire>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct XGroqWire {
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct ChunkChoiceWire<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<DeltaWire<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct DeltaWire<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolDeltaWire<'a>>>,
}

#[derive(Deserialize)]
struct ToolDeltaWire<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<FunctionDeltaWire<'a>>,
    #[serde(default, borrow)]
    extra_content: Option<ExtraContentWire<'a>>,
}

#[derive(Deserialize)]
struct FunctionDeltaWire<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// Turns an OpenAI-dialect SSE stream into canonical events.
pub type StreamDecoder = SseDecoder<OpenAiEvents>;

impl StreamDecoder {
    pub fn new() -> Self {
        SseDecoder::with_state(OpenAiEvents::default())
    }
}

/// What an OpenAI chunk stream has shown so far.
#[derive(Debug, Default)]
pub struct OpenAiEvents {
    started: bool,
    finished: bool,
    ended: bool,
    saw_tool: bool,
    /// Tool calls opened so far, by OpenAI index (a start is emitted once per call). A set:
    /// every tool chunk is looked up, and a stream may open thousands.
    opened_tools: HashSet<u32>,
}

impl EventDecoder for OpenAiEvents {
    fn ended(&self) -> bool {
        self.ended
    }

    fn set_ended(&mut self) {
        self.ended = true;
    }

    /// Some compatible servers end without `[DONE]`; after a finish reason the answer is whole.
    fn complete_at_eof(&self) -> bool {
        self.finished
    }

    fn on_event(&mut self, event: SseEvent<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.ended = true;
            emit(StreamEvent::End);
            return;
        }
        let chunk: ChunkWire<'_> = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(_) => return fail(self, emit, "the upstream sent a malformed stream chunk"),
        };
        if chunk.error.is_some() {
            let failure = decode_error(500, data.as_bytes());
            self.ended = true;
            emit(StreamEvent::Error(failure));
            return;
        }
        if chunk.choices.is_empty() && chunk.usage.is_none() && chunk.x_groq.is_none() {
            // Azure's content-filter annotations (empty id and model): nothing to translate.
            return;
        }
        if !self.started {
            self.started = true;
            emit(StreamEvent::Start {
                id: chunk.id.unwrap_or_default(),
                model: chunk.model.unwrap_or_default(),
            });
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(r) = delta.reasoning_content.filter(|r| !r.is_empty()) {
                    emit(StreamEvent::Thinking(r));
                }
                if let Some(t) = delta.content.filter(|t| !t.is_empty()) {
                    emit(StreamEvent::Text(t));
                }
                if let Some(t) = delta.refusal.filter(|t| !t.is_empty()) {
                    emit(StreamEvent::Text(t));
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    let function = call.function;
                    let (name, arguments) = match function {
                        Some(f) => (f.name, f.arguments),
                        None => (None, None),
                    };
                    if self.opened_tools.insert(call.index) {
                        self.saw_tool = true;
                        emit(StreamEvent::ToolStart {
                            index: call.index,
                            id: call
                                .id
                                .unwrap_or_else(|| Cow::Owned(format!("call_{}", call.index))),
                            name: name.unwrap_or_default(),
                            signature: call.extra_content.map(|e| e.google.thought_signature),
                        });
                    }
                    if let Some(args) = arguments.filter(|a| !a.is_empty()) {
                        emit(StreamEvent::ToolArgs {
                            index: call.index,
                            fragment: args,
                        });
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finished = true;
                emit(StreamEvent::Finish(
                    StopReason::from_openai(&reason).with_tool_calls(self.saw_tool),
                ));
            }
        }
        if let Some(usage) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            emit(StreamEvent::Usage(usage.canonical()));
        }
    }
}

/// Writes canonical events as OpenAI `chat.completion.chunk` SSE events.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    finished: bool,
    done: bool,
    usage: Usage,
    /// Prices the usage chunk reports as `usage.cost_usd`.
    price: Option<Price>,
}

#[derive(Serialize)]
struct ChunkOut<'a, D: Serialize> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<D>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<()>>,
}

#[derive(Serialize)]
struct ChoiceOut<D: Serialize> {
    index: u32,
    delta: D,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[cfg(test)]
#[derive(Serialize)]
struct RoleDelta {
    role: &'static str,
    content: &'static str,
}

#[cfg(test)]
#[derive(Serialize)]
struct ContentDelta<'a> {
    content: &'a str,
}

#[cfg(test)]
#[derive(Serialize)]
struct ReasoningDelta<'a> {
    reasoning_content: &'a str,
}

#[cfg(test)]
#[derive(Serialize)]
struct EmptyDelta {}

#[derive(Serialize)]
struct ToolDelta<'a> {
    tool_calls: [ToolCallDelta<'a>; 1],
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_content: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct UsageChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [(); 0],
    usage: WithCost<UsageOut>,
}

/// The deltas of the chunks written by hand (`StreamEncoder::write_chunk`).
#[derive(Debug, Clone, Copy)]
enum Delta<'a> {
    /// The first chunk's `{"role":"assistant","content":""}`.
    Role,
    Content(&'a str),
    Reasoning(&'a str),
    /// The finish chunk's `{}`.
    Empty,
}

impl StreamEncoder {
    /// `id` and `model` are used until the upstream names its own (a `Start` event).
    pub fn new(id: &str, model: &str, created: u64, include_usage: bool) -> Self {
        StreamEncoder {
            id: id.to_owned(),
            model: model.to_owned(),
            created,
            include_usage,
            started: false,
            finished: false,
            done: false,
            usage: Usage::default(),
            price: None,
        }
    }

    /// Reports the cost of the usage in the usage chunk (`usage.cost_usd`).
    pub fn reporting_cost(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn chunk<D: Serialize>(&self, delta: D, finish: Option<&'static str>, out: &mut Vec<u8>) {
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChoiceOut {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: self.include_usage.then_some(None),
        };
        write_data(out, &chunk);
    }

    /// Appends a chunk as `chunk` writes it, byte for byte (a property test holds the two
    /// together), without serde: every event of a translated stream is one of these, and serde
    /// escapes each of the chunk's constant keys byte by byte. Tool-call deltas, nested and
    /// rarer, go through `chunk`.
    fn write_chunk(&self, delta: Delta<'_>, finish: Option<&'static str>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: {\"id\":");
        push_json_str(out, &self.id);
        out.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.created).as_bytes());
        out.extend_from_slice(b",\"model\":");
        push_json_str(out, &self.model);
        out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":");
        match delta {
            Delta::Role => out.extend_from_slice(b"{\"role\":\"assistant\",\"content\":\"\"}"),
            Delta::Content(text) => {
                out.extend_from_slice(b"{\"content\":");
                push_json_str(out, text);
                out.push(b'}');
            }
            Delta::Reasoning(text) => {
                out.extend_from_slice(b"{\"reasoning_content\":");
                push_json_str(out, text);
                out.push(b'}');
            }
            Delta::Empty => out.extend_from_slice(b"{}"),
        }
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        match finish {
            Some(reason) => push_json_str(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]");
        if self.include_usage {
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.write_chunk(Delta::Role, None, out);
        }
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
                self.ensure_started(out);
            }
            StreamEvent::Text(text) => {
                self.ensure_started(out);
                self.write_chunk(Delta::Content(text), None, out);
            }
            StreamEvent::Thinking(text) => {
                self.ensure_started(out);
                self.write_chunk(Delta::Reasoning(text), None, out);
            }
            StreamEvent::ThinkingSignature(_) => {}
            StreamEvent::ToolStart {
                index,
                id,
                name,
                signature,
            } => {
                self.ensure_started(out);
                let delta = ToolDelta {
                    tool_calls: [ToolCallDelta {
                        index: *index,
                        id: Some(id),
                        kind: Some("function"),
                        function: FunctionDelta {
                            name: Some(name),
                            arguments: "",
                        },
                        extra_content: signature
                            .as_ref()
                            .map(|s| serde_json::json!({"google": {"thought_signature": s}})),
                    }],
                };
                self.chunk(delta, None, out);
            }
            StreamEvent::ToolArgs { index, fragment } => {
                self.ensure_started(out);
                let delta = ToolDelta {
                    tool_calls: [ToolCallDelta {
                        index: *index,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: fragment,
                        },
                        extra_content: None,
                    }],
                };
                self.chunk(delta, None, out);
            }
            StreamEvent::Finish(reason) => {
                if !self.finished {
                    self.finished = true;
                    self.ensure_started(out);
                    self.write_chunk(Delta::Empty, Some(reason.openai()), out);
                }
            }
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Error(failure) => {
                self.done = true;
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&encode_error(
                    failure.kind.openai_type(),
                    failure.kind.openai_code(),
                    &failure.message,
                    None,
                ));
                out.extend_from_slice(b"\n\n");
            }
            StreamEvent::End => {
                self.done = true;
                self.ensure_started(out);
                if self.include_usage {
                    write_data(
                        out,
                        &UsageChunkOut {
                            id: &self.id,
                            object: "chat.completion.chunk",
                            created: self.created,
                            model: &self.model,
                            choices: [],
                            usage: WithCost {
                                usage: UsageOut::from(&self.usage),
                                cost_usd: cost_usd(self.price.as_ref(), &self.usage),
                            },
                        },
                    );
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
        }
    }
}

/// Appends `data: <json>\n\n`.
pub(crate) fn write_data<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Text full of what JSON escapes: quotes, backslashes, control characters, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        "[a-z \"\\\\\u{0}\u{1f}\n\té€😀]{0,40}"
    }

    proptest! {
        /// The chunks written by hand are what the serde derive of `ChunkOut` writes.
        #[test]
        fn hand_written_chunks_are_the_serde_derives(
            id in text(),
            model in text(),
            created in any::<u64>(),
            include_usage in any::<bool>(),
            delta_text in text(),
            finish in prop::option::of(prop_oneof![Just("stop"), Just("length"), Just("tool_calls"), Just("content_filter")]),
        ) {
            let encoder = StreamEncoder::new(&id, &model, created, include_usage);
            let cases: [(Delta<'_>, Vec<u8>); 4] = [
                (Delta::Role, {
                    let mut out = Vec::new();
                    encoder.chunk(RoleDelta { role: "assistant", content: "" }, finish, &mut out);
                    out
                }),
                (Delta::Content(&delta_text), {
                    let mut out = Vec::new();
                    encoder.chunk(ContentDelta { content: &delta_text }, finish, &mut out);
                    out
                }),
                (Delta::Reasoning(&delta_text), {
                    let mut out = Vec::new();
                    encoder.chunk(ReasoningDelta { reasoning_content: &delta_text }, finish, &mut out);
                    out
                }),
                (Delta::Empty, {
                    let mut out = Vec::new();
                    encoder.chunk(EmptyDelta {}, finish, &mut out);
                    out
                }),
            ];
            for (delta, by_serde) in cases {
                let mut by_hand = Vec::new();
                encoder.write_chunk(delta, finish, &mut by_hand);
                prop_assert_eq!(
                    String::from_utf8_lossy(&by_hand),
                    String::from_utf8_lossy(&by_serde),
                    "{:?}",
                    delta
                );
            }
        }
    }
}
