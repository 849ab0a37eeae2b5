//! Whose a thinking signature is, in the one place that decides it.
//!
//! A canonical `Block::Thinking` signature is replayed to the provider that made it, and only
//! to it: Anthropic refuses a thinking block whose signature it cannot verify, and OpenAI
//! refuses `encrypted_content` it cannot decrypt. The canonical model already holds
//! Anthropic's signatures as Anthropic sends them, so those stay unmarked; OpenAI's
//! `encrypted_content` is held as `openai:<blob>`. Neither alphabet has a `:` (Anthropic's are
//! base64, OpenAI's base64url), so a mark can never be mistaken for part of a signature.
//!
//! Responses clients carry signatures in `reasoning.encrypted_content` and give them back in
//! the next turn's input. There, OpenAI's blob travels as OpenAI sends it (so a Responses
//! client of an OpenAI model sees exactly what OpenAI would have given it), and Anthropic's is
//! marked `anthropic:<signature>`. Read back, an unmarked value is OpenAI's: it may come from
//! OpenAI itself (a client moving its history to sluice), and a blob only OpenAI can read is
//! never sent to Anthropic as a signature, where it would fail the whole request.

use std::borrow::Cow;

/// Marks OpenAI's `encrypted_content` in canonical signatures.
const OPENAI: &str = "openai:";
/// Marks Anthropic's signatures in what Responses clients are given.
const ANTHROPIC: &str = "anthropic:";

/// The canonical signature for a reasoning item's `encrypted_content` from OpenAI.
pub fn from_encrypted_content(blob: &str) -> String {
    format!("{OPENAI}{blob}")
}

/// OpenAI's `encrypted_content`, when the canonical signature is OpenAI's; `None` for
/// another provider's signature, which OpenAI cannot read.
pub fn encrypted_content(signature: &str) -> Option<&str> {
    signature.strip_prefix(OPENAI)
}

/// Whether a canonical signature is OpenAI's `encrypted_content` (so not Anthropic's: the
/// Anthropic encoder leaves such thinking out rather than have the request refused).
pub fn is_openai(signature: &str) -> bool {
    signature.starts_with(OPENAI)
}

/// A canonical signature as a Responses client's `encrypted_content`.
pub fn to_client(signature: &str) -> Cow<'_, str> {
    match encrypted_content(signature) {
        Some(blob) => Cow::Borrowed(blob),
        None => Cow::Owned(format!("{ANTHROPIC}{signature}")),
    }
}

/// A Responses client's `encrypted_content` as a canonical signature (see the module comment
/// for why an unmarked value is taken to be OpenAI's).
pub fn from_client(encrypted: Cow<'_, str>) -> Cow<'_, str> {
    match encrypted {
        Cow::Borrowed(s) => match s.strip_prefix(ANTHROPIC) {
            Some(signature) => Cow::Borrowed(signature),
            None => Cow::Owned(from_encrypted_content(s)),
        },
        Cow::Owned(s) => match s.strip_prefix(ANTHROPIC) {
            Some(signature) => Cow::Owned(signature.to_owned()),
            None => Cow::Owned(from_encrypted_content(&s)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_gets_its_own_signature_back() {
        let anthropic = "EqQBCkgIARABGAIiQL0f+/zK==";
        let client = to_client(anthropic);
        assert_eq!(client, format!("anthropic:{anthropic}"));
        assert_eq!(from_client(client), anthropic);
        assert!(!is_openai(anthropic));
        assert_eq!(encrypted_content(anthropic), None);

        let blob = "gAAAAABo_x-Yz0=";
        let canonical = from_encrypted_content(blob);
        assert!(is_openai(&canonical));
        assert_eq!(encrypted_content(&canonical), Some(blob));
        assert_eq!(to_client(&canonical), blob, "clients see OpenAI's own blob");
        assert_eq!(from_client(Cow::Borrowed(blob)), canonical);
    }
}
