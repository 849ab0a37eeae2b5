//! What the detectors look for: the built-in kinds, their patterns, and the compiled form of
//! any pattern (built-in or a custom rule's regex) with the facts the scanner needs about it.
//!
//! Every pattern has a bounded length (at most `MAX_PATTERN_LEN` bytes): the stream redactor
//! holds back at most that much text, and a stream split anywhere reaches the same verdict as
//! the whole text. Secrets longer than that are found by a bounded head plus a tail (see
//! `tail.rs`). Word boundaries are ASCII (`(?-u:\b)`): cheaper for the DFA, and every built-in
//! pattern is ASCII.

use super::class::CharSet;
use super::tail::{Tail, ALNUM, KEY_CHARS};
use super::validate::{self, Validator};
use regex::Regex;

/// The longest match a pattern (built-in or custom) may have, in bytes; also the most text a
/// stream redactor holds back. The longest built-in pattern, the head of a JWT, is 248.
pub const MAX_PATTERN_LEN: usize = 256;

/// A built-in detector, as named in a rule's `detect` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Email,
    Phone,
    CreditCard,
    Ssn,
    Iban,
    IpAddress,
    PrivateKey,
    ApiKey,
}

impl Builtin {
    pub const ALL: [Builtin; 8] = [
        Builtin::Email,
        Builtin::Phone,
        Builtin::CreditCard,
        Builtin::Ssn,
        Builtin::Iban,
        Builtin::IpAddress,
        Builtin::PrivateKey,
        Builtin::ApiKey,
    ];

    /// The name rules use.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Email => "email",
            Builtin::Phone => "phone",
            Builtin::CreditCard => "credit_card",
            Builtin::Ssn => "ssn",
            Builtin::Iban => "iban",
            Builtin::IpAddress => "ip_address",
            Builtin::PrivateKey => "private_key",
            Builtin::ApiKey => "api_key",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The placeholder's type: `[EMAIL_1]`.
    pub(crate) fn label(self) -> String {
        self.name().to_ascii_uppercase()
    }

    pub(crate) fn patterns(self) -> &'static [PatternSpec] {
        match self {
            Builtin::Email => EMAIL,
            Builtin::Phone => PHONE,
            Builtin::CreditCard => CREDIT_CARD,
            Builtin::Ssn => SSN,
            Builtin::Iban => IBAN,
            Builtin::IpAddress => IP_ADDRESS,
            Builtin::PrivateKey => PRIVATE_KEY,
            Builtin::ApiKey => API_KEY,
        }
    }
}

/// A pattern as written in the detector table.
pub(crate) struct PatternSpec {
    pub regex: &'static str,
    pub validate: Option<Validator>,
    pub tail: Option<Tail>,
}

const fn plain(regex: &'static str) -> PatternSpec {
    PatternSpec {
        regex,
        validate: None,
        tail: None,
    }
}

const fn checked(regex: &'static str, validate: Validator) -> PatternSpec {
    PatternSpec {
        regex,
        validate: Some(validate),
        tail: None,
    }
}

/// Local part of at most 64 characters, not starting or ending with a dot; up to four domain
/// labels of at most 32 characters and a 2..24 letter top-level domain (longer real addresses
/// are very rare, and the bound keeps the stream's hold-back small).
const EMAIL: &[PatternSpec] = &[plain(
    r"[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,30}[A-Za-z0-9])?\.){1,4}[A-Za-z]{2,24}(?-u:\b)",
)];

/// International numbers with `+` (not after a word character: `3+4155552671` is arithmetic),
/// North American numbers with separators, and national numbers with a trunk `0` and at least
/// one separator. Unseparated digit runs are not phones (order numbers, ids), and the digit
/// counts keep dates (`01.02.2024`, `2024-01-15`) out.
const PHONE: &[PatternSpec] = &[
    checked(
        r"(?-u:\B)\+[1-9][0-9]{0,3}(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){1,7}(?-u:\b)",
        validate::phone_international,
    ),
    checked(
        r"(?:\([0-9]{3}\) ?|(?-u:\b)(?:1[ .\-])?[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}(?-u:\b)",
        validate::phone_nanp,
    ),
    checked(
        r"(?-u:\b)0[0-9]{1,4}(?:[ .\-][0-9]{2,8}){1,4}(?-u:\b)",
        validate::phone_national,
    ),
];

/// 13 to 19 digits, optionally grouped by spaces or dashes, starting 2..6; Luhn-checked.
const CREDIT_CARD: &[PatternSpec] = &[checked(
    r"(?-u:\b)[2-6][0-9]{3}(?:[ \-]?[0-9]){9,15}(?-u:\b)",
    validate::card,
)];

/// `AAA-GG-SSSS` with the never-issued ranges excluded. Undashed nine-digit runs are too
/// often something else to redact.
const SSN: &[PatternSpec] = &[checked(
    r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
    validate::ssn,
)];

/// Country code, check digits, 11..30 alphanumerics optionally grouped by single spaces;
/// mod-97 checked. Upper case only, as IBANs are printed.
const IBAN: &[PatternSpec] = &[checked(
    r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?-u:\b)",
    validate::iban,
)];

