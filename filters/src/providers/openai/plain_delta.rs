//! The common stream chunk, recognised without decoding it. Almost every event of an OpenAI
//! stream is one choice's text delta with nothing else the gateway reads: no usage, no finish
//! reason, no error, no tool call. Decoding each such chunk only to learn that cost about 6k
//! instructions per event. Checking for the keys that matter costs a few short `memmem` scans.
//!
//! Sound because a key's quotes cannot appear unescaped inside a JSON string, so finding
//! `"usage"` in the bytes means a `usage` key. Any chunk that is not plainly a text delta
//! (pretty-printed or not) gives `None`, and the caller decodes it as before.

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The searchers, built once: building one costs more than a search of a whole chunk.
struct Keys {
    choices: Finder<'static>,
    absent: [Finder<'static>; 4],
    null_only: [Finder<'static>; 3],
    content: Finder<'static>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    choices: Finder::new(b"\"choices\":[{"),
    absent: [
        Finder::new(b"\"error\""),
        Finder::new(b"\"x_groq\""),
        Finder::new(b"\"tool_calls\""),
        Finder::new(b"\"reasoning_content\""),
    ],
    null_only: [
        Finder::new(b"\"usage\""),
        Finder::new(b"\"finish_reason\""),
        Finder::new(b"\"logprobs\""),
    ],
    content: Finder::new(b"\"content\""),
});

/// The characters of text a plain text-delta chunk adds (the raw string's length without its
/// quotes, as the decoding path measures it), or `None` when the chunk may say more.
pub fn plain_text_chars(data: &str) -> Option<u64> {
    let bytes = data.as_bytes();
    if !(bytes.starts_with(b"{") && bytes.ends_with(b"}")) {
        return None;
    }
    let keys = &*KEYS;
    keys.choices.find(bytes)?;
    if keys.absent.iter().any(|key| key.find(bytes).is_some()) {
        return None;
    }
    if !keys
        .null_only
        .iter()
        .all(|key| every_value_is_null(bytes, key))
    {
        return None;
    }
    let mut contents = keys.content.find_iter(bytes);
    let Some(at) = contents.next() else {
        return Some(0);
    };
    if contents.next().is_some() {
        return None;
    }
    let value = value_after_key(bytes, at + b"\"content\"".len())?;
    if value.starts_with(b"null") {
        return Some(0);
    }
    if value.first() != Some(&b'"') {
        return None;
    }
    let end = crate::json::string_end(value, 0)?;
    Some(end.saturating_sub(2) as u64)
}

/// Whether every occurrence of `key` has `null` for its value.
fn every_value_is_null(bytes: &[u8], key: &Finder<'_>) -> bool {
    key.find_iter(bytes).all(|at| {
        value_after_key(bytes, at + key.needle().len()).is_some_and(|v| {
            v.starts_with(b"null")
                && v.get(4)
                    .is_none_or(|b| matches!(b, b',' | b'}' | b' ' | b'\n' | b'\r' | b'\t'))
        })
    })
}

/// The bytes from a key's value on, after the colon and any spaces.
fn value_after_key(bytes: &[u8], after_key: usize) -> Option<&[u8]> {
    let rest = bytes.get(after_key..)?;
    let rest = trim_start(rest);
    let rest = rest.strip_prefix(b":")?;
    Some(trim_start(rest))
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        .count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::plain_text_chars;

    #[test]
    fn plain_deltas_are_measured_and_anything_else_is_left_to_the_decode() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
                Some(5),
            ),
            (
                r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}"#,
                Some(0),
            ),
            (
                r#"{"choices":[{"delta":{"content":"a \"q\" \\"},"finish_reason": null}], "usage": null}"#,
                Some(10),
            ),
            (r#"{"choices":[{"delta":{"content":null}}]}"#, Some(0)),
            (r#"{"choices":[{"delta":{}}]}"#, Some(0)),
            // Anything the tally must read goes to the decode.
            (r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#, None),
            (r#"{"choices":[],"usage":{"prompt_tokens":1}}"#, None),
            (
                r#"{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":1}}"#,
                None,
            ),
            (r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#, None),
            (r#"{"choices":[{"delta":{"reasoning_content":"x"}}]}"#, None),
            (r#"{"error":{"message":"x"}}"#, None),
            (
                r#"{"choices":[{"delta":{"content":"a"},"logprobs":{"content":[]}}]}"#,
                None,
            ),
            (
                r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
                None,
            ),
            (r#"{"choices":[{"delta":{"content":["x"]}}]}"#, None),
            (r#"{"choices":[{"delta":{"content":"unterminated}}]}"#, None),
            ("[DONE]", None),
        ];
        for (data, want) in cases {
            assert_eq!(plain_text_chars(data), *want, "{data}");
        }
    }
}
