//! The upstream request for one target: the client's bytes with the model renamed (same
//! dialect), or decoded and re-encoded for the target's dialect. Called once per attempt, so
//! a fallback to another provider gets a body in its own dialect.

use super::path::Api;
use super::{is_passthrough, ClientDialect, UpstreamDialect};
use crate::api::openai::{ChatRequest, EmbeddingsRequest};
use crate::api::RequestError;
use crate::canonical::{Request, Verbosity};
use crate::providers::{anthropic, gemini, openai, responses};
use serde::Deserialize;

/// Where the request goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub dialect: UpstreamDialect,
    /// The provider's model (or Azure deployment) name.
    pub model: &'a str,
    /// `max_tokens` for providers that require one when the client sent none.
    pub default_max_tokens: u64,
    pub api: Api,
}

#[derive(Debug)]
pub struct PreparedRequest {
    /// The body to send; `None` means the client's bytes unchanged.
    pub body: Option<Vec<u8>>,
    pub stream: bool,
    /// Whether the client asked for usage in its stream (sluice always asks upstream).
    pub client_wants_usage: bool,
    /// JSON mode became a forced tool call (Anthropic); its input is the answer.
    pub json_tool: bool,
    /// Fields left out because they cannot change the answer (see `check_translated_fields`).
    pub dropped: Vec<String>,
}

pub fn prepare_request(
    client: ClientDialect,
    body: &[u8],
    target: &Target<'_>,
) -> Result<PreparedRequest, RequestError> {
    prepare_scanned_request(client, body, None, target)
}

/// `prepare_request` with the chat view the caller has already made of the body (the request
/// phase scans each body once); a view of other bytes is ignored.
pub fn prepare_scanned_request(
    client: ClientDialect,
    body: &[u8],
    scan: Option<&ChatRequest<'_>>,
    target: &Target<'_>,
) -> Result<PreparedRequest, RequestError> {
    let scan = scan.filter(|s| s.object().is_of(body));
    match target.api {
        Api::Embeddings => prepare_embeddings(body, target),
        Api::CountTokens => prepare_count_tokens(client, body, target),
        Api::Chat | Api::Responses if is_passthrough(client, target.dialect) => match client {
            ClientDialect::Responses => native_responses(body, target),
            _ => passthrough_chat(client, body, scan, target),
        },
        Api::Chat | Api::Responses => translated_chat(client, body, scan, target),
    }
}

fn prepare_embeddings(body: &[u8], target: &Target<'_>) -> Result<PreparedRequest, RequestError> {
    if !matches!(
        target.dialect,
        UpstreamDialect::OpenAi | UpstreamDialect::Azure
    ) {
        return Err(RequestError::unsupported(
            format!(
                "embeddings are not available from a {} provider",
                target.dialect.as_str()
            ),
            "model",
        ));
    }
    let view = EmbeddingsRequest::parse(body)?;
    Ok(PreparedRequest {
        body: view.with_model(target.model),
        stream: false,
        client_wants_usage: false,
        json_tool: false,
        dropped: Vec::new(),
    })
}