/// IPv4 as a dotted quad (a four-part version string such as `1.2.3.4` in prose is an address
/// too: the text cannot tell them apart, and a redacted version number costs less than a
/// leaked address; `v1.2.3.4`, `1.2.3` and `1.2.3.4.5` are not addresses), and IPv6 in full,
/// compressed (`2001:db8::1`, `::1`) and IPv4-embedded (`::ffff:10.0.0.1`) forms, ending at a
/// word boundary (a prefix ending in `::`, such as `2001:db8::/32`, is not an address).
const IP_ADDRESS: &[PatternSpec] = &[
    PatternSpec {
        regex: r"(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,3}){3,7}(?-u:\b)",
        validate: Some(validate::ipv4),
        tail: None,
    },
    PatternSpec {
        regex: r"(?-u:\b)[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){1,7}(?:\.[0-9]{1,3}){0,3}(?-u:\b)",
        validate: Some(validate::ipv6),
        tail: None,
    },
    PatternSpec {
        regex: r"(?-u:\B)::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}(?:\.[0-9]{1,3}){0,3}(?-u:\b)",
        validate: Some(validate::ipv6),
        tail: None,
    },
];

/// The `-----BEGIN ... PRIVATE KEY-----` line (PKCS#1, PKCS#8, EC, OpenSSH, encrypted, PGP);
/// the body and end line are the tail.
const PRIVATE_KEY: &[PatternSpec] = &[PatternSpec {
    regex: r"-----BEGIN (?:[A-Z0-9]{1,10} ){0,3}PRIVATE KEY(?: BLOCK)?-----",
    validate: None,
    tail: Some(Tail::Pem),
}];

/// Provider and platform credentials, each as a bounded head and a tail for the rest:
/// OpenAI (`sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-`) and Anthropic (`sk-ant-api03-`, ...)
/// keys, AWS access key ids (`AKIA`/`ASIA`), GitHub tokens (`ghp_`, `gho_`, `ghs_`, `ghu_`,
/// `ghr_`, `github_pat_`), JWTs (`eyJ....eyJ....sig`) and Slack tokens (`xoxb-` and kin).
const API_KEY: &[PatternSpec] = &[
    PatternSpec {
        regex: r"(?-u:\b)sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin|oat|sid)[0-9]{2}-)?[A-Za-z0-9_\-]{20}",
        validate: Some(validate::random_key_body),
        tail: Some(Tail::Run(KEY_CHARS)),
    },
    plain(r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)"),
    PatternSpec {
        regex: r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36}",
        validate: None,
        tail: Some(Tail::Run(ALNUM)),
    },
    PatternSpec {
        regex: r"(?-u:\b)github_pat_[A-Za-z0-9_]{22}",
        validate: None,
        tail: Some(Tail::Run(ALNUM | super::tail::bit(b'_'))),
    },
    PatternSpec {
        regex: r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,240}\.eyJ[A-Za-z0-9_\-]",
        validate: None,
        tail: Some(Tail::Jwt),
    },
    PatternSpec {
        regex: r"(?-u:\b)xox[bpars]-[A-Za-z0-9\-]{10}",
        validate: Some(validate::slack_token),
        tail: Some(Tail::Run(ALNUM | super::tail::bit(b'-'))),
    },
];

/// A regex with the facts the scanner needs about it.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRegex {
    pub regex: Regex,
    /// The longest match, in bytes.
    pub max_len: usize,
    /// Every character a match can contain.
    pub chars: CharSet,
}

/// Why a regex cannot be a detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternError {
    Syntax(String),
    /// It can match text of any length (`.+`, `\d*`): a stream could not bound its hold-back.
    Unbounded,
    /// Its longest match is longer than `MAX_PATTERN_LEN` bytes.
    TooLong(usize),
    /// It can match the empty string, which redacts nothing and finds everywhere.
    MatchesEmpty,
}

pub(crate) fn compile_regex(source: &str) -> Result<CompiledRegex, PatternError> {
    let hir = regex_syntax::parse(source).map_err(|e| PatternError::Syntax(e.to_string()))?;
    let props = hir.properties();
    if props.minimum_len().unwrap_or(0) == 0 {
        return Err(PatternError::MatchesEmpty);
    }
    let max_len = props.maximum_len().ok_or(PatternError::Unbounded)?;
    if max_len > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong(max_len));
    }
    let regex = Regex::new(source).map_err(|e| PatternError::Syntax(e.to_string()))?;
    Ok(CompiledRegex {
        regex,
        max_len,
        chars: CharSet::of(&hir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_every_builtin_pattern_compiles_within_bounds() {
        let mut longest = 0;
        for builtin in Builtin::ALL {
            assert_eq!(Builtin::from_name(builtin.name()), Some(builtin));
            for spec in builtin.patterns() {
                let compiled = compile_regex(spec.regex)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", builtin.name()));
                longest = longest.max(compiled.max_len);
            }
        }
        assert!(longest <= MAX_PATTERN_LEN);
    }

    #[test]
    fn guard_compile_refuses_unbounded_and_empty() {
        assert_eq!(compile_regex(r"a.+").unwrap_err(), PatternError::Unbounded);
        assert_eq!(
            compile_regex(r"a?").unwrap_err(),
            PatternError::MatchesEmpty
        );
        assert_eq!(
            compile_regex(r"a{300}").unwrap_err(),
            PatternError::TooLong(300)
        );
        assert!(matches!(
            compile_regex(r"(").unwrap_err(),
            PatternError::Syntax(_)
        ));
    }
}
