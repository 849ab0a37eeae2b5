//! Writing JSON by hand where serde's derive costs too much on the request path (the access
//! and audit lines, the answers and stream chunks encoded for OpenAI clients). Every caller
//! is property-tested byte for byte against what serde writes.

/// A JSON string: copied as is when nothing in it needs an escape (names, ids, labels: nearly
/// every field), else escaped by `serde_json`.
pub fn push_json_str(out: &mut Vec<u8>, value: &str) {
    if !needs_escape(value.as_bytes()) {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Whether any byte of `text` is one JSON escapes. Checked 16 bytes at a time without an early
/// exit inside a block, which the compiler turns into vector compares (a byte loop that stops
/// at the first hit cannot be): about a third of the instructions on an answer's text.
fn needs_escape(text: &[u8]) -> bool {
    let escaped = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut blocks = text.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |hit, &b| hit | escaped(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| escaped(b))
}

#[cfg(test)]
mod tests {
    use super::needs_escape;
    use proptest::prelude::*;

    proptest! {
        /// The block check finds an escape wherever it sits: in a block or in the remainder.
        #[test]
        fn escapes_are_found_anywhere(
            text in prop::collection::vec(prop_oneof![8 => 0x20u8..0x7f, 1 => 0u8..0x20, 1 => 0x80u8..=0xff], 0..80),
        ) {
            let by_byte = text.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(needs_escape(&text), by_byte);
        }
    }
}
