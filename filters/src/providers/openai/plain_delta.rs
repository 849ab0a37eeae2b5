//! The common stream chunk, recognised without decoding it. Almost every event of an OpenAI
//! stream is one choice's text delta with nothing else the gateway reads: no usage, no finish
//! reason, no error, no tool call. Decoding each such chunk only to learn that cost about 6k
//! instructions per event. Checking for the keys that matter costs one pass over its quotes.
//!
//! Sound because a key's quotes cannot appear unescaped inside a JSON string, so finding
//! `"usage"` in the bytes means a `usage` key. Any chunk that is not plainly a text delta
//! (pretty-printed or not) gives `None`, and the caller decodes it as before.

/// The keys whose value the check reads (each must be `null`, or for `content` a string).
const CONTENT: &[u8] = b"\"content\"";
const USAGE: &[u8] = b"\"usage\"";
const FINISH_REASON: &[u8] = b"\"finish_reason\"";
const LOGPROBS: &[u8] = b"\"logprobs\"";

/// The characters of text a plain text-delta chunk adds (the raw string's length without its
/// quotes, as the decoding path measures it), or `None` when the chunk may say more.
///
/// One pass over the chunk's quotes: every key looked for starts with one, so each quote is
/// checked against the keys that begin with the letter after it.
pub fn plain_text_chars(data: &str) -> Option<u64> {
    let bytes = data.as_bytes();
    if !(bytes.starts_with(b"{") && bytes.ends_with(b"}")) {
        return None;
    }
    let mut choices = false;
    let mut content = None;
    // The quotes, found 32 bytes at a time: each block becomes a bit mask (a loop the compiler
    // turns into vector compares) whose set bits are walked. A chunk has a few hundred bytes
    // and dozens of quotes, where a `memchr` call per quote costs several times more.
    for (block, chunk) in bytes.chunks(32).enumerate() {
        let mut mask: u32 = 0;
        for (i, b) in chunk.iter().enumerate() {
            mask |= u32::from(*b == b'"') << i;
        }
        while mask != 0 {
            let at = block * 32 + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let rest = &bytes[at..];
            let key = |key: &[u8]| rest.starts_with(key);
            match rest.get(1) {
                Some(b'c') if key(b"\"choices\":[{") => choices = true,
                // A second `content` (a second choice): the decode counts it.
                Some(b'c') if key(CONTENT) => match content {
                    None => content = Some(at),
                    Some(_) => return None,
                },
                Some(b'e') if key(b"\"error\"") => return None,
                Some(b'x') if key(b"\"x_groq\"") => return None,
                Some(b't') if key(b"\"tool_calls\"") => return None,
                Some(b'r') if key(b"\"reasoning_content\"") => return None,
                Some(b'u') if key(USAGE) => null_value(bytes, at + USAGE.len())?,
                Some(b'f') if key(FINISH_REASON) => null_value(bytes, at + FINISH_REASON.len())?,
                Some(b'l') if key(LOGPROBS) => null_value(bytes, at + LOGPROBS.len())?,
                _ => {}
            }
        }
    }
    if !choices {
        return None;
    }
    match content {
        Some(at) => content_chars(bytes, at),
        None => Some(0),
    }
}

/// The length of the text of the `content` key at `at`: 0 for `null`, `None` when it is not
/// a string.
fn content_chars(bytes: &[u8], at: usize) -> Option<u64> {
    let value = value_after_key(bytes, at + CONTENT.len())?;
    if value.starts_with(b"null") {
        return Some(0);
    }
    if value.first() != Some(&b'"') {
        return None;
    }
    let end = crate::json::string_end(value, 0)?;
    Some(end.saturating_sub(2) as u64)
}

/// `Some` when the key ending at `after_key` has `null` for its value.
fn null_value(bytes: &[u8], after_key: usize) -> Option<()> {
    value_after_key(bytes, after_key)
        .filter(|v| {
            v.starts_with(b"null")
                && v.get(4)
                    .is_none_or(|b| matches!(b, b',' | b'}' | b' ' | b'\n' | b'\r' | b'\t'))
        })
        .map(|_| ())
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
    use super::{content_chars, plain_text_chars, value_after_key};
    use memchr::memmem::Finder;
    use proptest::prelude::*;

    /// The check as it was, nine `memmem` scans: the one-pass check must agree with it.
    fn by_scans(data: &str) -> Option<u64> {
        let bytes = data.as_bytes();
        if !(bytes.starts_with(b"{") && bytes.ends_with(b"}")) {
            return None;
        }
        Finder::new(b"\"choices\":[{").find(bytes)?;
        let absent = [
            &b"\"error\""[..],
            b"\"x_groq\"",
            b"\"tool_calls\"",
            b"\"reasoning_content\"",
        ];
        if absent.iter().any(|k| Finder::new(k).find(bytes).is_some()) {
            return None;
        }
        for key in [&b"\"usage\""[..], b"\"finish_reason\"", b"\"logprobs\""] {
            let null = Finder::new(key).find_iter(bytes).all(|at| {
                value_after_key(bytes, at + key.len()).is_some_and(|v| {
                    v.starts_with(b"null")
                        && v.get(4)
                            .is_none_or(|b| matches!(b, b',' | b'}' | b' ' | b'\n' | b'\r' | b'\t'))
                })
            });
            if !null {
                return None;
            }
        }
        let content = Finder::new(b"\"content\"");
        let mut contents = content.find_iter(bytes);
        let Some(at) = contents.next() else {
            return Some(0);
        };
        if contents.next().is_some() {
            return None;
        }
        content_chars(bytes, at)
    }

    /// Chunks made of the pieces that matter (keys, nulls, strings with escapes, brackets),
    /// in any order: mostly nonsense, which both checks must refuse alike.
    fn chunk() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\"choices\":[{".to_owned()),
            Just("\"delta\":{".to_owned()),
            Just("\"content\":".to_owned()),
            Just("\"content\"".to_owned()),
            Just("\"usage\":".to_owned()),
            Just("\"finish_reason\": ".to_owned()),
            Just("\"logprobs\":".to_owned()),
            Just("\"error\"".to_owned()),
            Just("\"tool_calls\"".to_owned()),
            Just("\"reasoning_content\"".to_owned()),
            Just("\"x_groq\"".to_owned()),
            Just("null".to_owned()),
            Just("nullx".to_owned()),
            Just("\"stop\"".to_owned()),
            Just("\"a \\\"usage\\\" b\"".to_owned()),
            Just("\"say \\\"usage\"".to_owned()),
            "[a-z\" :,{}\\[\\]\\\\]{0,6}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| format!("{{{}}}", p.join("")))
    }

    proptest! {
        #[test]
        fn one_pass_agrees_with_the_scans(data in chunk()) {
            prop_assert_eq!(plain_text_chars(&data), by_scans(&data), "{}", data);
        }
    }

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
            assert_eq!(by_scans(data), *want, "{data}");
        }
    }
}
