//! The API listener's connection handling before Pingora's HTTP code takes a connection: a
//! deadline for a new connection's first bytes.
//!
//! Why: with h2c on (HTTP/1.1 and HTTP/2 on one port), Pingora 0.9.1 first peeks for the
//! HTTP/2 preface with no timeout at all, so a connection that sends nothing (or fewer than 24
//! bytes) stays open, with its 64 KiB read buffer, until the file-descriptor limit runs out.
//! Here the same peek runs under `server.client_timeouts.header`; the bytes it reads are
//! rewound, so Pingora's own peek then returns at once.

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;

/// The length of the HTTP/2 connection preface, which Pingora peeks for.
const PREFACE_LEN: usize = 24;

/// Wraps an app (the proxy) with the first-bytes deadline.
pub struct FirstBytesDeadline<A> {
    inner: Arc<A>,
    deadline: Duration,
}

impl<A> FirstBytesDeadline<A> {
    pub fn new(inner: A, deadline: Duration) -> Self {
        FirstBytesDeadline {
            inner: Arc::new(inner),
            deadline,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for FirstBytesDeadline<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if stream.get_ssl_digest().is_none() {
            let mut preface = [0u8; PREFACE_LEN];
            match tokio::time::timeout(self.deadline, stream.try_peek(&mut preface)).await {
                Ok(Ok(_)) => {}
                // Closed, or silent past the deadline: nothing to answer.
                Ok(Err(_)) | Err(_) => return None,
            }
        }
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}
