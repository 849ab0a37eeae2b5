//! Redacting one whole text: a message, a prompt, a non-JSON body.

use super::outcome::{Findings, Outcome, Report};
use super::placeholder::Placeholders;
use super::policy::Policy;
use super::replace::{apply, replacements, Tally};
use super::rule::Direction;

/// Scans `text` with the rules of `direction`; redacted values are numbered in `table`.
pub fn redact_text(
    policy: &Policy,
    direction: Direction,
    text: &str,
    table: &mut Placeholders,
) -> Report<String> {
    let Some(sides) = policy.sides(direction) else {
        return Report::unchanged();
    };
    let mut findings = Findings::default();
    let mut tally = Tally {
        table,
        findings: &mut findings,
    };
    let outcome = match replacements(sides, text, &mut tally) {
        Err(blocked) => Outcome::Blocked(blocked),
        Ok(found) if found.is_empty() => Outcome::Unchanged,
        Ok(found) => Outcome::Redacted(apply(text, &found)),
    };
    Report { outcome, findings }
}
