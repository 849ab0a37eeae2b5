//! OpenAI chat requests: decoded from clients into the canonical model, and encoded for
//! OpenAI-dialect upstreams out of it (when the client spoke Anthropic's dialect).

use super::wire::{ChatRequestWire, MessageWire, PartWire, ToolCallWire};
use crate::api::RequestError;
use crate::canonical::{
    Block, Effort, Image, Message, Reasoning, Request, ResponseFormat, Role, Tool, ToolChoice,
    Verbosity,
};
use crate::providers::json_util::{arguments_object, TextOrParts};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

pub fn decode_request(body: &[u8]) -> Result<Request<'_>, RequestError> {
    let wire: ChatRequestWire<'_> =
        serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    if wire.n.is_some_and(|n| n > 1) {
        return Err(RequestError::unsupported(
            "n > 1 is not supported when the request is translated for another provider",
            "n",
        ));
    }
    let mut req = Request {
        model: wire.model,
        max_tokens: wire.max_completion_tokens.or(wire.max_tokens),
        temperature: wire.temperature,
        top_p: wire.top_p,
        top_k: wire.top_k,
        seed: wire.seed,
        presence_penalty: wire.presence_penalty,
        frequency_penalty: wire.frequency_penalty,
        user: wire.user,
        parallel_tool_calls: wire.parallel_tool_calls,
        stream: wire.stream.unwrap_or(false),
        include_usage: wire.stream_options.is_some_and(|o| o.include_usage),
        ..Request::default()
    };
    if let Some(stop) = wire.stop {
        req.stop = decode_stop(stop)?;
    }
    if let Some(effort) = wire.reasoning_effort {
        let effort = Effort::parse(&effort).ok_or_else(|| {
            RequestError::invalid(
                format!("unknown reasoning_effort '{effort}'"),
                "reasoning_effort",
            )
        })?;
        req.reasoning = Some(Reasoning::Effort(effort));
    }
    if let Some(verbosity) = wire.verbosity {
        req.verbosity = Some(Verbosity::parse(&verbosity, "verbosity")?);
    }
    if let Some(format) = wire.response_format {
        req.response_format = Some(match format.kind.as_ref() {
            "text" => ResponseFormat::Text,
            "json_object" => ResponseFormat::JsonObject,
            "json_schema" => {
                let schema = format.json_schema.ok_or_else(|| {
                    RequestError::invalid("json_schema is required", "response_format.json_schema")
                })?;
                ResponseFormat::JsonSchema {
                    name: schema.name.unwrap_or(Cow::Borrowed("response")),
                    schema: schema.schema.map(Cow::Borrowed),
                    strict: schema.strict,
                }
            }
            other => {
                return Err(RequestError::invalid(
                    format!("unknown response_format type '{other}'"),
                    "response_format.type",
                ))
            }
        });
    }
    for tool in wire.tools.unwrap_or_default() {
        req.tools.push(Tool {
            name: tool.function.name,
            description: tool.function.description,
            parameters: tool.function.parameters.map(Cow::Borrowed),
            strict: tool.function.strict,
        });
    }
    if let Some(choice) = wire.tool_choice {
        req.tool_choice = Some(decode_tool_choice(choice)?);
    }
    if wire.messages.is_empty() {
        return Err(RequestError::invalid(
            "'messages' must be a non-empty array",
            "messages",
        ));
    }
    for (i, message) in wire.messages.into_iter().enumerate() {
        decode_message(&mut req, message, i)?;
    }
    Ok(req)
}

fn decode_stop<'a>(raw: &'a RawValue) -> Result<Vec<Cow<'a, str>>, RequestError> {
    let text = raw.get();
    if text == "null" {
        return Ok(Vec::new());
    }
    if text.starts_with('"') {
        let one: Cow<'a, str> = serde_json::from_str(text).map_err(|e| RequestError::schema(&e))?;
        return Ok(vec![one]);
    }
    let many: Vec<Cow<'a, str>> = serde_json::from_str(text).map_err(|_| {
        RequestError::invalid("'stop' must be a string or an array of strings", "stop")
    })?;
    Ok(many)
}

