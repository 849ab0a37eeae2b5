//! The one-pass finder: walks a text (whole, or a stream's window of it) and reports, left to
//! right, the stretches of plain text and the non-overlapping matches.
//!
//! Cost: one `RegexSet` pass over the text says which patterns occur at all; clean text stops
//! there. Only the patterns that occur are then searched, each forward only (a pattern's next
//! candidate is kept until the scan passes it), and validators (Luhn, mod-97, ...) run on
//! candidates only. Every pattern's match is bounded, so the whole is linear in the text:
//! at worst one pass per pattern that occurs.
//!
//! Which match wins: the one starting first; at the same start a blocking detector before a
//! redacting one, then the longer match, then the earlier pattern. Text a match covers is not
//! searched again.
//!
//! Which candidates a pattern has must not depend on where its search began (a stream begins
//! it elsewhere than the whole text does): after a rejected candidate the search goes on at
//! the next character, and validators look at the candidate and the one character before it.
//!
//! Streams: a window is the text received so far (plus one character before it, for `\b`).
//! A start position is *decided* once no text still to come can change what matches there:
//! either the longest match of every pattern starting there fits in the window (with one byte
//! to spare for a trailing `\b`), or a character the pattern can never contain has arrived
//! after it (see `class.rs`). The scanner emits events only up to the first undecided
//! position, so a stream split anywhere produces exactly the events of the whole text.

use super::detector::CompiledRegex;
use super::rule::Action;
use super::tail::{Tail, TailRun};
use super::validate::Validator;
use regex::RegexSet;
use std::ops::{ControlFlow, Range};
use std::sync::Arc;

/// A detector as a rule applies it.
#[derive(Debug, Clone)]
pub(crate) struct Detector {
    /// The detector's name (`email`, or a custom rule's name).
    pub name: Arc<str>,
    /// The placeholder's type (`EMAIL`).
    pub label: String,
    /// The rule whose action applies.
    pub rule: Arc<str>,
    pub action: Action,
}

/// One pattern of a detector.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub regex: CompiledRegex,
    pub validate: Option<Validator>,
    pub tail: Option<Tail>,
    /// Index into the group's detectors.
    pub detector: usize,
}

/// Detectors scanned together in one pass.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    set: RegexSet,
    patterns: Vec<Pattern>,
    detectors: Vec<Detector>,
    max_len: usize,
}

/// The text the scanner sees: `text` starts at absolute offset `origin` of the whole text;
/// `complete` when nothing follows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window<'a> {
    pub text: &'a str,
    pub origin: usize,
    pub complete: bool,
}

impl Window<'_> {
    pub(crate) fn end(&self) -> usize {
        self.origin + self.text.len()
    }

    /// The text of an absolute range.
    pub(crate) fn slice(&self, range: Range<usize>) -> &str {
        self.text
            .get(range.start.saturating_sub(self.origin)..range.end.saturating_sub(self.origin))
            .unwrap_or_default()
    }
}

/// Where a scan stands between windows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cursor {
    /// Absolute offset of the first byte not yet reported.
    pub pos: usize,
    /// The tail of the match being reported, if one is open.
    tail: Option<TailRun>,
    /// Per pattern, the absolute offset just after the last character seen that the pattern
    /// cannot contain (0: none yet). Kept between windows so that each byte of a stream is
    /// looked at once for this, not once per piece while it is held back.
    breaks: Vec<usize>,
    /// How far `breaks` has looked.
    seen: usize,
}

impl Cursor {
    pub(crate) fn at(pos: usize) -> Cursor {
        Cursor {
            pos,
            seen: pos,
            ..Cursor::default()
        }
    }
}

/// What the scanner reports, in text order. Ranges are absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Text that is part of no match.
    Plain(Range<usize>),
    /// A match of this detector begins; `Secret` pieces and `Close` follow.
    Open { detector: usize },
    /// Bytes of the open match (its head, then its tail in one or more pieces).
    Secret(Range<usize>),
    /// The open match ended.
    Close,
}

impl Group {
    pub(crate) fn new(detectors: Vec<Detector>, patterns: Vec<Pattern>) -> Result<Group, String> {
        let set = RegexSet::new(patterns.iter().map(|p| p.regex.regex.as_str()))
            .map_err(|e| e.to_string())?;
        let max_len = patterns.iter().map(|p| p.regex.max_len).max().unwrap_or(0);
        Ok(Group {
            set,
            patterns,
            detectors,
            max_len,
        })
    }

    pub(crate) fn detector(&self, index: usize) -> Option<&Detector> {
        self.detectors.get(index)
    }

    /// The longest pattern match: the most a stream holds back for this group.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// Reports every decided event of `window` from `cursor` on, and moves the cursor past
    /// them. Stops early when `sink` breaks (a blocking match).
    pub(crate) fn advance(
        &self,
        cursor: &mut Cursor,
        window: Window<'_>,
        mut sink: impl FnMut(Event) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let decided = self.decided_until(window, cursor);
        let mut candidates: Option<Candidates> = None;
        loop {
            if let Some(run) = cursor.tail.as_mut() {
                let rest = window
                    .text
                    .as_bytes()
                    .get(cursor.pos.saturating_sub(window.origin)..)
                    .unwrap_or_default();
                let (taken, ended) = run.feed(rest);
                if taken > 0 {
                    sink(Event::Secret(cursor.pos..cursor.pos + taken))?;
                    cursor.pos += taken;
                }
                if !ended && !window.complete {
                    return ControlFlow::Continue(());
                }
                cursor.tail = None;
                sink(Event::Close)?;
            }
            if cursor.pos >= decided {
                return ControlFlow::Continue(());
            }
            let found = candidates
                .get_or_insert_with(|| Candidates::new(self, window, cursor.pos))
                .best(self, window, cursor.pos, decided);
            let Some(found) = found else {
                sink(Event::Plain(cursor.pos..decided))?;
                cursor.pos = decided;
                return ControlFlow::Continue(());
            };
            if found.start > cursor.pos {
                sink(Event::Plain(cursor.pos..found.start))?;
            }
            let Some(pattern) = self.patterns.get(found.pattern) else {
                return ControlFlow::Continue(());
            };
            sink(Event::Open {
                detector: pattern.detector,
            })?;
            sink(Event::Secret(found.start..found.end))?;
            cursor.pos = found.end;
            match pattern.tail {
                Some(tail) => cursor.tail = Some(TailRun::new(tail)),
                None => sink(Event::Close)?,
            }
        }
    }

