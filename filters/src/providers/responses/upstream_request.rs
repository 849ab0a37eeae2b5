//! Canonical requests encoded for an OpenAI Responses upstream (`POST /v1/responses`), for
//! Chat Completions and Anthropic clients of models that speak only the Responses API
//! (openai-python's `types/responses/response_create_params.py`).
//!
//! Leading system text becomes `instructions`; the conversation becomes `input` items in
//! order: messages (`input_text` / `input_image` for the user, `output_text` for the
//! assistant, `developer` messages for instructions given mid-conversation, at their place),
//! `function_call` and `function_call_output` items, and `reasoning` items for thinking that
//! OpenAI signed. `store` is always false: sluice keeps conversation state itself, and no
//! item is ever referred to by id.
//!
//! What the Responses API cannot express is refused naming the field (`top_k`, `stop`,
//! `seed`, non-zero penalties, images in an assistant turn), never dropped. Two things are
//! left out on purpose, because they are a model's private state rather than the
//! conversation: thinking another provider signed (or nobody did), which OpenAI can neither
//! verify nor read, and Anthropic's redacted thinking (the Anthropic encoder drops unsigned
//! thinking for the same reason). A tool result marked as an error says so in its text: the
//! API has no flag for it.

use super::signature;
use crate::api::RequestError;
use crate::canonical::{Block, Image, Message, Request, ResponseFormat, Role, ToolChoice};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;

/// OpenAI refuses a `max_output_tokens` below this ("integer below minimum value"); smaller
/// limits (Claude Code's one-token quota probe) are raised to it rather than failed.
const MIN_OUTPUT_TOKENS: u64 = 16;

/// What a tool result marked as an error starts with.
const TOOL_ERROR_PREFIX: &str = "Error: ";

#[derive(Serialize)]
struct RequestOut<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    input: Vec<ItemOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<ReasoningOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    store: bool,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ItemOut<'a> {
    Message {
        role: &'static str,
        content: Vec<PartOut<'a>>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: OutputOut<'a>,
    },
    /// No `id`: with `store: false` OpenAI has nothing to look it up by, and the encrypted
    /// content is the whole of it (Codex replays reasoning the same way).
    Reasoning {
        summary: Vec<SummaryOut<'a>>,
        encrypted_content: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    InputText {
        text: Cow<'a, str>,
    },
    OutputText {
        text: &'a str,
    },
    InputImage {
        image_url: Cow<'a, str>,
        detail: &'static str,
    },
}

/// A function call's output: a string, or parts when it has images.
#[derive(Serialize)]
#[serde(untagged)]
enum OutputOut<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a RawValue,
    /// Responses function tools are strict unless told otherwise, and strict mode refuses
    /// the schemas Chat Completions and Anthropic clients write (optional properties, no
    /// `additionalProperties: false`); those clients' tools were never strict.
    strict: bool,
}

