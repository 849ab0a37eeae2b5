//! Canonical stream events to Responses API events, in the order OpenAI emits them and the
//! official SDK's accumulator checks: `response.created`, `response.in_progress`, then per
//! output item `output_item.added`, its part (`content_part.added` /
//! `reasoning_summary_part.added`), deltas, their `.done`, `output_item.done`; then
//! `response.completed` (or `response.incomplete`) carrying the whole output, or
//! `response.failed` when the provider failed after the stream began. Every event has the next
//! `sequence_number`; item ids are stable between the events and the final object.
//!
//! A thinking signature (`ThinkingSignature`) goes into its reasoning item's
//! `encrypted_content` on `response.output_item.done` and in the final object, never in
//! `.added` (where OpenAI's own may be partial); thinking after a signed item starts a new
//! item, since each signature covers its own thinking only. A reasoning item without summary
//! text has no summary part events, as OpenAI streams one.

use super::response::{
    function_call_item, message_item, output_text, reasoning_item, response_object, status_of,
};
use super::{Echo, Ids};
use crate::canonical::{StopReason, StreamEvent, Usage};
use serde_json::{json, Value};

/// The output item being streamed.
enum Open {
    Reasoning {
        index: usize,
        n: usize,
        text: String,
        /// `reasoning_summary_part.added` went out (with the first summary text).
        part: bool,
        signature: Option<String>,
    },
    Message {
        index: usize,
        n: usize,
        text: String,
    },
    Call {
        index: usize,
        n: usize,
        call_id: String,
        name: String,
        arguments: String,
    },
}

pub struct StreamEncoder {
    echo: Echo,
    ids: Ids,
    created: u64,
    model: String,
    sequence: u64,
    started: bool,
    done: bool,
    open: Option<Open>,
    /// Finished output items, in order.
    output: Vec<Value>,
    calls: usize,
    messages: usize,
    reasonings: usize,
    stop: Option<StopReason>,
    usage: Usage,
}

impl StreamEncoder {
    pub fn new(echo: Echo, ids: Ids, created: u64, model: &str) -> Self {
        StreamEncoder {
            echo,
            ids,
            created,
            model: model.to_owned(),
            sequence: 0,
            started: false,
            done: false,
            open: None,
            output: Vec::new(),
            calls: 0,
            messages: 0,
            reasonings: 0,
            stop: None,
            usage: Usage::default(),
        }
    }

