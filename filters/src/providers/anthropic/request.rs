//! Anthropic Messages requests: decoded from Anthropic clients into the canonical model, and
//! encoded for Anthropic out of it, enforcing the conversation rules the API checks.

use super::wire::{BlockOut, BlockWire, MessagesRequestWire, SourceOut};
use crate::api::RequestError;
use crate::canonical::{
    Block, Effort, Image, Message, Reasoning, Request, ResponseFormat, Role, Tool, ToolChoice,
};
use crate::providers::json_util::{empty_object, object_from_raw, TextOrParts};
use crate::providers::responses;
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
    let effort = match wire.output_config {
        Some(raw) => decode_output_config(raw)?,
        None => None,
    };
    req.reasoning = match wire.thinking.as_ref().map(|t| t.kind.as_str()) {
        Some("enabled") => Some(Reasoning::Budget(
            wire.thinking.and_then(|t| t.budget_tokens).unwrap_or(1024),
        )),
        Some("adaptive") => Some(Reasoning::Adaptive(effort)),
        None | Some("disabled") => effort.map(Reasoning::Effort),
        Some(other) => {
            return Err(RequestError::invalid(
                format!("unknown thinking type '{other}'"),
                "thinking.type",
            ))
        }
    };
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
            strict: None,
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
            // Mid-conversation instructions (beta `mid-conversation-system-2026-04-07`).
            "system" => Role::System,
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

/// `output_config`: only `effort` has a meaning other providers can be given.
fn decode_output_config(raw: &RawValue) -> Result<Option<Effort>, RequestError> {
    let config: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw.get())
        .map_err(|_| RequestError::invalid("output_config must be an object", "output_config"))?;
    let mut effort = None;
    for (key, value) in &config {
        match (key.as_str(), value.as_str()) {
            ("effort", Some(level)) => {
                effort = Some(Effort::parse(level).ok_or_else(|| {
                    RequestError::invalid(
                        format!("unknown effort '{level}'"),
                        "output_config.effort",
                    )
                })?);
            }
            _ => {
                return Err(RequestError::unsupported(
                    format!("output_config.{key} cannot be translated for this provider"),
                    format!("output_config.{key}"),
                ))
            }
        }
    }
    Ok(effort)
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
        system: req.system_text(),
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
        body: crate::providers::json_util::encode_body(&body),
        json_tool,
    })
}

/// Messages that satisfy Anthropic's rules: the first turn is the user's, roles alternate,
/// tool results lead their user turn, no empty text blocks, no trailing whitespace in a
/// final assistant prefill, tool ids within `[a-zA-Z0-9_-]`.
fn encode_messages<'a>(messages: &'a [Message<'_>]) -> Vec<MessageOut<'a>> {
    // Turns whose blocks are all dropped (blank text) let the turns around them merge, so a
    // turn collects its tool results and its other blocks apart and joins them once at the
    // end: re-ordering the whole turn at each merge would cost the square of its length.
    let mut turns: Vec<Turn<'a>> = Vec::with_capacity(messages.len());
    for message in messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            // Instructions given mid-conversation join `system` (see `Request::system_text`).
            Role::System => continue,
        };
        let mut turn = Turn {
            role,
            results: Vec::new(),
            rest: Vec::with_capacity(message.content.len()),
        };
        for block in &message.content {
            match encode_block(block) {
                Some(b @ BlockOut::ToolResult { .. }) => turn.results.push(b),
                Some(b) => turn.rest.push(b),
                None => {}
            }
        }
        if turn.results.is_empty() && turn.rest.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => {
                last.results.append(&mut turn.results);
                last.rest.append(&mut turn.rest);
            }
            _ => turns.push(turn),
        }
    }
    let mut out: Vec<MessageOut<'a>> = Vec::with_capacity(turns.len() + 1);
    for turn in turns {
        let mut content = turn.results;
        content.extend(turn.rest);
        out.push(MessageOut {
            role: turn.role,
            content,
        });
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

/// One turn being built: tool results lead it, whatever order its messages had them in.
struct Turn<'a> {
    role: &'static str,
    results: Vec<BlockOut<'a>>,
    rest: Vec<BlockOut<'a>>,
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
        // Thinking can only be replayed with its own signature: unsigned thinking, and
        // thinking OpenAI signed (its `encrypted_content`, which Anthropic would refuse the
        // whole request over), stay out.
        Block::Thinking {
            text,
            signature: Some(signature),
        } if !responses::signature::is_openai(signature) => BlockOut::Thinking {
            thinking: text,
            signature,
        },
        Block::Thinking { .. } => return None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::openai;
    use serde_json::{json, Value};

    fn encode_openai_body(body: &Value) -> Value {
        let bytes = serde_json::to_vec(body).unwrap();
        let request = openai::decode_request(&bytes).unwrap();
        let options = EncodeOptions {
            model: "claude",
            default_max_tokens: 16,
        };
        serde_json::from_slice(&encode_request(&request, options).unwrap().body).unwrap()
    }

    #[test]
    fn turns_around_a_blank_turn_merge_with_tool_results_first() {
        let body = json!({"model": "m", "max_tokens": 16, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "question"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "  "}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "r"}]},
        ]});
        let bytes = serde_json::to_vec(&body).unwrap();
        let request = decode_request(&bytes).unwrap();
        let options = EncodeOptions {
            model: "claude",
            default_max_tokens: 16,
        };
        let sent: Value =
            serde_json::from_slice(&encode_request(&request, options).unwrap().body).unwrap();
        let messages = sent["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            1,
            "the blank turn is dropped, the user turns merge"
        );
        let kinds: Vec<&str> = messages[0]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["tool_result", "text"]);
    }

    #[test]
    fn thinking_goes_back_only_with_an_anthropic_signature() {
        let openai_signed = responses::signature::from_encrypted_content("gAAAAABblob");
        let request = Request {
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![Block::Text("q".into())],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        Block::Thinking {
                            text: "mine".into(),
                            signature: Some("EqQBsig".into()),
                        },
                        Block::Thinking {
                            text: "OpenAI's".into(),
                            signature: Some(openai_signed.into()),
                        },
                        Block::Thinking {
                            text: "nobody's".into(),
                            signature: None,
                        },
                        Block::Text("a".into()),
                    ],
                },
            ],
            ..Request::default()
        };
        let options = EncodeOptions {
            model: "claude",
            default_max_tokens: 16,
        };
        let sent: Value =
            serde_json::from_slice(&encode_request(&request, options).unwrap().body).unwrap();
        assert_eq!(
            sent["messages"][1]["content"],
            json!([{"type": "thinking", "thinking": "mine", "signature": "EqQBsig"}, {"type": "text", "text": "a"}])
        );
    }

    #[test]
    fn many_turns_merged_by_blank_ones_stay_in_order() {
        // Each merge used to re-order the whole turn: quadratic in the turns (this input took
        // minutes). Now each block is moved once.
        let turns = 100_000;
        let messages: Vec<Value> = (0..turns)
            .map(|i| match i % 2 {
                0 => json!({"role": "user", "content": " "}),
                _ => json!({"role": "assistant", "content": format!("part {i}")}),
            })
            .chain([json!({"role": "user", "content": "go on"})])
            .collect();
        let sent = encode_openai_body(&json!({"model": "m", "messages": messages}));
        let messages = sent["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            3,
            "continuation, one assistant turn, the user's"
        );
        let merged = messages[1]["content"].as_array().unwrap();
        assert_eq!(merged.len(), turns / 2);
        assert_eq!(merged[0]["text"], "part 1");
        assert_eq!(merged[turns / 2 - 1]["text"], format!("part {}", turns - 1));
    }
}