#[derive(Serialize)]
struct TextOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<FormatOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verbosity: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FormatOut<'a> {
    Text,
    JsonObject,
    /// The schema goes as the client wrote it (not re-serialized: key order kept).
    JsonSchema {
        name: &'a str,
        schema: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

#[derive(Serialize)]
struct ReasoningOut {
    effort: &'static str,
}

/// The request body for an OpenAI Responses upstream.
pub fn encode_upstream_request(req: &Request<'_>, model: &str) -> Result<Vec<u8>, RequestError> {
    refuse_inexpressible(req)?;
    let no_parameters = RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
        .unwrap_or_default();
    let mut input = Vec::with_capacity(req.messages.len());
    for (i, message) in req.messages.iter().enumerate() {
        encode_message(message, i, &mut input)?;
    }
    // Replaying OpenAI's reasoning (or asking for reasoning) needs its encrypted content back:
    // nothing is stored at OpenAI. Only then: models that do not reason refuse the include
    // ("Encrypted content is not supported with this model").
    let replays_reasoning = input
        .iter()
        .any(|item| matches!(item, ItemOut::Reasoning { .. }));
    let include = if req.reasoning.is_some() || replays_reasoning {
        vec!["reasoning.encrypted_content"]
    } else {
        Vec::new()
    };
    let body = RequestOut {
        model,
        instructions: (!req.system.is_empty()).then(|| join(&req.system, "\n\n")),
        input,
        tools: req
            .tools
            .iter()
            .map(|t| ToolOut {
                kind: "function",
                name: &t.name,
                description: t.description.as_deref(),
                parameters: t.parameters.as_deref().unwrap_or(&no_parameters),
                strict: t.strict.unwrap_or(false),
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
        }),
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
        text: (req.response_format.is_some() || req.verbosity.is_some()).then(|| TextOut {
            format: req.response_format.as_ref().map(text_format),
            verbosity: req.verbosity.map(|v| v.as_str()),
        }),
        reasoning: req.reasoning.map(|r| ReasoningOut {
            effort: r.effort().as_str(),
        }),
        include,
        max_output_tokens: req.max_tokens.map(|m| m.max(MIN_OUTPUT_TOKENS)),
        temperature: req.temperature,
        top_p: req.top_p,
        user: req.user.as_deref(),
        stream: req.stream,
        store: false,
    };
    serde_json::to_vec(&body).map_err(|e| {
        RequestError::invalid(format!("the request cannot be encoded: {e}"), "messages")
    })
}

/// Sampling controls the Responses API does not have. A penalty of zero changes nothing and
/// is let through.
fn refuse_inexpressible(req: &Request<'_>) -> Result<(), RequestError> {
    let unsupported = |what: &str, field: &str| {
        Err(RequestError::unsupported(
            format!("{what} cannot be sent to a model behind OpenAI's Responses API"),
            field,
        ))
    };
    if req.top_k.is_some() {
        return unsupported("top_k", "top_k");
    }
    if !req.stop.is_empty() {
        return unsupported("stop sequences", "stop");
    }
    if req.seed.is_some() {
        return unsupported("seed", "seed");
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return unsupported("presence_penalty", "presence_penalty");
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return unsupported("frequency_penalty", "frequency_penalty");
    }
    Ok(())
}

fn text_format<'a>(format: &'a ResponseFormat<'_>) -> FormatOut<'a> {
    match format {
        ResponseFormat::Text => FormatOut::Text,
        ResponseFormat::JsonObject => FormatOut::JsonObject,
        ResponseFormat::JsonSchema {
            name,
            schema: Some(schema),
            strict,
        } => FormatOut::JsonSchema {
            name,
            schema,
            strict: *strict,
        },
        // A schema is required; without one the request only asked for a JSON object.
        ResponseFormat::JsonSchema { schema: None, .. } => FormatOut::JsonObject,
    }
}

fn join(parts: &[Cow<'_, str>], separator: &str) -> String {
    parts
        .iter()
        .map(|p| p.as_ref())
        .collect::<Vec<_>>()
        .join(separator)
}

/// The input items of one canonical message, in its block order: consecutive text and
/// images make one message item; calls, their outputs and reasoning are items of their own.
fn encode_message<'a>(
    message: &'a Message<'_>,
    i: usize,
    out: &mut Vec<ItemOut<'a>>,
) -> Result<(), RequestError> {
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
        // Instructions given mid-conversation stay at their place, as the developer's.
        Role::System => "developer",
    };
    let mut parts: Vec<PartOut<'a>> = Vec::new();
    let flush = |parts: &mut Vec<PartOut<'a>>, out: &mut Vec<ItemOut<'a>>| {
        if !parts.is_empty() {
            out.push(ItemOut::Message {
                role,
                content: std::mem::take(parts),
            });
        }
    };
    let unsupported = |j: usize, what: &str| {
        RequestError::unsupported(
            format!("{what} cannot be sent to a model behind OpenAI's Responses API"),
            format!("messages[{i}].content[{j}]"),
        )
    };
    for (j, block) in message.content.iter().enumerate() {
        match (message.role, block) {
            (Role::Assistant, Block::Text(text)) => {
                if !text.trim().is_empty() {
                    parts.push(PartOut::OutputText { text });
                }
            }
            (_, Block::Text(text)) => parts.push(PartOut::InputText {
                text: Cow::Borrowed(text),
            }),
            (Role::User, Block::Image(image)) => parts.push(image_part(image)),
            (_, Block::Image(_)) => {
                return Err(unsupported(j, "an image outside a user turn"));
            }
            (
                Role::Assistant,
                Block::ToolUse {
                    id, name, input, ..
                },
            ) => {
                flush(&mut parts, out);
                out.push(ItemOut::FunctionCall {
                    call_id: id,
                    name,
                    arguments: input.get(),
                });
            }
            (
                Role::User,
                Block::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                },
            ) => {
                flush(&mut parts, out);
                out.push(ItemOut::FunctionCallOutput {
                    call_id: tool_use_id,
                    output: tool_output(content, *is_error),
                });
            }
            (Role::Assistant, Block::Thinking { text, signature }) => {
                let Some(blob) = signature.as_deref().and_then(signature::encrypted_content) else {
                    continue;
                };
                flush(&mut parts, out);
                let summary = if text.is_empty() {
                    Vec::new()
                } else {
                    vec![SummaryOut {
                        kind: "summary_text",
                        text,
                    }]
                };
                out.push(ItemOut::Reasoning {
                    summary,
                    encrypted_content: blob,
                });
            }
            (Role::Assistant, Block::RedactedThinking(_)) => {}
            (_, Block::ToolUse { .. }) => {
                return Err(unsupported(j, "a tool call outside an assistant turn"));
            }
            (_, Block::ToolResult { .. }) => {
                return Err(unsupported(j, "a tool result outside a user turn"));
            }
            (_, Block::Thinking { .. } | Block::RedactedThinking(_)) => {
                return Err(unsupported(j, "thinking outside an assistant turn"));
            }
        }
    }
    flush(&mut parts, out);
    Ok(())
}

