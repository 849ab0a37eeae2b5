//! What a scan tells the shell: the verdict on the text and the findings to log and count.
//!
//! Findings carry the rule, the detector and a count, never the matched text, so they can go
//! to logs and metrics as they are.

use super::rule::Action;
use super::scan::Detector;
use std::fmt;
use std::sync::Arc;

/// The verdict on a body or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Nothing to change: send the original bytes.
    Unchanged,
    /// Send these instead.
    Redacted(T),
    /// Refuse: a blocking rule matched.
    Blocked(Blocked),
}

/// A blocking rule matched. Names the rule, never the matched text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub rule: Arc<str>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocked by guardrail rule '{}'", self.rule)
    }
}

impl std::error::Error for Blocked {}

/// A verdict and what led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<T> {
    pub outcome: Outcome<T>,
    pub findings: Findings,
}

impl<T> Report<T> {
    pub(crate) fn unchanged() -> Report<T> {
        Report {
            outcome: Outcome::Unchanged,
            findings: Findings::default(),
        }
    }
}

/// How often one rule's detector matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Arc<str>,
    pub detector: Arc<str>,
    pub action: Action,
    pub count: u32,
}

/// The findings of a scan, one entry per (rule, detector), in order of first match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All matches counted.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|f| u64::from(f.count)).sum()
    }

    pub(crate) fn record(&mut self, detector: &Detector) {
        let existing = self
            .0
            .iter_mut()
            .find(|f| f.rule == detector.rule && f.detector == detector.name);
        match existing {
            Some(finding) => finding.count = finding.count.saturating_add(1),
            None => self.0.push(Finding {
                rule: Arc::clone(&detector.rule),
                detector: Arc::clone(&detector.name),
                action: detector.action,
                count: 1,
            }),
        }
    }
}
