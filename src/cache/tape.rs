//! The tape of a streamed flight: the leader's raw upstream chunks (what the provider sent,
//! before any translation), kept in order until the flight ends, so that followers of a
//! streamed request can be served live: each plays the tape from its start through its own
//! translator, then every new chunk as it is recorded.
//!
//! Raw, not translated, because every follower may want another client dialect, its own ids,
//! usage options and guardrails than the leader. The tape's head says what a follower needs to
//! translate it (the wire dialect, the upstream model, JSON mode, the price).
//!
//! The leader records (`Recorder`), one cheap append per chunk (a `Bytes` clone under the
//! watch channel's lock); followers (`Player`) are woken by the channel and copy out what is
//! new, never holding the lock across an `.await`. The tape is bounded by `MAX_TAPE_BYTES`:
//! a longer answer stops being live (it is cut), and a follower that has not started falls
//! back to waiting for the landing or leading a flight of its own.

use bytes::Bytes;
use sluice_filters::governance::Price;
use sluice_filters::translate::UpstreamDialect;
use std::sync::Arc;
use tokio::sync::watch;

/// The longest tape kept (the same bound as an answer kept for the cache).
pub const MAX_TAPE_BYTES: usize = 32 << 20;

/// What a follower needs to translate the leader's raw chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct TapeHead {
    /// The dialect the provider spoke.
    pub wire: UpstreamDialect,
    /// The upstream model name (the client's ids and model until the provider names its own).
    pub model: String,
    /// JSON mode became a forced tool call whose input is the answer.
    pub json_tool: bool,
    /// Prices the final usage the client is told (`usage.cost_usd`).
    pub price: Price,
}

/// How a tape ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeEnd {
    /// The provider's body ended: every chunk is on the tape (whether the stream finished
    /// well is for each follower's translator to read, as the leader's does).
    Ended,
    /// The leader's stream stopped before the body's end (its upstream broke, its client
    /// left, it failed, or the tape outgrew its bound): the tape will never be complete.
    Cut,
}

/// The shared state of a tape.
#[derive(Debug, Default)]
pub struct Reel {
    /// Set when the leader's upstream answered 2xx to a streamed request; replaced if a later
    /// attempt answers before any chunk was recorded (only the last attempt counts).
    head: Option<Arc<TapeHead>>,
    chunks: Vec<Bytes>,
    bytes: usize,
    end: Option<TapeEnd>,
}

impl Reel {
    /// The head of a tape a follower can play: opened, at least one chunk, not cut.
    fn live(&self) -> Option<&Arc<TapeHead>> {
        self.head
            .as_ref()
            .filter(|_| !self.chunks.is_empty() && self.end != Some(TapeEnd::Cut))
    }
}

