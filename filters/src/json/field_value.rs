//! Finds one top-level field of a JSON object without decoding the others. A passthrough
//! answer is forwarded as the provider wrote it and read only for its `usage`; decoding the
//! whole body for that (every choice, every string checked and unescaped) was most of what a
//! passthrough response cost. This walks the top level, jumps over each other value (strings
//! with `memchr`, containers by counting brackets outside strings), and hands back the raw
//! bytes of the wanted value for a typed decode of that value alone.
//!
//! Linear in the body and never panics. It checks only as much syntax as it needs to find its
//! way: a body broken elsewhere may still give up its field (the caller decodes the value and
//! gets `None` when that is broken). Keys are compared as written: a key spelled with escapes
//! (`"us\u0061ge"`) is not found, which no provider does.

/// One top-level field to find in many bodies (its last occurrence, the one a full decode
/// keeps), its searcher built once (`answer_usage` finds `usage` in every passthrough answer).
///
/// Providers put `usage` at or near the end of an answer, so the field is first looked for from
/// the end (`closing_field`); only when that cannot prove the match is a top-level key does the
/// walk from the start run.
pub struct TopLevelField {
    key: Box<[u8]>,
    /// `"key"`, searched for from the end.
    quoted: memchr::memmem::FinderRev<'static>,
}

impl TopLevelField {
    pub fn new(key: &str) -> Self {
        let quoted = format!("\"{key}\"");
        TopLevelField {
            key: key.as_bytes().into(),
            quoted: memchr::memmem::FinderRev::new(quoted.as_bytes()).into_owned(),
        }
    }

    pub fn find<'a>(&self, body: &'a [u8]) -> Option<&'a [u8]> {
        let start = self.closing_key(body);
        let end = start.and_then(|start| value_end(body, start));
        match (start, end) {
            (Some(start), Some(end)) if closes_object(body, end) => Some(&body[start..end]),
            _ => self.walk(body),
        }
    }

    /// The field's value decoded as `T`: `find` and a decode, with the value walked once (the
    /// decode finds where it ends).
    pub fn decode<'a, T: serde::Deserialize<'a>>(&self, body: &'a [u8]) -> Option<T> {
        if let Some(start) = self.closing_key(body) {
            let mut values = serde_json::Deserializer::from_slice(&body[start..]).into_iter::<T>();
            if let Some(Ok(value)) = values.next() {
                if closes_object(body, start + values.byte_offset()) {
                    return Some(value);
                }
            }
        }
        serde_json::from_slice(self.walk(body)?).ok()
    }

    /// `decode`, with `fast` tried first on the value found from the end: it reads the value
    /// from its start and gives it with its length, or `None` to leave it to serde.
    pub fn decode_with<'a, T: serde::Deserialize<'a>>(
        &self,
        body: &'a [u8],
        fast: impl FnOnce(&'a [u8]) -> Option<(T, usize)>,
    ) -> Option<T> {
        if let Some(start) = self.closing_key(body) {
            if let Some((value, len)) = fast(&body[start..]) {
                if closes_object(body, start + len) {
                    return Some(value);
                }
            }
        }
        self.decode(body)
    }

    /// The value of the last top-level `key` by the walk from the start.
    fn walk<'a>(&self, body: &'a [u8]) -> Option<&'a [u8]> {
        let mut found = None;
        walk_top_level(body, |name, value| {
            if name == &*self.key {
                found = Some(value);
            }
            Walk::Next
        });
        found
    }

    /// Where the value of the last `"key":` in `body` starts, if that is a key; whether it is
    /// the top-level one is for `closes_object` to say from where its value ends.
    ///
    /// Why that proves the field is top-level (for valid JSON): a quote preceded by `{` or `,`
    /// cannot sit inside a string (a quote there is escaped, so preceded by `\\`) nor close
    /// one (a closing quote is followed by `:`, `,`, `}`, `]` or space, never a letter), so the
    /// match is a key; its object closes with the first `}` after its later fields, and the
    /// only `}` followed by nothing but space to the end of a valid body is the top-level
    /// object's. A broken body may give up its field where the walk would not (as the walk
    /// already does for a body broken after the field). A later field spelled with escapes
    /// (`"us\\u0061ge"`) is not seen, as in the walk. Linear: one search from the end, one walk
    /// of the tail.
    fn closing_key(&self, body: &[u8]) -> Option<usize> {
        let at = self.quoted.rfind(body)?;
        let before = body[..at]
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
        if !matches!(body[before], b'{' | b',') {
            return None;
        }
        let colon = skip_space(body, at + self.key.len() + 2);
        if *body.get(colon)? != b':' {
            return None;
        }
        Some(skip_space(body, colon + 1))
    }
}

