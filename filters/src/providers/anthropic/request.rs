//! Anthropic Messages requests: decoded from Anthropic clients into the canonical model, and
//! encoded for Anthropic out of it, enforcing the conversation rules the API checks.

use super::wire::{BlockOut, BlockWire, MessagesRequestWire, SourceOut};
use crate::api::RequestError;
use crate::canonical::{
    Block, Image, Message, Reasoning, Request, ResponseFormat, Role, Tool, ToolChoice,
};
use crate::providers::json_util::{empty_object, object_from_raw, TextOrParts};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The tool a JSON-mode request is turned into: Anthropic has no `response_format`, so the
/// schema becomes a tool the model must call, and the call's input becomes the answer text.
pub const JSON_TOOL: &str = "json_response";

pub fn decode_request(body: &[u8]) -> Result<Request<'_>, RequestError> {
    let wire: MessagesRequestWire<'_> =
        serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    let mut req = Request {
        model: wire.model,
        max_tokens: wire.max_tokens,
        temperature: wire.temperature,
        top_p: wire.top_p,
        top_k: wire.top_k,
        stop: wire.stop_sequences.unwrap_or_default(),
        stream: wire.stream.unwrap_or(false),
        // Anthropic streams always carry usage.
        include_usage: true,
        user: wire.metadata.and_then(|m| m.user_id),
        ..Request::default()
    };
    if let Some(thinking) = wire.thinking.filter(|t| t.kind == "enabled") {
        req.reasoning = Some(Reasoning::Budget(thinking.budget_tokens.unwrap_or(1024)));
    }
    match wire.system {
        Some(TextOrParts::Text(t)) if !t.is_empty() => req.system.push(t),
        Some(TextOrParts::Parts(blocks)) => {
            for block in blocks {
                if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                    req.system.push(text);
                }
            }
        }
        _ => {}
    }
    for (i, tool) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        if let Some(kind) = tool.kind.as_deref().filter(|k| *k != "custom") {
            return Err(RequestError::unsupported(
                format!("server tool '{kind}' cannot be translated for this provider"),
                format!("tools[{i}].type"),
            ));
        }
        req.tools.push(Tool {
            name: tool.name,
            description: tool.description,
            parameters: tool.input_schema.map(Cow::Borrowed),
        });
    }
    if let Some(choice) = wire.tool_choice {
        if choice.disable_parallel_tool_use == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
        req.tool_choice = Some(match choice.kind.as_ref() {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Required,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Tool(choice.name.ok_or_else(|| {
                RequestError::invalid("tool_choice.name is required", "tool_choice.name")
            })?),
            other => {
                return Err(RequestError::invalid(
                    format!("unknown tool_choice type '{other}'"),
                    "tool_choice.type",
                ))
            }
        });
    }
    for (i, message) in wire.messages.into_iter().enumerate() {
        let role = match message.role.as_ref() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(RequestError::invalid(
                    format!("unknown role '{other}'"),
                    format!("messages[{i}].role"),
                ))
            }
        };
        let content = match message.content {
            TextOrParts::Text(t) => vec![Block::Text(t)],
            TextOrParts::Parts(blocks) => {
                let mut out = Vec::with_capacity(blocks.len());
                for (j, block) in blocks.into_iter().enumerate() {
                    out.push(decode_block(block, &format!("messages[{i}].content[{j}]"))?);
                }
                out
            }
        };
        match req.messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(content),
            _ => req.messages.push(Message { role, content }),
        }
    }
    if req.messages.is_empty() {
        return Err(RequestError::invalid(
            "messages: at least one message is required",
            "messages",
        ));
    }
    Ok(req)
}

