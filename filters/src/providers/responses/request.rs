//! Responses API requests decoded into the canonical model: `input` as a string or a list of
//! items (messages with text and image parts, function calls and their outputs, reasoning),
//! `instructions`, function tools in the flat Responses shape, `tool_choice`, `text.format`,
//! `reasoning.effort`, `max_output_tokens` and the sampling parameters. Built-in tools only
//! OpenAI runs, and items sluice cannot carry to another provider, are refused naming the field.

use super::signature;
use crate::api::RequestError;
use crate::canonical::{
    Block, Effort, Image, Message, Reasoning, Request, ResponseFormat, Role, Tool, ToolChoice,
    Verbosity,
};
use crate::providers::json_util::arguments_object;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct RequestWire<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    instructions: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tools: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow)]
    tool_choice: Option<&'a RawValue>,
    parallel_tool_calls: Option<bool>,
    max_output_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    #[serde(default, borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<TextWire<'a>>,
    #[serde(default, borrow)]
    reasoning: Option<ReasoningWire<'a>>,
    stream: Option<bool>,
}

#[derive(Deserialize)]
struct TextWire<'a> {
    #[serde(default, borrow)]
    format: Option<FormatWire<'a>>,
    #[serde(default, borrow)]
    verbosity: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FormatWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    schema: Option<&'a RawValue>,
    strict: Option<bool>,
}

#[derive(Deserialize)]
struct ReasoningWire<'a> {
    #[serde(default, borrow)]
    effort: Option<Cow<'a, str>>,
}

/// One `input` item; which fields are set depends on `type` (or on `role`, for messages that
/// leave `type` out).
#[derive(Deserialize)]
struct ItemWire<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    output: Option<&'a RawValue>,
    #[serde(default, borrow)]
    summary: Option<Vec<SummaryWire<'a>>>,
    #[serde(default, borrow)]
    encrypted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct SummaryWire<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PartWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    image_url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    file_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FunctionToolWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    parameters: Option<&'a RawValue>,
    #[serde(default)]
    strict: Option<bool>,
}

pub fn decode_request(body: &[u8]) -> Result<Request<'_>, RequestError> {
    let wire: RequestWire<'_> =
        serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    let mut req = Request {
        model: wire.model,
        max_tokens: wire.max_output_tokens,
        temperature: wire.temperature,
        top_p: wire.top_p,
        user: wire.user,
        parallel_tool_calls: wire.parallel_tool_calls,
        stream: wire.stream.unwrap_or(false),
        // Responses streams always end with the usage.
        include_usage: true,
        ..Request::default()
    };
    if let Some(instructions) = wire.instructions.filter(|i| !i.trim().is_empty()) {
        req.system.push(instructions);
    }
    if let Some(effort) = wire.reasoning.and_then(|r| r.effort) {
        let level = Effort::parse(&effort).ok_or_else(|| {
            RequestError::invalid(
                format!("unknown reasoning effort '{effort}'"),
                "reasoning.effort",
            )
        })?;
        req.reasoning = Some(Reasoning::Effort(level));
    }
    let (format, verbosity) = wire.text.map_or((None, None), |t| (t.format, t.verbosity));
    if let Some(verbosity) = verbosity {
        req.verbosity = Some(Verbosity::parse(&verbosity, "text.verbosity")?);
    }
    if let Some(format) = format {
        req.response_format = Some(match format.kind.as_ref() {
            "text" => ResponseFormat::Text,
            "json_object" => ResponseFormat::JsonObject,
            "json_schema" => ResponseFormat::JsonSchema {
                name: format.name.unwrap_or(Cow::Borrowed("response")),
                schema: format.schema.map(Cow::Borrowed),
                strict: format.strict,
            },
            other => {
                return Err(RequestError::invalid(
                    format!("unknown text.format type '{other}'"),
                    "text.format.type",
                ))
            }
        });
    }
    for (i, raw) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        let tool: FunctionToolWire<'_> = serde_json::from_str(raw.get()).map_err(|_| {
            RequestError::invalid(
                "a tool must be an object with a type",
                format!("tools[{i}]"),
            )
        })?;
        if tool.kind != "function" {
            return Err(RequestError::unsupported(
                format!(
                    "the built-in tool '{}' is run by OpenAI only and cannot be translated for this provider",
                    tool.kind
                ),
                format!("tools[{i}].type"),
            ));
        }
        let name = tool.name.ok_or_else(|| {
            RequestError::invalid("a function tool needs a name", format!("tools[{i}].name"))
        })?;
        req.tools.push(Tool {
            name,
            description: tool.description,
            parameters: tool
                .parameters
                .filter(|p| p.get() != "null")
                .map(Cow::Borrowed),
            strict: tool.strict,
        });
    }
    if let Some(choice) = wire.tool_choice {
        req.tool_choice = Some(decode_tool_choice(choice)?);
    }
    match wire.input {
        None => {}
        Some(raw) if raw.get().starts_with('"') => {
            let text: Cow<'_, str> =
                serde_json::from_str(raw.get()).map_err(|e| RequestError::schema(&e))?;
            push(&mut req, Role::User, Block::Text(text));
        }
        Some(raw) => {
            let items: Vec<ItemWire<'_>> = serde_json::from_str(raw.get()).map_err(|_| {
                RequestError::invalid("input must be a string or an array of items", "input")
            })?;
            for (i, item) in items.into_iter().enumerate() {
                decode_item(&mut req, item, i)?;
            }
        }
    }
    if req.messages.is_empty() {
        return Err(RequestError::invalid(
            "input must hold at least one message",
            "input",
        ));
    }
    Ok(req)
}

