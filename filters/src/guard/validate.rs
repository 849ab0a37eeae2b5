//! Second looks at what a pattern found: checksums, number ranges, digit counts. Each takes the
//! candidate text and returns how many of its bytes are the real match (the whole candidate, a
//! shorter prefix of it, or none), so a pattern can stay simple and greedy.
//!
//! Validators see the candidate and the one character before it, nothing further: the stream
//! redactor always keeps that character, so its verdicts are the same however the text was
//! split.

use super::checksum::{iban_mod97, luhn_valid};
use std::net::Ipv6Addr;

/// Given the character before a candidate (`None` at the start of the text) and the
/// candidate, returns how many bytes of it are the match, `None` to reject it.
pub(crate) type Validator = fn(Option<char>, &str) -> Option<usize>;

/// 13 to 19 digits starting 2..6 (the card networks' ranges) that pass Luhn. When the whole
/// run fails, the longest prefix ending at a group separator that passes is the card: a card
/// number followed by other digit groups is still found.
pub(crate) fn card(_before: Option<char>, candidate: &str) -> Option<usize> {
    let is_card = |text: &str| {
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        (13..=19).contains(&digits) && luhn_valid(text)
    };
    longest_grouped_prefix(candidate, is_card)
}

/// An IBAN: 15 to 34 characters without spaces and a mod-97 remainder of 1. As for cards,
/// a valid IBAN followed by more characters in groups is found as its valid prefix.
pub(crate) fn iban(_before: Option<char>, candidate: &str) -> Option<usize> {
    let is_iban = |text: &str| {
        let compact: String = text.chars().filter(|c| *c != ' ').collect();
        (15..=34).contains(&compact.len()) && iban_mod97(&compact) == Some(1)
    };
    longest_grouped_prefix(candidate, is_iban)
}

/// The candidate itself if it passes, else the longest prefix ending right before a space or
/// dash that passes.
fn longest_grouped_prefix(candidate: &str, passes: impl Fn(&str) -> bool) -> Option<usize> {
    if passes(candidate) {
        return Some(candidate.len());
    }
    candidate
        .char_indices()
        .rev()
        .filter(|(_, c)| *c == ' ' || *c == '-')
        .map(|(i, _)| i)
        .find(|&end| candidate.get(..end).is_some_and(&passes))
}

/// A US social security number `AAA-GG-SSSS`: area not 000, 666 or 9xx (never issued),
/// group not 00, serial not 0000.
pub(crate) fn ssn(_before: Option<char>, candidate: &str) -> Option<usize> {
    let mut parts = candidate.split('-');
    let (area, group, serial) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = area != "000"
        && area != "666"
        && !area.starts_with('9')
        && group != "00"
        && serial != "0000";
    valid.then_some(candidate.len())
}

/// Exactly four dot-separated numbers 0..=255 without leading zeros, not after a dot. The
/// pattern takes up to eight parts, so `1.2.3.4.5` is rejected whole, and its rest `2.3.4.5`
/// for the dot before it.
pub(crate) fn ipv4(before: Option<char>, candidate: &str) -> Option<usize> {
    if before == Some('.') {
        return None;
    }
    let parts: Vec<&str> = candidate.split('.').collect();
    let valid = parts.len() == 4
        && parts.iter().all(|part| {
            (part.len() == 1 || !part.starts_with('0'))
                && part.parse::<u16>().is_ok_and(|n| n <= 255)
        });
    valid.then_some(candidate.len())
}

/// An IPv6 address as the standard library parses it, with at least one decimal digit (that
/// keeps `::` in code, `<T as Trait>::abc`, and hex-only words, `add::dec`, out), not after a
/// colon or dot (the rest of a longer, invalid run such as `1::2::3`).
pub(crate) fn ipv6(before: Option<char>, candidate: &str) -> Option<usize> {
    if matches!(before, Some(':' | '.')) {
        return None;
    }
    let valid =
        candidate.parse::<Ipv6Addr>().is_ok() && candidate.bytes().any(|b| b.is_ascii_digit());
    valid.then_some(candidate.len())
}

/// E.164: a country code and subscriber number of 8 to 15 digits in all.
pub(crate) fn phone_international(_before: Option<char>, candidate: &str) -> Option<usize> {
    digits_between(candidate, 8, 15)
}

