//! Finds the virtual key a client presented without keeping plaintext secrets and without a
//! timing side channel on the secret.
//!
//! Keys are stored as SHA-256 digests (a config may give only `key_sha256`). A lookup hashes the
//! presented secret, narrows to a bucket by the digest's first 8 bytes, and compares the full
//! digest in constant time. Matching a digest prefix tells an attacker nothing about a secret.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The SHA-256 of a virtual key's secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    pub fn of(secret: &str) -> Self {
        KeyDigest(Sha256::digest(secret.as_bytes()).into())
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(KeyDigest(out))
    }

    fn bucket(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }
}

impl std::fmt::Debug for KeyDigest {
    // A digest is not a secret, but printing a short prefix is all a log ever needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyDigest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Hex SHA-256 of a secret, for `sluice` users who want to store `key_sha256` in config.
pub fn sha256_hex(secret: &str) -> String {
    KeyDigest::of(secret)
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Virtual keys by digest.
#[derive(Debug)]
pub struct KeyTable<T> {
    buckets: HashMap<u64, Vec<(KeyDigest, T)>>,
    len: usize,
}

impl<T> Default for KeyTable<T> {
    fn default() -> Self {
        KeyTable {
            buckets: HashMap::new(),
            len: 0,
        }
    }
}

impl<T> KeyTable<T> {
    /// Adds a key; returns false (and keeps the first) if the same secret is already present.
    pub fn insert(&mut self, digest: KeyDigest, value: T) -> bool {
        let bucket = self.buckets.entry(digest.bucket()).or_default();
        if bucket.iter().any(|(d, _)| bool::from(d.0.ct_eq(&digest.0))) {
            return false;
        }
        bucket.push((digest, value));
        self.len += 1;
        true
    }

    pub fn lookup(&self, presented_secret: &str) -> Option<&T> {
        let digest = KeyDigest::of(presented_secret);
        self.buckets
            .get(&digest.bucket())?
            .iter()
            .find(|(d, _)| bool::from(d.0.ct_eq(&digest.0)))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_secret_and_by_stored_digest() {
        let mut t = KeyTable::default();
        assert!(t.insert(KeyDigest::of("sk-one"), "one"));
        let hex = sha256_hex("sk-two");
        assert!(t.insert(KeyDigest::from_hex(&hex).unwrap(), "two"));
        assert_eq!(t.lookup("sk-one"), Some(&"one"));
        assert_eq!(t.lookup("sk-two"), Some(&"two"));
        assert_eq!(t.lookup("sk-three"), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn duplicate_secrets_are_reported() {
        let mut t = KeyTable::default();
        assert!(t.insert(KeyDigest::of("same"), 1));
        assert!(!t.insert(KeyDigest::of("same"), 2));
        assert_eq!(t.lookup("same"), Some(&1));
    }

    #[test]
    fn hex_parsing() {
        assert!(KeyDigest::from_hex("zz").is_none());
        let upper = sha256_hex("x").to_uppercase();
        assert_eq!(KeyDigest::from_hex(&upper), Some(KeyDigest::of("x")));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
