//! Scans a JSON object once and records where each top-level field's value sits in the input.
//!
//! Why not `serde_json::Value`: a chat request can carry megabytes of messages and base64
//! images, and the gateway only needs to read two or three top-level fields and replace one.
//! Borrowing `RawValue` slices keeps the scan to one validating pass with no per-message
//! allocation, and the byte spans let the caller splice a new value without re-encoding the rest.

use super::field_value::{walk_top_level, Walk};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

/// The most top-level fields a request may have. The richest request shape (OpenAI chat with
/// every optional parameter) has about 40; a body with thousands is an attack on the scanner,
/// refused as soon as the limit is passed, before the rest is read.
pub const MAX_TOP_LEVEL_FIELDS: usize = 256;

/// Up to this many fields, duplicates are found by comparing with the fields before (no
/// allocation); past it, with a hash set, so the check stays linear in the body.
const LINEAR_DUPLICATE_CHECK: usize = 16;

/// One top-level field: its (unescaped) key and the span of its raw value in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub key: Cow<'a, str>,
    pub value: &'a str,
    pub span: Range<usize>,
}

/// The top-level fields of a JSON object, in document order.
#[derive(Debug)]
pub struct TopLevelObject<'a> {
    input: &'a [u8],
    fields: Vec<Field<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectScanError {
    /// The bytes are not valid JSON (serde's message, with line and column).
    Syntax(String),
    /// Valid JSON, but the top level is not an object.
    NotAnObject,
    /// The same key appears twice at the top level. Parsers disagree on which one wins, so a
    /// gateway that authorizes one copy while the provider reads the other could be tricked.
    DuplicateKey(String),
    /// More than `MAX_TOP_LEVEL_FIELDS` top-level fields.
    TooManyFields,
}

impl fmt::Display for ObjectScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectScanError::Syntax(msg) => write!(f, "request body is not valid JSON: {msg}"),
            ObjectScanError::NotAnObject => f.write_str("request body must be a JSON object"),
            ObjectScanError::DuplicateKey(key) => {
                write!(f, "request body has the field '{key}' more than once")
            }
            ObjectScanError::TooManyFields => write!(
                f,
                "request body has more than {MAX_TOP_LEVEL_FIELDS} top-level fields"
            ),
        }
    }
}

impl std::error::Error for ObjectScanError {}

impl<'a> TopLevelObject<'a> {
    pub fn parse(input: &'a [u8]) -> Result<Self, ObjectScanError> {
        let mut de = serde_json::Deserializer::from_slice(input);
        let too_many = Cell::new(false);
        let raw_fields = de
            .deserialize_any(FieldsVisitor {
                too_many: &too_many,
            })
            .map_err(|e| match e.classify() {
                _ if too_many.get() => ObjectScanError::TooManyFields,
                serde_json::error::Category::Data => ObjectScanError::NotAnObject,
                _ => ObjectScanError::Syntax(e.to_string()),
            })?;
        de.end()
            .map_err(|e| ObjectScanError::Syntax(e.to_string()))?;

        let base = input.as_ptr() as usize;
        let mut fields: Vec<Field<'a>> = Vec::with_capacity(raw_fields.len());
        if let Some(key) = first_duplicate(raw_fields.iter().map(|(key, _)| key.as_ref())) {
            return Err(ObjectScanError::DuplicateKey(key.to_owned()));
        }
        for (key, raw) in raw_fields {
            let value = raw.get();
            // `RawValue` borrowed from `from_slice` points into `input`; its offset is the span.
            let start = value.as_ptr() as usize - base;
            fields.push(Field {
                key,
                value,
                span: start..start + value.len(),
            });
        }
        Ok(TopLevelObject { input, fields })
    }

    /// The same fields as `parse`, found by the byte walk of `json::field_value` instead of
    /// serde's validating scan (about a third of its cost), for a body whose syntax is checked
    /// by a full decode anyway: the request phase scans a body and then checks its shape with
    /// serde. What the walk does not check (the syntax inside values) is that decode's to
    /// refuse. Whenever the walk might disagree with `parse` (a key with an escape, bytes that
    /// are not UTF-8, a duplicate key, too many fields, a broken top level, trailing bytes),
    /// `parse` decides, with its error.
    pub fn scan(input: &'a [u8]) -> Result<Self, ObjectScanError> {
        Self::walk(input).map_or_else(|| Self::parse(input), Ok)
    }

    fn walk(input: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(input).ok()?;
        let base = input.as_ptr() as usize;
        let mut fields: Vec<Field<'a>> = Vec::with_capacity(8);
        let mut sound = true;
        let end = walk_top_level(input, |name, value| {
            let start = value.as_ptr() as usize - base;
            let span = start..start + value.len();
            let key_span =
                name.as_ptr() as usize - base..name.as_ptr() as usize - base + name.len();
            match (text.get(key_span), text.get(span.clone())) {
                (Some(key), Some(value))
                    if !key.contains('\\') && fields.len() < MAX_TOP_LEVEL_FIELDS =>
                {
                    fields.push(Field {
                        key: Cow::Borrowed(key),
                        value,
                        span,
                    });
                    Walk::Next
                }
                _ => {
                    sound = false;
                    Walk::Stop
                }
            }
        })?;
        let trailing = input[end..]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        let unique = first_duplicate(fields.iter().map(|f| f.key.as_ref())).is_none();
        (sound && trailing && unique).then_some(TopLevelObject { input, fields })
    }

