//! Rules compiled (`Policy`): which detectors run on which side of a request, and what a
//! match does.
//!
//! The shell merges the global, per-model and per-key rule lists and compiles the result once
//! per distinct list (at config load); compiling checks every custom regex and names the rule
//! of any error.
//!
//! When several rules use the same detector on the same side, the strongest action wins
//! (block over redact over log), and its rule (the first such in the list) is the one findings
//! and refusals name.

use super::detector::{compile_regex, Builtin, PatternError, MAX_PATTERN_LEN};
use super::rule::{Action, CustomDetector, DetectorSpec, Direction, RuleError, RuleSpec};
use super::scan::{Detector, Group, Pattern};
use std::collections::HashMap;
use std::sync::Arc;

/// The compiled rules: for each side, the detectors that change text (block, redact) and the
/// ones that only report (log), each scanned in one pass. Cheap to share (`Arc`) and to ask
/// whether anything applies.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    request: Option<Arc<Sides>>,
    response: Option<Arc<Sides>>,
}

/// The groups of one side.
#[derive(Debug, Clone)]
pub(crate) struct Sides {
    /// Block and redact detectors: their matches change the text, so they must not overlap.
    pub changing: Option<Group>,
    /// Log-only detectors, scanned apart over the original text so that a log match never
    /// hides (by overlapping) a match that must be redacted.
    pub reporting: Option<Group>,
}

impl Policy {
    /// A policy that applies to nothing.
    pub fn empty() -> Policy {
        Policy::default()
    }

    pub fn compile(rules: &[RuleSpec]) -> Result<Policy, RuleError> {
        let catalog = Catalog::build(rules)?;
        Ok(Policy {
            request: catalog.sides(rules, Direction::Request)?,
            response: catalog.sides(rules, Direction::Response)?,
        })
    }

    /// Whether any rule scans this side. False means the scan functions return at once.
    pub fn applies(&self, direction: Direction) -> bool {
        self.sides(direction).is_some()
    }

    /// The most text (bytes) a `StreamRedactor` on this side holds back: the longest match
    /// of its redacting and blocking detectors' patterns (log-only detectors hold nothing
    /// back), 0 when none applies.
    pub fn max_hold_back(&self, direction: Direction) -> usize {
        self.sides(direction)
            .and_then(|sides| sides.changing.as_ref())
            .map_or(0, Group::max_len)
    }

    pub(crate) fn sides(&self, direction: Direction) -> Option<&Sides> {
        match direction {
            Direction::Request => self.request.as_deref(),
            Direction::Response => self.response.as_deref(),
        }
    }
}

/// A detector's definition, compiled once however many rules use it.
struct Definition {
    label: String,
    patterns: Vec<Pattern>,
}

/// Every detector the rules use, by name.
struct Catalog {
    definitions: HashMap<String, Definition>,
}

impl Catalog {
    fn build(rules: &[RuleSpec]) -> Result<Catalog, RuleError> {
        let mut definitions: HashMap<String, Definition> = HashMap::new();
        let mut custom_sources: HashMap<String, String> = HashMap::new();
        let mut names: Vec<&str> = Vec::with_capacity(rules.len());
        for rule in rules {
            if rule.name.trim().is_empty() {
                return Err(RuleError::EmptyName);
            }
            if names.contains(&rule.name.as_str()) {
                return Err(RuleError::DuplicateRule(rule.name.clone()));
            }
            names.push(&rule.name);
            let named = |rule: &RuleSpec| rule.name.clone();
            if rule.detect.is_empty() {
                return Err(RuleError::NoDetectors { rule: named(rule) });
            }
            if rule.on.is_empty() {
                return Err(RuleError::NoDirections { rule: named(rule) });
            }
            for spec in &rule.detect {
                match spec {
                    DetectorSpec::Builtin(name) => {
                        let builtin =
                            Builtin::from_name(name).ok_or_else(|| RuleError::UnknownDetector {
                                rule: named(rule),
                                detector: name.clone(),
                            })?;
                        if !definitions.contains_key(name) {
                            definitions.insert(name.clone(), builtin_definition(builtin));
                        }
                    }
                    DetectorSpec::Custom(custom) => {
                        if let Some(source) = custom_sources.get(&custom.name) {
                            if *source != custom.regex {
                                return Err(RuleError::ConflictingCustom {
                                    rule: named(rule),
                                    detector: custom.name.clone(),
                                });
                            }
                            continue;
                        }
                        let definition = custom_definition(rule, custom)?;
                        custom_sources.insert(custom.name.clone(), custom.regex.clone());
                        definitions.insert(custom.name.clone(), definition);
                    }
                }
            }
        }
        Ok(Catalog { definitions })
    }