fn decode_tool_choice(raw: &RawValue) -> Result<ToolChoice<'_>, RequestError> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        function: NamedFunction<'a>,
    }
    #[derive(serde::Deserialize)]
    struct NamedFunction<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    let text = raw.get();
    let invalid = || {
        RequestError::invalid(
            "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}",
            "tool_choice",
        )
    };
    if text.starts_with('"') {
        let s: &str = serde_json::from_str(text).map_err(|_| invalid())?;
        return match s {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            _ => Err(invalid()),
        };
    }
    let named: Named<'_> = serde_json::from_str(text).map_err(|_| invalid())?;
    Ok(ToolChoice::Tool(named.function.name))
}

fn decode_message<'a>(
    req: &mut Request<'a>,
    message: MessageWire<'a>,
    i: usize,
) -> Result<(), RequestError> {
    let param = |field: &str| format!("messages[{i}].{field}");
    match message.role.as_ref() {
        "system" | "developer" => {
            if let Some(content) = message.content {
                let text = text_of(content, &param("content"))?;
                if !text.trim().is_empty() {
                    req.system.push(text);
                }
            }
        }
        "user" => {
            let content = message.content.ok_or_else(|| {
                RequestError::invalid("user messages need content", param("content"))
            })?;
            let blocks = content_blocks(content, &param("content"))?;
            push_blocks(req, Role::User, blocks);
        }
        "assistant" => {
            let mut blocks = Vec::new();
            if let Some(reasoning) = message.reasoning_content.filter(|r| !r.is_empty()) {
                blocks.push(Block::Thinking {
                    text: reasoning,
                    signature: None,
                });
            }
            if let Some(content) = message.content {
                for block in content_blocks(content, &param("content"))? {
                    if matches!(&block, Block::Text(t) if t.trim().is_empty()) {
                        continue;
                    }
                    blocks.push(block);
                }
            }
            for (j, call) in message
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                blocks.push(tool_use_block(call, i, j)?);
            }
            push_blocks(req, Role::Assistant, blocks);
        }
        "tool" | "function" => {
            let tool_use_id = message.tool_call_id.ok_or_else(|| {
                RequestError::invalid("tool messages need a tool_call_id", param("tool_call_id"))
            })?;
            let content = match message.content {
                Some(content) => content_blocks(content, &param("content"))?,
                None => Vec::new(),
            };
            let result = Block::ToolResult {
                tool_use_id,
                content,
                is_error: false,
            };
            push_blocks(req, Role::User, vec![result]);
        }
        other => {
            return Err(RequestError::invalid(
                format!("unknown message role '{other}'"),
                param("role"),
            ))
        }
    }
    Ok(())
}

/// Appends blocks as a message, merged into the previous one when the role repeats: providers
/// with strict alternation need it, and tool results then lead the user turn that follows them.
fn push_blocks<'a>(req: &mut Request<'a>, role: Role, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match req.messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => req.messages.push(Message {
            role,
            content: blocks,
        }),
    }
}

fn tool_use_block<'a>(
    call: ToolCallWire<'a>,
    i: usize,
    j: usize,
) -> Result<Block<'a>, RequestError> {
    let arguments = call.function.arguments.unwrap_or(Cow::Borrowed(""));
    let input = arguments_object(&arguments).map_err(|m| {
        RequestError::invalid(
            m,
            format!("messages[{i}].tool_calls[{j}].function.arguments"),
        )
    })?;
    let id = call
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| Cow::Owned(format!("call_{i}_{j}")));
    Ok(Block::ToolUse {
        id,
        name: call.function.name,
        input,
        signature: call.extra_content.map(|e| e.google.thought_signature),
    })
}

