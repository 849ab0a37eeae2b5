//! One linear pass over JSON text that lists the values the body redactor must scan: every
//! string value minus those `structural.rs` skips, and the numbers inside free-form objects
//! (tool arguments and results, metadata). Keys are never listed (they are names a schema or
//! a tool chose; rewriting one could also create a duplicate key).
//!
//! Why not `serde_json::Value`: the redactor splices replacements into the original bytes, so
//! it needs each value's exact span, and must not re-encode (or even allocate) the megabytes
//! of a long conversation to change three strings. The walker keeps an explicit stack, so a
//! deeply nested body costs memory in proportion, never the call stack.

use super::structural::{is_base64_data_url, is_skipped, opens_free_form, DATA_KEY};
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
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    /// Under a structural key: not scanned.
    skip: bool,
    /// Inside a free-form object: no key is structural.
    free: bool,
    /// The key opens a free-form object, if its value is one.
    opens_free: bool,
    /// The key is `type` (outside free-form objects): `"text"` makes the object's `data` text.
    is_type: bool,
    /// The key is `data` (outside free-form objects): its string is scanned only if the
    /// object turns out to have `"type": "text"`.
    is_data: bool,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Object(ObjectFrame),
    /// An array; its items are read in this context.
    Array(Context),
}

#[derive(Debug, Clone, Copy)]
struct ObjectFrame {
    free: bool,
    /// It has `"type": "text"`.
    text_typed: bool,
    /// Where its `data` string is in the output, kept only if the object is text-typed.
    data_leaf: Option<usize>,
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
    let mut walk = Walk {
        json,
        bytes: json.as_bytes(),
        out: Vec::new(),
        stack: Vec::new(),
        context: Context::default(),
        i: 0,
    };
    let mut expect = Expect::Value;
    loop {
        walk.i = skip_whitespace(walk.bytes, walk.i);
        let Some(&c) = walk.bytes.get(walk.i) else {
            return if expect == Expect::Separator && walk.stack.is_empty() {
                Ok(walk.out.into_iter().flatten().collect())
            } else {
                Err(Malformed)
            };
        };
        expect = match expect {
            Expect::Value => walk.value(c)?,
            Expect::FirstKey if c == b'}' => walk.close(),
            Expect::FirstKey | Expect::Key => walk.key(c)?,
            Expect::FirstItem if c == b']' => walk.close(),
            Expect::FirstItem => walk.item()?,
            Expect::Separator => walk.separator(c)?,
        };
    }
}

/// The walk's state between tokens.
struct Walk<'a> {
    json: &'a str,
    bytes: &'a [u8],
    /// `None` marks a `data` string dropped when its object closed without `"type": "text"`.
    out: Vec<Option<Leaf>>,
    stack: Vec<Frame>,
    /// How the next value is treated.
    context: Context,
    i: usize,
}