    /// The groups for one side, `None` when no rule scans it.
    fn sides(
        &self,
        rules: &[RuleSpec],
        direction: Direction,
    ) -> Result<Option<Arc<Sides>>, RuleError> {
        // Per detector name: the strongest action on this side and the first rule with it.
        let mut chosen: Vec<(&str, Action, &str)> = Vec::new();
        for rule in rules.iter().filter(|r| r.on.contains(&direction)) {
            for spec in &rule.detect {
                let name = match spec {
                    DetectorSpec::Builtin(name) => name.as_str(),
                    DetectorSpec::Custom(custom) => custom.name.as_str(),
                };
                match chosen.iter_mut().find(|(n, _, _)| *n == name) {
                    Some(entry) if rule.action > entry.1 => {
                        *entry = (name, rule.action, rule.name.as_str());
                    }
                    Some(_) => {}
                    None => chosen.push((name, rule.action, rule.name.as_str())),
                }
            }
        }
        if chosen.is_empty() {
            return Ok(None);
        }
        let (reporting, changing): (Vec<_>, Vec<_>) = chosen
            .into_iter()
            .partition(|(_, action, _)| *action == Action::Log);
        Ok(Some(Arc::new(Sides {
            changing: self.group(&changing)?,
            reporting: self.group(&reporting)?,
        })))
    }

    fn group(&self, chosen: &[(&str, Action, &str)]) -> Result<Option<Group>, RuleError> {
        if chosen.is_empty() {
            return Ok(None);
        }
        let mut detectors = Vec::with_capacity(chosen.len());
        let mut patterns = Vec::new();
        for (name, action, rule) in chosen {
            let Some(definition) = self.definitions.get(*name) else {
                continue;
            };
            let index = detectors.len();
            detectors.push(Detector {
                name: Arc::from(*name),
                label: definition.label.clone(),
                rule: Arc::from(*rule),
                action: *action,
            });
            patterns.extend(definition.patterns.iter().cloned().map(|mut p| {
                p.detector = index;
                p
            }));
        }
        // Each regex compiled alone, so a set of them compiles too (barring size limits,
        // reported against the first rule of the group).
        Group::new(detectors, patterns)
            .map(Some)
            .map_err(|reason| RuleError::BadRegex {
                rule: chosen.first().map(|c| c.2).unwrap_or_default().to_owned(),
                detector: chosen.first().map(|c| c.0).unwrap_or_default().to_owned(),
                reason,
            })
    }
}

fn builtin_definition(builtin: Builtin) -> Definition {
    let patterns = builtin
        .patterns()
        .iter()
        .filter_map(|spec| {
            // The table's patterns compile; a test proves each one does.
            let regex = compile_regex(spec.regex).ok()?;
            Some(Pattern {
                regex,
                validate: spec.validate,
                tail: spec.tail,
                detector: 0,
            })
        })
        .collect();
    Definition {
        label: builtin.label(),
        patterns,
    }
}