/// North American numbers: ten digits, or eleven with the leading `1`.
pub(crate) fn phone_nanp(_before: Option<char>, candidate: &str) -> Option<usize> {
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    let valid = digits == 10 || (digits == 11 && candidate.starts_with('1'));
    valid.then_some(candidate.len())
}

/// National numbers with a trunk `0` (UK, France, Germany, ...): 9 to 12 digits. Fewer is a
/// date (`01.02.2024` has 8).
pub(crate) fn phone_national(_before: Option<char>, candidate: &str) -> Option<usize> {
    digits_between(candidate, 9, 12)
}

fn digits_between(candidate: &str, min: usize, max: usize) -> Option<usize> {
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    (min..=max).contains(&digits).then_some(candidate.len())
}

/// An OpenAI/Anthropic style key: the last 20 characters (the random part the pattern
/// requires) mix at least two of digits, upper and lower case. A slug such as
/// `sk-this-is-not-a-key-at-all` is one case only; a random base62 string almost never is.
pub(crate) fn random_key_body(_before: Option<char>, candidate: &str) -> Option<usize> {
    let body = candidate.get(candidate.len().checked_sub(20)?..)?;
    let classes = [
        body.bytes().any(|b| b.is_ascii_digit()),
        body.bytes().any(|b| b.is_ascii_uppercase()),
        body.bytes().any(|b| b.is_ascii_lowercase()),
    ];
    (classes.iter().filter(|present| **present).count() >= 2).then_some(candidate.len())
}

/// A Slack token carries a numeric workspace or user id: `xoxb-123...`.
pub(crate) fn slack_token(_before: Option<char>, candidate: &str) -> Option<usize> {
    let body = candidate.get(5..)?;
    body.bytes()
        .any(|b| b.is_ascii_digit())
        .then_some(candidate.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_validate_card_takes_the_valid_prefix() {
        assert_eq!(card(None, "4111 1111 1111 1111"), Some(19));
        assert_eq!(card(None, "4111 1111 1111 1111 12"), Some(19));
        assert_eq!(card(None, "4111 1111 1111 1112"), None);
        assert_eq!(card(None, "4111 1111 1111"), None);
    }

    #[test]
    fn guard_validate_iban_takes_the_valid_prefix() {
        assert_eq!(iban(None, "DE89 3704 0044 0532 0130 00"), Some(27));
        assert_eq!(iban(None, "DE89 3704 0044 0532 0130 00 AB12"), Some(27));
        assert_eq!(iban(None, "DE89 3704 0044 0532 0130 01"), None);
    }

    #[test]
    fn guard_validate_ssn_table() {
        for (input, ok) in [
            ("123-45-6789", true),
            ("000-12-3456", false),
            ("666-12-3456", false),
            ("912-12-3456", false),
            ("123-00-4567", false),
            ("123-45-0000", false),
        ] {
            assert_eq!(ssn(None, input).is_some(), ok, "{input}");
        }
    }

    #[test]
    fn guard_validate_ip_table() {
        for (input, ok) in [
            ("192.168.1.1", true),
            ("0.0.0.0", true),
            ("256.1.1.1", false),
            ("1.2.3", false),
            ("1.2.3.4.5", false),
            ("01.2.3.4", false),
        ] {
            assert_eq!(ipv4(None, input).is_some(), ok, "{input}");
        }
        for (input, ok) in [
            ("2001:db8::1", true),
            ("::1", true),
            ("fe80::1:2", true),
            ("12:30:45", false),
            ("add::dec", false),
            ("00:1a:2b:3c:4d:5e", false),
        ] {
            assert_eq!(ipv6(None, input).is_some(), ok, "{input}");
        }
        // The rest of a longer run is not an address.
        assert_eq!(ipv4(Some('.'), "2.3.4.5"), None);
        assert_eq!(ipv4(Some(' '), "2.3.4.5"), Some(7));
        assert_eq!(ipv6(Some(':'), "2::3"), None);
    }

    #[test]
    fn guard_validate_key_bodies() {
        assert!(random_key_body(None, "sk-abcdefghij0123456789").is_some());
        assert!(random_key_body(None, "sk-this-is-not-a-key-at").is_none());
        assert!(slack_token(None, "xoxb-1234567890").is_some());
        assert!(slack_token(None, "xoxb-abcdefghij").is_none());
    }
}