fn image_part<'a>(image: &'a Image<'_>) -> PartOut<'a> {
    PartOut::InputImage {
        image_url: image.to_url(),
        detail: "auto",
    }
}

/// A tool result as `function_call_output.output`: its text, or parts when it has images.
fn tool_output<'a>(content: &'a [Block<'_>], is_error: bool) -> OutputOut<'a> {
    let has_images = content.iter().any(|b| matches!(b, Block::Image(_)));
    if !has_images {
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        let text = match (texts.as_slice(), is_error) {
            ([one], false) => Cow::Borrowed(*one),
            (_, false) => Cow::Owned(texts.join("\n")),
            (_, true) => Cow::Owned(format!("{TOOL_ERROR_PREFIX}{}", texts.join("\n"))),
        };
        return OutputOut::Text(text);
    }
    let mut parts = Vec::with_capacity(content.len() + 1);
    if is_error {
        parts.push(PartOut::InputText {
            text: Cow::Borrowed(TOOL_ERROR_PREFIX.trim_end()),
        });
    }
    for block in content {
        match block {
            Block::Text(text) => parts.push(PartOut::InputText {
                text: Cow::Borrowed(text),
            }),
            Block::Image(image) => parts.push(image_part(image)),
            _ => {}
        }
    }
    OutputOut::Parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Effort, Reasoning, Tool};
    use crate::providers::responses::decode_request;
    use crate::ErrorType;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn user(text: &str) -> Message<'static> {
        Message {
            role: Role::User,
            content: vec![Block::Text(Cow::Owned(text.to_owned()))],
        }
    }

    fn encode(req: &Request<'_>) -> Value {
        serde_json::from_slice(&encode_upstream_request(req, "gpt-5").unwrap()).unwrap()
    }

    #[test]
    fn a_plain_request_is_small_and_never_stored() {
        let req = Request {
            messages: vec![user("Hi")],
            ..Request::default()
        };
        assert_eq!(
            encode(&req),
            json!({"model": "gpt-5", "store": false, "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]})
        );
    }

    #[test]
    fn what_the_api_cannot_express_is_refused_naming_the_field() {
        let base = || Request {
            messages: vec![user("Hi")],
            ..Request::default()
        };
        let cases: Vec<(Request<'_>, &str)> = vec![
            (
                Request {
                    top_k: Some(40),
                    ..base()
                },
                "top_k",
            ),
            (
                Request {
                    stop: vec![Cow::Borrowed("END")],
                    ..base()
                },
                "stop",
            ),
            (
                Request {
                    seed: Some(7),
                    ..base()
                },
                "seed",
            ),
            (
                Request {
                    presence_penalty: Some(0.5),
                    ..base()
                },
                "presence_penalty",
            ),
            (
                Request {
                    frequency_penalty: Some(-1.0),
                    ..base()
                },
                "frequency_penalty",
            ),
            (
                Request {
                    messages: vec![Message {
                        role: Role::Assistant,
                        content: vec![Block::Image(Image::Url(Cow::Borrowed("https://x/a.png")))],
                    }],
                    ..base()
                },
                "messages[0].content[0]",
            ),
        ];
        for (req, param) in cases {
            let e = encode_upstream_request(&req, "m").unwrap_err();
            assert_eq!(e.error_type, ErrorType::UnsupportedByProvider, "{param}");
            assert_eq!(e.param.as_deref(), Some(param));
        }
        // A zero penalty changes nothing.
        let req = Request {
            presence_penalty: Some(0.0),
            frequency_penalty: Some(0.0),
            ..base()
        };
        assert!(encode_upstream_request(&req, "m").is_ok());
    }

    #[test]
    fn tools_are_flat_and_not_strict_and_choices_map() {
        let tool = Tool {
            name: Cow::Borrowed("f"),
            description: None,
            parameters: None,
            strict: None,
        };
        for (choice, want) in [
            (ToolChoice::Auto, json!("auto")),
            (ToolChoice::None, json!("none")),
            (ToolChoice::Required, json!("required")),
            (
                ToolChoice::Tool(Cow::Borrowed("f")),
                json!({"type": "function", "name": "f"}),
            ),
        ] {
            let req = Request {
                messages: vec![user("Hi")],
                tools: vec![tool.clone()],
                tool_choice: Some(choice),
                parallel_tool_calls: Some(false),
                ..Request::default()
            };
            let sent = encode(&req);
            assert_eq!(sent["tool_choice"], want);
            assert_eq!(sent["parallel_tool_calls"], false);
            assert_eq!(
                sent["tools"],
                json!([{"type": "function", "name": "f", "strict": false,
                    "parameters": {"type": "object", "properties": {}}}])
            );
        }
        // Without tools there is nothing to call in parallel.
        let req = Request {
            messages: vec![user("Hi")],
            parallel_tool_calls: Some(true),
            ..Request::default()
        };
        assert!(encode(&req).get("parallel_tool_calls").is_none());
    }

    #[test]
    fn response_formats_become_text_format() {
        let schema = raw(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#);
        for (format, want) in [
            (ResponseFormat::Text, json!({"type": "text"})),
            (ResponseFormat::JsonObject, json!({"type": "json_object"})),
            (
                ResponseFormat::JsonSchema {
                    name: Cow::Borrowed("answer"),
                    schema: Some(Cow::Borrowed(&schema)),
                    strict: Some(true),
                },
                json!({"type": "json_schema", "name": "answer", "strict": true,
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}),
            ),
            (
                ResponseFormat::JsonSchema {
                    name: Cow::Borrowed("answer"),
                    schema: None,
                    strict: None,
                },
                json!({"type": "json_object"}),
            ),
        ] {
            let req = Request {
                messages: vec![user("Hi")],
                response_format: Some(format),
                ..Request::default()
            };
            assert_eq!(encode(&req)["text"]["format"], want);
        }
    }

    #[test]
    fn sampling_limits_and_reasoning() {
        let req = Request {
            messages: vec![user("Hi")],
            max_tokens: Some(1),
            temperature: Some(0.3),
            top_p: Some(0.5),
            user: Some(Cow::Borrowed("u-1")),
            reasoning: Some(Reasoning::Budget(20_000)),
            stream: true,
            ..Request::default()
        };
        let sent = encode(&req);
        assert_eq!(sent["max_output_tokens"], 16, "OpenAI's minimum");
        assert_eq!(sent["temperature"], 0.3);
        assert_eq!(sent["top_p"], 0.5);
        assert_eq!(sent["user"], "u-1");
        assert_eq!(sent["reasoning"], json!({"effort": "high"}));
        assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(sent["stream"], true);
    }

    #[test]
    fn only_openais_own_reasoning_is_replayed() {
        let thinking = |signature: Option<String>| Block::Thinking {
            text: Cow::Borrowed("hm"),
            signature: signature.map(Cow::Owned),
        };
        let req = Request {
            messages: vec![
                user("Hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        thinking(None),
                        thinking(Some("EqQBanthropic".into())),
                        Block::RedactedThinking(Cow::Borrowed("EmwK")),
                        thinking(Some(signature::from_encrypted_content("gAAAA_blob"))),
                        Block::Text(Cow::Borrowed("Hello")),
                    ],
                },
            ],
            ..Request::default()
        };
        let sent = encode(&req);
        assert_eq!(
            sent["input"][1],
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}],
                "encrypted_content": "gAAAA_blob"})
        );
        assert_eq!(sent["input"][2]["role"], "assistant");
        assert_eq!(sent["input"].as_array().unwrap().len(), 3);
        // The blob is only readable with the include; no reasoning asked for, but replayed.
        assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));
        // Nothing to replay and no reasoning asked: no include (models that do not reason
        // refuse it).
        let req = Request {
            messages: vec![user("Hi")],
            ..Request::default()
        };
        assert!(encode(&req).get("include").is_none());
    }

    #[test]
    fn tool_results_with_images_or_errors() {
        let image = Block::Image(Image::Base64 {
            media_type: Cow::Borrowed("image/png"),
            data: Cow::Borrowed("iVBOR"),
        });
        let req = Request {
            messages: vec![Message {
                role: Role::User,
                content: vec![
                    Block::ToolResult {
                        tool_use_id: Cow::Borrowed("c1"),
                        content: vec![
                            Block::Text(Cow::Borrowed("a")),
                            Block::Text(Cow::Borrowed("b")),
                        ],
                        is_error: true,
                    },
                    Block::ToolResult {
                        tool_use_id: Cow::Borrowed("c2"),
                        content: vec![Block::Text(Cow::Borrowed("shot")), image],
                        is_error: false,
                    },
                    Block::ToolResult {
                        tool_use_id: Cow::Borrowed("c3"),
                        content: Vec::new(),
                        is_error: false,
                    },
                ],
            }],
            ..Request::default()
        };
        let sent = encode(&req);
        assert_eq!(
            sent["input"],
            json!([
                {"type": "function_call_output", "call_id": "c1", "output": "Error: a\nb"},
                {"type": "function_call_output", "call_id": "c2", "output": [
                    {"type": "input_text", "text": "shot"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"}]},
                {"type": "function_call_output", "call_id": "c3", "output": ""},
            ])
        );
    }

    /// A rendering of what a request means, for comparing two of them.
    fn meaning(req: &Request<'_>) -> Value {
        let block = |b: &Block<'_>| match b {
            Block::Text(t) => json!({"text": t}),
            Block::Image(i) => json!({"image": i.to_url()}),
            Block::ToolUse {
                id, name, input, ..
            } => json!({"call": [id, name, serde_json::from_str::<Value>(input.get()).unwrap()]}),
            Block::ToolResult {
                tool_use_id,
                content,
                ..
            } => json!({"result": tool_use_id, "content": content.iter().map(|b| match b {
                Block::Text(t) => json!(t),
                Block::Image(i) => json!(i.to_url()),
                _ => Value::Null,
            }).collect::<Vec<_>>()}),
            Block::Thinking { text, signature } => {
                json!({"thinking": text, "signature": signature})
            }
            Block::RedactedThinking(d) => json!({"redacted": d}),
        };
        json!({
            "system": req.system,
            "messages": req.messages.iter().map(|m| json!({"role": format!("{:?}", m.role),
                "content": m.content.iter().map(block).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            "tools": req.tools.iter().map(|t| json!([t.name, t.description,
                t.parameters.as_ref().map(|p| serde_json::from_str::<Value>(p.get()).unwrap())])).collect::<Vec<_>>(),
            "tool_choice": format!("{:?}", req.tool_choice),
            "parallel_tool_calls": req.parallel_tool_calls,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "user": req.user,
            "response_format": format!("{:?}", req.response_format.as_ref().map(|f| match f {
                ResponseFormat::JsonSchema { name, schema, strict } => format!("{name} {} {strict:?}", schema.as_ref().map(|s| s.get()).unwrap_or("")),
                other => format!("{other:?}"),
            })),
            "reasoning": format!("{:?}", req.reasoning),
            "stream": req.stream,
        })
    }

    #[test]
    fn what_the_responses_client_decoder_reads_back_is_the_same_request() {
        let schema = raw(r#"{"type":"object","properties":{"celsius":{"type":"number"}}}"#);
        let parameters = raw(r#"{"type":"object","properties":{"city":{"type":"string"}}}"#);
        let openai_signature = signature::from_encrypted_content("gAAAAABblob-_x==");
        let req = Request {
            model: Cow::Borrowed("gpt-5"),
            system: vec![Cow::Borrowed("Be brief.")],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![
                        Block::Text(Cow::Borrowed("Weather here?")),
                        Block::Image(Image::Base64 {
                            media_type: Cow::Borrowed("image/jpeg"),
                            data: Cow::Borrowed("/9j/4AAQ"),
                        }),
                        Block::Image(Image::Url(Cow::Borrowed("https://x.test/oslo.jpg"))),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        Block::Thinking {
                            text: Cow::Borrowed("Two lookups."),
                            signature: Some(Cow::Owned(openai_signature)),
                        },
                        Block::Text(Cow::Borrowed("Checking.")),
                        Block::ToolUse {
                            id: Cow::Borrowed("call_1"),
                            name: Cow::Borrowed("get_weather"),
                            input: raw(r#"{"city":"Oslo"}"#),
                            signature: None,
                        },
                        Block::ToolUse {
                            id: Cow::Borrowed("call_2"),
                            name: Cow::Borrowed("get_weather"),
                            input: raw(r#"{"city":"Bergen"}"#),
                            signature: None,
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![
                        Block::ToolResult {
                            tool_use_id: Cow::Borrowed("call_1"),
                            content: vec![Block::Text(Cow::Borrowed("4°C"))],
                            is_error: false,
                        },
                        Block::ToolResult {
                            tool_use_id: Cow::Borrowed("call_2"),
                            content: vec![
                                Block::Text(Cow::Borrowed("7°C")),
                                Block::Image(Image::Url(Cow::Borrowed("https://x.test/radar.png"))),
                            ],
                            is_error: false,
                        },
                    ],
                },
                Message {
                    role: Role::System,
                    content: vec![Block::Text(Cow::Borrowed("Answer in Celsius."))],
                },
                user("Which is warmer?"),
            ],
            tools: vec![Tool {
                name: Cow::Borrowed("get_weather"),
                description: Some(Cow::Borrowed("Current weather")),
                parameters: Some(Cow::Borrowed(&parameters)),
                strict: None,
            }],
            tool_choice: Some(ToolChoice::Tool(Cow::Borrowed("get_weather"))),
            parallel_tool_calls: Some(false),
            max_tokens: Some(500),
            temperature: Some(0.2),
            top_p: Some(0.9),
            user: Some(Cow::Borrowed("u-1")),
            response_format: Some(ResponseFormat::JsonSchema {
                name: Cow::Borrowed("answer"),
                schema: Some(Cow::Borrowed(&schema)),
                strict: Some(true),
            }),
            reasoning: Some(Reasoning::Effort(Effort::High)),
            stream: true,
            ..Request::default()
        };
        let body = encode_upstream_request(&req, "gpt-5").unwrap();
        let back = decode_request(&body).unwrap();
        assert_eq!(meaning(&back), meaning(&req));
    }
}
