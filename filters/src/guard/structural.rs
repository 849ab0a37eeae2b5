//! Which JSON values never carry user text and are left alone by the body redactor.
//!
//! Why skip anything: these values are identifiers, tags and opaque blobs the provider checks
//! byte for byte. Scanning them finds nothing a user wrote, and a false positive in one (an
//! address-looking tool-call id, a card-looking run inside base64) would break the request or
//! the conversation, not protect anyone. Everything else, in every dialect, is scanned:
//! message text, system prompts, tool results, tool-call arguments (a JSON document inside a
//! string is just text), tool definitions, metadata.
//!
//! The list is by key, the same in every dialect, and applies to a string (or number) directly
//! under the key or in an array directly under it. Inside a free-form object (below) no key is
//! structural: those keys are whatever a model or tool chose.

/// Keys whose values are skipped, with what they hold.
pub const SKIPPED_KEYS: &[&str] = &[
    // Model id (all dialects).
    "model",
    // Message role (OpenAI, Anthropic, Responses, Gemini).
    "role",
    // Part, block, item and event type tags.
    "type",
    // Ids of messages, items, tool calls, responses.
    "id",
    // Response object tags (`chat.completion`, `response`).
    "object",
    // Tool result's reference to its call (OpenAI chat).
    "tool_call_id",
    // Tool result's reference to its call (Anthropic).
    "tool_use_id",
    // Function call and output items' reference (Responses).
    "call_id",
    // Names of tools, functions and chat participants: identifiers providers validate
    // against a narrow pattern (`^[a-zA-Z0-9_-]+$`).
    "name",
    // Anthropic thinking block signatures.
    "signature",
    // Gemini thought signatures.
    "thought_signature",
    "thoughtSignature",
    // Responses reasoning items: encrypted, opaque.
    "encrypted_content",
    // Media types of images, documents, inline data.
    "media_type",
    "mime_type",
    "mimeType",
    // Uploaded file references (OpenAI, Gemini).
    "file_id",
    "file_uri",
    "fileUri",
    // Conversation chaining (Responses).
    "previous_response_id",
    // Stop and finish reasons (responses).
    "stop_reason",
    "finish_reason",
    "finishReason",
    // Item and response status (Responses).
    "status",
];

/// Base64 payloads (Anthropic image and PDF sources, redacted thinking; Gemini inline data;
/// OpenAI input audio) are under `data`, skipped like the keys above, except in an object
/// with `"type": "text"`: Anthropic's plain-text document source carries the document itself
/// there, and that is scanned.
pub const DATA_KEY: &str = "data";

/// Keys whose object value is free-form (a tool's input or output, caller metadata): every
/// value inside is scanned, whatever its key, so a tool argument called `name` or `id` that
/// holds an address is redacted.
pub const FREE_FORM_KEYS: &[&str] = &[
    // Anthropic `tool_use.input`.
    "input",
    // Gemini `functionCall.args`.
    "args",
    // Gemini `functionResponse.response`.
    "response",
    // Tool-call arguments given as an object rather than a string.
    "arguments",
    // Caller metadata (OpenAI, Anthropic, Responses).
    "metadata",
];

pub(crate) fn is_skipped(key: &str) -> bool {
    SKIPPED_KEYS.contains(&key)
}

pub(crate) fn opens_free_form(key: &str) -> bool {
    FREE_FORM_KEYS.contains(&key)
}

/// A `data:` URL with base64 content (`data:image/png;base64,...`): skipped under any key
/// (`image_url.url`, Responses `image_url`, `file_data`). Text that merely starts with
/// `data: ` (pasted server-sent events) is not one: a media type has no spaces.
pub(crate) fn is_base64_data_url(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("data:") else {
        return false;
    };
    let header = rest.get(..rest.len().min(256)).unwrap_or(rest);
    match header.find(',') {
        Some(comma) => {
            let media = &header[..comma];
            media.ends_with(";base64") && !media.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_data_url_table() {
        for (value, skipped) in [
            ("data:image/png;base64,iVBORw0KGgo=", true),
            ("data:application/pdf;base64,JVBERi0x", true),
            ("data: {\"id\": 1}", false),
            ("data:text/plain,hello a@b.io", false),
            ("see data:image/png;base64,xx", false),
        ] {
            assert_eq!(is_base64_data_url(value), skipped, "{value}");
        }
    }
}
