//! The mock's Gemini dialect: `:generateContent` and `:streamGenerateContent?alt=sse`, checked
//! like the real API checks what translation must get right (user/model roles, function
//! responses with names and object results, as many responses as calls, the OpenAPI subset
//! in tool parameters).

use super::openai::random_id;
use super::scenario::{self, Conversation, MockUsage, Reply};
use super::{Answer, Faults, MockRequest};
use serde_json::{json, Value};

/// Thought tokens the mock reports (outside candidates, as Gemini counts them).
const THOUGHTS: u64 = 5;
/// Cached tokens the mock reports (inside the prompt count, as Gemini counts them).
const CACHED: u64 = 2;

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

pub fn handle(req: &MockRequest, name: &str, faults: &Faults) -> Answer {
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let Some(rest) = path.split("/models/").nth(1) else {
        return Answer::json(404, error(404, "Not found", None));
    };
    let Some((model, method)) = rest.split_once(':') else {
        return Answer::json(404, error(404, "Not found", None));
    };
    if req.header("x-goog-api-key").is_none() {
        return Answer::json(
            403,
            error(403, "Method doesn't allow unregistered callers", None),
        );
    }
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" if query.contains("alt=sse") => true,
        "streamGenerateContent" => {
            return Answer::json(400, error(400, "this mock streams with alt=sse only", None))
        }
        _ => return Answer::json(404, error(404, &format!("method {method} not found"), None)),
    };
    let Some(body) = req.json.as_ref() else {
        return Answer::json(400, error(400, "Invalid JSON payload received.", None));
    };
    let mut conv = match read_conversation(body) {
        Ok(c) => c,
        Err(message) => return Answer::json(400, error(400, &message, None)),
    };
    conv.model = model.to_owned();
    let reply = scenario::decide(&conv, name, faults.reply.as_deref());
    let usage = scenario::usage(&conv, &reply);
    let headers = vec![(
        "x-mock-usage".to_owned(),
        format!("prompt={},output={}", usage.prompt, usage.output + THOUGHTS),
    )];
    let response_id = random_id("", 22);
    if stream {
        return Answer::Stream {
            events: stream_events(&reply, model, &response_id, usage, faults.chunks),
            headers,
        };
    }
    let response = json!({
        "candidates": [{"content": {"parts": parts(&reply), "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": usage_json(usage),
        "modelVersion": model, "responseId": response_id
    });
    Answer::Json {
        status: 200,
        body: serde_json::to_vec(&response).unwrap_or_default(),
        headers,
    }
}

fn usage_json(u: MockUsage) -> Value {
    json!({"promptTokenCount": u.prompt, "candidatesTokenCount": u.output, "thoughtsTokenCount": THOUGHTS,
        "cachedContentTokenCount": CACHED, "totalTokenCount": u.prompt + u.output + THOUGHTS})
}

fn parts(reply: &Reply) -> Value {
    match reply {
        Reply::Text(t) => json!([{"text": t}]),
        Reply::Tools(calls) => Value::Array(
            calls
                .iter()
                .map(|c| json!({"functionCall": {"name": c.name, "args": c.args}, "thoughtSignature": "c2lnLW1vY2s="}))
                .collect(),
        ),
    }
}

fn read_conversation(body: &Value) -> Result<Conversation, String> {
    let contents = body["contents"]
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let mut conv = Conversation {
        tools_disabled: body["toolConfig"]["functionCallingConfig"]["mode"] == "NONE",
        prompt_chars: scenario::text_of(&body["systemInstruction"]["parts"]).len(),
        ..Conversation::default()
    };
    for tool in body["tools"].as_array().into_iter().flatten() {
        for decl in tool["functionDeclarations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = decl["name"]
                .as_str()
                .ok_or("* function_declarations[0].name: Name cannot be empty")?;
            if let Some(params) = decl.get("parameters") {
                check_schema(params, "parameters")?;
            }
            conv.tool_names.push(name.to_owned());
        }
    }
    let mut previous_calls = 0;
    for (i, content) in contents.iter().enumerate() {
        let role = content["role"].as_str().unwrap_or_default();
        let parts = content["parts"]
            .as_array()
            .filter(|p| !p.is_empty())
            .ok_or(format!("* contents[{i}].parts: must not be empty"))?;
        match role {
            "user" => {
                conv.images.clear();
                conv.tool_results.clear();
                conv.last_user_text.clear();
                let mut responses = 0;
                for part in parts {
                    if let Some(text) = part["text"].as_str() {
                        conv.prompt_chars += text.len();
                        conv.last_user_text.push_str(text);
                    } else if let Some(inline) = part.get("inlineData") {
                        let mime = inline["mimeType"]
                            .as_str()
                            .ok_or(format!("* contents[{i}]: inlineData.mimeType is required"))?;
                        conv.images.push(mime.to_owned());
                    } else if let Some(file) = part.get("fileData") {
                        conv.images
                            .push(file["fileUri"].as_str().unwrap_or_default().to_owned());
                    } else if let Some(response) = part.get("functionResponse") {
                        if response["name"].as_str().is_none_or(str::is_empty) {
                            return Err(format!(
                                "* contents[{i}]: functionResponse: Name cannot be empty"
                            ));
                        }
                        if !response["response"].is_object() {
                            return Err(format!(
                                "* contents[{i}]: functionResponse.response must be an object"
                            ));
                        }
                        responses += 1;
                        let result = response["response"].to_string();
                        conv.prompt_chars += result.len();
                        conv.tool_results.push(result);
                    } else {
                        return Err(format!("* contents[{i}]: unsupported part in a user turn"));
                    }
                }
                if responses > 0 && responses != previous_calls {
                    return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.".into());
                }
                previous_calls = 0;
            }
            "model" => {
                previous_calls = parts
                    .iter()
                    .filter(|p| p.get("functionCall").is_some())
                    .count();
                for part in parts {
                    if let Some(call) = part.get("functionCall") {
                        if !call["args"].is_object() && !call["args"].is_null() {
                            return Err(format!(
                                "* contents[{i}]: functionCall.args must be an object"
                            ));
                        }
                    }
                    if let Some(text) = part["text"].as_str() {
                        conv.prompt_chars += text.len();
                    }
                }
            }
            other => {
                return Err(format!(
                    "Please use a valid role: user, model. (contents[{i}].role was {other:?})"
                ))
            }
        }
    }
    Ok(conv)
}

/// Gemini refuses JSON Schema keys outside its OpenAPI subset, and empty object properties.
fn check_schema(schema: &Value, path: &str) -> Result<(), String> {
    let Some(map) = schema.as_object() else {
        return Ok(());
    };
    for (key, value) in map {
        if !SCHEMA_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field."
            ));
        }
        match key.as_str() {
            "properties" => {
                let props = value.as_object().ok_or("properties must be an object")?;
                if props.is_empty() {
                    return Err(format!(
                        "* {path}.properties: should be non-empty for OBJECT type"
                    ));
                }
                for (name, prop) in props {
                    check_schema(prop, &format!("{path}.properties[{name}]"))?;
                }
            }
            "items" => check_schema(value, &format!("{path}.items"))?,
            "anyOf" => {
                for option in value.as_array().into_iter().flatten() {
                    check_schema(option, &format!("{path}.anyOf"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn stream_events(
    reply: &Reply,
    model: &str,
    response_id: &str,
    usage: MockUsage,
    chunks: usize,
) -> super::Events {
    let frame = |parts: Value, finish: Option<&str>, usage: Value| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        let chunk = json!({"candidates": [candidate], "usageMetadata": usage,
            "modelVersion": model, "responseId": response_id});
        format!("data: {chunk}\r\n\r\n")
    };
    let partial = json!({"promptTokenCount": usage.prompt, "candidatesTokenCount": 1, "totalTokenCount": usage.prompt + 1});
    let mut events = super::Events::default();
    match reply {
        Reply::Text(text) => {
            for (piece, times) in scenario::piece_runs(text, chunks) {
                events.push_times(
                    (frame(json!([{"text": piece}]), None, partial.clone()), true),
                    times,
                );
            }
        }
        Reply::Tools(_) => events.push((frame(parts(reply), None, partial.clone()), true)),
    }
    // Newer models send STOP in a chunk of its own after the calls.
    events.push((
        frame(json!([{"text": ""}]), Some("STOP"), usage_json(usage)),
        false,
    ));
    events
}

pub fn error(status: u16, message: &str, retry_after: Option<u64>) -> Vec<u8> {
    let grpc = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    let mut details = Vec::new();
    if let Some(secs) = retry_after {
        details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{secs}s")}));
    }
    serde_json::to_vec(
        &json!({"error": {"code": status, "message": message, "status": grpc, "details": details}}),
    )
    .unwrap_or_default()
}