fn custom_definition(rule: &RuleSpec, custom: &CustomDetector) -> Result<Definition, RuleError> {
    let name_ok = (1..=64).contains(&custom.name.len())
        && custom
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && Builtin::from_name(&custom.name).is_none();
    if !name_ok {
        return Err(RuleError::BadCustomName {
            rule: rule.name.clone(),
            detector: custom.name.clone(),
        });
    }
    let bad = |reason: String| RuleError::BadRegex {
        rule: rule.name.clone(),
        detector: custom.name.clone(),
        reason,
    };
    let regex = compile_regex(&custom.regex).map_err(|e| {
        bad(match e {
            PatternError::Syntax(message) => message,
            PatternError::Unbounded => format!(
                "the regex can match text of any length; bound every repetition (e.g. {{1,64}} instead of +) so a match is at most {MAX_PATTERN_LEN} bytes"
            ),
            PatternError::TooLong(len) => format!(
                "the regex can match up to {len} bytes; at most {MAX_PATTERN_LEN} are allowed"
            ),
            PatternError::MatchesEmpty => "the regex can match the empty string".to_owned(),
        })
    })?;
    Ok(Definition {
        label: custom.name.to_ascii_uppercase().replace('-', "_"),
        patterns: vec![Pattern {
            regex,
            validate: None,
            tail: None,
            detector: 0,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::super::rule::both_directions;
    use super::*;

    fn rule(name: &str, detect: &[&str], action: Action, on: &[Direction]) -> RuleSpec {
        RuleSpec {
            name: name.to_owned(),
            detect: detect
                .iter()
                .map(|d| DetectorSpec::Builtin((*d).to_owned()))
                .collect(),
            action,
            on: on.to_vec(),
        }
    }

    #[test]
    fn guard_rule_spec_reads_from_config() {
        let json = r#"[{"name": "pii", "detect": ["email", {"name": "ticket", "regex": "T-[0-9]{6}"}], "action": "redact"},
                       {"name": "keys", "detect": ["api_key"], "action": "block", "on": ["request"]}]"#;
        let rules: Vec<RuleSpec> = serde_json::from_str(json).unwrap();
        assert_eq!(rules[0].on, both_directions());
        assert_eq!(rules[1].on, vec![Direction::Request]);
        let policy = Policy::compile(&rules).unwrap();
        assert!(policy.applies(Direction::Request));
        assert!(policy.applies(Direction::Response));
    }

    #[test]
    fn guard_policy_applies_per_direction() {
        let policy =
            Policy::compile(&[rule("r", &["email"], Action::Log, &[Direction::Response])]).unwrap();
        assert!(!policy.applies(Direction::Request));
        assert!(policy.applies(Direction::Response));
        assert!(!Policy::empty().applies(Direction::Request));
    }

    #[test]
    fn guard_strongest_action_wins() {
        let policy = Policy::compile(&[
            rule("audit", &["email"], Action::Log, &[Direction::Request]),
            rule("strip", &["email"], Action::Redact, &[Direction::Request]),
            rule("strip2", &["email"], Action::Redact, &[Direction::Request]),
        ])
        .unwrap();
        let sides = policy.sides(Direction::Request).unwrap();
        assert!(sides.reporting.is_none());
        let detector = sides.changing.as_ref().unwrap().detector(0).unwrap();
        assert_eq!(
            (&*detector.rule, detector.action),
            ("strip", Action::Redact)
        );
    }

    #[test]
    fn guard_rule_errors_name_the_rule() {
        let custom = |name: &str, regex: &str| {
            DetectorSpec::Custom(CustomDetector {
                name: name.to_owned(),
                regex: regex.to_owned(),
            })
        };
        let with = |detect: Vec<DetectorSpec>| RuleSpec {
            name: "mine".to_owned(),
            detect,
            action: Action::Redact,
            on: both_directions(),
        };
        let cases = [
            (
                with(vec![DetectorSpec::Builtin("emial".into())]),
                "unknown detector 'emial'",
            ),
            (with(vec![custom("t", "T-[0-9")]), "custom detector 't'"),
            (with(vec![custom("t", "T-[0-9]+")]), "any length"),
            (with(vec![custom("t", "[0-9]{0,3}")]), "empty string"),
            (with(vec![custom("t", "[0-9]{300}")]), "300 bytes"),
            (with(vec![custom("a b", "x")]), "custom detector name 'a b'"),
            (
                with(vec![custom("email", "x")]),
                "custom detector name 'email'",
            ),
            (with(vec![]), "lists no detector"),
        ];
        for (spec, expected) in cases {
            let message = Policy::compile(&[spec]).unwrap_err().to_string();
            assert!(message.contains("rule 'mine'"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
        let once = rule("a", &["email"], Action::Log, &[Direction::Request]);
        let twice = [once.clone(), once];
        assert_eq!(
            Policy::compile(&twice).unwrap_err(),
            RuleError::DuplicateRule("a".into())
        );
    }

    #[test]
    fn guard_custom_detector_shared_only_if_identical() {
        let custom = |regex: &str, name: &str| RuleSpec {
            name: name.to_owned(),
            detect: vec![DetectorSpec::Custom(CustomDetector {
                name: "ticket".to_owned(),
                regex: regex.to_owned(),
            })],
            action: Action::Redact,
            on: both_directions(),
        };
        assert!(Policy::compile(&[custom("T-[0-9]{4}", "a"), custom("T-[0-9]{4}", "b")]).is_ok());
        assert_eq!(
            Policy::compile(&[custom("T-[0-9]{4}", "a"), custom("T-[0-9]{5}", "b")]).unwrap_err(),
            RuleError::ConflictingCustom {
                rule: "b".into(),
                detector: "ticket".into()
            }
        );
    }
}