    /// Whether this is the scan of exactly `body` (the same bytes in memory), so a caller
    /// handed a scan can trust it instead of scanning again.
    pub fn is_of(&self, body: &[u8]) -> bool {
        std::ptr::eq(self.input.as_ptr(), body.as_ptr()) && self.input.len() == body.len()
    }

    pub fn get(&self, key: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.key == key)
    }

    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The input with the value of `span` replaced by `replacement` (which must be valid JSON).
    pub fn splice(&self, span: Range<usize>, replacement: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.input.len() - span.len() + replacement.len());
        out.extend_from_slice(&self.input[..span.start]);
        out.extend_from_slice(replacement);
        out.extend_from_slice(&self.input[span.end..]);
        out
    }

    /// The input with several values replaced (`edits`: span and new JSON, in any order) and
    /// fields appended (`appends`: key and JSON value), built in one pass.
    pub fn rewrite(
        &self,
        edits: &mut [(Range<usize>, Vec<u8>)],
        appends: &[(&str, &[u8])],
    ) -> Vec<u8> {
        edits.sort_by_key(|(span, _)| span.start);
        let extra: usize = edits.iter().map(|(_, v)| v.len()).sum::<usize>()
            + appends
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>();
        let mut out = Vec::with_capacity(self.input.len() + extra);
        let mut at = 0;
        for (span, value) in edits.iter() {
            out.extend_from_slice(&self.input[at..span.start]);
            out.extend_from_slice(value);
            at = span.end;
        }
        if appends.is_empty() {
            out.extend_from_slice(&self.input[at..]);
            return out;
        }
        let close = self
            .input
            .iter()
            .rposition(|b| *b == b'}')
            .unwrap_or(self.input.len())
            .max(at);
        out.extend_from_slice(&self.input[at..close]);
        let mut has_fields = !self.fields.is_empty();
        for (key, value) in appends {
            if has_fields {
                out.push(b',');
            }
            has_fields = true;
            out.extend_from_slice(serde_json::to_string(key).unwrap_or_default().as_bytes());
            out.push(b':');
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&self.input[close..]);
        out
    }
}

/// The first key that appears twice, in time linear in the number of fields.
fn first_duplicate<'k>(keys: impl ExactSizeIterator<Item = &'k str> + Clone) -> Option<&'k str> {
    if keys.len() <= LINEAR_DUPLICATE_CHECK {
        return keys.clone().enumerate().find_map(|(i, key)| {
            keys.clone()
                .take(i)
                .any(|earlier| earlier == key)
                .then_some(key)
        });
    }
    let mut seen = HashSet::with_capacity(keys.len());
    keys.into_iter().find(|key| !seen.insert(*key))
}

struct FieldsVisitor<'c> {
    /// Set when the object has more than `MAX_TOP_LEVEL_FIELDS` fields (serde's error type
    /// cannot say so itself).
    too_many: &'c Cell<bool>,
}

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8).min(MAX_TOP_LEVEL_FIELDS));
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            if out.len() == MAX_TOP_LEVEL_FIELDS {
                self.too_many.set(true);
                return Err(de::Error::custom("too many top-level fields"));
            }
            let value: &'de RawValue = map.next_value()?;
            out.push((key.0, value));
        }
        Ok(out)
    }
}