/// Whether what follows `end` in `body` is only more fields and the closing brace of the
/// object, with nothing but space after it.
fn closes_object(body: &[u8], end: usize) -> bool {
    let closes = |mut tail: usize| -> Option<bool> {
        loop {
            tail = skip_space(body, tail);
            match *body.get(tail)? {
                b'}' => return Some(skip_space(body, tail + 1) == body.len()),
                b',' => {
                    let name = skip_space(body, tail + 1);
                    if *body.get(name)? != b'"' {
                        return None;
                    }
                    let colon = skip_space(body, string_end(body, name)?);
                    if *body.get(colon)? != b':' {
                        return None;
                    }
                    tail = value_end(body, skip_space(body, colon + 1))?;
                }
                _ => return None,
            }
        }
    };
    closes(end) == Some(true)
}

/// Whether a walk goes on to the next field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    Next,
    Stop,
}

/// Visits the top-level fields of the object `body` in order, with each key as written
/// (without its quotes) and the raw bytes of its value; returns where it stopped: just past the
/// closing brace, or past the value it was told to stop at. `None` when `body` is not an object
/// or breaks before the walk stopped or reached the closing brace (fields before the break were
/// visited).
pub(crate) fn walk_top_level<'a>(
    body: &'a [u8],
    mut visit: impl FnMut(&'a [u8], &'a [u8]) -> Walk,
) -> Option<usize> {
    let mut at = skip_space(body, 0);
    if *body.get(at)? != b'{' {
        return None;
    }
    at = skip_space(body, at + 1);
    if *body.get(at)? == b'}' {
        return Some(at + 1);
    }
    loop {
        if *body.get(at)? != b'"' {
            return None;
        }
        let key_end = string_end(body, at)?;
        let name = &body[at + 1..key_end - 1];
        at = skip_space(body, key_end);
        if *body.get(at)? != b':' {
            return None;
        }
        at = skip_space(body, at + 1);
        let value_end = value_end(body, at)?;
        if visit(name, &body[at..value_end]) == Walk::Stop {
            return Some(value_end);
        }
        at = skip_space(body, value_end);
        match body.get(at)? {
            b',' => at = skip_space(body, at + 1),
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

pub(crate) fn skip_space(body: &[u8], mut at: usize) -> usize {
    while body
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// Just past the closing quote of the string that opens at `start`.
pub(crate) fn string_end(body: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        let found = at + memchr::memchr2(b'"', b'\\', body.get(at..)?)?;
        if body[found] == b'"' {
            return Some(found + 1);
        }
        // An escape: the next byte is escaped whatever it is (`\uXXXX` holds no quote).
        at = found + 2;
    }
}

/// Just past the value that starts at `start`.
fn value_end(body: &[u8], start: usize) -> Option<usize> {
    match *body.get(start)? {
        b'"' => string_end(body, start),
        b'{' | b'[' => container_end(body, start),
        _ => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let len = body[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(body.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

/// Just past the object or array that opens at `start`, counting brackets outside strings.
/// A plain byte loop: on the short spans between brackets, a `memchr` search per bracket
/// costs more than it saves (measured: 7.7k against 4.6k instructions per answer).
fn container_end(body: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = start;
    while let Some(&b) = body.get(at) {
        match b {
            b'"' => {
                at = string_end(body, at)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::TopLevelField;
    use crate::json::arbitrary::json_value;
    use proptest::prelude::*;
    use serde_json::Value;

    fn top_level_value<'a>(body: &'a [u8], key: &str) -> Option<&'a [u8]> {
        TopLevelField::new(key).find(body)
    }

    fn found(body: &str, key: &str) -> Option<String> {
        top_level_value(body.as_bytes(), key).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn finds_a_field_and_only_at_the_top_level() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (r#"{"usage":{"a":1}}"#, "usage", Some(r#"{"a":1}"#)),
            (
                r#" { "id" : "x" , "usage" : {"a":[1,{"b":"}"}]} } "#,
                "usage",
                Some(r#"{"a":[1,{"b":"}"}]}"#),
            ),
            (r#"{"choices":[{"usage":1}],"usage":2}"#, "usage", Some("2")),
            (r#"{"choices":[{"usage":1}]}"#, "usage", None),
            (
                r#"{"text":"\"usage\":3","usage":null}"#,
                "usage",
                Some("null"),
            ),
            (r#"{"a":"\\","usage":true}"#, "usage", Some("true")),
            (r#"{"a":-1.5e3,"usage":"s"}"#, "usage", Some(r#""s""#)),
            (r#"{"usage":1,"usage":2}"#, "usage", Some("2")),
            (r#"{"usage":1,"usage":2,"a":[1]}"#, "usage", Some("2")),
            (r#"{"usage":1,"a":{"usage":2}}"#, "usage", Some("1")),
            (
                r#"{"a":[{"usage":2}],"usage":1,"b":"x"}"#,
                "usage",
                Some("1"),
            ),
            (r#"{"a\"usage":1}"#, "usage", None),
            (
                r#"{"a":"x","usage" : 3 , "b" : null }  "#,
                "usage",
                Some("3"),
            ),
            (r#"{}"#, "usage", None),
            (r#"[{"usage":1}]"#, "usage", None),
            (r#"{"a":[1,2"#, "usage", None),
            (r#"{"a":"unterminated"#, "usage", None),
            (r#"{"a":]"usage":1}"#, "usage", None),
            // Broken before the field, which closes the object: found from the end.
            (r#"{"a" 1,"usage":1}"#, "usage", Some("1")),
            (r#"{"a" 1,"usage":1,"b":2"#, "usage", None),
            ("", "usage", None),
            (r#"{"usage":"#, "usage", None),
        ];
        for (body, key, want) in cases {
            assert_eq!(found(body, key).as_deref(), *want, "{body}");
        }
    }

    #[test]
    fn long_runs_of_brackets_are_walked_once() {
        // Unclosed and closed nests of a million brackets, before and after the field: linear,
        // no recursion, whichever way the field is found.
        let deep = "[".repeat(1 << 20);
        let closed = format!("{deep}{}", "]".repeat(1 << 20));
        for (body, want) in [
            (format!(r#"{{"a":{deep},"usage":1}}"#), Some("1")),
            (format!(r#"{{"a":{closed},"usage":1}}"#), Some("1")),
            (format!(r#"{{"usage":1,"a":{deep}}}"#), Some("1")),
            (format!(r#"{{"usage":1,"a":{closed}}}"#), Some("1")),
            (format!(r#"{{"b":{deep},"usage":1,"a":{deep}}}"#), None),
        ] {
            assert_eq!(found(&body, "usage").as_deref(), want);
        }
    }

    proptest! {
        /// On any object serde writes (compact or pretty), the field found is the one a full
        /// decode sees.
        #[test]
        fn agrees_with_a_full_decode(
            fields in prop::collection::btree_map("[a-z]{1,6}|usage", json_value("[a-z]{1,6}|usage"), 0..8),
            pretty in any::<bool>(),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let body = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                object.to_string()
            };
            let got = top_level_value(body.as_bytes(), "usage")
                .map(|raw| serde_json::from_slice::<Value>(raw).unwrap());
            prop_assert_eq!(got.as_ref(), object.get("usage"));
        }

        /// Fields in any order (serde sorts its own maps' keys), `usage` anywhere or nowhere
        /// and nested `usage` keys around it: found (or decoded) from the end or by the walk,
        /// the value is the one a full decode sees.
        #[test]
        fn agrees_with_a_full_decode_in_any_field_order(
            fields in prop::collection::vec(("[a-z]{1,6}|usage", json_value("[a-z]{1,6}|usage")), 0..8),
        ) {
            let mut seen = std::collections::HashSet::new();
            let members: Vec<String> = fields
                .iter()
                .filter(|(key, _)| seen.insert(key.clone()))
                .map(|(key, value)| format!("{}:{value}", Value::from(key.as_str())))
                .collect();
            let body = format!("{{{}}}", members.join(","));
            let decoded: Value = serde_json::from_str(&body).unwrap();
            let got = top_level_value(body.as_bytes(), "usage")
                .map(|raw| serde_json::from_slice::<Value>(raw).unwrap());
            prop_assert_eq!(got.as_ref(), decoded.get("usage"));
            let usage = TopLevelField::new("usage");
            let decoded_usage: Option<Value> = usage.decode(body.as_bytes());
            prop_assert_eq!(decoded_usage.as_ref(), decoded.get("usage"));
        }

        /// Never panics, whatever the bytes.
        #[test]
        fn any_bytes_are_safe(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = top_level_value(&body, "usage");
        }
    }
}
