//! An OpenAI Responses upstream's event stream decoded into canonical events
//! (openai-python's `types/responses/response_stream_event.py`).
//!
//! `response.created` starts the message; `response.output_item.added` opens an item (a
//! function call gets the next tool ordinal there, so ordinals count calls only);
//! `response.output_text.delta` / `response.refusal.delta` are text,
//! `response.reasoning_summary_text.delta` (and raw `response.reasoning_text.delta`) thinking,
//! `response.function_call_arguments.delta` argument fragments of the call at that
//! `output_index`; `response.output_item.done` carries a reasoning item's final
//! `encrypted_content` (the one in `.added` may be partial), which becomes the thinking
//! signature, and fills in what a server did not stream as deltas. `response.completed` /
//! `response.incomplete` end it with usage and the stop reason, `response.failed` and `error`
//! with a failure; a stream cut before any of them is reported as cut. Every event is looked
//! up by `output_index` (or `item_id`) in maps: the work is linear in the stream.

use super::signature;
use super::upstream_wire::{
    part_text, parts, reasoning_text, stop_reason, ErrorWire, ItemWire, ResponseHeadWire,
    SUMMARY_SEPARATOR,
};
use crate::canonical::{StreamEvent, Usage};
use crate::stream::decoder::fail;
use crate::stream::{EventDecoder, SseDecoder, SseEvent};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// Turns a Responses API SSE stream into canonical events.
pub type UpstreamStreamDecoder = SseDecoder<ResponsesEvents>;

impl UpstreamStreamDecoder {
    pub fn new() -> Self {
        SseDecoder::with_state(ResponsesEvents::default())
    }
}

/// One event; which fields are set depends on `type`.
#[derive(Deserialize)]
struct EventWire<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    response: Option<ResponseHeadWire<'a>>,
    #[serde(default)]
    output_index: Option<u32>,
    #[serde(default, borrow)]
    item_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    item: Option<ItemWire<'a>>,
    /// A string in every event this decoder reads; raw so an event added later with another
    /// kind of delta cannot fail the stream.
    #[serde(default, borrow)]
    delta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    #[serde(default)]
    summary_index: Option<u32>,
    // The `error` event: its fields at the top level (as openai-python types it) or in an
    // `error` object (as some servers send it).
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<ErrorWire<'a>>,
}

/// What the stream has shown of one output item.
#[derive(Debug)]
enum Item {
    Message {
        /// Text went out as deltas (so `output_item.done` repeats it, not adds it).
        sent: bool,
    },
    Reasoning {
        sent: bool,
        /// The summary part that text last came from (a new part starts a new paragraph).
        part: u32,
    },
    Call {
        ordinal: u32,
        sent: bool,
    },
    Other,
}

/// What a Responses event stream has shown so far.
#[derive(Debug, Default)]
pub struct ResponsesEvents {
    started: bool,
    ended: bool,
    /// Output items by `output_index`, and by item id for events that only name the item.
    items: HashMap<u32, Item>,
    index_of_id: HashMap<String, u32>,
    next_tool: u32,
    usage: Usage,
}

impl EventDecoder for ResponsesEvents {
    fn ended(&self) -> bool {
        self.ended
    }

    fn set_ended(&mut self) {
        self.ended = true;
    }

    /// Responses streams always end with `response.completed`, `.incomplete` or `.failed`
    /// (or an `error` event); without one the stream was cut.
    fn complete_at_eof(&self) -> bool {
        false
    }