fn decode_tool_choice(raw: &RawValue) -> Result<ToolChoice<'_>, RequestError> {
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(default, borrow)]
        name: Option<Cow<'a, str>>,
    }
    let text = raw.get();
    if text.starts_with('"') {
        let s: &str = serde_json::from_str(text).map_err(|_| {
            RequestError::invalid("tool_choice must be a string or an object", "tool_choice")
        })?;
        return match s {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(RequestError::invalid(
                format!("unknown tool_choice '{other}'"),
                "tool_choice",
            )),
        };
    }
    let named: Named<'_> = serde_json::from_str(text).map_err(|_| {
        RequestError::invalid("tool_choice must be a string or an object", "tool_choice")
    })?;
    match (named.kind.as_ref(), named.name) {
        ("function", Some(name)) => Ok(ToolChoice::Tool(name)),
        (kind, _) => Err(RequestError::unsupported(
            format!("tool_choice of type '{kind}' cannot be translated for this provider"),
            "tool_choice.type",
        )),
    }
}

/// Adds a block to the conversation, in the last message when it is the same role's.
fn push<'a>(req: &mut Request<'a>, role: Role, block: Block<'a>) {
    match req.messages.last_mut() {
        Some(last) if last.role == role => last.content.push(block),
        _ => req.messages.push(Message {
            role,
            content: vec![block],
        }),
    }
}

fn decode_item<'a>(
    req: &mut Request<'a>,
    item: ItemWire<'a>,
    i: usize,
) -> Result<(), RequestError> {
    let param = |field: &str| format!("input[{i}].{field}");
    let kind = item.kind.as_deref().unwrap_or("message");
    match kind {
        "message" => {
            let role = item
                .role
                .as_deref()
                .ok_or_else(|| RequestError::invalid("a message needs a role", param("role")))?;
            let content = item.content.ok_or_else(|| {
                RequestError::invalid("a message needs content", param("content"))
            })?;
            let blocks = decode_content(content, &param("content"))?;
            match role {
                "user" => blocks.into_iter().for_each(|b| push(req, Role::User, b)),
                "assistant" => blocks
                    .into_iter()
                    .for_each(|b| push(req, Role::Assistant, b)),
                "system" | "developer" => {
                    for block in blocks {
                        if let Block::Text(text) = block {
                            if req.messages.is_empty() {
                                req.system.push(text);
                            } else {
                                push(req, Role::System, Block::Text(text));
                            }
                        }
                    }
                }
                other => {
                    return Err(RequestError::invalid(
                        format!("unknown role '{other}'"),
                        param("role"),
                    ))
                }
            }
        }
        "function_call" => {
            let call_id = item.call_id.ok_or_else(|| {
                RequestError::invalid("a function call needs a call_id", param("call_id"))
            })?;
            let name = item.name.ok_or_else(|| {
                RequestError::invalid("a function call needs a name", param("name"))
            })?;
            let input = arguments_object(item.arguments.as_deref().unwrap_or(""))
                .map_err(|e| RequestError::invalid(e, param("arguments")))?;
            push(
                req,
                Role::Assistant,
                Block::ToolUse {
                    id: call_id,
                    name,
                    input,
                    signature: None,
                },
            );
        }
        "function_call_output" => {
            let call_id = item.call_id.ok_or_else(|| {
                RequestError::invalid("a function call output needs a call_id", param("call_id"))
            })?;
            let content = match item.output {
                Some(raw) => decode_content(raw, &param("output"))?,
                None => Vec::new(),
            };
            push(
                req,
                Role::User,
                Block::ToolResult {
                    tool_use_id: call_id,
                    content,
                    is_error: false,
                },
            );
        }
        "reasoning" => {
            // The summary is the thinking's text; `encrypted_content` its signature, which
            // goes back to the provider that made it (see `signature`).
            let text: String = item
                .summary
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| s.text)
                .collect::<Vec<_>>()
                .join("\n");
            let signature = item
                .encrypted_content
                .filter(|e| !e.is_empty())
                .map(signature::from_client);
            if !text.is_empty() || signature.is_some() {
                push(
                    req,
                    Role::Assistant,
                    Block::Thinking {
                        text: Cow::Owned(text),
                        signature,
                    },
                );
            }
        }
        other => {
            return Err(RequestError::unsupported(
                format!("input items of type '{other}' cannot be translated for this provider"),
                param("type"),
            ))
        }
    }
    Ok(())
}

