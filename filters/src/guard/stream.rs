//! Redacting a response as it streams: one redactor per text channel (a content block, a
//! tool call's argument deltas), fed the channel's text pieces in order.
//!
//! The hold-back: `push` emits only text that can no longer be part of a match. The redactor
//! keeps the text from the first undecided position on (see `scan.rs`): never more than the
//! longest pattern (`MAX_PATTERN_LEN`, 256 bytes) and in prose usually just the current word,
//! because a character no pattern can contain (a space, for most) decides everything before
//! it. A secret longer than that (a PEM private key, a JWT, a long API key) is recognised by
//! its bounded head; its tail is then consumed as it arrives and hashed for numbering, never
//! buffered, and its placeholder is emitted when it ends. A blocking match stops the stream
//! as soon as its head is decided.
//!
//! The guarantee: whatever the split, the concatenated output equals `redact_text` on the
//! whole text, and no byte of a redacted match is ever emitted.

use super::outcome::{Blocked, Findings};
use super::placeholder::Placeholders;
use super::policy::{Policy, Sides};
use super::replace::{count_only, Replacer, Tally};
use super::rule::Direction;
use super::scan::{Cursor, Event, Window};
use std::ops::ControlFlow;
use std::sync::Arc;

/// The redactor of one text channel.
#[derive(Debug)]
pub struct StreamRedactor {
    policy: Arc<Policy>,
    direction: Direction,
    /// Text from one character before the earliest cursor (context for `\b`) to the end of
    /// what arrived.
    buf: String,
    /// Absolute offset of `buf[0]` in the channel's text.
    origin: usize,
    /// Where the emitted text ends.
    changing: Cursor,
    /// Where the log-only scan stands.
    reporting: Cursor,
    replacer: Replacer,
    findings: Findings,
    blocked: Option<Blocked>,
}

impl StreamRedactor {
    pub fn new(policy: Arc<Policy>, direction: Direction) -> StreamRedactor {
        StreamRedactor {
            policy,
            direction,
            buf: String::new(),
            origin: 0,
            changing: Cursor::default(),
            reporting: Cursor::default(),
            replacer: Replacer::default(),
            findings: Findings::default(),
            blocked: None,
        }
    }

    /// Adds the next piece of the channel's text; returns the text that is now safe to send
    /// (possibly empty), or the refusal (then and on every later call).
    pub fn push(&mut self, piece: &str, table: &mut Placeholders) -> Result<String, Blocked> {
        if let Some(blocked) = &self.blocked {
            return Err(blocked.clone());
        }
        if !self.policy.applies(self.direction) {
            return Ok(piece.to_owned());
        }
        self.buf.push_str(piece);
        self.run(false, table)
    }

    /// Ends the channel: returns the held-back text, redacted. The redactor may then start a
    /// new text (as if fresh, keeping its findings).
    pub fn finish(&mut self, table: &mut Placeholders) -> Result<String, Blocked> {
        if let Some(blocked) = &self.blocked {
            return Err(blocked.clone());
        }
        let out = self.run(true, table)?;
        let end = self.origin + self.buf.len();
        self.buf.clear();
        self.origin = end;
        self.changing = Cursor::at(end);
        self.reporting = Cursor::at(end);
        self.replacer = Replacer::default();
        Ok(out)
    }

    /// What every rule found so far (rule, detector, count).
    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    /// Bytes received but not yet emitted, a redacted secret's tail excepted (that is
    /// consumed as it arrives): at most the longest pattern.
    pub fn held_back(&self) -> usize {
        (self.origin + self.buf.len()).saturating_sub(self.changing.pos)
    }

    fn run(&mut self, complete: bool, table: &mut Placeholders) -> Result<String, Blocked> {
        let StreamRedactor {
            policy,
            direction,
            buf,
            origin,
            changing,
            reporting,
            replacer,
            findings,
            blocked,
        } = self;
        let Some(sides) = policy.sides(*direction) else {
            return Ok(std::mem::take(buf));
        };
        let window = Window {
            text: buf,
            origin: *origin,
            complete,
        };
        let mut out = String::new();
        let mut tally = Tally { table, findings };
        emit(
            sides, changing, replacer, window, &mut tally, &mut out, blocked,
        );
        if let Some(refusal) = blocked {
            return Err(refusal.clone());
        }
        match &sides.reporting {
            Some(group) => count_only(group, reporting, window, tally.findings),
            None => reporting.pos = window.end(),
        }
        // Keep one character before the earliest cursor: a pattern's `\b` looks at it.
        let keep = changing.pos.min(reporting.pos).saturating_sub(*origin);
        let mut cut = keep.saturating_sub(1);
        while cut > 0 && !buf.is_char_boundary(cut) {
            cut -= 1;
        }
        buf.drain(..cut);
        *origin += cut;
        Ok(out)
    }
}

/// Runs the changing group over the window, appending the text to send to `out`.
fn emit(
    sides: &Sides,
    cursor: &mut Cursor,
    replacer: &mut Replacer,
    window: Window<'_>,
    tally: &mut Tally<'_>,
    out: &mut String,
    blocked: &mut Option<Blocked>,
) {
    let Some(group) = &sides.changing else {
        out.push_str(window.slice(cursor.pos..window.end()));
        cursor.pos = window.end();
        return;
    };
    let _ = group.advance(cursor, window, |event| {
        if let Event::Plain(range) = &event {
            out.push_str(window.slice(range.clone()));
            return ControlFlow::Continue(());
        }
        match replacer.on(group, event, window, tally) {
            Ok(Some(replacement)) => out.push_str(&replacement.placeholder),
            Ok(None) => {}
            Err(refusal) => {
                *blocked = Some(refusal);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
}
