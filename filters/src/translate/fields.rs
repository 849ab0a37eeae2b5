//! Which top-level request fields survive translation into another provider's dialect, and
//! the policy for the rest, in one table per client dialect:
//!
//! - **same dialect**: every field passes through untouched (not checked here);
//! - **translated**: the field is decoded and mapped to the target's equivalent;
//! - **dropped**: the field cannot change the answer (a billing tier, a cache key, metadata the
//!   client keeps for itself); it is left out, and the access log names it;
//! - **refused**: anything else, known or unknown: a 400 `unsupported_by_provider` naming the
//!   field, because dropping it could change the answer without the client knowing.
//!
//! Some fields depend on their value (`logprobs: false` is harmless, `true` is not;
//! `context_management` may only clear thinking from context when every thinking block is
//! kept anyway).

use super::ClientDialect;
use crate::api::RequestError;
use crate::json::{Field, TopLevelObject};

/// What translation does with one field.
enum Policy {
    Translated,
    Dropped,
    /// Dropped when the value is one of these (JSON text), refused otherwise.
    DroppedWhen(&'static [&'static str]),
    /// Decided by a function of the value: `Ok(true)` dropped, `Ok(false)` translated.
    Check(fn(&Field<'_>) -> Result<bool, RequestError>),
}

fn openai_policy(name: &str) -> Option<Policy> {
    use Policy::*;
    Some(match name {
        "model"
        | "messages"
        | "tools"
        | "tool_choice"
        | "parallel_tool_calls"
        | "max_completion_tokens"
        | "max_tokens"
        | "temperature"
        | "top_p"
        | "top_k"
        | "stop"
        | "seed"
        | "presence_penalty"
        | "frequency_penalty"
        | "n"
        | "user"
        | "response_format"
        | "reasoning_effort"
        | "verbosity"
        | "stream"
        | "stream_options" => Translated,
        // Kept by OpenAI for the client, or a speed/billing hint: the answer is the same.
        "store" | "metadata" | "service_tier" | "prompt_cache_key" | "safety_identifier"
        | "prediction" => Dropped,
        "logprobs" => DroppedWhen(&["false", "null"]),
        "modalities" => DroppedWhen(&["[\"text\"]", "null"]),
        "logit_bias" => DroppedWhen(&["{}", "null"]),
        _ => return None,
    })
}

fn responses_policy(name: &str) -> Option<Policy> {
    use Policy::*;
    Some(match name {
        "model"
        | "input"
        | "instructions"
        | "tools"
        | "tool_choice"
        | "parallel_tool_calls"
        | "text"
        | "reasoning"
        | "max_output_tokens"
        | "temperature"
        | "top_p"
        | "user"
        | "stream" => Translated,
        // Repeated in the answer or a hint to OpenAI's own caching and tiers: the answer is
        // the same. (`truncation` only matters past the context window, which a translated
        // request meets as an error either way.)
        "metadata" | "service_tier" | "prompt_cache_key" | "safety_identifier" | "truncation"
        | "stream_options" => Dropped,
        // Served by sluice before translation (the stored turns are written into `input`).
        "store" | "previous_response_id" => Dropped,
        // What to add to the answer: sluice always returns reasoning's encrypted content
        // (OpenAI's current default), and offers nothing else `include` can ask for.
        "include" => Check(include),
        "background" => DroppedWhen(&["false", "null"]),
        _ => return None,
    })
}

fn anthropic_policy(name: &str) -> Option<Policy> {
    use Policy::*;
    Some(match name {
        "model" | "messages" | "max_tokens" | "system" | "temperature" | "top_p" | "top_k"
        | "stop_sequences" | "stream" | "tools" | "tool_choice" | "metadata" | "thinking"
        | "output_config" => Translated,
        "service_tier" => Dropped,
        "context_management" => Check(context_management),
        _ => return None,
    })
}

/// `include`: `reasoning.encrypted_content` is always returned (dropped, as Codex sends it on
/// every request); anything else (logprobs, search results, image URLs) is refused.
fn include(field: &Field<'_>) -> Result<bool, RequestError> {
    let items: Vec<serde_json::Value> = match field.value.trim() {
        "null" => Vec::new(),
        value => serde_json::from_str(value)
            .map_err(|_| RequestError::invalid("include must be an array of strings", "include"))?,
    };
    for (i, item) in items.iter().enumerate() {
        if item != "reasoning.encrypted_content" {
            return Err(RequestError::unsupported(
                format!(
                    "include {item} is offered by OpenAI's own Responses API only; send it to a native OpenAI model"
                ),
                format!("include[{i}]"),
            ));
        }
    }
    Ok(true)
}

/// `context_management` edits are Anthropic's to perform. Clearing old thinking blocks from
/// the context while keeping all of them (`keep: "all"`) changes nothing another provider
/// would see (they get no thinking blocks back anyway): dropped. Any other edit (clearing tool
/// results, keeping only the last N thinking turns) would change what the model sees: refused.
fn context_management(field: &Field<'_>) -> Result<bool, RequestError> {
    #[derive(serde::Deserialize)]
    struct Management {
        #[serde(default)]
        edits: Vec<serde_json::Value>,
    }
    let management: Management = serde_json::from_str(field.value).map_err(|_| {
        RequestError::invalid(
            "context_management must be an object with an edits array",
            "context_management",
        )
    })?;
    for (i, edit) in management.edits.iter().enumerate() {
        let kind = edit["type"].as_str().unwrap_or_default();
        let keeps_all = edit.get("keep").is_none_or(|k| k == "all");
        if !(kind.starts_with("clear_thinking") && keeps_all) {
            return Err(RequestError::unsupported(
                format!(
                    "context_management edit '{kind}' is performed by Anthropic only and would change what the model sees; send it to an Anthropic model"
                ),
                format!("context_management.edits[{i}]"),
            ));
        }
    }
    Ok(true)
}

/// Checks the top-level fields of a request about to be translated for a `target` provider
/// (a dialect name for messages). Returns the fields that will be dropped.
pub fn check_translated_fields(
    client: ClientDialect,
    body: &[u8],
    target: &str,
) -> Result<Vec<String>, RequestError> {
    check_scanned_fields(client, &TopLevelObject::parse(body)?, target)
}

/// `check_translated_fields` on a body already scanned.
pub fn check_scanned_fields(
    client: ClientDialect,
    object: &TopLevelObject<'_>,
    target: &str,
) -> Result<Vec<String>, RequestError> {
    let mut dropped = Vec::new();
    for field in object.fields() {
        let name = field.key.as_ref();
        // Threads are served by the gateway itself before translation.
        if client == ClientDialect::Anthropic && name == "thread" {
            continue;
        }
        let policy = match client {
            ClientDialect::OpenAi => openai_policy(name),
            ClientDialect::Anthropic => anthropic_policy(name),
            ClientDialect::Responses => responses_policy(name),
        };
        let drop = match policy {
            Some(Policy::Translated) => false,
            Some(Policy::Dropped) => true,
            Some(Policy::DroppedWhen(values)) if values.contains(&field.value.trim()) => true,
            Some(Policy::Check(check)) => check(field)?,
            Some(Policy::DroppedWhen(_)) | None => {
                return Err(RequestError::unsupported(
                    format!(
                        "the field '{}' cannot be translated for a {target} provider (sluice passes unknown fields only to providers of the client's own dialect)",
                        short(name)
                    ),
                    short(name),
                ))
            }
        };
        if drop {
            dropped.push(name.to_owned());
        }
    }
    Ok(dropped)
}

fn short(name: &str) -> &str {
    match name.char_indices().nth(64) {
        Some((at, _)) => &name[..at],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorType;

    fn check(client: ClientDialect, body: &str) -> Result<Vec<String>, RequestError> {
        check_translated_fields(client, body.as_bytes(), "gemini")
    }

    #[test]
    fn openai_fields_are_translated_dropped_or_refused() {
        let ok = check(
            ClientDialect::OpenAi,
            r#"{"model":"m","messages":[],"store":true,"metadata":{"a":"b"},"logprobs":false,"temperature":1}"#,
        )
        .unwrap();
        assert_eq!(ok, ["store", "metadata", "logprobs"]);
        for (body, field) in [
            (r#"{"model":"m","messages":[],"logprobs":true}"#, "logprobs"),
            (
                r#"{"model":"m","messages":[],"audio":{"voice":"x"}}"#,
                "audio",
            ),
            (
                r#"{"model":"m","messages":[],"brand_new_field":1}"#,
                "brand_new_field",
            ),
            (
                r#"{"model":"m","messages":[],"logit_bias":{"50256":-100}}"#,
                "logit_bias",
            ),
        ] {
            let e = check(ClientDialect::OpenAi, body).unwrap_err();
            assert_eq!(e.error_type, ErrorType::UnsupportedByProvider, "{body}");
            assert_eq!(e.param.as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn anthropic_context_management_only_drops_what_cannot_change_the_answer() {
        let dropped = check(
            ClientDialect::Anthropic,
            r#"{"model":"m","messages":[],"thinking":{"type":"adaptive"},"output_config":{"effort":"high"},"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},"thread":{"type":"create"}}"#,
        )
        .unwrap();
        assert_eq!(dropped, ["context_management"]);
        let e = check(
            ClientDialect::Anthropic,
            r#"{"model":"m","messages":[],"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("context_management.edits[0]"));
        let e = check(
            ClientDialect::Anthropic,
            r#"{"model":"m","messages":[],"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":{"type":"thinking_turns","value":1}}]}}"#,
        )
        .unwrap_err();
        assert_eq!(e.error_type, ErrorType::UnsupportedByProvider);
        let e = check(
            ClientDialect::Anthropic,
            r#"{"model":"m","messages":[],"mcp_servers":[]}"#,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("mcp_servers"));
    }
}