/// Message content (or a function call's output): a string, or parts.
fn decode_content<'a>(raw: &'a RawValue, param: &str) -> Result<Vec<Block<'a>>, RequestError> {
    if raw.get().starts_with('"') {
        let text: Cow<'a, str> =
            serde_json::from_str(raw.get()).map_err(|e| RequestError::schema(&e))?;
        return Ok(vec![Block::Text(text)]);
    }
    let parts: Vec<PartWire<'a>> = serde_json::from_str(raw.get()).map_err(|_| {
        RequestError::invalid("content must be a string or an array of parts", param)
    })?;
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.into_iter().enumerate() {
        let at = |field: &str| format!("{param}[{j}].{field}");
        blocks.push(match part.kind.as_ref() {
            "input_text" | "output_text" | "text" => Block::Text(part.text.unwrap_or_default()),
            "refusal" => Block::Text(part.refusal.unwrap_or_default()),
            "input_image" => match (part.image_url, part.file_id) {
                (Some(url), _) => Block::Image(Image::from_url(url)),
                (None, Some(_)) => return Err(RequestError::unsupported(
                    "images by file_id are stored at OpenAI and cannot be sent to this provider",
                    at("file_id"),
                )),
                (None, None) => {
                    return Err(RequestError::invalid(
                        "an image needs an image_url",
                        at("image_url"),
                    ))
                }
            },
            other => {
                return Err(RequestError::unsupported(
                    format!(
                        "content parts of type '{other}' cannot be translated for this provider"
                    ),
                    at("type"),
                ))
            }
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorType;

    #[test]
    fn a_string_input_is_one_user_message() {
        let req = decode_request(br#"{"model":"m","input":"Hi","instructions":"Be brief.","max_output_tokens":50,"reasoning":{"effort":"low"}}"#).unwrap();
        assert_eq!(req.system, ["Be brief."]);
        assert_eq!(req.messages.len(), 1);
        assert_eq!(req.max_tokens, Some(50));
        assert_eq!(req.reasoning, Some(Reasoning::Effort(Effort::Low)));
    }

    #[test]
    fn a_tool_loop_history_becomes_turns() {
        let body = br#"{"model":"m","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"},"strict":true}],
            "input":[{"role":"user","content":"Weather in Paris?"},
                {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"thinking"}]},
                {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},
                {"type":"function_call_output","call_id":"call_1","output":"Sunny"},
                {"type":"message","role":"assistant","id":"msg_1","status":"completed","content":[{"type":"output_text","text":"It is sunny.","annotations":[]}]},
                {"role":"user","content":[{"type":"input_text","text":"And"},{"type":"input_image","image_url":"https://x.test/a.png","detail":"auto"}]}]}"#;
        let req = decode_request(body).unwrap();
        let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::User,
                Role::Assistant,
                Role::User,
                Role::Assistant,
                Role::User
            ]
        );
        assert!(matches!(&req.messages[1].content[1], Block::ToolUse { id, .. } if id == "call_1"));
        assert!(
            matches!(&req.messages[2].content[0], Block::ToolResult { tool_use_id, .. } if tool_use_id == "call_1")
        );
        assert!(matches!(&req.messages[4].content[1], Block::Image(_)));
        assert_eq!(req.tools.len(), 1);
    }

    #[test]
    fn encrypted_content_comes_back_as_the_signature_of_its_provider() {
        let body = br#"{"model":"m","input":[{"role":"user","content":"Hi"},
            {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"thought"}],"encrypted_content":"anthropic:EqQBsig"},
            {"type":"reasoning","id":"rs_2","summary":[],"encrypted_content":"gAAAAABblob"},
            {"type":"reasoning","id":"rs_3","summary":[],"encrypted_content":null},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello"}]}]}"#;
        let req = decode_request(body).unwrap();
        let thinking: Vec<(&str, Option<&str>)> = req.messages[1]
            .content
            .iter()
            .filter_map(|b| match b {
                Block::Thinking { text, signature } => Some((text.as_ref(), signature.as_deref())),
                _ => None,
            })
            .collect();
        assert_eq!(
            thinking,
            [
                ("thought", Some("EqQBsig")),
                ("", Some("openai:gAAAAABblob"))
            ]
        );
    }

    #[test]
    fn what_only_openai_runs_is_refused_naming_the_field() {
        let cases: &[(&[u8], &str)] = &[
            (br#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#, "tools[0].type"),
            (br#"{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}"#, "input[0].type"),
            (br#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}"#, "input[0].content[0].file_id"),
            (br#"{"model":"m","input":"x","tool_choice":{"type":"file_search"}}"#, "tool_choice.type"),
        ];
        for (body, param) in cases {
            let e = decode_request(body).unwrap_err();
            assert_eq!(e.error_type, ErrorType::UnsupportedByProvider, "{param}");
            assert_eq!(e.param.as_deref(), Some(*param));
        }
    }
}
