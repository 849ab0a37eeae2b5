//! Tests across the guard module: detectors through the public API, numbering, one JSON body
//! per dialect, and the properties of the body and stream redactors.

mod detectors;
mod dialects;
mod numbering;
mod props;

use super::*;
use std::sync::{Arc, OnceLock};

/// A policy of one rule per entry, on both sides.
pub(super) fn policy(rules: &[(&str, &[&str], Action)]) -> Policy {
    let specs: Vec<RuleSpec> = rules
        .iter()
        .map(|(name, detect, action)| RuleSpec {
            name: (*name).to_owned(),
            detect: detect
                .iter()
                .map(|d| DetectorSpec::Builtin((*d).to_owned()))
                .collect(),
            action: *action,
            on: vec![Direction::Request, Direction::Response],
        })
        .collect();
    Policy::compile(&specs).unwrap()
}

pub(super) fn custom(name: &str, regex: &str) -> DetectorSpec {
    DetectorSpec::Custom(CustomDetector {
        name: name.to_owned(),
        regex: regex.to_owned(),
    })
}

/// Every built-in detector redacted, plus a custom `ticket` detector. Compiled once: regex
/// compilation dominates the property tests' time otherwise.
pub(super) fn redact_everything() -> Arc<Policy> {
    static POLICY: OnceLock<Arc<Policy>> = OnceLock::new();
    Arc::clone(POLICY.get_or_init(compile_everything))
}

fn compile_everything() -> Arc<Policy> {
    let mut detect: Vec<DetectorSpec> = Builtin::ALL
        .iter()
        .map(|b| DetectorSpec::Builtin(b.name().to_owned()))
        .collect();
    detect.push(custom("ticket", r"(?-u:\b)TCK-[0-9]{6}(?-u:\b)"));
    let rule = RuleSpec {
        name: "pii".to_owned(),
        detect,
        action: Action::Redact,
        on: vec![Direction::Request, Direction::Response],
    };
    Arc::new(Policy::compile(&[rule]).unwrap())
}

/// The text after redaction (the input when unchanged); panics when blocked.
pub(super) fn redacted(policy: &Policy, text: &str) -> String {
    let report = redact_text(policy, Direction::Request, text, &mut Placeholders::new());
    match report.outcome {
        Outcome::Unchanged => text.to_owned(),
        Outcome::Redacted(out) => out,
        Outcome::Blocked(b) => panic!("{b}"),
    }
}
