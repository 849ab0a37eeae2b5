//! The semantic cache's split of a request into the part compared by meaning (the text of the
//! user's last turn, `prompt`) and the part that must match exactly (everything else, hashed
//! into a `ContextKey`).
//!
//! Why the context is exact: a semantic hit says "this question means the same as one already
//! answered", which is only true when everything around the question is the same: the system
//! prompt, the earlier turns, the tools, the sampling parameters, and fields sluice does not
//! know. Only the text of the last user turn is left to the embedding; the shape of that turn
//! (how many text parts, their extra fields such as `cache_control`, the message's `name`)
//! stays in the context.
//!
//! What is semantically cacheable, in every dialect: the conversation ends with a user turn
//! made only of text, and that text is not blank. Anything else (tool results, images, audio,
//! files, an assistant prefill or tool output after the user's turn) is a `Skip`, which the
//! shell treats as a miss that is not stored.

use crate::api::RequestError;
use crate::cache::key::{digest, parse_object};
use crate::translate::ClientDialect;
use serde_json::{Map, Value};

/// Bumped whenever what goes into the context changes, so old entries stop matching instead
/// of matching wrongly. Distinct from the exact cache's version: the two never share keys.
const CONTEXT_VERSION: &str = "sluice-semantic-context-v1";

/// A SHA-256 of everything in a request but the last user turn's text, hex encoded: the
/// semantic index only compares prompts within one context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextKey(String);

impl ContextKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A semantically cacheable request: the text to embed and the exact context it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemanticQuery {
    pub context: ContextKey,
    /// The last user turn's text (text parts joined with `\n`), as the client sent it.
    pub prompt: String,
}

/// What `split_request` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    Query(SemanticQuery),
    /// Not semantically cacheable: neither looked up nor stored.
    Skip(Skip),
}

impl Split {
    pub fn query(self) -> Option<SemanticQuery> {
        match self {
            Split::Query(q) => Some(q),
            Split::Skip(_) => None,
        }
    }
}

/// Why a request is not semantically cacheable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// No user turn at all (or no `messages` / `input` to find one in).
    NoUserTurn,
    /// The conversation does not end with the user's turn: tool calls or results, an
    /// assistant prefill, or other items come after it, so the answer depends on more than
    /// the question.
    NotLastTurn,
    /// The user's turn holds something besides text: tool results, images, audio, files, or
    /// content of an unexpected shape.
    NotText,
    /// The user's turn's text is empty or whitespace only.
    BlankPrompt,
}

impl Skip {
    /// A fixed name, for metrics and audit labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NoUserTurn => "no_user_turn",
            Skip::NotLastTurn => "not_last_turn",
            Skip::NotText => "not_text",
            Skip::BlankPrompt => "blank_prompt",
        }
    }
}

/// Splits a request body of dialect `client` into its prompt and context. `scope` (team or
/// key) and `model` (the configured model name, which replaces the body's `model`) go into
/// the context, as in the exact cache's key. `Err` only for a body that is not a JSON
/// object; a body of the wrong shape is a `Skip` (the translator reports it properly).
///
/// For the Responses API, call it on the body after sluice expanded `previous_response_id`
/// into `input`: the id is an ignored field, so on the raw body two different conversations
/// ending in the same words would share a context.
pub fn split_request(
    client: ClientDialect,
    model: &str,
    scope: &str,
    body: &[u8],
) -> Result<Split, RequestError> {
    let mut value = parse_object(body)?;
    let Value::Object(fields) = &mut value else {
        return Ok(Split::Skip(Skip::NoUserTurn));
    };
    let taken = match client {
        ClientDialect::OpenAi => take_last_message(fields, "messages", &["text"]),
        ClientDialect::Anthropic => take_last_message(fields, "messages", &["text"]),
        ClientDialect::Responses => take_responses_input(fields),
    };
    let prompt = match taken {
        Ok(prompt) if prompt.trim().is_empty() => return Ok(Split::Skip(Skip::BlankPrompt)),
        Ok(prompt) => prompt,
        Err(skip) => return Ok(Split::Skip(skip)),
    };
    Ok(Split::Query(SemanticQuery {
        context: ContextKey(digest(CONTEXT_VERSION, client, scope, model, &mut value)),
        prompt,
    }))
}

/// Chat Completions and Messages: the last element of `messages` must be a user message;
/// its text is taken out of the body and returned.
fn take_last_message(
    fields: &mut Map<String, Value>,
    list: &str,
    text_types: &[&str],
) -> Result<String, Skip> {
    let Some(Value::Array(messages)) = fields.get_mut(list) else {
        return Err(Skip::NoUserTurn);
    };
    let is_user = |m: &Value| m.get("role").and_then(Value::as_str) == Some("user");
    if !messages.last().is_some_and(is_user) {
        return Err(match messages.iter().any(is_user) {
            true => Skip::NotLastTurn,
            false => Skip::NoUserTurn,
        });
    }
    messages
        .last_mut()
        .map_or(Err(Skip::NoUserTurn), |last| take_content(last, text_types))
}

/// Responses: `input` is either the prompt itself (a string) or a list of items whose last one
/// must be a user message (`type` absent or `message`).
fn take_responses_input(fields: &mut Map<String, Value>) -> Result<String, Skip> {
    let input = match fields.get_mut("input") {
        Some(input @ Value::String(_)) => input,
        Some(Value::Array(items)) => {
            let is_user = |item: &Value| {
                matches!(
                    item.get("type").map(Value::as_str),
                    None | Some(Some("message"))
                ) && item.get("role").and_then(Value::as_str) == Some("user")
            };
            if !items.last().is_some_and(is_user) {
                return Err(match items.iter().any(is_user) {
                    true => Skip::NotLastTurn,
                    false => Skip::NoUserTurn,
                });
            }
            return items.last_mut().map_or(Err(Skip::NoUserTurn), |last| {
                take_content(last, &["input_text", "text"])
            });
        }
        _ => return Err(Skip::NoUserTurn),
    };
    Ok(match std::mem::take(input) {
        Value::String(text) => text,
        _ => return Err(Skip::NoUserTurn),
    })
}

/// Takes the text out of a message's `content`: a string is replaced by `null`; in a list of
/// parts, each part must be a text part (`type` among `text_types`, a string `text`), and only
/// its `text` is removed, so the parts' number and other fields stay in the context. A
/// content that was `null` to begin with is not text, so the placeholder never collides with
/// a body as sent.
fn take_content(message: &mut Value, text_types: &[&str]) -> Result<String, Skip> {
    let Some(content) = message.get_mut("content") else {
        return Err(Skip::NotText);
    };
    match content {
        Value::String(_) => match std::mem::take(content) {
            Value::String(text) => Ok(text),
            _ => Err(Skip::NotText),
        },
        Value::Array(parts) if !parts.is_empty() => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts.iter_mut() {
                let Value::Object(part) = part else {
                    return Err(Skip::NotText);
                };
                let is_text = part
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| text_types.contains(&t));
                match part.remove("text") {
                    Some(Value::String(text)) if is_text => texts.push(text),
                    _ => return Err(Skip::NotText),
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(Skip::NotText),
    }
}
