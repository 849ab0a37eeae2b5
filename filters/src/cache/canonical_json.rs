//! One byte form per JSON value, for hashing: object keys sorted at every level, arrays in
//! order, numbers and strings as serde_json writes them.
//!
//! Why not `serde_json::to_vec(&value)`: its key order is the map's, and `serde_json::Map` is
//! sorted only while no crate in the build turns on `preserve_order` (feature unification can,
//! silently), after which two bodies that differ only in key order would hash apart. Sorting
//! here makes the key independent of that feature.

use serde_json::Value;

/// Appends the canonical form of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // `Number`'s display is its one normal form for the value as parsed (`1.0` and `1`
        // stay apart: a request that spells a number differently may miss, never hit wrongly).
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
    }
}

/// serde_json's escaping: the minimal one JSON requires, the same for equal strings however
/// the request spelled them (`\u0041` and `A` were already one string once parsed).
fn write_string(s: &str, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, s).is_err() {
        // Writing a `&str` into a `Vec` cannot fail; should it ever, the length still keeps
        // two different strings apart.
        out.extend_from_slice(format!("<{}>", s.len()).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(v: &Value) -> String {
        let mut out = Vec::new();
        write_canonical(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keys_are_sorted_at_every_level_and_arrays_keep_their_order() {
        let v: Value =
            serde_json::from_str(r#"{"b":[3,{"z":1,"a":"\u0041"}],"a":{"y":null,"x":true}}"#)
                .unwrap();
        assert_eq!(
            canonical(&v),
            r#"{"a":{"x":true,"y":null},"b":[3,{"a":"A","z":1}]}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_json_requires() {
        assert_eq!(
            canonical(&json!("a\"b\\c\n\u{1}é")),
            r#""a\"b\\c\n\u0001é""#
        );
    }
}
