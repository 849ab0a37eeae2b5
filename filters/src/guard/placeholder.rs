//! The per-request numbering of redacted values: the first email seen becomes `[EMAIL_1]`, the
//! second distinct one `[EMAIL_2]`, and the first again `[EMAIL_1]`, across the request body
//! and every stream channel of its response (the shell keeps one table per request).
//!
//! The table keys values by a SHA-256 digest, never the value itself: a request's context
//! holds no secret after the scan, and a stream redactor can number a kilobyte-long private
//! key it never buffered (it hashes the key as the bytes go by).

use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One request's numbering table. Create one per request; share it between the request body
/// and the response (body or streams) so the same value keeps the same placeholder.
#[derive(Debug, Default)]
pub struct Placeholders {
    numbers: HashMap<[u8; 32], u32>,
    /// The last number given per label.
    last: HashMap<String, u32>,
}

/// A value being hashed, piece by piece, under its label.
#[derive(Debug, Clone)]
pub(crate) struct Fingerprint(Sha256);

impl Fingerprint {
    pub(crate) fn new(label: &str) -> Fingerprint {
        let mut hasher = Sha256::new();
        hasher.update(label.as_bytes());
        // 0xff never occurs in UTF-8: the label cannot run into the value.
        hasher.update([0xff]);
        Fingerprint(hasher)
    }

    pub(crate) fn update(&mut self, piece: &str) {
        self.0.update(piece.as_bytes());
    }
}

impl Placeholders {
    pub fn new() -> Placeholders {
        Placeholders::default()
    }

    /// How many distinct values have been numbered.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// The placeholder of a value: `[LABEL_n]`, its number given on first sight.
    pub(crate) fn placeholder(&mut self, label: &str, value: Fingerprint) -> String {
        let digest: [u8; 32] = value.0.finalize().into();
        let number = match self.numbers.get(&digest) {
            Some(n) => *n,
            None => {
                let last = self.last.entry(label.to_owned()).or_insert(0);
                *last = last.saturating_add(1);
                let n = *last;
                self.numbers.insert(digest, n);
                n
            }
        };
        format!("[{label}_{number}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(table: &mut Placeholders, label: &str, value: &str) -> String {
        let mut fp = Fingerprint::new(label);
        fp.update(value);
        table.placeholder(label, fp)
    }

    #[test]
    fn guard_same_value_same_number_per_label() {
        let mut t = Placeholders::new();
        assert_eq!(place(&mut t, "EMAIL", "a@x.io"), "[EMAIL_1]");
        assert_eq!(place(&mut t, "EMAIL", "b@x.io"), "[EMAIL_2]");
        assert_eq!(place(&mut t, "PHONE", "+1 555"), "[PHONE_1]");
        assert_eq!(place(&mut t, "EMAIL", "a@x.io"), "[EMAIL_1]");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn guard_value_hashed_in_pieces_is_the_same_value() {
        let mut t = Placeholders::new();
        let mut fp = Fingerprint::new("API_KEY");
        fp.update("sk-abc");
        fp.update("def");
        assert_eq!(t.placeholder("API_KEY", fp), "[API_KEY_1]");
        assert_eq!(place(&mut t, "API_KEY", "sk-abcdef"), "[API_KEY_1]");
        // The same text under another label is another value.
        assert_eq!(place(&mut t, "TICKET", "sk-abcdef"), "[TICKET_1]");
    }
}
