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
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// How far `buf` has been searched for the end of that line. Remembered so that an event
    /// arriving in many small reads is searched once, not once per read (which is quadratic in
    /// the event's size: a client or provider could slow the gateway down with it).
    searched: usize,
    work: Work,
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
        let complete = self.find_complete_events();
        if complete > 0 {
            // Only bytes up to the last blank line are parsed, so an unfinished event is
            // parsed once, when its end arrives.
            let consumed = dispatch(&self.buf, complete, false, on_event, &mut self.work);
            self.work.add(self.buf.len() - consumed);
            self.buf.drain(..consumed);
            self.line_start -= consumed;
            self.searched -= consumed;
        }
        if self.buf.len() > MAX_PENDING {
            self.reset();
            return Err(SseOverflow);
        }
        Ok(())
    }

    /// At end of input: dispatches a last event that lacks its closing blank line (some servers
    /// end that way) if its data is complete JSON or `[DONE]`; a truncated one is dropped, as the
    /// SSE spec says. Returns whether bytes were left over that did not form an event: a
    /// stream cut mid-event.
    pub fn finish(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) -> bool {
        let consumed = dispatch(&self.buf, self.buf.len(), true, on_event, &mut self.work);
        let leftover = self.buf[consumed..]
            .iter()
            .any(|b| !b.is_ascii_whitespace());
        self.reset();
        leftover
    }

    /// Bytes waiting for the rest of their event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.line_start = 0;
        self.searched = 0;
    }

    /// Searches the bytes not searched yet for line ends; returns where the last blank line
    /// (an event's end) ends, or 0 if none arrived.
    fn find_complete_events(&mut self) -> usize {
        let mut complete = 0;
        loop {
            let rest = &self.buf[self.searched..];
            let Some(i) = memchr::memchr2(b'\n', b'\r', rest) else {
                self.work.add(rest.len());
                self.searched = self.buf.len();
                return complete;
            };
            self.work.add(i + 1);
            let at = self.searched + i;
            let next = match (self.buf[at], self.buf.get(at + 1)) {
                (b'\r', Some(b'\n')) => at + 2,
                // Half of a `\r\n`, perhaps: look again when more bytes arrive.
                (b'\r', None) => {
                    self.searched = at;
                    return complete;
                }
                _ => at + 1,
            };
            if at == self.line_start {
                complete = next;
            }
            self.line_start = next;
            self.searched = next;
        }
    }
}

/// Bytes the framer looked at, counted in tests to prove it linear without timing anything.
#[derive(Debug, Default)]
struct Work {
    #[cfg(test)]
    bytes: usize,
}

impl Work {
    #[inline]
    fn add(&mut self, _bytes: usize) {
        #[cfg(test)]
        {
            self.bytes += _bytes;
        }
    }
}

/// Dispatches the complete events in `buf[..end]` (`end` is at a line start; bytes past it are
/// only looked at to tell a `\r\n` from a lone `\r`); returns how many bytes they used.
fn dispatch(
    buf: &[u8],
    end: usize,
    at_eof: bool,
    on_event: &mut dyn FnMut(SseEvent<'_>),
    work: &mut Work,
) -> usize {
    let mut consumed = 0;
    let mut pos = 0;
    let mut event: Option<&str> = None;
    let mut data: Option<Cow<'_, str>> = None;
    while pos < end {
        let Some((line, next)) = next_line(buf, pos, at_eof) else {
            break;
        };
        work.add(next - pos);
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
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 is borrowed as is (the common case, checked a word at a time); only
        // broken bytes pay for the replacement characters.
        let value = match std::str::from_utf8(value) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => match data.as_mut() {
                None => data = Some(value),
                // One string grows for all the lines: joining them anew per line would copy
                // the event once per line.
                Some(joined) => {
                    if let Cow::Borrowed(first) = joined {
                        work.add(first.len());
                    }
                    work.add(1 + value.len());
                    let joined = joined.to_mut();
                    joined.push('\n');
                    joined.push_str(&value);
                }
            },
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
    let end = memchr::memchr2(b'\n', b'\r', rest)?;
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

    #[test]
    fn lone_carriage_returns_end_lines_at_any_split() {
        const CR: &[u8] = b"data: a\r\rdata: b\r\ndata: c\r\r\n: note\r\rdata: [DONE]\r\r";
        let whole = collect(&[CR]);
        assert_eq!(
            whole,
            vec![
                (None, "a".into()),
                (None, "b\nc".into()),
                (None, "[DONE]".into())
            ]
        );
        for i in 0..=CR.len() {
            assert_eq!(collect(&[&CR[..i], &CR[i..]]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = CR.chunks(1).collect();
        assert_eq!(collect(&bytes), whole);
    }

    /// Feeds `stream` in reads of `read` bytes; returns the events' data and the bytes the
    /// framer looked at.
    fn work_for(stream: &[u8], read: usize) -> (Vec<String>, usize) {
        let mut framer = SseFramer::new();
        let mut out = Vec::new();
        for chunk in stream.chunks(read) {
            framer
                .feed(chunk, &mut |e| out.push(e.data.into_owned()))
                .unwrap();
        }
        (out, framer.work.bytes)
    }

    #[test]
    fn one_huge_event_in_one_byte_reads_is_read_in_linear_work() {
        let n = 1 << 20;
        let mut stream = b"data: ".to_vec();
        stream.resize(n, b'x');
        stream.extend_from_slice(b"\r\n\r\n");
        let (events, work) = work_for(&stream, 1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].len(), n - 6);
        // Searched once for line ends, parsed once: about 2n. Searching the pending event
        // anew on every read would be about n²/2.
        assert!(work <= 3 * stream.len(), "{work} bytes looked at for {n}");
    }

    #[test]
    fn many_data_lines_are_joined_in_linear_work() {
        let lines = 100_000;
        let mut stream = b"data: x\n".repeat(lines);
        stream.extend_from_slice(b"\n");
        let (events, work) = work_for(&stream, 7);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].len(), 2 * lines - 1);
        // Search, parse and join, each at most once per byte.
        assert!(work <= 4 * stream.len(), "{work} bytes looked at");
    }

    #[test]
    fn many_small_events_in_odd_reads_are_read_in_linear_work() {
        let stream = b"event: e\ndata: {\"i\":1}\n\n".repeat(10_000);
        let (events, work) = work_for(&stream, 13);
        assert_eq!(events.len(), 10_000);
        assert!(work <= 4 * stream.len(), "{work} bytes looked at");
    }
}