    fn on_event(&mut self, event: SseEvent<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let data = event.data.as_ref();
        if data.trim() == "[DONE]" {
            // Not OpenAI's; a compatible server's end marker after (or instead of) the
            // terminal event. Without a terminal event the stream is reported as cut at EOF.
            return;
        }
        let wire: EventWire<'_> = match serde_json::from_str(data) {
            Ok(w) => w,
            Err(_) => return fail(self, emit, "the upstream sent a malformed stream event"),
        };
        let kind = match (&wire.kind, event.event) {
            (Some(kind), _) => kind.as_ref(),
            (None, Some(name)) => name,
            (None, None) => return,
        };
        match kind {
            "response.created" | "response.in_progress" | "response.queued" => {
                let head = wire.response.unwrap_or_default();
                self.start(head.id, head.model, emit);
            }
            "response.output_item.added" => {
                self.ensure_started(emit);
                let (Some(index), Some(item)) = (wire.output_index, wire.item) else {
                    return;
                };
                self.added(index, item, emit);
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let Some(text) = delta(wire.delta) else {
                    return;
                };
                self.ensure_started(emit);
                let item = self.item_or(wire.output_index, &wire.item_id, || Item::Message {
                    sent: true,
                });
                if let Some(Item::Message { sent }) = item {
                    *sent = true;
                }
                emit(StreamEvent::Text(text));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let Some(text) = delta(wire.delta) else {
                    return;
                };
                self.ensure_started(emit);
                let part = wire.summary_index.unwrap_or(0);
                let item = self.item_or(wire.output_index, &wire.item_id, || Item::Reasoning {
                    sent: false,
                    part,
                });
                if let Some(Item::Reasoning { sent, part: last }) = item {
                    if *sent && *last != part {
                        emit(StreamEvent::Thinking(Cow::Borrowed(SUMMARY_SEPARATOR)));
                    }
                    *sent = true;
                    *last = part;
                }
                emit(StreamEvent::Thinking(text));
            }
            "response.function_call_arguments.delta" => {
                let Some(fragment) = delta(wire.delta) else {
                    return;
                };
                if let Some(Item::Call { ordinal, sent }) =
                    self.item_mut(wire.output_index, &wire.item_id)
                {
                    *sent = true;
                    let index = *ordinal;
                    emit(StreamEvent::ToolArgs { index, fragment });
                }
            }
            "response.function_call_arguments.done" => {
                // Servers that send the arguments only whole.
                let Some(arguments) = wire.arguments.filter(|a| !a.is_empty()) else {
                    return;
                };
                if let Some(Item::Call { ordinal, sent }) =
                    self.item_mut(wire.output_index, &wire.item_id)
                {
                    if !std::mem::replace(sent, true) {
                        let index = *ordinal;
                        emit(StreamEvent::ToolArgs {
                            index,
                            fragment: arguments,
                        });
                    }
                }
            }
            "response.output_item.done" => {
                let (Some(index), Some(item)) = (wire.output_index, wire.item) else {
                    return;
                };
                self.ensure_started(emit);
                self.done(index, item, emit);
            }
            "response.completed" | "response.incomplete" => {
                self.ensure_started(emit);
                let head = wire.response.unwrap_or_default();
                if let Some(usage) = head.usage {
                    self.usage = usage.canonical();
                    emit(StreamEvent::Usage(self.usage));
                }
                // The terminal event's `status` decides; the event name when it has none.
                let status = head.status.as_deref().unwrap_or(match kind {
                    "response.incomplete" => "incomplete",
                    _ => "completed",
                });
                let stop = stop_reason(
                    Some(status),
                    head.incomplete_details.as_ref(),
                    self.next_tool > 0,
                );
                self.ended = true;
                emit(StreamEvent::Finish(stop));
                emit(StreamEvent::End);
            }
            "response.failed" => {
                self.ensure_started(emit);
                let head = wire.response.unwrap_or_default();
                if let Some(usage) = head.usage {
                    self.usage = usage.canonical();
                    emit(StreamEvent::Usage(self.usage));
                }
                self.ended = true;
                emit(StreamEvent::Error(head.error.unwrap_or_default().failure()));
            }
            "error" => {
                let error = wire.error.unwrap_or(ErrorWire {
                    code: wire.code,
                    message: wire.message,
                    kind: None,
                });
                self.ended = true;
                emit(StreamEvent::Error(error.failure()));
            }
            // Part and `.done` events repeat what the deltas said; annotations, logprobs and
            // events added later carry nothing to translate.
            _ => {}
        }
    }
}

/// A string that borrows from the event when it has no escapes (serde's own `Cow<str>`
/// always copies).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// A non-empty string delta.
fn delta(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let Text(text) = serde_json::from_str(raw?.get()).ok()?;
    (!text.is_empty()).then_some(text)
}