fn text_of<'a>(
    content: TextOrParts<'a, PartWire<'a>>,
    param: &str,
) -> Result<Cow<'a, str>, RequestError> {
    match content {
        TextOrParts::Text(t) => Ok(t),
        TextOrParts::Parts(parts) => {
            let mut texts: Vec<Cow<'a, str>> = Vec::with_capacity(parts.len());
            for part in parts {
                match part.kind.as_ref() {
                    "text" => texts.push(part.text.unwrap_or_default()),
                    other => {
                        return Err(RequestError::invalid(
                            format!("content part type '{other}' is not allowed here"),
                            param,
                        ))
                    }
                }
            }
            Ok(if texts.len() == 1 {
                texts.pop().unwrap_or_default()
            } else {
                Cow::Owned(texts.join("\n"))
            })
        }
    }
}

fn content_blocks<'a>(
    content: TextOrParts<'a, PartWire<'a>>,
    param: &str,
) -> Result<Vec<Block<'a>>, RequestError> {
    match content {
        TextOrParts::Text(t) => Ok(vec![Block::Text(t)]),
        TextOrParts::Parts(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (k, part) in parts.into_iter().enumerate() {
                match part.kind.as_ref() {
                    "text" => blocks.push(Block::Text(part.text.unwrap_or_default())),
                    "refusal" => blocks.push(Block::Text(part.refusal.unwrap_or_default())),
                    "image_url" => {
                        let url = part.image_url.ok_or_else(|| {
                            RequestError::invalid(
                                "image_url parts need an image_url",
                                format!("{param}[{k}]"),
                            )
                        })?;
                        blocks.push(Block::Image(Image::from_url(url.url)));
                    }
                    other => {
                        return Err(RequestError::unsupported(
                            format!(
                            "content part type '{other}' cannot be translated for this provider"
                        ),
                            format!("{param}[{k}].type"),
                        ))
                    }
                }
            }
            Ok(blocks)
        }
    }
}

/// How to write a request for one OpenAI-dialect upstream.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions<'a> {
    pub model: &'a str,
    /// `max_completion_tokens` (OpenAI's reasoning models refuse `max_tokens`) or `max_tokens`
    /// (what older compatible servers understand).
    pub max_completion_tokens: bool,
}

impl<'a> EncodeOptions<'a> {
    /// Picks the output-limit field by model name: OpenAI's reasoning families need the new one.
    pub fn for_model(model: &'a str) -> Self {
        let reasoning = ["o1", "o3", "o4", "gpt-5"]
            .iter()
            .any(|p| model.starts_with(p));
        EncodeOptions {
            model,
            max_completion_tokens: reasoning,
        }
    }
}

#[derive(Serialize)]
struct ChatOut<'a> {
    model: &'a str,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verbosity: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptionsOut>,
}

#[derive(Serialize)]
struct StreamOptionsOut {
    include_usage: bool,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<ContentOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ContentOut<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
    Null(()),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrlOut<'a> },
}

#[derive(Serialize)]
struct ImageUrlOut<'a> {
    url: Cow<'a, str>,
}

#[derive(Serialize)]
pub(super) struct ToolCallOut<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionOut<'a>,
}

#[derive(Serialize)]
pub(super) struct FunctionOut<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ToolFunctionOut<'a>,
}

#[derive(Serialize)]
struct ToolFunctionOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// The request body for an OpenAI-dialect upstream. Streams always ask for usage, so it can be
/// metered; the encoder of the client's dialect drops the usage chunk if the client did not ask.
pub fn encode_request(req: &Request<'_>, opts: EncodeOptions<'_>) -> Vec<u8> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(MessageOut {
            role: "system",
            content: Some(ContentOut::Text(Cow::Owned(join(&req.system)))),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
    for message in &req.messages {
        encode_message(message, &mut messages);
    }
    let (max_tokens, max_completion_tokens) = if opts.max_completion_tokens {
        (None, req.max_tokens)
    } else {
        (req.max_tokens, None)
    };
    let body = ChatOut {
        model: opts.model,
        messages,
        tools: req
            .tools
            .iter()
            .map(|t| ToolOut {
                kind: "function",
                function: ToolFunctionOut {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters.as_deref(),
                    strict: t.strict,
                },
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => serde_json::Value::from("auto"),
            ToolChoice::None => serde_json::Value::from("none"),
            ToolChoice::Required => serde_json::Value::from("required"),
            ToolChoice::Tool(name) => {
                serde_json::json!({"type": "function", "function": {"name": name}})
            }
        }),
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop.iter().map(|s| s.as_ref()).collect(),
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        user: req.user.as_deref(),
        response_format: req.response_format.as_ref().map(|f| match f {
            ResponseFormat::Text => serde_json::json!({"type": "text"}),
            ResponseFormat::JsonObject => serde_json::json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut js = serde_json::json!({"name": name});
                if let Some(schema) = schema {
                    js["schema"] = serde_json::from_str(schema.get()).unwrap_or_default();
                }
                if let Some(strict) = strict {
                    js["strict"] = serde_json::Value::from(*strict);
                }
                serde_json::json!({"type": "json_schema", "json_schema": js})
            }
        }),
        reasoning_effort: req.reasoning.map(|r| r.effort().as_str()),
        verbosity: req.verbosity.map(Verbosity::as_str),
        stream: req.stream,
        stream_options: req.stream.then_some(StreamOptionsOut {
            include_usage: true,
        }),
    };
    crate::providers::json_util::encode_body(&body)
}

