//! Redacting a whole JSON body, request or response, in any dialect: every string value not
//! under a structural key (`structural.rs`), and every number in a tool's arguments or
//! results, is decoded and scanned, and each match is replaced in place. Every other byte of the body is kept as it was: no re-serialization,
//! so key order, spacing, number formats and other escapes survive, and the body stays valid
//! JSON (placeholders hold no quote or backslash).
//!
//! A body that is not JSON is scanned as text (and a body that is not UTF-8, run by run of
//! valid UTF-8): whatever reaches the provider is scanned, parseable or not.

use super::json_string::decode;
use super::json_walk::{leaves, LeafKind, Malformed};
use super::outcome::{Blocked, Findings, Outcome, Report};
use super::placeholder::Placeholders;
use super::policy::{Policy, Sides};
use super::replace::{apply, replacements, Tally};
use super::rule::Direction;
use std::ops::Range;

/// Scans `body` with the rules of `direction`; redacted values are numbered in `table`.
pub fn redact_json(
    policy: &Policy,
    direction: Direction,
    body: &[u8],
    table: &mut Placeholders,
) -> Report<Vec<u8>> {
    let Some(sides) = policy.sides(direction) else {
        return Report::unchanged();
    };
    let mut findings = Findings::default();
    let mut tally = Tally {
        table,
        findings: &mut findings,
    };
    let edits = match std::str::from_utf8(body) {
        Ok(json) => match leaves(json) {
            Ok(leaves) => {
                let mut edits = Vec::new();
                leaves
                    .iter()
                    .try_for_each(|leaf| {
                        let raw = json.get(leaf.span.clone()).unwrap_or_default();
                        value_edits(
                            sides,
                            raw,
                            leaf.span.start,
                            leaf.kind,
                            &mut tally,
                            &mut edits,
                        )
                    })
                    .map(|()| edits)
            }
            Err(Malformed) => text_edits(sides, json, 0, &mut tally),
        },
        Err(_) => not_utf8_edits(sides, body, &mut tally),
    };
    let outcome = match edits {
        Err(blocked) => Outcome::Blocked(blocked),
        Ok(edits) if edits.is_empty() => Outcome::Unchanged,
        Ok(edits) => Outcome::Redacted(splice(body, &edits)),
    };
    Report { outcome, findings }
}

/// New bytes for a range of the body.
struct Edit {
    range: Range<usize>,
    text: String,
}

/// The edits for one value whose raw text starts at `offset` in the body.
fn value_edits(
    sides: &Sides,
    raw: &str,
    offset: usize,
    kind: LeafKind,
    tally: &mut Tally<'_>,
    edits: &mut Vec<Edit>,
) -> Result<(), Blocked> {
    match kind {
        LeafKind::Plain => {
            edits.extend(replacements(sides, raw, tally)?.into_iter().map(|r| Edit {
                range: offset + r.range.start..offset + r.range.end,
                text: r.placeholder,
            }))
        }
        LeafKind::Escaped => {
            let decoded = decode(raw);
            edits.extend(
                replacements(sides, &decoded.text, tally)?
                    .into_iter()
                    .map(|r| Edit {
                        range: offset + decoded.raw_offset(r.range.start)
                            ..offset + decoded.raw_offset(r.range.end),
                        text: r.placeholder,
                    }),
            );
        }
        // A number that holds a match (a card number sent as a JSON number) becomes a string.
        LeafKind::Number => {
            let found = replacements(sides, raw, tally)?;
            if !found.is_empty() {
                edits.push(Edit {
                    range: offset..offset + raw.len(),
                    text: format!("\"{}\"", apply(raw, &found)),
                });
            }
        }
    }
    Ok(())
}

fn text_edits(
    sides: &Sides,
    text: &str,
    offset: usize,
    tally: &mut Tally<'_>,
) -> Result<Vec<Edit>, Blocked> {
    Ok(replacements(sides, text, tally)?
        .into_iter()
        .map(|r| Edit {
            range: offset + r.range.start..offset + r.range.end,
            text: r.placeholder,
        })
        .collect())
}

fn not_utf8_edits(sides: &Sides, body: &[u8], tally: &mut Tally<'_>) -> Result<Vec<Edit>, Blocked> {
    let mut edits = Vec::new();
    let mut offset = 0;
    for chunk in body.utf8_chunks() {
        edits.extend(text_edits(sides, chunk.valid(), offset, tally)?);
        offset += chunk.valid().len() + chunk.invalid().len();
    }
    Ok(edits)
}

/// `body` with the edits (in order, not overlapping) made.
fn splice(body: &[u8], edits: &[Edit]) -> Vec<u8> {
    let added: usize = edits.iter().map(|e| e.text.len()).sum();
    let mut out = Vec::with_capacity(body.len().saturating_add(added));
    let mut at = 0;
    for edit in edits {
        out.extend_from_slice(body.get(at..edit.range.start).unwrap_or_default());
        out.extend_from_slice(edit.text.as_bytes());
        at = edit.range.end;
    }
    out.extend_from_slice(body.get(at..).unwrap_or_default());
    out
}