    fn event(&mut self, out: &mut Vec<u8>, kind: &str, mut body: Value) {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(body.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn object(&self, status: &str, incomplete: Value, usage: bool, error: Value) -> Value {
        response_object(
            &self.echo,
            &self.ids,
            self.created,
            &self.model,
            status,
            incomplete,
            self.output.clone(),
            usage.then_some(&self.usage),
            error,
        )
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let response = self.object("in_progress", Value::Null, false, Value::Null);
        self.event(out, "response.created", json!({"response": response}));
        let response = self.object("in_progress", Value::Null, false, Value::Null);
        self.event(out, "response.in_progress", json!({"response": response}));
    }

    /// Ends the open item: its `.done` events, and it joins the output.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        match open {
            Open::Reasoning {
                index,
                n,
                text,
                part,
                signature,
            } => {
                let id = self.ids.reasoning_at(n);
                if part {
                    self.event(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}),
                    );
                    self.event(out, "response.reasoning_summary_part.done", json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": text}}));
                }
                let item = reasoning_item(&self.ids, n, &text, signature.as_deref());
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                );
                self.output.push(item);
            }
            Open::Message { index, n, text } => {
                let id = self.ids.message_at(n);
                self.event(out, "response.output_text.done", json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}));
                self.event(out, "response.content_part.done", json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text(&text)}));
                let item = message_item(&self.ids, n, &text, "completed");
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                );
                self.output.push(item);
            }
            Open::Call {
                index,
                n,
                call_id,
                name,
                arguments,
            } => {
                let arguments = if arguments.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    arguments
                };
                let id = self.ids.function_call(n);
                self.event(out, "response.function_call_arguments.done", json!({"item_id": id, "output_index": index, "arguments": arguments, "name": name}));
                let item =
                    function_call_item(&self.ids, n, &call_id, &name, &arguments, "completed");
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                );
                self.output.push(item);
            }
        }
    }

    /// Opens a reasoning item unless one that takes more is open (thinking continues an
    /// unsigned item; a signature signs the item in progress); returns its output index.
    fn open_reasoning(&mut self, out: &mut Vec<u8>, for_signature: bool) -> usize {
        if let Some(Open::Reasoning {
            index, signature, ..
        }) = &self.open
        {
            if for_signature || signature.is_none() {
                return *index;
            }
        }
        self.close(out);
        let index = self.next_index();
        let n = self.reasonings;
        self.reasonings += 1;
        let item = reasoning_item(&self.ids, n, "", None);
        self.event(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.open = Some(Open::Reasoning {
            index,
            n,
            text: String::new(),
            part: false,
            signature: None,
        });
        index
    }

    /// The index the next output item gets.
    fn next_index(&self) -> usize {
        self.output.len()
    }

    pub fn encode(&mut self, event: &StreamEvent<'_>, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { model, .. } => {
                if !model.is_empty() {
                    self.model = model.to_string();
                }
                self.ensure_started(out);
            }
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Thinking(text) => {
                self.ensure_started(out);
                let index = self.open_reasoning(out, false);
                if text.is_empty() {
                    return;
                }
                if let Some(Open::Reasoning {
                    n, text: all, part, ..
                }) = self.open.as_mut()
                {
                    all.push_str(text);
                    let (n, first) = (*n, !std::mem::replace(part, true));
                    let id = self.ids.reasoning_at(n);
                    if first {
                        self.event(out, "response.reasoning_summary_part.added", json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
                    }
                    self.event(out, "response.reasoning_summary_text.delta", json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": text}));
                }
            }
            StreamEvent::Text(text) => {
                self.ensure_started(out);
                if !matches!(self.open, Some(Open::Message { .. })) {
                    self.close(out);
                    let index = self.next_index();
                    let n = self.messages;
                    self.messages += 1;
                    let mut item = message_item(&self.ids, n, "", "in_progress");
                    item["content"] = json!([]);
                    self.event(
                        out,
                        "response.output_item.added",
                        json!({"output_index": index, "item": item}),
                    );
                    let id = self.ids.message_at(n);
                    self.event(out, "response.content_part.added", json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text("")}));
                    self.open = Some(Open::Message {
                        index,
                        n,
                        text: String::new(),
                    });
                }
                if let Some(Open::Message {
                    index,
                    n,
                    text: all,
                }) = self.open.as_mut()
                {
                    all.push_str(text);
                    let index = *index;
                    let id = self.ids.message_at(*n);
                    self.event(out, "response.output_text.delta", json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []}));
                }
            }
            StreamEvent::ThinkingSignature(new) => {
                self.ensure_started(out);
                self.open_reasoning(out, true);
                if let Some(Open::Reasoning { signature, .. }) = self.open.as_mut() {
                    *signature = Some(new.to_string());
                }
            }
            StreamEvent::ToolStart { id, name, .. } => {
                self.ensure_started(out);
                self.close(out);
                let index = self.next_index();
                let n = self.calls;
                self.calls += 1;
                let item = function_call_item(&self.ids, n, id, name, "", "in_progress");
                self.event(
                    out,
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                );
                self.open = Some(Open::Call {
                    index,
                    n,
                    call_id: id.to_string(),
                    name: name.to_string(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolArgs { fragment, .. } => {
                if let Some(Open::Call {
                    index,
                    n,
                    arguments,
                    ..
                }) = self.open.as_mut()
                {
                    arguments.push_str(fragment);
                    let (index, n) = (*index, *n);
                    let id = self.ids.function_call(n);
                    self.event(
                        out,
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": index, "delta": fragment}),
                    );
                }
            }
            StreamEvent::Finish(stop) => self.stop = Some(*stop),
            StreamEvent::End => {
                self.ensure_started(out);
                self.close(out);
                let (status, incomplete) = status_of(self.stop.unwrap_or(StopReason::EndTurn));
                let kind = if status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                let response = self.object(status, incomplete, true, Value::Null);
                self.event(out, kind, json!({"response": response}));
                self.done = true;
            }
            StreamEvent::Error(failure) => {
                self.ensure_started(out);
                self.close(out);
                let error = json!({"code": "server_error", "message": failure.message.as_ref()});
                let response = self.object("failed", Value::Null, true, error);
                self.event(out, "response.failed", json!({"response": response}));
                self.done = true;
            }
        }
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn events(input: &[StreamEvent<'_>]) -> Vec<Value> {
        let mut encoder = StreamEncoder::new(
            Echo::from_request(br#"{"model":"m","input":"x"}"#),
            Ids::new("req1"),
            1,
            "m",
        );
        let mut out = Vec::new();
        for e in input {
            encoder.encode(e, &mut out);
        }
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn of<'v>(events: &'v [Value], kind: &str) -> Vec<&'v Value> {
        events.iter().filter(|e| e["type"] == kind).collect()
    }

    #[test]
    fn the_signature_arrives_with_the_done_item_and_the_final_object() {
        let events = events(&[
            StreamEvent::Start {
                id: Cow::Borrowed("msg_1"),
                model: Cow::Borrowed("claude"),
            },
            StreamEvent::Thinking(Cow::Borrowed("Let me ")),
            StreamEvent::Thinking(Cow::Borrowed("think.")),
            StreamEvent::ThinkingSignature(Cow::Borrowed("EqQBsig1")),
            // Thinking after a signed block is another item.
            StreamEvent::Thinking(Cow::Borrowed("More.")),
            StreamEvent::ThinkingSignature(Cow::Borrowed("EqQBsig2")),
            // A signature with no thinking text (OpenAI reasoning without a summary).
            StreamEvent::Text(Cow::Borrowed("Hi")),
            StreamEvent::ThinkingSignature(Cow::Borrowed("openai:gAAAA_x")),
            StreamEvent::Finish(StopReason::EndTurn),
            StreamEvent::End,
        ]);
        let added = of(&events, "response.output_item.added");
        assert!(added
            .iter()
            .all(|e| e["item"].get("encrypted_content").is_none()));
        let done = of(&events, "response.output_item.done");
        let items: Vec<&Value> = done.iter().map(|e| &e["item"]).collect();
        assert_eq!(items[0]["encrypted_content"], "anthropic:EqQBsig1");
        assert_eq!(items[0]["summary"][0]["text"], "Let me think.");
        assert_eq!(items[1]["id"], "rs_req1_1");
        assert_eq!(items[1]["encrypted_content"], "anthropic:EqQBsig2");
        assert_eq!(items[2]["type"], "message");
        assert_eq!(items[3]["id"], "rs_req1_2");
        assert_eq!(items[3]["encrypted_content"], "gAAAA_x");
        assert_eq!(items[3]["summary"], json!([]));
        // No summary text: no summary part events for that item.
        let parts = of(&events, "response.reasoning_summary_part.added");
        assert_eq!(parts.len(), 2);
        let completed = of(&events, "response.completed");
        let output = completed[0]["response"]["output"].as_array().unwrap();
        assert_eq!(output.iter().collect::<Vec<_>>(), items);
    }
}