/// The leader's end of the tape.
pub struct Recorder {
    sender: watch::Sender<Reel>,
    max_bytes: usize,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::with_limit(MAX_TAPE_BYTES)
    }

    pub fn with_limit(max_bytes: usize) -> Recorder {
        Recorder {
            sender: watch::Sender::new(Reel::default()),
            max_bytes,
        }
    }

    /// A follower's player, from the tape's start.
    pub fn player(&self) -> Player {
        Player {
            receiver: self.sender.subscribe(),
            next: 0,
        }
    }

    /// The leader's upstream answered a streamed request with 2xx. An attempt before it that
    /// recorded nothing is forgotten; one that did record cannot be spliced with this one, so
    /// the tape is cut (Pingora does not retry once the client has bytes, so this is a guard).
    pub fn open(&self, head: TapeHead) {
        self.sender.send_if_modified(|reel| {
            if reel.end.is_some() {
                return false;
            }
            if reel.chunks.is_empty() {
                reel.head = Some(Arc::new(head));
            } else {
                reel.end = Some(TapeEnd::Cut);
            }
            true
        });
    }

    /// Appends one raw upstream chunk and wakes the followers.
    pub fn record(&self, chunk: &Bytes) {
        if chunk.is_empty() {
            return;
        }
        let max_bytes = self.max_bytes;
        self.sender.send_if_modified(|reel| {
            if reel.head.is_none() || reel.end.is_some() {
                return false;
            }
            if reel.bytes + chunk.len() > max_bytes {
                // Too long to keep: no longer live, and nothing more is kept.
                reel.end = Some(TapeEnd::Cut);
                reel.chunks = Vec::new();
                return true;
            }
            reel.bytes += chunk.len();
            reel.chunks.push(chunk.clone());
            true
        });
    }

    /// The provider's body ended.
    pub fn end(&self) {
        self.close(TapeEnd::Ended);
    }

    /// The leader's stream stopped for good before its end. A tape already ended stays so.
    pub fn cut(&self) {
        self.close(TapeEnd::Cut);
    }

    fn close(&self, end: TapeEnd) {
        self.sender.send_if_modified(|reel| {
            if reel.head.is_none() || reel.end.is_some() {
                return false;
            }
            reel.end = Some(end);
            true
        });
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

/// A follower's end of the tape: where it is in it.
#[derive(Clone)]
pub struct Player {
    receiver: watch::Receiver<Reel>,
    next: usize,
}

/// What a player got from one look at the tape.
#[derive(Debug, Default, PartialEq)]
pub struct Played {
    /// The chunks recorded since the last look, in order.
    pub chunks: Vec<Bytes>,
    /// The tape's end, once every chunk before it has been played.
    pub end: Option<TapeEnd>,
}

impl Player {
    /// The tape's head once it can be played (opened, a first chunk recorded, not cut).
    pub fn live(&mut self) -> Option<Arc<TapeHead>> {
        self.receiver.borrow_and_update().live().cloned()
    }

    /// Whether the tape was cut (it will never be live, or stopped being so).
    #[cfg(test)]
    pub fn is_cut(&self) -> bool {
        self.receiver.borrow().end == Some(TapeEnd::Cut)
    }

    /// The chunks since the last look, and the end if there is one. A cut tape gives no more
    /// chunks: a follower must not play past where it was cut.
    pub fn take(&mut self) -> Played {
        let reel = self.receiver.borrow_and_update();
        if reel.end == Some(TapeEnd::Cut) {
            return Played {
                chunks: Vec::new(),
                end: Some(TapeEnd::Cut),
            };
        }
        let chunks = reel.chunks.get(self.next..).unwrap_or_default().to_vec();
        self.next += chunks.len();
        Played {
            chunks,
            end: reel.end,
        }
    }

    /// Waits until the tape changes. False once the recorder is gone (the flight ended and
    /// nothing more will be recorded).
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(wire: UpstreamDialect) -> TapeHead {
        TapeHead {
            wire,
            model: "m".to_owned(),
            json_tool: false,
            price: Price::FREE,
        }
    }

    fn chunk(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[tokio::test]
    async fn a_follower_joining_late_gets_everything_so_far_then_each_new_chunk() {
        let tape = Recorder::new();
        tape.open(head(UpstreamDialect::OpenAi));
        tape.record(&chunk("a"));
        tape.record(&chunk("b"));
        let mut late = tape.player();
        assert_eq!(late.live().map(|h| h.wire), Some(UpstreamDialect::OpenAi));
        assert_eq!(late.take().chunks, vec![chunk("a"), chunk("b")]);
        let waiting = tokio::spawn(async move {
            assert!(late.changed().await);
            let next = late.take();
            (late, next)
        });
        tape.record(&chunk("c"));
        let (mut late, next) = waiting.await.expect("the follower ran");
        assert_eq!(next.chunks, vec![chunk("c")]);
        assert_eq!(next.end, None);
        tape.end();
        assert_eq!(
            late.take(),
            Played {
                chunks: Vec::new(),
                end: Some(TapeEnd::Ended)
            }
        );
    }

    #[tokio::test]
    async fn a_failed_flight_wakes_its_followers() {
        let tape = Recorder::new();
        tape.open(head(UpstreamDialect::Anthropic));
        tape.record(&chunk("a"));
        let mut follower = tape.player();
        assert_eq!(follower.take().chunks, vec![chunk("a")]);
        let waiting = tokio::spawn(async move {
            follower.changed().await;
            follower.take()
        });
        tape.cut();
        drop(tape);
        let played = waiting.await.expect("the follower ran");
        assert_eq!(played.end, Some(TapeEnd::Cut));
        assert!(played.chunks.is_empty());
    }

    #[tokio::test]
    async fn a_gone_recorder_ends_the_wait() {
        let tape = Recorder::new();
        let mut follower = tape.player();
        let waiting = tokio::spawn(async move { follower.changed().await });
        drop(tape);
        assert!(!waiting.await.expect("the follower ran"));
    }

    #[test]
    fn a_retried_attempt_that_failed_before_its_body_does_not_count() {
        let tape = Recorder::new();
        let mut follower = tape.player();
        // The first attempt answered 2xx, then failed before any body: nothing to play.
        tape.open(head(UpstreamDialect::OpenAi));
        assert!(follower.live().is_none());
        // The retry's answer is the one on the tape.
        tape.open(head(UpstreamDialect::Anthropic));
        tape.record(&chunk("x"));
        assert_eq!(
            follower.live().map(|h| h.wire),
            Some(UpstreamDialect::Anthropic)
        );
        assert_eq!(follower.take().chunks, vec![chunk("x")]);
    }

    #[test]
    fn an_attempt_that_never_opened_records_nothing() {
        let tape = Recorder::new();
        let mut follower = tape.player();
        tape.record(&chunk("error body of a failed attempt"));
        tape.end();
        assert!(follower.live().is_none());
        assert_eq!(follower.take(), Played::default());
    }

    #[test]
    fn a_tape_beyond_its_bound_stops_being_live() {
        let tape = Recorder::with_limit(4);
        let mut follower = tape.player();
        tape.open(head(UpstreamDialect::OpenAi));
        tape.record(&chunk("abc"));
        assert!(follower.live().is_some());
        tape.record(&chunk("de"));
        assert!(follower.live().is_none());
        assert!(follower.is_cut());
        assert_eq!(follower.take().end, Some(TapeEnd::Cut));
    }

    #[test]
    fn a_second_opening_after_chunks_cuts_the_tape() {
        let tape = Recorder::new();
        let mut follower = tape.player();
        tape.open(head(UpstreamDialect::OpenAi));
        tape.record(&chunk("a"));
        tape.open(head(UpstreamDialect::OpenAi));
        assert!(follower.is_cut());
        assert!(follower.live().is_none());
    }
}
