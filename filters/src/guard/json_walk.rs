//! One linear pass over JSON text that lists the values the body redactor must scan: every
//! string and number value, minus those `structural.rs` skips. Keys are never listed (they
//! are names a schema or a tool chose; rewriting one could also create a duplicate key).
//!
//! Why not `serde_json::Value`: the redactor splices replacements into the original bytes, so
//! it needs each value's exact span, and must not re-encode (or even allocate) the megabytes
//! of a long conversation to change three strings. The walker keeps an explicit stack, so a
//! deeply nested body costs memory in proportion, never the call stack.

use super::structural::{is_base64_data_url, is_skipped, opens_free_form};
use memchr::memchr2;
use std::borrow::Cow;
use std::ops::Range;

/// A value to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// A string's contents between the quotes (still escaped), or a number's token.
    pub span: Range<usize>,
    pub kind: LeafKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// A string without backslashes: its raw bytes are its text.
    Plain,
    /// A string with escapes, to be decoded.
    Escaped,
    Number,
}

/// Not JSON (or not JSON this walker reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// How values at one place are treated.
#[derive(Debug, Clone, Copy)]
struct Context {
    /// Under a structural key: not scanned.
    skip: bool,
    /// Inside a free-form object: no key is structural.
    free: bool,
    /// The key opens a free-form object, if its value is one.
    opens_free: bool,
}

const TOP: Context = Context {
    skip: false,
    free: false,
    opens_free: false,
};

#[derive(Debug, Clone, Copy)]
enum Frame {
    Object {
        free: bool,
    },
    /// An array; its items are read in this context.
    Array(Context),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    /// A key or `}` (just after `{`).
    FirstKey,
    Key,
    /// An item or `]` (just after `[`).
    FirstItem,
    /// `,` or the closing bracket.
    Separator,
}

/// Every value of `json` to scan, in document order.
pub(crate) fn leaves(json: &str) -> Result<Vec<Leaf>, Malformed> {
    let bytes = json.as_bytes();
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut context = TOP;
    let mut expect = Expect::Value;
    let mut i = 0;
    loop {
        i = skip_whitespace(bytes, i);
        let Some(&c) = bytes.get(i) else {
            return if expect == Expect::Separator && stack.is_empty() {
                Ok(out)
            } else {
                Err(Malformed)
            };
        };
        match expect {
            Expect::Value => {
                match c {
                    b'{' => {
                        stack.push(Frame::Object {
                            free: context.free || context.opens_free,
                        });
                        expect = Expect::FirstKey;
                        i += 1;
                        continue;
                    }
                    b'[' => {
                        let items = Context {
                            opens_free: false,
                            ..context
                        };
                        stack.push(Frame::Array(items));
                        expect = Expect::FirstItem;
                        i += 1;
                        continue;
                    }
                    b'"' => {
                        let end = string_end(bytes, i + 1)?;
                        let span = i + 1..end;
                        let raw = json.get(span.clone()).ok_or(Malformed)?;
                        let escaped = raw.as_bytes().contains(&b'\\');
                        let data_url = !escaped && is_base64_data_url(raw);
                        if !context.skip && !data_url {
                            let kind = if escaped {
                                LeafKind::Escaped
                            } else {
                                LeafKind::Plain
                            };
                            out.push(Leaf { span, kind });
                        }
                        i = end + 1;
                    }
                    b'-' | b'0'..=b'9' => {
                        let end = number_end(bytes, i);
                        if !context.skip {
                            out.push(Leaf {
                                span: i..end,
                                kind: LeafKind::Number,
                            });
                        }
                        i = end;
                    }
                    b't' => i = literal(bytes, i, b"true")?,
                    b'f' => i = literal(bytes, i, b"false")?,
                    b'n' => i = literal(bytes, i, b"null")?,
                    _ => return Err(Malformed),
                }
                expect = Expect::Separator;
            }
            Expect::FirstKey | Expect::Key => {
                if c == b'}' && expect == Expect::FirstKey {
                    stack.pop();
                    expect = Expect::Separator;
                    i += 1;
                    continue;
                }
                if c != b'"' {
                    return Err(Malformed);
                }
                let end = string_end(bytes, i + 1)?;
                let key = decode_key(json.get(i + 1..end).ok_or(Malformed)?);
                i = skip_whitespace(bytes, end + 1);
                if bytes.get(i) != Some(&b':') {
                    return Err(Malformed);
                }
                i += 1;
                let free = matches!(stack.last(), Some(Frame::Object { free: true }));
                context = Context {
                    skip: !free && is_skipped(&key),
                    free,
                    opens_free: opens_free_form(&key),
                };
                expect = Expect::Value;
            }
            Expect::FirstItem => {
                if c == b']' {
                    stack.pop();
                    expect = Expect::Separator;
                    i += 1;
                } else if let Some(Frame::Array(items)) = stack.last() {
                    context = *items;
                    expect = Expect::Value;
                } else {
                    return Err(Malformed);
                }
            }
            Expect::Separator => {
                i += 1;
                match (stack.last().copied(), c) {
                    (Some(Frame::Object { .. }), b',') => expect = Expect::Key,
                    (Some(Frame::Array(items)), b',') => {
                        context = items;
                        expect = Expect::Value;
                    }
                    (Some(Frame::Object { .. }), b'}') | (Some(Frame::Array(_)), b']') => {
                        stack.pop();
                    }
                    _ => return Err(Malformed),
                }
            }
        }
    }
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index of the closing quote of a string whose contents start at `i`.
fn string_end(bytes: &[u8], mut i: usize) -> Result<usize, Malformed> {
    loop {
        let rest = bytes.get(i..).ok_or(Malformed)?;
        let found = memchr2(b'"', b'\\', rest).ok_or(Malformed)?;
        i += found;
        if bytes.get(i) == Some(&b'"') {
            return Ok(i);
        }
        // A backslash: skip it and the byte it escapes.
        i += 2;
    }
}

fn number_end(bytes: &[u8], mut i: usize) -> usize {
    while matches!(
        bytes.get(i),
        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
    ) {
        i += 1;
    }
    i
}

fn literal(bytes: &[u8], i: usize, word: &[u8]) -> Result<usize, Malformed> {
    if bytes.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(Malformed)
    }
}