/// A key that borrows from the input unless it contains escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::arbitrary::json_value;
    use proptest::prelude::*;

    #[test]
    fn finds_fields_and_their_spans() {
        let body =
            br#" {"messages":[{"role":"user","content":"hi"}], "model" : "fast", "stream":true} "#;
        let obj = TopLevelObject::parse(body).unwrap();
        let model = obj.get("model").unwrap();
        assert_eq!(model.value, r#""fast""#);
        assert_eq!(&body[model.span.clone()], br#""fast""#);
        assert_eq!(obj.get("stream").unwrap().value, "true");
        assert_eq!(obj.fields().len(), 3);
    }

    #[test]
    fn splice_replaces_only_the_value() {
        let body = br#"{"model":"fast","messages":[]}"#;
        let obj = TopLevelObject::parse(body).unwrap();
        let span = obj.get("model").unwrap().span.clone();
        let out = obj.splice(span, br#""gpt-4o-mini""#);
        assert_eq!(out, br#"{"model":"gpt-4o-mini","messages":[]}"#);
    }

    #[test]
    fn escaped_keys_are_unescaped() {
        let body = br#"{"mo\u0064el":"x"}"#;
        let obj = TopLevelObject::parse(body).unwrap();
        assert_eq!(obj.get("model").unwrap().value, r#""x""#);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let body = br#"{"model":"a","mo\u0064el":"b"}"#;
        assert_eq!(
            TopLevelObject::parse(body).unwrap_err(),
            ObjectScanError::DuplicateKey("model".into())
        );
    }

    #[test]
    fn duplicates_are_found_past_the_linear_check_too() {
        let mut body = String::from("{");
        for i in 0..100 {
            body.push_str(&format!("\"k{i}\":{i},"));
        }
        body.push_str("\"k\\u00350\":1}");
        assert_eq!(
            TopLevelObject::parse(body.as_bytes()).unwrap_err(),
            ObjectScanError::DuplicateKey("k50".into())
        );
    }

    #[test]
    fn too_many_fields_are_refused() {
        let object = |n: usize| {
            let fields: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            format!("{{{}}}", fields.join(","))
        };
        let at_limit = object(MAX_TOP_LEVEL_FIELDS);
        assert_eq!(
            TopLevelObject::parse(at_limit.as_bytes())
                .unwrap()
                .fields()
                .len(),
            MAX_TOP_LEVEL_FIELDS
        );
        let over = object(MAX_TOP_LEVEL_FIELDS + 1);
        assert_eq!(
            TopLevelObject::parse(over.as_bytes()).unwrap_err(),
            ObjectScanError::TooManyFields
        );
    }

    #[test]
    fn non_objects_and_garbage_are_told_apart() {
        assert_eq!(
            TopLevelObject::parse(b"[1,2]").unwrap_err(),
            ObjectScanError::NotAnObject
        );
        assert!(matches!(
            TopLevelObject::parse(b"{\"model\":").unwrap_err(),
            ObjectScanError::Syntax(_)
        ));
        assert!(matches!(
            TopLevelObject::parse(b"{} trailing").unwrap_err(),
            ObjectScanError::Syntax(_)
        ));
    }

    /// `scan` and `parse` agree: the same fields and spans, or the same error.
    fn assert_scan_agrees(body: &[u8]) {
        fn fields<'a>(o: TopLevelObject<'a>) -> Vec<Field<'a>> {
            o.fields
        }
        assert_eq!(
            TopLevelObject::scan(body).map(fields),
            TopLevelObject::parse(body).map(fields),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn scan_agrees_with_parse_where_the_walk_is_unsure() {
        let too_many: Vec<String> = (0..=MAX_TOP_LEVEL_FIELDS)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        let too_many = format!("{{{}}}", too_many.join(","));
        let cases: &[&[u8]] = &[
            br#" {"messages":[{"role":"user"}], "model" : "fast", "stream":true} "#,
            br#"{}"#,
            br#"{"mo\u0064el":"x"}"#,
            br#"{"model":"a","mo\u0064el":"b"}"#,
            br#"{"model":"a","model":"b"}"#,
            br#"{"a":1} trailing"#,
            br#"{"a":1}}"#,
            b"[1,2]",
            br#"{"model":"#,
            br#"{"model" "x"}"#,
            b"{\"a\":\"\xff\"}",
            b"{\"\xc3\xa9\":1}",
            b"",
            too_many.as_bytes(),
        ];
        for body in cases {
            assert_scan_agrees(body);
        }
    }

    proptest! {
        /// On any object (keys repeated or not, written with escapes or not, compact or
        /// pretty), `scan` finds what `parse` finds, or refuses as it does.
        #[test]
        fn scan_agrees_with_parse(
            fields in prop::collection::vec(("[a-z]{1,3}", json_value("[a-z]{1,4}"), any::<bool>()), 0..8),
            pretty in any::<bool>(),
        ) {
            let members: Vec<String> = fields
                .iter()
                .map(|(key, value, escaped)| {
                    let key = if *escaped {
                        format!("\\u{:04x}{}", u32::from(key.as_bytes()[0]), &key[1..])
                    } else {
                        key.clone()
                    };
                    let value = if pretty {
                        serde_json::to_string_pretty(value).unwrap()
                    } else {
                        value.to_string()
                    };
                    format!("\"{key}\" : {value}")
                })
                .collect();
            let separator = if pretty { ",\n  " } else { "," };
            let body = format!("{{{}}}", members.join(separator));
            assert_scan_agrees(body.as_bytes());
        }
    }

    #[test]
    fn rewrite_edits_and_appends_in_one_pass() {
        let body = br#"{"stream":true,"model":"a","messages":[]}"#;
        let obj = TopLevelObject::parse(body).unwrap();
        let model = obj.get("model").unwrap().span.clone();
        let stream = obj.get("stream").unwrap().span.clone();
        let out = obj.rewrite(
            &mut [(model, br#""bb""#.to_vec()), (stream, b"false".to_vec())],
            &[("x", b"1")],
        );
        assert_eq!(out, br#"{"stream":false,"model":"bb","messages":[],"x":1}"#);
    }

    #[test]
    fn appending_keeps_the_object_valid() {
        let obj = TopLevelObject::parse(br#"{"a":1} "#).unwrap();
        let out = obj.rewrite(&mut [], &[("b", b"true")]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["b"], true);
        let empty = TopLevelObject::parse(b"{}").unwrap();
        assert_eq!(empty.rewrite(&mut [], &[("x", b"1")]), br#"{"x":1}"#);
    }
}