fn prepare_count_tokens(
    client: ClientDialect,
    body: &[u8],
    target: &Target<'_>,
) -> Result<PreparedRequest, RequestError> {
    if client != ClientDialect::Anthropic || target.dialect != UpstreamDialect::Anthropic {
        return Err(RequestError::unsupported(
            "token counting is forwarded to Anthropic providers only",
            "model",
        ));
    }
    let view = ChatRequest::parse(body)?;
    Ok(PreparedRequest {
        body: view.with_model(target.model),
        stream: false,
        client_wants_usage: false,
        json_tool: false,
        dropped: Vec::new(),
    })
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

fn passthrough_chat(
    client: ClientDialect,
    body: &[u8],
    scan: Option<&ChatRequest<'_>>,
    target: &Target<'_>,
) -> Result<PreparedRequest, RequestError> {
    let parsed;
    let view = match scan {
        Some(view) => view,
        None => {
            parsed = ChatRequest::parse(body)?;
            &parsed
        }
    };
    let object = view.object();
    let mut edits = Vec::with_capacity(3);
    if client == ClientDialect::Anthropic {
        if let Some(field) = object.get("messages") {
            if let Some(messages) = without_foreign_thinking(field.value)? {
                edits.push((field.span.clone(), messages));
            }
        }
    }
    if view.model != target.model {
        edits.push((
            view.model_span(),
            serde_json::to_vec(target.model).unwrap_or_default(),
        ));
    }
    let mut appends: Vec<(&str, &[u8])> = Vec::new();
    let mut client_wants_usage = client == ClientDialect::Anthropic;
    if view.stream && client == ClientDialect::OpenAi {
        // Ask for the usage chunk so the stream can be metered; it is dropped on the way back
        // if the client did not ask for it.
        match object.get("stream_options") {
            None => appends.push(("stream_options", br#"{"include_usage":true}"#)),
            Some(field) => {
                let options: StreamOptions = serde_json::from_str(field.value).map_err(|_| {
                    RequestError::invalid("stream_options must be an object", "stream_options")
                })?;
                client_wants_usage = options.include_usage;
                if !options.include_usage {
                    let mut map: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(field.value).unwrap_or_default();
                    map.insert("include_usage".into(), serde_json::Value::Bool(true));
                    edits.push((
                        field.span.clone(),
                        serde_json::to_vec(&map).unwrap_or_default(),
                    ));
                }
            }
        }
    }
    let body = if edits.is_empty() && appends.is_empty() {
        None
    } else {
        Some(object.rewrite(&mut edits, &appends))
    };
    Ok(PreparedRequest {
        body,
        stream: view.stream,
        client_wants_usage,
        json_tool: false,
        dropped: Vec::new(),
    })
}

/// A Responses request to a provider that speaks the Responses API: passed through.
fn native_responses(body: &[u8], target: &Target<'_>) -> Result<PreparedRequest, RequestError> {
    let native = responses::native_request(body, target.model)?;
    Ok(PreparedRequest {
        body: Some(native.body),
        stream: native.stream,
        client_wants_usage: true,
        json_tool: false,
        dropped: Vec::new(),
    })
}

/// Anthropic messages without the thinking blocks another provider signed (a conversation that
/// an OpenAI reasoning model answered earlier, through sluice): Anthropic refuses a signature it
/// did not make, and thinking from earlier turns may be left out. `None` when there are none
/// (the common case is found without parsing: no such signature in the text).
fn without_foreign_thinking(messages: &str) -> Result<Option<Vec<u8>>, RequestError> {
    if !messages.contains("\"openai:") {
        return Ok(None);
    }
    let mut value: serde_json::Value =
        serde_json::from_str(messages).map_err(|e| RequestError::schema(&e))?;
    let mut removed = false;
    for message in value.as_array_mut().into_iter().flatten() {
        if let Some(blocks) = message
            .get_mut("content")
            .and_then(serde_json::Value::as_array_mut)
        {
            let before = blocks.len();
            blocks.retain(|b| {
                b["type"] != "thinking"
                    || !b["signature"]
                        .as_str()
                        .is_some_and(responses::signature::is_openai)
            });
            removed |= blocks.len() != before;
        }
    }
    Ok(removed.then(|| serde_json::to_vec(&value).unwrap_or_default()))
}

fn translated_chat(
    client: ClientDialect,
    body: &[u8],
    scan: Option<&ChatRequest<'_>>,
    target: &Target<'_>,
) -> Result<PreparedRequest, RequestError> {
    let dropped = match scan {
        Some(view) => super::check_scanned_fields(client, view.object(), target.dialect.as_str())?,
        None => super::check_translated_fields(client, body, target.dialect.as_str())?,
    };
    let request: Request<'_> = match client {
        ClientDialect::OpenAi => openai::decode_request(body)?,
        ClientDialect::Anthropic => anthropic::decode_request(body)?,
        ClientDialect::Responses => crate::providers::responses::decode_request(body)?,
    };
    if matches!(
        target.dialect,
        UpstreamDialect::Anthropic | UpstreamDialect::Gemini
    ) {
        refuse_verbosity(client, &request, target.dialect)?;
    }
    let mut json_tool = false;
    let encoded = match target.dialect {
        UpstreamDialect::OpenAi | UpstreamDialect::Azure => {
            openai::encode_request(&request, openai::EncodeOptions::for_model(target.model))
        }
        UpstreamDialect::Anthropic => {
            let encoded = anthropic::encode_request(
                &request,
                anthropic::EncodeOptions {
                    model: target.model,
                    default_max_tokens: target.default_max_tokens,
                },
            )?;
            json_tool = encoded.json_tool;
            encoded.body
        }
        UpstreamDialect::Gemini => gemini::encode_request(
            &request,
            gemini::EncodeOptions {
                include_thoughts: request.reasoning.is_some(),
            },
        )?,
        UpstreamDialect::Responses => responses::encode_upstream_request(&request, target.model)?,
    };
    Ok(PreparedRequest {
        body: Some(encoded),
        stream: request.stream,
        client_wants_usage: request.include_usage,
        json_tool,
        dropped,
    })
}

/// A verbosity other than the default has no equivalent at Anthropic or Gemini: refused, since
/// the answer would not be as long or short as asked.
fn refuse_verbosity(
    client: ClientDialect,
    request: &Request<'_>,
    dialect: UpstreamDialect,
) -> Result<(), RequestError> {
    match request.verbosity {
        None | Some(Verbosity::Medium) => Ok(()),
        Some(v) => Err(RequestError::unsupported(
            format!(
                "verbosity '{}' has no equivalent on a {} provider (leave it out, or use medium)",
                v.as_str(),
                dialect.as_str()
            ),
            if client == ClientDialect::Responses {
                "text.verbosity"
            } else {
                "verbosity"
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(
        client: ClientDialect,
        body: &str,
        dialect: UpstreamDialect,
    ) -> Result<serde_json::Value, RequestError> {
        let target = Target {
            dialect,
            model: "m",
            default_max_tokens: 100,
            api: Api::Chat,
        };
        let prepared = prepare_request(client, body.as_bytes(), &target)?;
        Ok(serde_json::from_slice(&prepared.body.unwrap_or_default()).unwrap_or_default())
    }

    #[test]
    fn verbosity_is_carried_where_it_exists_and_refused_where_it_would_be_lost() {
        let responses = r#"{"model":"x","input":"hi","text":{"verbosity":"low"}}"#;
        let chat =
            r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"verbosity":"high"}"#;
        let openai = prepare(ClientDialect::Responses, responses, UpstreamDialect::OpenAi);
        assert_eq!(
            openai.map(|b| b["verbosity"].clone()).ok(),
            Some("low".into())
        );
        let upstream = prepare(ClientDialect::OpenAi, chat, UpstreamDialect::Responses);
        assert_eq!(
            upstream.map(|b| b["text"]["verbosity"].clone()).ok(),
            Some("high".into())
        );
        for (client, body, param) in [
            (ClientDialect::Responses, responses, "text.verbosity"),
            (ClientDialect::OpenAi, chat, "verbosity"),
        ] {
            for dialect in [UpstreamDialect::Anthropic, UpstreamDialect::Gemini] {
                let error = prepare(client, body, dialect).err();
                assert_eq!(error.map(|e| e.param), Some(Some(param.to_owned())));
            }
        }
        let medium = r#"{"model":"x","input":"hi","text":{"verbosity":"medium"}}"#;
        assert!(prepare(ClientDialect::Responses, medium, UpstreamDialect::Anthropic).is_ok());
        let unknown = r#"{"model":"x","input":"hi","text":{"verbosity":"loud"}}"#;
        let error = prepare(ClientDialect::Responses, unknown, UpstreamDialect::OpenAi).err();
        assert_eq!(
            error.map(|e| e.error_type),
            Some(crate::ErrorType::InvalidRequest)
        );
    }

    #[test]
    fn thinking_another_provider_signed_never_reaches_anthropic() {
        let target = Target {
            dialect: UpstreamDialect::Anthropic,
            model: "claude",
            default_max_tokens: 100,
            api: Api::Chat,
        };
        let foreign = r#"{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"openai:gAAA"},{"type":"text","text":"hello"}]},{"role":"user","content":"more"}]}"#;
        let prepared = prepare_request(ClientDialect::Anthropic, foreign.as_bytes(), &target);
        let body: serde_json::Value = prepared
            .ok()
            .and_then(|p| p.body)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        assert_eq!(
            body["messages"][1]["content"].as_array().map(Vec::len),
            Some(1)
        );
        assert_eq!(body["messages"][1]["content"][0]["type"], "text");
        assert_eq!(body["model"], "claude");
        let own = foreign.replace("openai:gAAA", "EqQBCkgIAhABGAIiQL");
        let prepared = prepare_request(
            ClientDialect::Anthropic,
            own.replace("\"c\"", "\"claude\"").as_bytes(),
            &target,
        );
        assert!(
            prepared.is_ok_and(|p| p.body.is_none()),
            "Anthropic's own pass byte for byte"
        );
    }
}