impl Walk<'_> {
    /// A value starting with `c`.
    fn value(&mut self, c: u8) -> Result<Expect, Malformed> {
        match c {
            b'{' => {
                self.stack.push(Frame::Object(ObjectFrame {
                    free: self.context.free || self.context.opens_free,
                    text_typed: false,
                    data_leaf: None,
                }));
                self.i += 1;
                return Ok(Expect::FirstKey);
            }
            b'[' => {
                // Items inherit skipping and freedom, not the object-level key roles.
                let items = Context {
                    skip: self.context.skip,
                    free: self.context.free,
                    ..Context::default()
                };
                self.stack.push(Frame::Array(items));
                self.i += 1;
                return Ok(Expect::FirstItem);
            }
            b'"' => self.string()?,
            b'-' | b'0'..=b'9' => {
                let end = number_end(self.bytes, self.i);
                // Numbers are scanned only where a tool or caller chose them: elsewhere they
                // are API parameters (`seed`, `max_tokens`), and a random 16-digit seed that
                // passes Luhn must not become a string the provider refuses.
                if self.context.free && !self.context.skip {
                    self.out.push(Some(Leaf {
                        span: self.i..end,
                        kind: LeafKind::Number,
                    }));
                }
                self.i = end;
            }
            b't' => self.i = literal(self.bytes, self.i, b"true")?,
            b'f' => self.i = literal(self.bytes, self.i, b"false")?,
            b'n' => self.i = literal(self.bytes, self.i, b"null")?,
            _ => return Err(Malformed),
        }
        Ok(Expect::Separator)
    }

    fn string(&mut self) -> Result<(), Malformed> {
        let end = string_end(self.bytes, self.i + 1)?;
        let span = self.i + 1..end;
        self.i = end + 1;
        let raw = self.json.get(span.clone()).ok_or(Malformed)?;
        let escaped = raw.as_bytes().contains(&b'\\');
        if !escaped && is_base64_data_url(raw) {
            return Ok(());
        }
        let kind = if escaped {
            LeafKind::Escaped
        } else {
            LeafKind::Plain
        };
        let context = self.context;
        if let Some(Frame::Object(frame)) = self.stack.last_mut() {
            if context.is_type && raw == "text" {
                frame.text_typed = true;
            }
            if context.is_data {
                frame.data_leaf = Some(self.out.len());
                self.out.push(Some(Leaf { span, kind }));
                return Ok(());
            }
        }
        if !context.skip {
            self.out.push(Some(Leaf { span, kind }));
        }
        Ok(())
    }

    /// A member's key (at `c`) and its colon; sets the context of its value.
    fn key(&mut self, c: u8) -> Result<Expect, Malformed> {
        if c != b'"' {
            return Err(Malformed);
        }
        let end = string_end(self.bytes, self.i + 1)?;
        let key = decode_key(self.json.get(self.i + 1..end).ok_or(Malformed)?);
        self.i = skip_whitespace(self.bytes, end + 1);
        if self.bytes.get(self.i) != Some(&b':') {
            return Err(Malformed);
        }
        self.i += 1;
        let free = matches!(
            self.stack.last(),
            Some(Frame::Object(ObjectFrame { free: true, .. }))
        );
        let is_data = !free && key == DATA_KEY;
        self.context = Context {
            skip: is_data || (!free && is_skipped(&key)),
            free,
            opens_free: opens_free_form(&key),
            is_type: !free && key == "type",
            is_data,
        };
        Ok(Expect::Value)
    }

    /// The first item of an array.
    fn item(&mut self) -> Result<Expect, Malformed> {
        match self.stack.last() {
            Some(Frame::Array(items)) => {
                self.context = *items;
                Ok(Expect::Value)
            }
            _ => Err(Malformed),
        }
    }

    fn separator(&mut self, c: u8) -> Result<Expect, Malformed> {
        match (self.stack.last().copied(), c) {
            (Some(Frame::Object(_)), b',') => {
                self.i += 1;
                Ok(Expect::Key)
            }
            (Some(Frame::Array(items)), b',') => {
                self.i += 1;
                self.context = items;
                Ok(Expect::Value)
            }
            (Some(Frame::Object(_)), b'}') | (Some(Frame::Array(_)), b']') => Ok(self.close()),
            _ => Err(Malformed),
        }
    }

    /// Closes the innermost container. An object drops its `data` string unless it said
    /// `"type": "text"`.
    fn close(&mut self) -> Expect {
        self.i += 1;
        if let Some(Frame::Object(ObjectFrame {
            text_typed: false,
            data_leaf: Some(index),
            ..
        })) = self.stack.pop()
        {
            if let Some(leaf) = self.out.get_mut(index) {
                *leaf = None;
            }
        }
        Expect::Separator
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
            "seed": 4111111111111111, "stop": ["x"], "ok": true, "none": null, "id": "a", "data": "QUJD",
            "metadata": {"n": 12}}"#;
        assert_eq!(texts(json), vec!["hi", "x", "12"]);
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
    fn guard_walk_data_is_scanned_only_in_text_sources() {
        // Anthropic's plain-text document source carries the document in `data`.
        let json = r#"[{"data": "doc a@b.io", "media_type": "text/plain", "type": "text"},
            {"type": "base64", "media_type": "image/png", "data": "QUJD"},
            {"inline_data": {"mime_type": "text/plain", "data": "QUJD"}}, {"data": "x"},
            {"type": "text", "data": ["y"]}, {"input": {"data": "z"}}]"#;
        assert_eq!(texts(json), vec!["doc a@b.io", "z"]);
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
