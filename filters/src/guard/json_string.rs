//! Decoding an escaped JSON string for scanning, and mapping positions in the decoded text
//! back to the raw bytes, so a replacement lands exactly on the escaped form of the match and
//! every other byte (other escapes included) stays as it was.

/// A decoded string and where its escapes were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub text: String,
    /// `(decoded offset, raw offset)` at the start and end of every escape, ascending.
    /// Between two marks (and after the last) the text was copied byte for byte.
    marks: Vec<(usize, usize)>,
}

impl Decoded {
    /// The raw offset of a decoded offset (a character boundary of `text`).
    pub(crate) fn raw_offset(&self, decoded: usize) -> usize {
        let after = self.marks.partition_point(|(d, _)| *d <= decoded);
        match after.checked_sub(1).and_then(|i| self.marks.get(i)) {
            Some((d, r)) => r + (decoded - d),
            None => decoded,
        }
    }
}

/// Decodes the contents of a JSON string (between the quotes). Lone surrogates become
/// U+FFFD; an invalid escape is kept as its characters (the walker only hands over strings
/// of valid JSON, where neither occurs in practice).
pub(crate) fn decode(raw: &str) -> Decoded {
    let bytes = raw.as_bytes();
    let mut text = String::with_capacity(raw.len());
    let mut marks = Vec::new();
    let mut copied_from = 0;
    let mut i = 0;
    while let Some(found) = bytes.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let start = i + found;
        text.push_str(raw.get(copied_from..start).unwrap_or_default());
        let (decoded, len) = escape(bytes, start);
        marks.push((text.len(), start));
        match decoded {
            Some(c) => text.push(c),
            None => text.push_str(raw.get(start..start + len).unwrap_or_default()),
        }
        marks.push((text.len(), start + len));
        i = start + len;
        copied_from = i;
    }
    text.push_str(raw.get(copied_from..).unwrap_or_default());
    Decoded { text, marks }
}

/// The character an escape at `at` stands for, and the escape's length in bytes.
fn escape(bytes: &[u8], at: usize) -> (Option<char>, usize) {
    let simple = match bytes.get(at + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return unicode_escape(bytes, at),
        Some(_) => return (None, 2),
        None => return (None, 1),
    };
    (Some(simple), 2)
}

fn unicode_escape(bytes: &[u8], at: usize) -> (Option<char>, usize) {
    let Some(first) = hex4(bytes, at + 2) else {
        return (None, 2);
    };
    if (0xD800..0xDC00).contains(&first) {
        let low = (bytes.get(at + 6) == Some(&b'\\') && bytes.get(at + 7) == Some(&b'u'))
            .then(|| hex4(bytes, at + 8))
            .flatten()
            .filter(|low| (0xDC00..0xE000).contains(low));
        if let Some(low) = low {
            let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
            return (char::from_u32(code), 12);
        }
    }
    (Some(char::from_u32(first).unwrap_or('\u{FFFD}')), 6)
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_decode_escapes() {
        let d = decode(r#"a\"b\\c\n\u00e9\ud83d\ude00\/"#);
        assert_eq!(d.text, "a\"b\\c\né😀/");
        assert_eq!(decode(r"\ud800x").text, "\u{FFFD}x");
    }

    #[test]
    fn guard_decoded_offsets_map_to_raw() {
        let raw = r#"x\n mail a@b.io\u0021 end"#;
        let d = decode(raw);
        let start = d.text.find("a@b.io").unwrap();
        let end = start + "a@b.io".len();
        assert_eq!(&raw[d.raw_offset(start)..d.raw_offset(end)], "a@b.io");
        let bang = d.text.find('!').unwrap();
        assert_eq!(&raw[d.raw_offset(bang)..d.raw_offset(bang + 1)], r"\u0021");
        assert_eq!(d.raw_offset(d.text.len()), raw.len());
    }
}