fn join(parts: &[Cow<'_, str>]) -> String {
    parts
        .iter()
        .map(|p| p.as_ref())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn encode_message<'a>(message: &'a Message<'_>, out: &mut Vec<MessageOut<'a>>) {
    match message.role {
        // An instruction mid-conversation stays at its place: OpenAI's chat takes system
        // messages anywhere.
        Role::System => {
            let text = blocks_text(&message.content);
            if !text.is_empty() {
                out.push(MessageOut {
                    role: "system",
                    content: Some(ContentOut::Text(Cow::Owned(text))),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                });
            }
        }
        Role::User => {
            // Tool results become `tool` messages, which must directly follow the assistant turn.
            let mut rest: Vec<PartOut<'a>> = Vec::new();
            for block in &message.content {
                match block {
                    Block::ToolResult {
                        tool_use_id,
                        content,
                        ..
                    } => out.push(MessageOut {
                        role: "tool",
                        content: Some(ContentOut::Text(Cow::Owned(blocks_text(content)))),
                        tool_calls: Vec::new(),
                        tool_call_id: Some(tool_use_id),
                    }),
                    Block::Text(text) => rest.push(PartOut::Text { text }),
                    Block::Image(image) => rest.push(PartOut::ImageUrl {
                        image_url: ImageUrlOut {
                            url: image.to_url(),
                        },
                    }),
                    _ => {}
                }
            }
            if rest.is_empty() {
                return;
            }
            let content = match rest.as_slice() {
                [PartOut::Text { text }] => ContentOut::Text(Cow::Borrowed(*text)),
                _ => ContentOut::Parts(rest),
            };
            out.push(MessageOut {
                role: "user",
                content: Some(content),
                tool_calls: Vec::new(),
                tool_call_id: None,
            });
        }
        Role::Assistant => {
            let mut text = String::new();
            let mut tool_calls = Vec::new();
            for block in &message.content {
                match block {
                    Block::Text(t) => text.push_str(t),
                    Block::ToolUse {
                        id, name, input, ..
                    } => tool_calls.push(ToolCallOut {
                        id,
                        kind: "function",
                        function: FunctionOut {
                            name,
                            arguments: input.get(),
                        },
                    }),
                    _ => {}
                }
            }
            let content = if text.is_empty() {
                if tool_calls.is_empty() {
                    Some(ContentOut::Text(Cow::Borrowed("")))
                } else {
                    Some(ContentOut::Null(()))
                }
            } else {
                Some(ContentOut::Text(Cow::Owned(text)))
            };
            out.push(MessageOut {
                role: "assistant",
                content,
                tool_calls,
                tool_call_id: None,
            });
        }
    }
}

/// Tool result content as the string OpenAI's `tool` messages carry (images become a note:
/// OpenAI tool messages take text only).
fn blocks_text(blocks: &[Block<'_>]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Text(t) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(t);
            }
            Block::Image(_) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str("[image]");
            }
            _ => {}
        }
    }
    out
}
