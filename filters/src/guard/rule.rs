//! Guardrail rules as configured: what they detect, what they do with a match, which side
//! they scan, and the errors a rule list can have (each names its rule). `policy.rs` compiles
//! them.

use super::detector::Builtin;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a rule does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Report the finding only (rule, detector, count); the text passes unchanged.
    Log,
    /// Replace the match with a numbered placeholder such as `[EMAIL_1]`.
    Redact,
    /// Refuse the request (or cut the response), naming the rule, never the match.
    Block,
}

/// Which side of the exchange a rule scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// What the client sends to the provider.
    Request,
    /// What the provider sends back.
    Response,
}

/// One guardrail rule as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub detect: Vec<DetectorSpec>,
    pub action: Action,
    /// The sides the rule scans; both when omitted.
    #[serde(default = "both_directions")]
    pub on: Vec<Direction>,
}

pub(crate) fn both_directions() -> Vec<Direction> {
    vec![Direction::Request, Direction::Response]
}

/// A detector a rule uses: a built-in by name (`email`), or a custom one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DetectorSpec {
    Builtin(String),
    Custom(CustomDetector),
}

/// A custom detector: its matches become `[<NAME>_n]` (the name upper-cased, `-` as `_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Letters, digits, `_` and `-`, at most 64: it becomes the placeholder's type.
    pub name: String,
    /// A Rust `regex` pattern whose matches are bounded (at most `MAX_PATTERN_LEN` bytes:
    /// write `[A-Z]{3,12}`, not `[A-Z]+`) and never empty.
    pub regex: String,
}

/// Why a rule list does not compile. Every variant names the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    EmptyName,
    DuplicateRule(String),
    NoDetectors {
        rule: String,
    },
    NoDirections {
        rule: String,
    },
    UnknownDetector {
        rule: String,
        detector: String,
    },
    BadCustomName {
        rule: String,
        detector: String,
    },
    /// Two rules define a custom detector of the same name with different regexes.
    ConflictingCustom {
        rule: String,
        detector: String,
    },
    BadRegex {
        rule: String,
        detector: String,
        reason: String,
    },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::EmptyName => f.write_str("a guardrail rule has an empty name"),
            RuleError::DuplicateRule(rule) => write!(f, "guardrail rule '{rule}' is defined twice"),
            RuleError::NoDetectors { rule } => {
                write!(f, "guardrail rule '{rule}': 'detect' lists no detector")
            }
            RuleError::NoDirections { rule } => {
                write!(f, "guardrail rule '{rule}': 'on' lists no direction")
            }
            RuleError::UnknownDetector { rule, detector } => {
                let known: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
                write!(
                    f,
                    "guardrail rule '{rule}': unknown detector '{detector}' (built-in: {}; or {{name, regex}})",
                    known.join(", ")
                )
            }
            RuleError::BadCustomName { rule, detector } => write!(
                f,
                "guardrail rule '{rule}': custom detector name '{detector}' must be 1 to 64 letters, digits, '_' or '-' and not a built-in name"
            ),
            RuleError::ConflictingCustom { rule, detector } => write!(
                f,
                "guardrail rule '{rule}': custom detector '{detector}' is already defined with another regex"
            ),
            RuleError::BadRegex {
                rule,
                detector,
                reason,
            } => write!(
                f,
                "guardrail rule '{rule}': custom detector '{detector}': {reason}"
            ),
        }
    }
}

impl std::error::Error for RuleError {}
