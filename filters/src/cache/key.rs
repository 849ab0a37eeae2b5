//! The exact cache's key: which requests are the same question.
//!
//! Two requests share a key when they come from the same scope, in the same client dialect,
//! for the same configured model, with bodies equal as JSON values once the fields that cannot
//! change the answer are removed. Everything else in the body counts, known to sluice or not:
//! a field sluice does not understand may still change what the provider answers, and a wrong
//! hit (another question's answer) is far worse than a miss.

use super::canonical_json::write_canonical;
use crate::api::RequestError;
use crate::translate::ClientDialect;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bumped whenever what goes into the key changes, so old entries stop matching instead of
/// matching wrongly.
const KEY_VERSION: &str = "sluice-exact-cache-v1";

/// Top-level request fields left out of the key, because none of them changes the content
/// of the answer:
///
/// - `stream`: whole or streamed is only the framing; a hit is replayed in the form asked for.
/// - `stream_options`: asks for a usage chunk in the stream; replay adds it when asked
///   (`ReplaySpec::client_wants_usage`).
/// - `user`: an end-user id for the provider's abuse monitoring, never read by the model.
/// - `metadata`: the client's own tags, stored or echoed, never read by the model.
/// - `store`: whether the provider keeps the response; sluice keeps conversations itself.
/// - `service_tier`: the provider's capacity tier, which changes latency and price only.
/// - `safety_identifier`: OpenAI's successor to `user`, for abuse monitoring only.
/// - `prompt_cache_key`: a routing hint for the provider's prompt cache (cost, not content).
/// - `previous_response_id`: the shell hashes the body after sluice expanded the conversation
///   into it, so the earlier turns are in the key already, and the id differs every turn.
/// - `background`: run in the background and poll, which is delivery, not content.
/// - `include`: extra output (logprobs, encrypted reasoning); a hit replays what was stored.
pub const IGNORED_FIELDS: &[&str] = &[
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "previous_response_id",
    "background",
    "include",
];

/// A SHA-256 of one question, hex encoded: what the shell looks answers up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of a request. `scope` is the team or key name the shell caches for (answers never
/// cross scopes); `model` is the configured model name, which replaces the body's `model` so
/// that aliases of one route share entries and one alias routed elsewhere does not.
pub fn cache_key(
    client: ClientDialect,
    model: &str,
    scope: &str,
    body: &[u8],
) -> Result<CacheKey, RequestError> {
    let mut value = parse_object(body)?;
    Ok(CacheKey(digest(
        KEY_VERSION,
        client,
        scope,
        model,
        &mut value,
    )))
}

/// The body as a JSON value, refused unless it is an object.
pub(super) fn parse_object(body: &[u8]) -> Result<Value, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    if !value.is_object() {
        return Err(RequestError::invalid(
            "the request body must be a JSON object",
            "",
        ));
    }
    Ok(value)
}

/// The hex SHA-256 of a request body (an object) under `version`: the ignored fields are
/// removed and `model` set to the configured name first, then the body is written
/// canonically. The exact cache's key and the semantic cache's context both are this.
pub(super) fn digest(
    version: &str,
    client: ClientDialect,
    scope: &str,
    model: &str,
    value: &mut Value,
) -> String {
    if let Value::Object(fields) = value {
        for name in IGNORED_FIELDS {
            fields.remove(*name);
        }
        fields.insert("model".to_owned(), Value::String(model.to_owned()));
    }
    let mut canonical = Vec::new();
    write_canonical(value, &mut canonical);
    let mut hasher = Sha256::new();
    // Each part is length-prefixed, so no two different tuples hash the same bytes.
    for part in [
        version.as_bytes(),
        dialect_tag(client).as_bytes(),
        scope.as_bytes(),
        model.as_bytes(),
        &canonical,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

/// A fixed name per dialect (not `Debug`, which a rename would change).
fn dialect_tag(client: ClientDialect) -> &'static str {
    match client {
        ClientDialect::OpenAi => "openai-chat",
        ClientDialect::Anthropic => "anthropic-messages",
        ClientDialect::Responses => "openai-responses",
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Whether an answer to this request may be cached or served from the cache: only when the
/// body sets `temperature` to exactly 0. Without it the provider samples at its default
/// (usually 1), and a client asking twice expects two different draws. `top_p` and `seed`
/// are not consulted: at temperature 0 the answer is as repeatable as the provider makes it,
/// and above it neither makes sampling deterministic across providers.
pub fn temperature_allows_caching(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Temperature {
        #[serde(default)]
        temperature: Option<serde_json::Number>,
    }
    serde_json::from_slice::<Temperature>(body)
        .ok()
        .and_then(|t| t.temperature)
        .and_then(|n| n.as_f64())
        .is_some_and(|t| t == 0.0)
}
