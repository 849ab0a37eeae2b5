//! An incremental Server-Sent Events parser.
//!
//! Network reads split events anywhere, also inside a UTF-8 sequence or a `\r\n`; the framer
//! keeps only the unfinished tail between calls and hands out complete events that borrow from
//! its buffer (a single `data:` line, the common case, is never copied). Comment lines
//! (`: keep-alive`, `: OPENROUTER PROCESSING`) are skipped, as the spec says.

use std::borrow::Cow;

/// A buffered partial event larger than this is not SSE from a sane provider.
const MAX_PENDING: usize = 16 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, if any.
    pub event: Option<&'a str>,
    /// The `data:` lines, joined with `\n`.
    pub data: Cow<'a, str>,
    /// The event's bytes as received, terminating blank line included, for passing through.
    pub raw: &'a [u8],
}

/// The pending partial event outgrew `MAX_PENDING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseOverflow;

#[derive(Debug, Default)]
pub struct SseFramer {
    buf: Vec<u8>,
}

impl SseFramer {
    pub fn new() -> Self {
        SseFramer::default()
    }

    /// Adds bytes and dispatches every event they complete.
    pub fn feed(
        &mut self,
        input: &[u8],
        on_event: &mut dyn FnMut(SseEvent<'_>),
    ) -> Result<(), SseOverflow> {
        self.buf.extend_from_slice(input);
        let consumed = dispatch(&self.buf, false, on_event);
        if consumed == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..consumed);
        }
        if self.buf.len() > MAX_PENDING {
            self.buf.clear();
            return Err(SseOverflow);
        }
        Ok(())
    }

    /// At end of input: dispatches a last event that lacks its closing blank line (some servers
    /// end that way) if its data is complete JSON or `[DONE]`; a truncated one is dropped, as the
    /// SSE spec says. Returns whether bytes were left over that did not form an event: a
    /// stream cut mid-event.
    pub fn finish(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) -> bool {
        let consumed = dispatch(&self.buf, true, on_event);
        let leftover = self.buf[consumed..]
            .iter()
            .any(|b| !b.is_ascii_whitespace());
        self.buf.clear();
        leftover
    }

    /// Bytes waiting for the rest of their event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Dispatches the complete events in `buf`; returns how many bytes they used.
fn dispatch(buf: &[u8], at_eof: bool, on_event: &mut dyn FnMut(SseEvent<'_>)) -> usize {
    let mut consumed = 0;
    let mut pos = 0;
    let mut event: Option<&str> = None;
    let mut data: Option<Cow<'_, str>> = None;
    while let Some((line, next)) = next_line(buf, pos, at_eof) {
        pos = next;
        if line.is_empty() {
            if let Some(d) = data.take() {
                on_event(SseEvent {
                    event: event.take(),
                    data: d,
                    raw: &buf[consumed..pos],
                });
            }
            event = None;
            consumed = pos;
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                data = Some(match data.take() {
                    None => value,
                    Some(prev) => Cow::Owned(format!("{prev}\n{value}")),
                });
            }
            b"event" => {
                event = match value {
                    Cow::Borrowed(v) => Some(v),
                    Cow::Owned(_) => None,
                };
            }
            _ => {}
        }
    }
    if at_eof {
        let complete = |d: &str| {
            d.trim() == "[DONE]" || serde_json::from_str::<serde::de::IgnoredAny>(d).is_ok()
        };
        if let Some(d) = data.take().filter(|d| complete(d)) {
            on_event(SseEvent {
                event,
                data: d,
                raw: &buf[consumed..pos],
            });
            consumed = pos;
        }
    }
    consumed
}

/// The line starting at `pos` and where the next one starts. A line ends at `\n`, `\r\n` or a
/// lone `\r`; a `\r` at the very end of the buffer may be half of a `\r\n`, so it waits.
fn next_line(buf: &[u8], pos: usize, at_eof: bool) -> Option<(&[u8], usize)> {
    let rest = &buf[pos..];
    let end = rest.iter().position(|b| *b == b'\n' || *b == b'\r')?;
    let next = if rest[end] == b'\r' {
        match rest.get(end + 1) {
            Some(b'\n') => end + 2,
            Some(_) => end + 1,
            None if at_eof => end + 1,
            None => return None,
        }
    } else {
        end + 1
    };
    Some((&rest[..end], pos + next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<(Option<String>, String)> {
        let mut framer = SseFramer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            framer
                .feed(chunk, &mut |e| {
                    out.push((e.event.map(str::to_owned), e.data.into_owned()))
                })
                .unwrap();
        }
        framer.finish(&mut |e| out.push((e.event.map(str::to_owned), e.data.into_owned())));
        out
    }

    const STREAM: &[u8] = b"event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: ping\r\ndata: {}\r\n\r\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n";

    #[test]
    fn parses_events_names_and_multiline_data() {
        let events = collect(&[STREAM]);
        assert_eq!(
            events,
            vec![
                (Some("message_start".into()), "{\"a\":1}".into()),
                (Some("ping".into()), "{}".into()),
                (None, "line1\nline2".into()),
                (None, "[DONE]".into()),
            ]
        );
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let whole = collect(&[STREAM]);
        for i in 0..=STREAM.len() {
            assert_eq!(
                collect(&[&STREAM[..i], &STREAM[i..]]),
                whole,
                "split at {i}"
            );
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(collect(&bytes), whole);
    }

    #[test]
    fn raw_bytes_cover_the_event() {
        let mut framer = SseFramer::new();
        let mut raws = Vec::new();
        framer
            .feed(b"data: x\n\ndata: y\r\n\r\n", &mut |e| {
                raws.push(e.raw.to_vec())
            })
            .unwrap();
        assert_eq!(
            raws,
            vec![b"data: x\n\n".to_vec(), b"data: y\r\n\r\n".to_vec()]
        );
    }

    #[test]
    fn last_event_without_blank_line_is_kept_and_partial_lines_are_reported() {
        let mut framer = SseFramer::new();
        let mut out = Vec::new();
        framer
            .feed(b"data: {\"tail\":1}\n", &mut |e| {
                out.push(e.data.into_owned())
            })
            .unwrap();
        assert!(out.is_empty());
        assert!(!framer.finish(&mut |e| out.push(e.data.into_owned())));
        assert_eq!(out, vec!["{\"tail\":1}"]);

        let mut framer = SseFramer::new();
        framer.feed(b"data: {\"cut", &mut |_| {}).unwrap();
        let mut none = Vec::new();
        assert!(framer.finish(&mut |e| none.push(e.data.into_owned())));
        assert!(none.is_empty(), "a line without its end is not an event");

        let mut framer = SseFramer::new();
        framer.feed(b"data: {\"cut\": tru\n", &mut |_| {}).unwrap();
        assert!(framer.finish(&mut |e| none.push(e.data.into_owned())));
        assert!(none.is_empty(), "truncated JSON at the end is not an event");
    }
}