impl ResponsesEvents {
    fn start(
        &mut self,
        id: Cow<'_, str>,
        model: Cow<'_, str>,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if !std::mem::replace(&mut self.started, true) {
            emit(StreamEvent::Start { id, model });
        }
    }

    /// A stream that begins without `response.created` (some compatible servers) still
    /// starts before its content.
    fn ensure_started(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        self.start(Cow::Borrowed(""), Cow::Borrowed(""), emit);
    }

    fn item_mut(&mut self, index: Option<u32>, id: &Option<Cow<'_, str>>) -> Option<&mut Item> {
        let index = match index {
            Some(index) => index,
            None => *self.index_of_id.get(id.as_deref()?)?,
        };
        self.items.get_mut(&index)
    }

    /// The item, registered as `new` when an event names an index no `output_item.added`
    /// announced (its text then is not repeated from its `.done`).
    fn item_or(
        &mut self,
        index: Option<u32>,
        id: &Option<Cow<'_, str>>,
        new: impl FnOnce() -> Item,
    ) -> Option<&mut Item> {
        match index {
            Some(index) => Some(self.items.entry(index).or_insert_with(new)),
            None => self.item_mut(None, id),
        }
    }

    fn added(&mut self, index: u32, item: ItemWire<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        if let Some(id) = item.id.as_deref().filter(|id| !id.is_empty()) {
            self.index_of_id.insert(id.to_owned(), index);
        }
        let state = match item.kind.as_ref() {
            "message" => Item::Message { sent: false },
            "reasoning" => Item::Reasoning {
                sent: false,
                part: 0,
            },
            "function_call" => {
                let ordinal = self.next_tool;
                self.next_tool += 1;
                emit(StreamEvent::ToolStart {
                    index: ordinal,
                    id: item.call_id.or(item.id).unwrap_or_default(),
                    name: item.name.unwrap_or_default(),
                    signature: None,
                });
                // Arguments are "" when the call opens; a server that sends it whole has them.
                let arguments = item.arguments.filter(|a| !a.is_empty());
                let sent = arguments.is_some();
                if let Some(fragment) = arguments {
                    emit(StreamEvent::ToolArgs {
                        index: ordinal,
                        fragment,
                    });
                }
                Item::Call { ordinal, sent }
            }
            _ => Item::Other,
        };
        self.items.insert(index, state);
    }

    /// An item is complete: what was not streamed as deltas goes out now, and a reasoning
    /// item's signature after its text.
    fn done(&mut self, index: u32, item: ItemWire<'_>, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        if !self.items.contains_key(&index) {
            // Done without added: open it first, so a call still gets its ordinal.
            let opened = ItemWire {
                kind: item.kind.clone(),
                id: item.id.clone(),
                content: None,
                call_id: item.call_id.clone(),
                name: item.name.clone(),
                arguments: None,
                summary: None,
                encrypted_content: None,
            };
            self.added(index, opened, emit);
        }
        let Some(state) = self.items.get_mut(&index) else {
            return;
        };
        match state {
            Item::Message { sent } => {
                if !std::mem::replace(sent, true) {
                    for text in parts(item.content).into_iter().filter_map(part_text) {
                        emit(StreamEvent::Text(text));
                    }
                }
            }
            Item::Reasoning { sent, .. } => {
                let already = std::mem::replace(sent, true);
                let signature = item
                    .encrypted_content
                    .as_deref()
                    .filter(|e| !e.is_empty())
                    .map(signature::from_encrypted_content);
                let text = if already {
                    Cow::Borrowed("")
                } else {
                    reasoning_text(&item)
                };
                // A signed item with no summary still opens a thinking block for its
                // signature to belong to (canonical encoders attach a signature to the
                // thinking in progress).
                if !text.is_empty() || (!already && signature.is_some()) {
                    emit(StreamEvent::Thinking(text));
                }
                if let Some(signature) = signature {
                    emit(StreamEvent::ThinkingSignature(Cow::Owned(signature)));
                }
            }
            Item::Call { ordinal, sent } => {
                if !std::mem::replace(sent, true) {
                    if let Some(fragment) = item.arguments.filter(|a| !a.is_empty()) {
                        emit(StreamEvent::ToolArgs {
                            index: *ordinal,
                            fragment,
                        });
                    }
                }
            }
            Item::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{FailureKind, StopReason};
    use serde_json::json;

    #[test]
    fn deltas_borrow_unless_escaped() {
        let plain = RawValue::from_string(r#""abc""#.into()).unwrap();
        assert!(matches!(delta(Some(&plain)), Some(Cow::Borrowed("abc"))));
        let escaped = RawValue::from_string(r#""a\nb""#.into()).unwrap();
        assert_eq!(delta(Some(&escaped)).as_deref(), Some("a\nb"));
        let empty = RawValue::from_string(r#""""#.into()).unwrap();
        assert_eq!(delta(Some(&empty)), None);
    }

    fn sse(events: &[serde_json::Value]) -> String {
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
            .collect()
    }

    fn decode(stream: &str) -> Vec<StreamEvent<'static>> {
        let mut decoder = UpstreamStreamDecoder::new();
        let mut events = Vec::new();
        let mut keep = |e: StreamEvent<'_>| events.push(owned(e));
        decoder.feed(stream.as_bytes(), &mut keep);
        decoder.finish(&mut keep);
        events
    }

    fn owned(e: StreamEvent<'_>) -> StreamEvent<'static> {
        let o = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        match e {
            StreamEvent::Start { id, model } => StreamEvent::Start {
                id: o(id),
                model: o(model),
            },
            StreamEvent::Text(t) => StreamEvent::Text(o(t)),
            StreamEvent::Thinking(t) => StreamEvent::Thinking(o(t)),
            StreamEvent::ThinkingSignature(s) => StreamEvent::ThinkingSignature(o(s)),
            StreamEvent::ToolStart {
                index,
                id,
                name,
                signature,
            } => StreamEvent::ToolStart {
                index,
                id: o(id),
                name: o(name),
                signature: signature.map(o),
            },
            StreamEvent::ToolArgs { index, fragment } => StreamEvent::ToolArgs {
                index,
                fragment: o(fragment),
            },
            StreamEvent::Finish(s) => StreamEvent::Finish(s),
            StreamEvent::Usage(u) => StreamEvent::Usage(u),
            StreamEvent::Error(f) => StreamEvent::Error(f.into_owned()),
            StreamEvent::End => StreamEvent::End,
        }
    }

    fn call(i: u32, call_id: &str) -> serde_json::Value {
        json!({"type": "response.output_item.added", "output_index": i,
            "item": {"id": format!("fc_{i}"), "type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": call_id, "name": "f"}})
    }

    fn args(i: u32, delta: &str) -> serde_json::Value {
        json!({"type": "response.function_call_arguments.delta", "output_index": i,
            "item_id": format!("fc_{i}"), "delta": delta})
    }

    fn completed() -> serde_json::Value {
        json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
            "usage": {"input_tokens": 10, "output_tokens": 3}}})
    }

    #[test]
    fn interleaved_call_fragments_reach_their_own_call() {
        // Calls open after a reasoning item and a message: ordinals count calls only.
        let events = decode(&sse(&[
            json!({"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5"}}),
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "rs_0", "type": "reasoning", "summary": []}}),
            json!({"type": "response.output_item.added", "output_index": 1, "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []}}),
            call(2, "call_a"),
            call(3, "call_b"),
            args(3, "{\"b\":"),
            args(2, ""),
            args(2, "{\"a\":1}"),
            // Named by item id only.
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_3", "delta": "2}"}),
            completed(),
        ]));
        let fragments: Vec<(u32, &str)> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolArgs { index, fragment } => Some((*index, fragment.as_ref())),
                _ => None,
            })
            .collect();
        assert_eq!(fragments, [(1, "{\"b\":"), (0, "{\"a\":1}"), (1, "2}")]);
        assert!(
            matches!(&events[1], StreamEvent::ToolStart { index: 0, id, .. } if id == "call_a")
        );
        assert_eq!(
            events[events.len() - 2],
            StreamEvent::Finish(StopReason::ToolUse)
        );
    }

    #[test]
    fn what_was_not_streamed_as_deltas_comes_from_the_done_events() {
        let events = decode(&sse(&[
            // No `response.created`: the stream still starts first.
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_0", "type": "message", "content": []}}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "msg_0", "type": "message",
                "content": [{"type": "output_text", "text": "whole"}, {"type": "refusal", "refusal": "no"}]}}),
            call(1, "call_a"),
            json!({"type": "response.function_call_arguments.done", "output_index": 1, "item_id": "fc_1", "arguments": "{\"x\":1}"}),
            json!({"type": "response.output_item.done", "output_index": 1, "item": {"id": "fc_1", "type": "function_call", "arguments": "{\"x\":1}", "call_id": "call_a", "name": "f"}}),
            // Done without added.
            json!({"type": "response.output_item.done", "output_index": 2, "item": {"id": "fc_2", "type": "function_call", "arguments": "{}", "call_id": "call_b", "name": "g"}}),
            json!({"type": "response.output_item.done", "output_index": 3, "item": {"id": "rs_3", "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "p1"}, {"type": "summary_text", "text": "p2"}], "encrypted_content": "gAAA"}}),
            json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}}),
        ]));
        assert_eq!(
            events,
            [
                StreamEvent::Start {
                    id: "".into(),
                    model: "".into()
                },
                StreamEvent::Text("whole".into()),
                StreamEvent::Text("no".into()),
                StreamEvent::ToolStart {
                    index: 0,
                    id: "call_a".into(),
                    name: "f".into(),
                    signature: None
                },
                StreamEvent::ToolArgs {
                    index: 0,
                    fragment: "{\"x\":1}".into()
                },
                StreamEvent::ToolStart {
                    index: 1,
                    id: "call_b".into(),
                    name: "g".into(),
                    signature: None
                },
                StreamEvent::ToolArgs {
                    index: 1,
                    fragment: "{}".into()
                },
                StreamEvent::Thinking("p1\n\np2".into()),
                StreamEvent::ThinkingSignature("openai:gAAA".into()),
                StreamEvent::Finish(StopReason::ContentFilter),
                StreamEvent::End,
            ]
        );
    }

    #[test]
    fn deltas_of_unannounced_items_are_not_repeated_by_their_done() {
        let events = decode(&sse(&[
            json!({"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_0", "delta": "Hi"}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "msg_0", "type": "message",
                "content": [{"type": "output_text", "text": "Hi"}]}}),
            json!({"type": "response.reasoning_summary_text.delta", "output_index": 1, "item_id": "rs_1", "summary_index": 0, "delta": "hm"}),
            json!({"type": "response.output_item.done", "output_index": 1, "item": {"id": "rs_1", "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "hm"}]}}),
            completed(),
        ]));
        let content: Vec<&StreamEvent<'_>> = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Text(_) | StreamEvent::Thinking(_)))
            .collect();
        assert_eq!(
            content,
            [
                &StreamEvent::Text("Hi".into()),
                &StreamEvent::Thinking("hm".into())
            ]
        );
    }

    #[test]
    fn summary_parts_are_paragraphs() {
        let delta = |s: u32, d: &str| json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "item_id": "rs_0", "summary_index": s, "delta": d});
        let events = decode(&sse(&[
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "rs_0", "type": "reasoning", "summary": []}}),
            delta(0, "a"),
            delta(0, "b"),
            delta(1, "c"),
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "rs_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "ab"}, {"type": "summary_text", "text": "c"}]}}),
            completed(),
        ]));
        let thinking: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Thinking(t) => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        assert_eq!(thinking, "ab\n\nc");
        assert!(!events
            .iter()
            .any(|e| matches!(e, StreamEvent::ThinkingSignature(_))));
    }

    #[test]
    fn errors_in_either_shape_end_the_stream() {
        for error in [
            json!({"type": "error", "code": "server_is_overloaded", "message": "busy", "param": null}),
            json!({"type": "error", "error": {"type": "server_error", "code": "server_is_overloaded", "message": "busy"}}),
        ] {
            let events = decode(&sse(&[error, completed()]));
            match events.as_slice() {
                [StreamEvent::Error(f)] => {
                    assert_eq!((f.kind, f.status), (FailureKind::Overloaded, 503));
                    assert_eq!(f.message, "busy");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn unknown_events_and_a_done_marker_are_ignored() {
        let events = decode(&format!(
            "{}data: [DONE]\n\n",
            sse(&[
                json!({"type": "response.created", "response": {"id": "resp_1", "model": "m"}}),
                json!({"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_0"}),
                json!({"type": "response.output_text.annotation.added", "output_index": 0, "annotation": {"type": "url_citation"}}),
                json!({"type": "response.audio.delta", "delta": {"not": "a string"}}),
                completed(),
            ])
        ));
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[3], StreamEvent::End);
        // `[DONE]` without a terminal event is a cut stream.
        let events = decode("data: [DONE]\n\n");
        assert!(matches!(events.as_slice(), [StreamEvent::Error(_)]));
    }
}