/// A key's text; escapes in keys are rare, so only then is anything allocated.
fn decode_key(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(super::json_string::decode(raw).text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(json: &str) -> Vec<&str> {
        leaves(json)
            .unwrap()
            .into_iter()
            .map(|leaf| &json[leaf.span])
            .collect()
    }

    #[test]
    fn guard_walk_lists_values_not_keys_nor_structural() {
        let json = r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi", "name": "bob"}],
            "n": 12, "stop": ["x"], "ok": true, "none": null, "id": "a", "data": "QUJD"}"#;
        assert_eq!(texts(json), vec!["hi", "12", "x"]);
    }

    #[test]
    fn guard_walk_free_form_objects_scan_every_key() {
        let json = r#"{"type": "tool_use", "id": "t1", "name": "lookup",
            "input": {"name": "a@b.io", "id": "c", "nested": {"type": "d"}}}"#;
        assert_eq!(texts(json), vec!["a@b.io", "c", "d"]);
        // Responses `input` is an array of items, not free-form.
        let json = r#"{"input": [{"type": "message", "role": "user", "content": "e"}]}"#;
        assert_eq!(texts(json), vec!["e"]);
    }

    #[test]
    fn guard_walk_reports_escaped_strings_and_skips_data_urls() {
        let json = r#"{"a": "x\"y", "b": {"url": "data:image/png;base64,AAAA"}, "c": "data: hi"}"#;
        let leaves = leaves(json).unwrap();
        assert_eq!(leaves[0].kind, LeafKind::Escaped);
        assert_eq!(&json[leaves[0].span.clone()], r#"x\"y"#);
        assert_eq!(texts(json), vec![r#"x\"y"#, "data: hi"]);
    }

    #[test]
    fn guard_walk_rejects_malformed() {
        for bad in [
            "",
            "{",
            r#"{"a" 1}"#,
            r#"{"a": }"#,
            "[1,]x",
            r#""abc"#,
            "[1] 2",
            "{,}",
            "tru",
        ] {
            assert_eq!(leaves(bad), Err(Malformed), "{bad}");
        }
        assert_eq!(leaves(r#" "top" "#).unwrap().len(), 1);
        assert_eq!(leaves("[]").unwrap(), vec![]);
        assert_eq!(leaves("{}").unwrap(), vec![]);
    }
}
