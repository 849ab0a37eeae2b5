//! Small serde helpers shared by the dialects.

use crate::json::TopLevelField;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

/// A field that is either a string or an array of parts (OpenAI message content, Anthropic
/// `system` and `tool_result.content`), decoded without serde's untagged-enum buffering.
#[derive(Debug, Clone)]
pub enum TextOrParts<'a, P> {
    Text(Cow<'a, str>),
    Parts(Vec<P>),
}

impl<'de: 'a, 'a, P: Deserialize<'de>> Deserialize<'de> for TextOrParts<'a, P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, P>(PhantomData<(&'a (), P)>);
        impl<'de: 'a, 'a, P: Deserialize<'de>> Visitor<'de> for V<'a, P> {
            type Value = TextOrParts<'a, P>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TextOrParts::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOrParts::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOrParts::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(p) = seq.next_element()? {
                    parts.push(p);
                }
                Ok(TextOrParts::Parts(parts))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Parses a tool call's JSON arguments (a string in OpenAI's dialect) into an object.
/// Streams of argument-less calls produce `""`, which means `{}`.
pub fn arguments_object(arguments: &str) -> Result<Box<RawValue>, String> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return Ok(empty_object());
    }
    let raw: Box<RawValue> = serde_json::from_str(trimmed)
        .map_err(|e| format!("tool call arguments are not valid JSON: {e}"))?;
    if !raw.get().starts_with('{') {
        return Err("tool call arguments must be a JSON object".into());
    }
    Ok(raw)
}

pub fn empty_object() -> Box<RawValue> {
    // Parsing "{}" cannot fail; the fallback only keeps this total without a panic.
    RawValue::from_string("{}".to_owned()).unwrap_or_default()
}

/// A JSON value decoded into a raw JSON object, for tool inputs given as objects.
pub fn object_from_raw(raw: &RawValue) -> Box<RawValue> {
    if raw.get().trim_start().starts_with('{') {
        raw.to_owned()
    } else {
        empty_object()
    }
}

/// The `usage` of a whole answer, decoded alone: a passthrough answer is read only for it,
/// and the rest passes through untouched (`json::TopLevelField`).
pub fn answer_usage<'a, W: Deserialize<'a>>(body: &'a [u8]) -> Option<W> {
    USAGE.decode::<Option<W>>(body)?
}

/// `answer_usage` with `fast` tried first (`json::counts`): it reads the value from its
/// start, giving it with its length, or `None` to leave it to serde.
pub fn answer_usage_with<'a, W: Deserialize<'a>>(
    body: &'a [u8],
    fast: impl FnOnce(&'a [u8]) -> Option<(Option<W>, usize)>,
) -> Option<W> {
    USAGE.decode_with::<Option<W>>(body, fast)?
}

static USAGE: LazyLock<TopLevelField> = LazyLock::new(|| TopLevelField::new("usage"));

/// Where an encoded body starts: a chat answer or request is a few hundred bytes to a few KiB.
const ENCODED_START: usize = 1024;

/// A request or answer encoded for the other side. `serde_json::to_vec` starts at 128 bytes and
/// doubles as it goes: three reallocations, each a copy, for a 600-byte chat answer. Empty when
/// the value cannot be encoded (as `to_vec(..).unwrap_or_default()` was).
pub fn encode_body<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = body_buffer();
    if serde_json::to_writer(&mut out, value).is_err() {
        return Vec::new();
    }
    out
}

/// An empty buffer for an encoded body, sized as `encode_body`'s.
pub fn body_buffer() -> Vec<u8> {
    Vec::with_capacity(ENCODED_START)
}

/// A `u64` that tolerates `null`.
pub fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}