fn decode_block<'a>(block: BlockWire<'a>, param: &str) -> Result<Block<'a>, RequestError> {
    let missing = |field: &str| {
        RequestError::invalid(format!("{field} is required"), format!("{param}.{field}"))
    };
    Ok(match block.kind.as_ref() {
        "text" => Block::Text(block.text.unwrap_or_default()),
        "image" => {
            let source = block.source.ok_or_else(|| missing("source"))?;
            Block::Image(match source.kind.as_ref() {
                "base64" => Image::Base64 {
                    media_type: source
                        .media_type
                        .ok_or_else(|| missing("source.media_type"))?,
                    data: source.data.ok_or_else(|| missing("source.data"))?,
                },
                "url" => Image::Url(source.url.ok_or_else(|| missing("source.url"))?),
                other => {
                    return Err(RequestError::unsupported(
                        format!("image source type '{other}' cannot be translated"),
                        format!("{param}.source.type"),
                    ))
                }
            })
        }
        "tool_use" => Block::ToolUse {
            id: block.id.ok_or_else(|| missing("id"))?,
            name: block.name.ok_or_else(|| missing("name"))?,
            input: block.input.map_or_else(empty_object, object_from_raw),
            signature: None,
        },
        "tool_result" => {
            let content = match block.content {
                None => Vec::new(),
                Some(TextOrParts::Text(t)) => vec![Block::Text(t)],
                Some(TextOrParts::Parts(parts)) => {
                    let mut out = Vec::with_capacity(parts.len());
                    for (k, part) in parts.into_iter().enumerate() {
                        out.push(decode_block(part, &format!("{param}.content[{k}]"))?);
                    }
                    out
                }
            };
            Block::ToolResult {
                tool_use_id: block.tool_use_id.ok_or_else(|| missing("tool_use_id"))?,
                content,
                is_error: block.is_error.unwrap_or(false),
            }
        }
        "thinking" => Block::Thinking {
            text: block.thinking.unwrap_or_default(),
            signature: block.signature,
        },
        "redacted_thinking" => Block::RedactedThinking(block.data.unwrap_or_default()),
        other => {
            return Err(RequestError::unsupported(
                format!("content block type '{other}' cannot be translated for this provider"),
                format!("{param}.type"),
            ))
        }
    })
}

/// How to write a request for one Anthropic upstream.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions<'a> {
    pub model: &'a str,
    /// `max_tokens` when the client gave none (Anthropic requires it).
    pub default_max_tokens: u64,
}

#[derive(Serialize)]
struct MessagesOut<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<MetadataOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<ThinkingOut>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Vec<BlockOut<'a>>,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a RawValue,
}

#[derive(Serialize)]
struct ToolChoiceOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
struct MetadataOut<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct ThinkingOut {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u64,
}

/// What the Anthropic request needs besides its body: whether JSON mode became a forced tool
/// call whose input must be turned back into text.
pub struct Encoded {
    pub body: Vec<u8>,
    pub json_tool: bool,
}

pub fn encode_request(req: &Request<'_>, opts: EncodeOptions<'_>) -> Result<Encoded, RequestError> {
    let empty_schema = RawValue::from_string(r#"{"type":"object"}"#.to_owned()).unwrap_or_default();
    let json_object_schema = empty_schema.clone();
    let mut tools: Vec<ToolOut<'_>> = req
        .tools
        .iter()
        .map(|t: &Tool<'_>| ToolOut {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: t.parameters.as_deref().unwrap_or(&empty_schema),
        })
        .collect();

    let disable_parallel = req.parallel_tool_calls.map(|p| !p).filter(|d| *d);
    let mut tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => ToolChoiceOut {
            kind: "auto",
            name: None,
            disable_parallel_tool_use: disable_parallel,
        },
        ToolChoice::Required => ToolChoiceOut {
            kind: "any",
            name: None,
            disable_parallel_tool_use: disable_parallel,
        },
        ToolChoice::None => ToolChoiceOut {
            kind: "none",
            name: None,
            disable_parallel_tool_use: None,
        },
        ToolChoice::Tool(name) => ToolChoiceOut {
            kind: "tool",
            name: Some(name),
            disable_parallel_tool_use: disable_parallel,
        },
    });
    if tool_choice.is_none() && disable_parallel.is_some() && !tools.is_empty() {
        tool_choice = Some(ToolChoiceOut {
            kind: "auto",
            name: None,
            disable_parallel_tool_use: disable_parallel,
        });
    }

    let mut json_tool = false;
    let schema_holder;
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            schema_holder = schema.clone();
            tools.push(ToolOut {
                name: JSON_TOOL,
                description: Some("Respond by calling this tool with the answer as its input, following the schema."),
                input_schema: schema_holder.as_deref().unwrap_or(&json_object_schema),
            });
            tool_choice = Some(ToolChoiceOut {
                kind: "tool",
                name: Some(JSON_TOOL),
                disable_parallel_tool_use: None,
            });
            json_tool = true;
        }
        Some(ResponseFormat::JsonObject) => {
            tools.push(ToolOut {
                name: JSON_TOOL,
                description: Some("Respond by calling this tool with the answer as a JSON object."),
                input_schema: &json_object_schema,
            });
            tool_choice = Some(ToolChoiceOut {
                kind: "tool",
                name: Some(JSON_TOOL),
                disable_parallel_tool_use: None,
            });
            json_tool = true;
        }
        _ => {}
    }

    let messages = encode_messages(&req.messages);
    // Extended thinking cannot be combined with a forced tool call.
    let forced = tool_choice
        .as_ref()
        .is_some_and(|c| c.kind == "any" || c.kind == "tool");
    let thinking = req.reasoning.filter(|_| !forced).map(|r| ThinkingOut {
        kind: "enabled",
        budget_tokens: r.budget_tokens().max(1024),
    });
    let mut max_tokens = req.max_tokens.unwrap_or(opts.default_max_tokens).max(1);
    if let Some(t) = &thinking {
        // The thinking budget counts against max_tokens, which must exceed it.
        max_tokens = max_tokens.max(t.budget_tokens + 1024);
    }
    let body = MessagesOut {
        model: opts.model,
        max_tokens,
        system: (!req.system.is_empty()).then(|| {
            req.system
                .iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join("\n\n")
        }),
        messages,
        tools,
        tool_choice,
        // Anthropic's range is 0..=1 (OpenAI's 0..=2); thinking requires the default.
        temperature: req
            .temperature
            .filter(|_| thinking.is_none())
            .map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p.filter(|_| thinking.is_none()),
        top_k: req.top_k.filter(|_| thinking.is_none()),
        stop_sequences: req.stop.iter().map(|s| s.as_ref()).collect(),
        stream: req.stream,
        metadata: req.user.as_deref().map(|user_id| MetadataOut { user_id }),
        thinking,
    };
    Ok(Encoded {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        json_tool,
    })
}

