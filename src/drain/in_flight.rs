//! How many requests (and of them, streams) the gateway is serving: what a shutdown waits for
//! and reports.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct InFlight {
    requests: AtomicU64,
    streams: AtomicU64,
}

impl InFlight {
    /// A request began (its context was created).
    pub fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::AcqRel);
    }

    /// A request ended (its context was dropped); `streamed` if it was counted as a stream.
    pub fn request_ended(&self, streamed: bool) {
        self.requests.fetch_sub(1, Ordering::AcqRel);
        if streamed {
            self.streams.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A request's answer began to stream.
    pub fn stream_started(&self) {
        self.streams.fetch_add(1, Ordering::AcqRel);
    }

    /// (requests, streams) in flight now.
    pub fn now(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Acquire),
            self.streams.load(Ordering::Acquire),
        )
    }
}
