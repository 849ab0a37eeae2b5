//! Objects of counts read without serde. Every passthrough answer is read for its `usage`, and
//! serde's derive spent 5.5k instructions on that 250-byte object: a visitor per field, the
//! details objects walked through `IgnoredAny`. What providers write there is always the same
//! simple shape, read here in one pass.
//!
//! Only that shape is read: keys without escapes, values that are non-negative integers,
//! `null`, objects of the same (one level down), or at the top level a plain string (ASCII,
//! no escape or control character: Anthropic's `"service_tier":"standard"`). Anything else (a
//! fraction, a deeper object, an escape, a boolean) gives `None` and the caller decodes with
//! serde, so where this answers it answers as serde would (each reader property-tests that
//! against its derive). A reader must refuse a field of the wrong kind for a key it knows, as
//! the derive does.

use super::field_value::skip_space;

/// One field of an object of counts, as met in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountField<'a> {
    /// A top-level key holding a count (`None` for `null`).
    Count(&'a [u8], Option<u64>),
    /// A top-level key holding an object; its fields follow as `Nested`.
    Object(&'a [u8]),
    /// A field of the object under the first key.
    Nested(&'a [u8], &'a [u8], Option<u64>),
    /// A top-level key holding a plain string.
    Text(&'a [u8]),
}

impl<'a> CountField<'a> {
    /// The top-level key the field is under.
    pub fn key(&self) -> &'a [u8] {
        match *self {
            CountField::Count(key, _)
            | CountField::Object(key)
            | CountField::Nested(key, _, _)
            | CountField::Text(key) => key,
        }
    }
}

/// The fields a reader has taken, so a field given twice is refused, as serde's derive
/// refuses a duplicate field.
#[derive(Debug, Default)]
pub struct Seen(u32);

impl Seen {
    /// `Some` the first time `field` (a bit index under 32) is taken, `None` after.
    pub fn first(&mut self, field: u32) -> Option<()> {
        let bit = 1u32.checked_shl(field)?;
        let first = self.0 & bit == 0;
        self.0 |= bit;
        first.then_some(())
    }
}

/// Reads the object of counts at the start of `text` (space before it allowed), handing each
/// field to `visit`; returns where the object ends. `None` when the text is not of the simple
/// shape or `visit` gives up.
pub fn read_counts<'a>(
    text: &'a [u8],
    mut visit: impl FnMut(CountField<'a>) -> Option<()>,
) -> Option<usize> {
    let mut at = skip_space(text, 0);
    read_object(text, &mut at, |key, value, at| match value {
        b'{' => {
            visit(CountField::Object(key))?;
            read_object(text, at, |inner, value, at| {
                (value != b'{').then_some(())?;
                visit(CountField::Nested(key, inner, count(text, at)?))
            })
        }
        b'"' => {
            *at = plain_string_end(text, *at)?;
            visit(CountField::Text(key))
        }
        _ => visit(CountField::Count(key, count(text, at)?)),
    })?;
    Some(at)
}

/// Just past the string opening at `at` when it is plain (ASCII, no escape, no control
/// character), which serde reads the same whatever it ignores or checks.
fn plain_string_end(text: &[u8], at: usize) -> Option<usize> {
    let start = at + 1;
    let len = memchr::memchr(b'"', text.get(start..)?)?;
    let plain = text[start..start + len]
        .iter()
        .all(|&b| (0x20..0x80).contains(&b) && b != b'\\');
    plain.then_some(start + len + 1)
}

/// Reads an object at `at`, calling `field` with each key, the first byte of its value and the
/// position of that value, which `field` must move past.
fn read_object<'a>(
    text: &'a [u8],
    at: &mut usize,
    mut field: impl FnMut(&'a [u8], u8, &mut usize) -> Option<()>,
) -> Option<()> {
    if text.get(*at) != Some(&b'{') {
        return None;
    }
    *at = skip_space(text, *at + 1);
    if text.get(*at) == Some(&b'}') {
        *at += 1;
        return Some(());
    }
    loop {
        if text.get(*at) != Some(&b'"') {
            return None;
        }
        let start = *at + 1;
        let len = memchr::memchr2(b'"', b'\\', text.get(start..)?)?;
        if text[start + len] != b'"' {
            return None;
        }
        let key = &text[start..start + len];
        *at = skip_space(text, start + len + 1);
        if text.get(*at) != Some(&b':') {
            return None;
        }
        *at = skip_space(text, *at + 1);
        field(key, *text.get(*at)?, at)?;
        *at = skip_space(text, *at);
        match text.get(*at)? {
            b',' => *at = skip_space(text, *at + 1),
            b'}' => {
                *at += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

/// A count at `at` as serde reads a `u64` (a non-negative integer that fits; `null` is
/// `None`), moving past it; `None` for anything else.
fn count(text: &[u8], at: &mut usize) -> Option<Option<u64>> {
    let rest = text.get(*at..)?;
    if rest.starts_with(b"null") {
        *at += 4;
        return delimited(text, *at).then_some(None);
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &rest[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    *at += digits;
    delimited(text, *at).then_some(Some(n))
}

/// Whether a scalar ending at `at` is followed by what may follow a value.
fn delimited(text: &[u8], at: usize) -> bool {
    text.get(at)
        .is_none_or(|b| matches!(b, b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
}

/// What the usage readers' property tests share: objects written with repeats allowed, and
/// both readings of one text in canonical form.
#[cfg(test)]
pub(crate) mod oracle {
    use crate::canonical::Usage;
    use serde::de::DeserializeOwned;

    /// A value's text where a count belongs: mostly counts, also `null`, any valid JSON number
    /// (negative, fractions, exponents, too large), a string and a boolean.
    pub fn count_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u64..100_000).prop_map(|n| n.to_string()),
            1 => Just("null".to_string()),
            1 => "-?(0|[1-9][0-9]{0,20})(\\.[0-9])?(e[0-9])?",
            1 => Just("\"12\"".to_string()),
            1 => Just("\"standard\"".to_string()),
            1 => Just("true".to_string()),
        ]
    }

    /// The text of an object with these fields, in this order, repeats allowed.
    pub fn object(fields: &[(String, String)]) -> String {
        let fields: Vec<String> = fields
            .iter()
            .map(|(key, value)| format!("{key:?}: {value}"))
            .collect();
        format!("{{{}}}", fields.join(" ,"))
    }

    /// What the serde derive of `W` reads from `text`: `Err` when it refuses.
    pub fn by_serde<W: DeserializeOwned>(
        text: &str,
        canonical: impl Fn(&W) -> Usage,
    ) -> Result<Option<Usage>, ()> {
        serde_json::from_str::<Option<W>>(text)
            .map(|u| u.as_ref().map(canonical))
            .map_err(drop)
    }

    /// What a counts reader reads, `None` when it leaves the text to serde.
    pub fn by_counts<W>(
        text: &str,
        read: impl Fn(&[u8]) -> Option<(Option<W>, usize)>,
        canonical: impl Fn(&W) -> Usage,
    ) -> Option<(Option<Usage>, usize)> {
        read(text.as_bytes()).map(|(u, end)| (u.as_ref().map(canonical), end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(text: &str) -> Option<(Vec<CountField<'_>>, usize)> {
        let mut seen = Vec::new();
        let end = read_counts(text.as_bytes(), |f| {
            seen.push(f);
            Some(())
        })?;
        Some((seen, end))
    }

    #[test]
    fn the_simple_shape_is_read_in_order() {
        let text = r#" { "a": 1 , "b" :{"c":null,"d":20}, "e":null, "f": "standard"} tail"#;
        let (seen, end) = fields(text).unwrap_or_default();
        assert_eq!(
            seen,
            [
                CountField::Count(b"a", Some(1)),
                CountField::Object(b"b"),
                CountField::Nested(b"b", b"c", None),
                CountField::Nested(b"b", b"d", Some(20)),
                CountField::Count(b"e", None),
                CountField::Text(b"f"),
            ]
        );
        assert_eq!(&text[end..], " tail");
        assert_eq!(fields("{}").map(|(f, end)| (f.len(), end)), Some((0, 2)));
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for text in [
            r#"{"a":"\u0031"}"#,
            r#"{"a":"\n"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":"é"}"#,
            r#"{"a":"x}"#,
            r#"{"b":{"a":"1"}}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-1}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":true}"#,
            r#"{"a":[1]}"#,
            r#"{"a":nullx}"#,
            r#"{"a":{"b":{"c":1}}}"#,
            r#"{"a\u0062":1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            "[1]",
            "null",
            "",
        ] {
            assert_eq!(fields(text), None, "{text}");
        }
        assert_eq!(
            fields(r#"{"a":18446744073709551615}"#).map(|(f, _)| f),
            Some(vec![CountField::Count(b"a", Some(u64::MAX))])
        );
    }

    #[test]
    fn a_field_is_taken_once() {
        let mut seen = Seen::default();
        assert_eq!(seen.first(0), Some(()));
        assert_eq!(seen.first(6), Some(()));
        assert_eq!(seen.first(0), None);
        assert_eq!(seen.first(32), None);
    }

    proptest! {
        #[test]
        fn any_bytes_are_safe(raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_counts(&raw, |_| Some(()));
        }

        /// A count is read exactly when serde reads the same text as a `u64` (or `null`).
        #[test]
        fn counts_agree_with_serde(text in "-?[0-9]{0,22}(\\.[0-9]{1,3})?([eE][-+]?[0-9]{1,3})?|null") {
            let object = format!("{{\"a\":{text}}}");
            let fast = fields(&object).map(|(f, _)| f);
            match serde_json::from_str::<Option<u64>>(&text) {
                Ok(n) => prop_assert_eq!(fast, Some(vec![CountField::Count(b"a", n)])),
                Err(_) => prop_assert_eq!(fast, None),
            }
        }
    }
}