/// Messages that satisfy Anthropic's rules: the first turn is the user's, roles alternate,
/// tool results lead their user turn, no empty text blocks, no trailing whitespace in a
/// final assistant prefill, tool ids within `[a-zA-Z0-9_-]`.
fn encode_messages<'a>(messages: &'a [Message<'_>]) -> Vec<MessageOut<'a>> {
    let mut out: Vec<MessageOut<'a>> = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        let mut blocks: Vec<BlockOut<'a>> = Vec::with_capacity(message.content.len());
        let mut results: Vec<BlockOut<'a>> = Vec::new();
        for block in &message.content {
            match encode_block(block) {
                Some(b @ BlockOut::ToolResult { .. }) => results.push(b),
                Some(b) => blocks.push(b),
                None => {}
            }
        }
        results.extend(blocks);
        let blocks = results;
        if blocks.is_empty() {
            continue;
        }
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        match out.last_mut() {
            Some(last) if last.role == role => {
                // Merge, keeping tool results ahead of everything else in a user turn.
                let (mut res, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut last.content)
                    .into_iter()
                    .chain(blocks)
                    .partition(|b| matches!(b, BlockOut::ToolResult { .. }));
                res.extend(rest);
                last.content = res;
            }
            _ => out.push(MessageOut {
                role,
                content: blocks,
            }),
        }
    }
    if out.first().is_some_and(|m| m.role == "assistant") {
        out.insert(
            0,
            MessageOut {
                role: "user",
                content: vec![BlockOut::Text {
                    text: "(continuing the conversation)",
                }],
            },
        );
    }
    if let Some(last) = out.last_mut().filter(|m| m.role == "assistant") {
        if let Some(BlockOut::Text { text }) = last.content.last_mut() {
            *text = text.trim_end();
        }
        if matches!(last.content.last(), Some(BlockOut::Text { text }) if text.is_empty()) {
            last.content.pop();
        }
        if last.content.is_empty() {
            out.pop();
        }
    }
    out
}

fn encode_block<'a>(block: &'a Block<'_>) -> Option<BlockOut<'a>> {
    Some(match block {
        Block::Text(t) if t.trim().is_empty() => return None,
        Block::Text(t) => BlockOut::Text { text: t },
        Block::Image(image) => BlockOut::Image {
            source: match image {
                Image::Base64 { media_type, data } => SourceOut::Base64 { media_type, data },
                Image::Url(url) => SourceOut::Url { url },
            },
        },
        Block::ToolUse {
            id, name, input, ..
        } => BlockOut::ToolUse {
            id: tool_id(id),
            name,
            input,
        },
        Block::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => BlockOut::ToolResult {
            tool_use_id: tool_id(tool_use_id),
            content: content.iter().filter_map(encode_block).collect(),
            is_error: *is_error,
        },
        // Thinking can only be replayed with its signature.
        Block::Thinking {
            text,
            signature: Some(signature),
        } => BlockOut::Thinking {
            thinking: text,
            signature,
        },
        Block::Thinking {
            signature: None, ..
        } => return None,
        Block::RedactedThinking(data) => BlockOut::RedactedThinking { data },
    })
}

/// Anthropic accepts tool ids matching `^[a-zA-Z0-9_-]+$`; ids minted elsewhere
/// (`functions.Bash:0`) are rewritten the same way on the call and on its result.
fn tool_id<'a>(id: &'a str) -> Cow<'a, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(valid) {
        Cow::Borrowed(id)
    } else if id.is_empty() {
        Cow::Borrowed("toolu_empty")
    } else {
        Cow::Owned(id.chars().map(|c| if valid(c) { c } else { '_' }).collect())
    }
}
