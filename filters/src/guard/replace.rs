//! Turns the scanner's events into what the rules ask for: a finding for every match, a
//! numbered placeholder for each redacted one, a refusal at the first blocked one.
//!
//! Shared by the whole-text path (bodies, texts) and the stream redactor, so both number,
//! count and refuse the same way.

use super::outcome::{Blocked, Findings};
use super::placeholder::{Fingerprint, Placeholders};
use super::policy::Sides;
use super::rule::Action;
use super::scan::{Cursor, Event, Group, Window};
use std::ops::{ControlFlow, Range};
use std::sync::Arc;

/// A redacted match and what replaces it (absolute range of the scanned text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replacement {
    pub range: Range<usize>,
    pub placeholder: String,
}

/// The match being reported, between `Open` and `Close`.
#[derive(Debug, Clone)]
struct OpenMatch {
    detector: usize,
    /// Where the match starts, once its first piece arrived, and where it ends so far.
    start: Option<usize>,
    end: usize,
    /// Hashed as the pieces arrive; `None` when the match is only logged.
    fingerprint: Option<Fingerprint>,
}

/// Follows one group's events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Replacer {
    open: Option<OpenMatch>,
}

/// The per-request state a scan writes to.
pub(crate) struct Tally<'a> {
    pub table: &'a mut Placeholders,
    pub findings: &'a mut Findings,
}

impl Replacer {
    /// Handles a match event (`Plain` is the caller's). Returns the replacement when a
    /// redacted match closes, and `Err` at a blocked one.
    pub(crate) fn on(
        &mut self,
        group: &Group,
        event: Event,
        window: Window<'_>,
        tally: &mut Tally<'_>,
    ) -> Result<Option<Replacement>, Blocked> {
        match event {
            Event::Plain(_) => Ok(None),
            Event::Open { detector } => {
                let Some(d) = group.detector(detector) else {
                    return Ok(None);
                };
                tally.findings.record(d);
                if d.action == Action::Block {
                    return Err(Blocked {
                        rule: Arc::clone(&d.rule),
                    });
                }
                let fingerprint = (d.action == Action::Redact).then(|| Fingerprint::new(&d.label));
                self.open = Some(OpenMatch {
                    detector,
                    start: None,
                    end: 0,
                    fingerprint,
                });
                Ok(None)
            }
            Event::Secret(range) => {
                if let Some(open) = self.open.as_mut() {
                    open.start.get_or_insert(range.start);
                    open.end = range.end;
                    if let Some(fp) = open.fingerprint.as_mut() {
                        fp.update(window.slice(range));
                    }
                }
                Ok(None)
            }
            Event::Close => {
                let Some(open) = self.open.take() else {
                    return Ok(None);
                };
                let (Some(fingerprint), Some(d)) =
                    (open.fingerprint, group.detector(open.detector))
                else {
                    return Ok(None);
                };
                Ok(Some(Replacement {
                    range: open.start.unwrap_or(open.end)..open.end,
                    placeholder: tally.table.placeholder(&d.label, fingerprint),
                }))
            }
        }
    }
}

/// Scans a whole text: the replacements to make (in order), or the refusal. Log-only
/// detectors are scanned apart and only counted.
pub(crate) fn replacements(
    sides: &Sides,
    text: &str,
    tally: &mut Tally<'_>,
) -> Result<Vec<Replacement>, Blocked> {
    let window = Window {
        text,
        origin: 0,
        complete: true,
    };
    let mut out = Vec::new();
    if let Some(group) = &sides.changing {
        let mut replacer = Replacer::default();
        let mut refused = None;
        let _ = group.advance(&mut Cursor::default(), window, |event| {
            match replacer.on(group, event, window, tally) {
                Ok(Some(replacement)) => out.push(replacement),
                Ok(None) => {}
                Err(blocked) => {
                    refused = Some(blocked);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(blocked) = refused {
            return Err(blocked);
        }
    }
    if let Some(group) = &sides.reporting {
        count_only(group, &mut Cursor::default(), window, tally.findings);
    }
    Ok(out)
}

/// Counts a log-only group's matches.
pub(crate) fn count_only(
    group: &Group,
    cursor: &mut Cursor,
    window: Window<'_>,
    findings: &mut Findings,
) {
    let _ = group.advance(cursor, window, |event| {
        if let Event::Open { detector } = event {
            if let Some(d) = group.detector(detector) {
                findings.record(d);
            }
        }
        ControlFlow::Continue(())
    });
}

/// `text` with the replacements made (ranges in order, within `text`).
pub(crate) fn apply(text: &str, replacements: &[Replacement]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in replacements {
        out.push_str(text.get(at..r.range.start).unwrap_or_default());
        out.push_str(&r.placeholder);
        at = r.range.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}