    /// The first absolute position of `window` where a match could still start or change:
    /// for each pattern, the later of the position its longest match no longer reaches the
    /// window's end from, and the position after the last character it cannot contain.
    fn decided_until(&self, window: Window<'_>, cursor: &mut Cursor) -> usize {
        if window.complete {
            return window.end();
        }
        if cursor.breaks.len() != self.patterns.len() {
            cursor.breaks = vec![0; self.patterns.len()];
        }
        let new_from = cursor.seen.max(window.origin);
        let new_text = window
            .text
            .get(new_from - window.origin..)
            .unwrap_or_default();
        let mut decided = window.end();
        for (pattern, last_break) in self.patterns.iter().zip(cursor.breaks.iter_mut()) {
            let chars = &pattern.regex.chars;
            if let Some((i, c)) = new_text
                .char_indices()
                .rev()
                .find(|(_, c)| !chars.contains(*c))
            {
                *last_break = new_from + i + c.len_utf8();
            }
            let short = window.text.len().saturating_sub(pattern.regex.max_len);
            let by_length = window.origin + ceil_boundary(window.text, short);
            decided = decided.min(by_length.max(*last_break));
        }
        cursor.seen = window.end();
        decided
    }

    fn rank(&self, pattern: usize) -> u8 {
        let action = self
            .patterns
            .get(pattern)
            .and_then(|p| self.detectors.get(p.detector))
            .map(|d| d.action);
        match action {
            Some(Action::Block) => 0,
            Some(Action::Redact) => 1,
            _ => 2,
        }
    }
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

fn next_boundary(text: &str, at: usize) -> usize {
    let step = text
        .get(at..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8);
    at + step
}

/// A validated match, relative to the window.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    pattern: usize,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Not searched yet (or its candidate was passed over).
    Stale,
    /// The next validated candidate.
    At { start: usize, end: usize },
    /// No decided candidate at or after this position.
    Exhausted { from: usize },
}

/// Per pattern that occurs in the window, its next candidate: each pattern is searched
/// forward only, so the scan stays linear however many matches there are.
struct Candidates {
    slots: Vec<(usize, Slot)>,
}

impl Candidates {
    fn new(group: &Group, window: Window<'_>, from: usize) -> Candidates {
        let occurring = group
            .set
            .matches_at(window.text, from.saturating_sub(window.origin));
        Candidates {
            slots: occurring.iter().map(|p| (p, Slot::Stale)).collect(),
        }
    }

    /// The winning match starting in `[from, decided)`, in absolute positions.
    fn best(
        &mut self,
        group: &Group,
        window: Window<'_>,
        from: usize,
        decided: usize,
    ) -> Option<Found> {
        let from = from.saturating_sub(window.origin);
        let decided = decided.saturating_sub(window.origin);
        let mut best: Option<(Found, (usize, u8, usize, usize))> = None;
        for (pattern, slot) in self.slots.iter_mut() {
            let fresh = match *slot {
                Slot::At { start, .. } => start >= from,
                Slot::Exhausted { from: since } => since <= from,
                Slot::Stale => false,
            };
            if !fresh {
                *slot = match group.patterns.get(*pattern) {
                    Some(p) => search(p, window.text, from, decided),
                    None => Slot::Exhausted { from },
                };
            }
            if let Slot::At { start, end } = *slot {
                let key = (
                    start,
                    group.rank(*pattern),
                    usize::MAX - (end - start),
                    *pattern,
                );
                if best.as_ref().is_none_or(|(_, k)| key < *k) {
                    let found = Found {
                        start,
                        end,
                        pattern: *pattern,
                    };
                    best = Some((found, key));
                }
            }
        }
        best.map(|(found, _)| Found {
            start: found.start + window.origin,
            end: found.end + window.origin,
            pattern: found.pattern,
        })
    }
}

/// The first validated candidate of `pattern` starting in `[from, decided)`.
fn search(pattern: &Pattern, text: &str, from: usize, decided: usize) -> Slot {
    let mut at = from;
    while at <= text.len() {
        let Some(m) = pattern.regex.regex.find_at(text, at) else {
            break;
        };
        if m.start() >= decided {
            break;
        }
        let end = match pattern.validate {
            None => Some(m.end()),
            Some(validate) => validate(
                text.get(..m.start()).and_then(|t| t.chars().next_back()),
                m.as_str(),
            )
            .filter(|len| *len > 0)
            .map(|len| m.start() + len),
        };
        if let Some(end) = end {
            return Slot::At {
                start: m.start(),
                end,
            };
        }
        // On at the next character, never past the rejected candidate: which starts are
        // tried must not depend on where the search began (a stream begins it elsewhere).
        at = next_boundary(text, m.start());
    }
    Slot::Exhausted { from }
}
