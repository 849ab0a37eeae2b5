//! Canonical requests encoded as Gemini `generateContent` bodies: `user`/`model` turns,
//! `systemInstruction`, `functionCall`/`functionResponse` parts (names looked up from the
//! calls, results wrapped in objects, parallel results in one turn), cleaned tool schemas.

use super::schema::{clean_schema, RefBudget};
use crate::api::RequestError;
use crate::canonical::{Block, Image, Reasoning, Request, ResponseFormat, Role, ToolChoice};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// Ask for thought summaries in the answer when the client asked for reasoning.
    pub include_thoughts: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateOut<'a> {
    contents: Vec<ContentOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolsOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfigOut<'a>>,
    generation_config: GenerationConfigOut<'a>,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    role: &'static str,
    parts: Vec<PartOut<'a>>,
}

#[derive(Serialize)]
struct SystemOut {
    parts: [TextOut; 1],
}

#[derive(Serialize)]
struct TextOut {
    text: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct PartOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<InlineDataOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileDataOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponseOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineDataOut<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileDataOut<'a> {
    mime_type: &'static str,
    file_uri: &'a str,
}

#[derive(Serialize)]
struct FunctionCallOut<'a> {
    name: &'a str,
    args: &'a RawValue,
}

#[derive(Serialize)]
struct FunctionResponseOut<'a> {
    name: &'a str,
    response: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolsOut<'a> {
    function_declarations: Vec<FunctionDeclOut<'a>>,
}

#[derive(Serialize)]
struct FunctionDeclOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfigOut<'a> {
    function_calling_config: FunctionCallingOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingOut<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_function_names: Vec<&'a str>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerationConfigOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingOut {
    thinking_budget: i64,
    include_thoughts: bool,
}

pub fn encode_request(req: &Request<'_>, opts: EncodeOptions) -> Result<Vec<u8>, RequestError> {
    // Tool results carry only the call id; Gemini wants the function's name.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for message in &req.messages {
        for block in &message.content {
            if let Block::ToolUse { id, name, .. } = block {
                names.insert(id, name);
            }
        }
    }
    let mut contents: Vec<ContentOut<'_>> = Vec::with_capacity(req.messages.len());
    for (i, message) in req.messages.iter().enumerate() {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "model",
            // Gemini has no system turn: mid-conversation instructions join
            // `systemInstruction` (see `Request::system_text`).
            Role::System => continue,
        };
        let mut parts = Vec::with_capacity(message.content.len());
        // Function responses lead the turn, in call order, like Anthropic's tool results.
        for block in &message.content {
            if let Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } = block
            {
                let name = names.get(tool_use_id.as_ref()).copied().ok_or_else(|| {
                    RequestError::invalid(
                        format!("tool result for '{tool_use_id}' answers no earlier tool call"),
                        format!("messages[{i}]"),
                    )
                })?;
                parts.push(PartOut {
                    function_response: Some(FunctionResponseOut {
                        name,
                        response: result_object(content, *is_error),
                    }),
                    ..PartOut::default()
                });
            }
        }
        for block in &message.content {
            match block {
                Block::Text(t) if !t.is_empty() => parts.push(PartOut {
                    text: Some(t),
                    ..PartOut::default()
                }),
                Block::Image(Image::Base64 { media_type, data }) => parts.push(PartOut {
                    inline_data: Some(InlineDataOut {
                        mime_type: media_type,
                        data,
                    }),
                    ..PartOut::default()
                }),
                Block::Image(Image::Url(url)) => parts.push(PartOut {
                    file_data: Some(FileDataOut {
                        mime_type: mime_from_url(url),
                        file_uri: url,
                    }),
                    ..PartOut::default()
                }),
                Block::ToolUse {
                    name,
                    input,
                    signature,
                    ..
                } => parts.push(PartOut {
                    function_call: Some(FunctionCallOut { name, args: input }),
                    thought_signature: signature.as_deref(),
                    ..PartOut::default()
                }),
                _ => {}
            }
        }
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(ContentOut { role, parts }),
        }
    }

    if contents.first().is_some_and(|c| c.role == "model") {
        // Gemini wants the conversation to open with a user turn.
        contents.insert(
            0,
            ContentOut {
                role: "user",
                parts: vec![PartOut {
                    text: Some("(continuing the conversation)"),
                    ..PartOut::default()
                }],
            },
        );
    }
    let mut budget = RefBudget::default();
    let tools = if req.tools.is_empty() {
        Vec::new()
    } else {
        vec![ToolsOut {
            function_declarations: req
                .tools
                .iter()
                .map(|t| FunctionDeclOut {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t
                        .parameters
                        .as_ref()
                        .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                        .map(|v| clean_schema(&v, &mut budget))
                        // A function without arguments is declared without parameters.
                        .filter(|s| {
                            s.get("properties").is_some()
                                || s.get("type") != Some(&Value::from("object"))
                        }),
                })
                .collect(),
        }]
    };
    let tool_config = req
        .tool_choice
        .as_ref()
        .filter(|_| !req.tools.is_empty())
        .map(|c| {
            let (mode, allowed) = match c {
                ToolChoice::Auto => ("AUTO", Vec::new()),
                ToolChoice::None => ("NONE", Vec::new()),
                ToolChoice::Required => ("ANY", Vec::new()),
                ToolChoice::Tool(name) => ("ANY", vec![name.as_ref()]),
            };
            ToolConfigOut {
                function_calling_config: FunctionCallingOut {
                    mode,
                    allowed_function_names: allowed,
                },
            }
        });

    let mut config = GenerationConfigOut {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        max_output_tokens: req.max_tokens,
        stop_sequences: req.stop.iter().map(Cow::as_ref).collect(),
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        ..GenerationConfigOut::default()
    };
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => config.response_mime_type = Some("application/json"),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.response_mime_type = Some("application/json");
            config.response_schema = schema
                .as_ref()
                .and_then(|s| serde_json::from_str::<Value>(s.get()).ok())
                .map(|v| clean_schema(&v, &mut budget));
        }
        _ => {}
    }
    if let Some(reasoning) = req.reasoning {
        config.thinking_config = Some(ThinkingOut {
            // Adaptive thinking without an effort is Gemini's dynamic budget (-1).
            thinking_budget: match reasoning {
                Reasoning::Adaptive(None) => -1,
                other => i64::try_from(other.budget_tokens()).unwrap_or(i64::MAX),
            },
            include_thoughts: opts.include_thoughts,
        });
    }

    let body = GenerateOut {
        contents,
        system_instruction: req.system_text().map(|text| SystemOut {
            parts: [TextOut { text }],
        }),
        tools,
        tool_config,
        generation_config: config,
    };
    Ok(crate::providers::json_util::encode_body(&body))
}

/// `functionResponse.response` must be an object: a JSON-object result is used as is, anything
/// else is wrapped as `{"result": ...}` (`{"error": ...}` for failed calls).
fn result_object(content: &[Block<'_>], is_error: bool) -> Value {
    let text: String = content
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_ref()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let key = if is_error { "error" } else { "result" };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) if !is_error => Value::Object(map),
        Ok(other) if !text.trim().is_empty() => serde_json::json!({ key: other }),
        _ => serde_json::json!({ key: text }),
    }
}

fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    if path.ends_with(".png") {
        "image/png"
    } else if path.ends_with(".gif") {
        "image/gif"
    } else if path.ends_with(".webp") {
        "image/webp"
    } else if path.ends_with(".pdf") {
        "application/pdf"
    } else {
        "image/jpeg"
    }
}
