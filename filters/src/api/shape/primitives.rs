//! Value shapes that check a JSON value's type without keeping it: a string, an object, an
//! object with a string `type`, a positive integer. Nothing is allocated for what is skipped.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use std::fmt;

/// Any JSON string.
pub struct AnyStr;

impl<'de> Deserialize<'de> for AnyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyStr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyStr, E> {
                Ok(AnyStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON object.
pub struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyObject)
            }
        }
        d.deserialize_map(V)
    }
}

/// An object with a string `type` (a content part, a tool choice, a response format).
#[derive(Deserialize)]
pub struct TypedObject {
    #[serde(rename = "type")]
    _kind: AnyStr,
}

/// An integer of at least 1: an output cap, a count. `0`, `-5`, `1.5` and `"10"` are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveInt(pub u64);

impl<'de> Deserialize<'de> for PositiveInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PositiveInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PositiveInt, E> {
                if v == 0 {
                    return Err(E::invalid_value(Unexpected::Unsigned(0), &self));
                }
                Ok(PositiveInt(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PositiveInt, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_u64(V)
    }
}

/// A string, or an array of strings (`stop`).
pub struct StrOrStrs;

impl<'de> Deserialize<'de> for StrOrStrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrStrs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StrOrStrs, E> {
                Ok(StrOrStrs)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrOrStrs, A::Error> {
                while seq.next_element::<AnyStr>()?.is_some() {}
                Ok(StrOrStrs)
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, or an object (`tool_choice` in OpenAI's dialect).
pub struct StrOrObject;

impl<'de> Deserialize<'de> for StrOrObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an object")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StrOrObject, E> {
                Ok(StrOrObject)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrOrObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StrOrObject)
            }
        }
        d.deserialize_any(V)
    }
}

/// Message content: a string, or an array of typed parts.
pub struct Content;

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Content, E> {
                Ok(Content)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                while seq.next_element::<TypedObject>()?.is_some() {}
                Ok(Content)
            }
        }
        d.deserialize_any(V)
    }
}
